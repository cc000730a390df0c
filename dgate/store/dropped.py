"""Files dropped into the server: ``AddImageFile`` and the incoming folders
(conquest-storage.md §6.2).

``add_image_file`` loads a file (Part 10 or ``.v2``), checks it holds PatientID and the
three instance UIDs, optionally gives it a new patient ID (new study/series/instance
UIDs through UIDMODS, as ``ModifyPATIDofDDO``), applies ``DroppedFileCompression`` and
stores it through the ingest pipeline with the own AE as calling and called AE. A
``*.hl7`` file goes into the modality worklist instead (as 1.5.0e's ``AddImageFile``): files
whose extension is in :data:`FILE_HANDLERS` go to that handler (the HL7 plug-in,
:mod:`dgate.hl7.plugin`, registers ``.hl7``).

:class:`FolderWatcher` polls ``<MAG0>/incoming`` (only if it exists) and ``WatchFolder``
every second: names containing ``.partial`` are skipped, ``._*`` files deleted, other
files added and then deleted; emptied sub-folders are removed. A file that cannot be
added is retried every 5 s up to 30 times and then moved to
``<MAG0>/printer_files/rejected/`` (the original deletes it; we keep it); a malformed HL7
file (:class:`SetAside`: retrying cannot help) is moved there at once.
"""
from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path
from typing import Callable

from ..db import Database, DatabaseError, open_database
from ..runtime import TaskContext, register_task
from .formats import BadObject, Encoded, read_file
from .ingest import Ingest, IngestContext, Stored, StoreFailed
from .received import Received
from .scan import StructureError, scan

REQUIRED = ((0x00100020, "PatientID"), (0x0020000D, "StudyInstanceUID"),
            (0x0020000E, "SeriesInstanceUID"), (0x00080018, "SOPInstanceUID"))
RETRY_SECONDS = 5
MAX_TRIES = 30


class SetAside(StoreFailed):
    """The file can never be added (a malformed HL7 file): do not retry it."""


FileHandler = Callable[[Path, Database, object], None]
"""``handler(path, db, logs)`` for a dropped file that is no DICOM object; raises
:class:`SetAside` when retrying cannot help, :class:`StoreFailed`, ``DatabaseError`` or
``OSError`` otherwise."""

FILE_HANDLERS: dict[str, FileHandler] = {}
"""Lower-case file extension (``".hl7"``) → handler; filled by plug-ins."""


def add_image_file(path: str | os.PathLike, ingest: Ingest, db: Database, own_ae: str,
                   new_patient_id: str = "") -> Stored | None:
    """Store one dropped file; raises :class:`StoreFailed` with the reason.

    A file with an extension of :data:`FILE_HANDLERS` goes to its handler (``*.hl7``: loaded
    into the worklist; None is returned): :class:`SetAside` when it is malformed (nothing
    written), :class:`StoreFailed` when it cannot be read or the database refused (worth a
    retry).
    """
    path = Path(path)
    handler = FILE_HANDLERS.get(path.suffix.lower())
    if handler is not None:
        try:
            handler(path, db, ingest.logs)
        except StoreFailed:
            raise
        except DatabaseError as exc:
            raise StoreFailed(f"***[AddImageFile] {path} -FAILED: worklist insert ({exc})", database=True) from exc
        except OSError as exc:
            raise StoreFailed(f"***[AddImageFile] {path} -FAILED: {exc}") from exc
        return None
    try:
        encoded = read_file(path)
        found = scan(encoded.raw, encoded.transfer_syntax)
    except (OSError, BadObject, StructureError) as exc:
        raise StoreFailed(f"***[AddImageFile] {path} -FAILED: Error on Load ({exc})") from exc
    missing = [name for tag, name in REQUIRED if tag not in found.elements]
    if missing:
        raise StoreFailed(f"***[AddImageFile] {path} -FAILED: file does not contain correct UIDs "
                          f"(missing {', '.join(missing)})")
    if new_patient_id:
        full = encoded.dataset()
        for keyword, kind in (("StudyInstanceUID", "StudyUID"), ("SeriesInstanceUID", "SeriesUID"),
                              ("SOPInstanceUID", "SOPInstanceUID")):
            setattr(full, keyword, db.change_uid(str(getattr(full, keyword)), kind))
        full.PatientID = new_patient_id
        ingest.logs.operator.printf(f"Modified patient ID to: {new_patient_id}\n")
        encoded = Encoded.from_dataset(full, encoded.transfer_syntax)
    ctx = IngestContext(own_ae, own_ae, ingest.settings.str("DroppedFileCompression"), source="file",
                        filename=str(path))
    stored = ingest.store(Received(encoded.transfer_syntax, encoded.raw), db, ctx=ctx)
    if stored.path is not None:
        ingest.logs.operator.printf(f"Added file: {stored.path}\n")
    return stored


class FolderWatcher(threading.Thread):
    """Polls incoming folders and adds what appears in them."""

    def __init__(self, folders: list[Path], ingest: Ingest, own_ae: str, interval: float = 1.0):
        super().__init__(name="incoming-folder", daemon=True)
        self.folders = folders
        self.ingest = ingest
        self.own_ae = own_ae
        self.interval = interval
        self.stop_event = threading.Event()
        self.failures: dict[Path, tuple[int, float]] = {}
        self.db: Database | None = None

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                for folder in self.folders:
                    self.scan(folder)
            except DatabaseError as exc:
                self.ingest.logs.operator.printf(f"***Incoming folder: database error {exc}\n")
                self._reset_db()
            self.stop_event.wait(self.interval)

    def stop(self) -> None:
        self.stop_event.set()

    def _database(self) -> Database:
        if self.db is None:
            self.db = open_database(self.ingest.config, self.ingest.logs, own_ae=self.own_ae)
        return self.db

    def _reset_db(self) -> None:
        if self.db is not None:
            self.db.close()
        self.db = None

    def scan(self, folder: Path) -> int:
        """One pass over ``folder``; returns the number of files added."""
        added = 0
        now = time.time()
        emptied: set[str] = set()
        for current, dirs, files in os.walk(folder, topdown=False):
            if any(os.path.join(current, d) in emptied for d in dirs):
                emptied.add(current)
            for name in sorted(files):
                path = Path(current) / name
                if ".partial" in name:
                    continue
                if name.startswith("._"):
                    path.unlink(missing_ok=True)
                    emptied.add(current)
                    continue
                try:
                    if now - path.stat().st_mtime < 1.0:
                        continue      # still being written
                except FileNotFoundError:
                    continue
                tries, last = self.failures.get(path, (0, 0.0))
                if tries and now - last < RETRY_SECONDS:
                    continue
                try:
                    add_image_file(path, self.ingest, self._database(), self.own_ae)
                except SetAside as exc:
                    self._failed(path, tries + 1, str(exc), final=True)
                    continue
                except StoreFailed as exc:
                    if exc.database:
                        self._reset_db()
                    self._failed(path, tries + 1, str(exc))
                    continue
                self.failures.pop(path, None)
                path.unlink(missing_ok=True)
                emptied.add(current)
                added += 1
            if Path(current) != folder and current in emptied:
                try:
                    os.rmdir(current)
                except OSError:
                    pass
        return added

    def _failed(self, path: Path, tries: int, why: str, final: bool = False) -> None:
        if tries < MAX_TRIES and not final:
            self.failures[path] = (tries, time.time())
            if tries == 1:
                self.ingest.logs.operator.printf(f"{why}; will retry\n")
            return
        self.failures.pop(path, None)
        self._rejected_hooks(path, why)
        mag0 = self.ingest.settings.str("MAGDevice0", "")
        target = Path(mag0) / "printer_files" / "rejected" / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), target)
        after = f" after {tries} tries" if tries > 1 else ""
        self.ingest.logs.operator.printf(f"***Incoming file {path} rejected{after} ({why}); moved to {target}\n")


    def _rejected_hooks(self, path: Path, why: str) -> None:
        """The RejectedImageConverter0 on an empty object with ``Filename`` = the file given up
        on (as LoadAndDeleteDir, conquest-storage.md §6.2)."""
        from pydicom.dataset import Dataset

        from .ingest import REJECTED
        ctx = IngestContext(self.own_ae, self.own_ae, source="file", filename=str(path), ingest=self.ingest)
        for name, hook in REJECTED.items():
            try:
                hook(Dataset(), ctx, why)
            except Exception as exc:  # the file is set aside regardless
                self.ingest.logs.operator.printf(f"***Rejected-object step {name} failed: {exc}\n")


def incoming_folders(settings, logs) -> list[Path]:
    """``<MAG0>/incoming`` (only when it exists) and ``WatchFolder``, with the start-up lines."""
    from .devices import devices
    folders = []
    mags = devices(settings, "MAG")
    if mags:
        incoming = Path(mags[0].root) / "incoming"
        if incoming.is_dir():
            logs.operator.printf(f"Monitoring for files in: {incoming}\n")
            folders.append(incoming)
    watch = settings.str("WatchFolder")
    if watch and Path(watch).is_dir():
        logs.operator.printf(f"Also monitoring for files in: {watch}\n")
        folders.append(Path(watch))
    return folders


def _watcher_task(ctx: TaskContext) -> "FolderWatcher | None":
    """Hub task: one watcher for the whole server (the hub owns the incoming folders)."""
    folders = incoming_folders(ctx.config.settings, ctx.logs)
    if not folders:
        return None
    return FolderWatcher(folders, Ingest(ctx.config, ctx.logs), ctx.own_ae)


register_task("incoming-folder", _watcher_task)
