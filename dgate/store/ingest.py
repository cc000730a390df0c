"""The one ingest pipeline every entrance uses (``SaveToDisk``; conquest-storage.md §6.3):

    received bytes → FixImage → (import converters) → compression → file name
    → index (before the file is written) → atomic file write → (export queue)

Entrances: C-STORE, the incoming folder, ``addimagefile``. The received bytes are kept
as they are unless FixImage or the compression setting has to change the object; only
the header is decoded for the index and the name, which keeps ingest cheap.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset

from ..config import Configuration
from ..db import Database, DatabaseError
from ..log import Logs
from .devices import device_root, devices, free_megabytes
from .filenames import UnsafeFileName, generate_file_name
from .fiximage import fix_image
from .formats import UNCOMPRESSED, BadObject, Encoded, part10_bytes, v2_bytes, write_atomic
from .mirror import MirrorQueue
from .removal import remove_stored_file


class StoreFailed(Exception):
    """The object was not stored; the message says why (also logged with ``***``)."""


@dataclass
class Stored:
    """Outcome of a successful store."""

    path: Path | None          # None when the object was dropped on purpose (IgnoreRewrite)
    relative: str = ""
    device: str = ""
    rewritten: bool = False


class Counters:
    """Process-wide activity counters shown by ``display_status``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values: dict[str, int] = {}

    def add(self, name: str, amount: int = 1) -> None:
        with self.lock:
            self.values[name] = self.values.get(name, 0) + amount

    def get(self, name: str) -> int:
        return self.values.get(name, 0)


counters = Counters()


def _needs_fix(header: Dataset, settings) -> bool:
    """Would FixImage change this object? (tried on a shallow copy of the header)"""
    return fix_image(Dataset(header), settings)


class Ingest:
    """Stores objects for one configuration; thread-safe, one database per call site."""

    def __init__(self, config: Configuration, logs: Logs):
        self.config = config
        self.settings = config.settings
        self.logs = logs
        self.mirror = MirrorQueue(self.settings, logs)
        self.test_mode = ""          # ``testmode:`` text appended to new file names

    # -- device (GetDevice) ------------------------------------------------------------
    def choose_device(self) -> tuple[str, Path]:
        threshold = self.settings.int("MAGDeviceFullThreshHold")
        ignore = self.settings.int("IgnoreMAGDeviceThreshHold")
        for kind in ("MAG", "MIRROR"):
            for dev in devices(self.settings, kind):
                if dev.root in ("", "NULL"):
                    continue
                free = 10000 if ignore else free_megabytes(dev.root)
                if free > threshold:
                    return ("MAG" + str(dev.index) if kind == "MIRROR" else dev.name), Path(dev.root)
        raise StoreFailed("*** Out of disk space")

    # -- the pipeline ------------------------------------------------------------------
    def store(self, encoded: Encoded, db: Database, calling: str = "", called: str = "",
              compression: str | None = None) -> Stored:
        try:
            header = encoded.header()
        except BadObject as exc:
            raise StoreFailed(f"***{exc}") from exc
        if "SOPInstanceUID" not in header:
            raise StoreFailed("***Object has no SOPInstanceUID; not stored")
        full: Dataset | None = None
        if not self.settings.int("AllowEmptyPatientID") and _needs_fix(header, self.settings):
            full = encoded.dataset()
            fix_image(full, self.settings)
        code = (compression if compression is not None else self.settings.str("IncomingCompression")).lower()
        if code.startswith("un") and encoded.transfer_syntax not in UNCOMPRESSED:
            full = full or encoded.dataset()
            try:
                full.decompress(generate_instance_uid=False)
            except Exception as exc:
                self.logs.operator.printf(f"***Could not decompress {encoded.transfer_syntax}: {exc}; "
                                          "stored as received\n")
        elif code and not code.startswith(("as", "is", "v", "un")):
            self.logs.debug.printf(f"Compression '{code}' needs the compression capability; stored as received\n")
        if full is not None:
            encoded = Encoded.from_dataset(full, str(full.file_meta.TransferSyntaxUID))
            header = encoded.header()
        return self._save(encoded, header, full, db, calling, called)

    def _save(self, encoded: Encoded, header: Dataset, full: Dataset | None, db: Database,
              calling: str, called: str) -> Stored:
        settings = self.settings
        sop = str(header.SOPInstanceUID)
        patid = str(header.get("PatientID", "")).rstrip()
        try:
            name = generate_file_name(header, settings.str("FileNameSyntax"), calling, called,
                                      settings.int("MaxFileNameLength"))
        except UnsafeFileName as exc:
            raise StoreFailed(f"***{exc}") from exc
        if self.test_mode:
            stem, dot, ext = name.rpartition(".")
            suffix = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in self.test_mode)
            name = f"{stem}{suffix}.{ext}" if dot else name + suffix
        existing = db.get_file(sop, patid)
        rewritten = False
        if existing is not None:
            if not existing.device.upper().startswith("MAG"):
                return Stored(None)
            if settings.int("IgnoreRewrite"):
                return Stored(None)
            old_ext = existing.object_file.rpartition(".")[2].lower()
            new_ext = name.rpartition(".")[2].lower()
            if old_ext != new_ext or settings.int("RenameOnRewrite"):
                db.delete_image(sop, existing.patient_id or patid)
                remove_stored_file(settings, existing.object_file, existing.device)
                existing = None
            else:
                name, rewritten = existing.object_file.replace("\\", "/"), True
        if existing is not None:
            device = existing.device
            root = Path(device_root(settings, device) or "")
        else:
            device, root = self.choose_device()
        path = root / name
        try:
            path.resolve().relative_to(root.resolve())
        except ValueError:
            raise StoreFailed(f"***file name {name} would leave {root}; not stored")
        try:
            data = self._file_bytes(encoded, header, full, name)
        except BadObject as exc:
            raise StoreFailed(f"***{exc}") from exc
        try:
            db.add(header, name, device, just_add=existing is None, filename_for_log=str(path))
        except DatabaseError as exc:
            raise StoreFailed(f"***Error saving to SQL: {exc}") from exc
        try:
            write_atomic(path, data)
        except OSError as exc:
            db.delete_image(sop, patid)
            raise StoreFailed(f"***Failed to write file {path}: {exc}") from exc
        self.logs.operator.printf(f"{'Rewritten' if rewritten else 'Written'} file: {path}\n")
        self.mirror.submit(path, name, device)
        counters.add("received")
        return Stored(path, name, device, rewritten)

    @staticmethod
    def _file_bytes(encoded: Encoded, header: Dataset, full: Dataset | None, name: str) -> bytes:
        if name.lower().endswith(".v2"):
            if encoded.transfer_syntax not in UNCOMPRESSED:
                raise BadObject("Cannot write compressed pixel data in v2 format")
            return v2_bytes(full if full is not None else encoded.dataset())
        return part10_bytes(encoded, str(header.get("SOPClassUID", "")), str(header.SOPInstanceUID))
