"""The one ingest pipeline every entrance uses (``SaveToDisk``; conquest-storage.md §6.3).

Entrances: C-STORE (:mod:`dgate.net`), the incoming folder and ``addimagefile``
(:mod:`.dropped`), and later STOW-RS and Lua ``addimage``: they hand a
:class:`~.received.Received` (or an :class:`~.formats.Encoded`) to :meth:`Ingest.store`.

Order (README "Ingest order"):

1. lean scan of every element header (:mod:`.scan`); malformed data sets are refused
   (status 0xC000), odd lengths and trailing NULs repaired;
2. UID checks (SOP instance UID present; instance UIDs ≤ 64 characters without NUL);
3. FixImage as a raw patch (:func:`.fiximage.image_fixes`);
4. import steps (:data:`IMPORT_STEPS`); a full pydicom decode only when one is registered;
5. compression (:data:`COMPRESSION`, asked first whether it keeps the object as it is;
   without the codec plug-in ``un`` decompresses, everything else is kept);
6. name and device; under :func:`.locks.instance_lock` the file is written under a
   unique temporary name and renamed into place (the original writes the row first);
7. the index row is committed (:meth:`dgate.db.Database.add`);
8. ``Written file:`` is logged, the after-store hooks run (:data:`AFTER_STORE`), then the
   caller answers success.

A kill -9 anywhere leaves at most a file without a row, never a row without a file.
Index refusals never answer success: the same SOP instance for another patient, a UID
the index would cut or merge, a database error (status ``StorageFailedErrorCode``).
Files are not fsync'ed (as the original): a process crash loses nothing acknowledged,
a power failure may lose the last seconds.
"""
from __future__ import annotations

import enum
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, cast

from pydicom.dataset import Dataset

from ..config import Configuration
from ..db import Database, DatabaseError
from ..db.driver import DuplicateKey
from ..db.store import IndexValues
from ..log import Logs, printable
from ..runtime import counters
from ..runtime.registry import Registry
from .devices import device_root, devices, free_megabytes
from .filenames import UnsafeFileName, generate_file_name
from .fiximage import image_fixes
from .formats import (
    UNCOMPRESSED,
    BadObject,
    Encoded,
    ScanHeader,
    part10_prefix,
    splice_changes,
    syntax_of,
    v2_bytes,
)
from .lazyset import lazy_dataset, scanned_elements
from .locks import instance_lock
from .received import Received, Spool
from .removal import remove_stored_file
from .scan import DEFLATED, Scan, StructureError, patch, repair, scan
from .tempfiles import TempFile

__all__ = ["AFTER_STORE", "COMPRESSION", "IMPORT_STEPS", "REJECTED", "SPACE", "Ingest", "IngestContext",
           "Received", "Spool", "StoreFailed", "Stored", "Verdict", "counters"]

CANNOT_UNDERSTAND = 0xC000
OUT_OF_RESOURCES = 0xA700
MAX_UID = 64
DEVICE_RECHECK = 1.0
NKI_PIXELS = 0x7FDF0010
PIXEL_DATA_TAG = 0x7FE00010
INSTANCE_UIDS = ((0x00080018, "SOPInstanceUID"), (0x0020000D, "StudyInstanceUID"),
                 (0x0020000E, "SeriesInstanceUID"))


class StoreFailed(Exception):
    """The object was not stored; the message says why (logged with ``***``).

    ``status`` is the DIMSE status to answer (None: ``StorageFailedErrorCode``).
    """

    def __init__(self, message: str, status: int | None = None, database: bool = False, refused: bool = False):
        super().__init__(message)
        self.status = status
        self.database = database          # caused by a database error (the connection may be broken)
        self.refused = refused            # the index refused it (``SaveToDataBase`` failed): REJECTED runs


class Verdict(enum.Enum):
    """What an import step decides (the converters' rc 1 / 2 / 6 / 7)."""

    KEEP = "keep"          # go on (with the data set as the step left it)
    DESTROY = "destroy"    # drop silently; the sender is told it was stored
    REJECT = "reject"      # refuse; the sender gets a failure status
    RETRY = "retry"        # refuse for now (the RejectedImageConverter retry)


@dataclass
class IngestContext:
    """Who sends what: passed to every import step, compression and after-store hook."""

    calling: str = ""
    called: str = ""
    compression: str | None = None       # explicit code (``~xx`` called-AE suffix, DroppedFileCompression)
    source: str = "network"              # network, file, web, lua
    filename: str = ""                   # the dropped/added file, if any
    peer: str = ""                       # network address of the sender
    association: Any = None              # the association (network entrance)
    command: Any = None                  # the C-STORE request command set (network entrance)
    preferred_device: str | None = None  # an import step may ask for ``MAGn``
    ingest: Any = None                   # the Ingest running (its ``config``, ``settings``, ``logs``)
    changed: bool = False
    extra: dict = field(default_factory=dict)

    def mark_changed(self) -> None:
        """An import step changed the data set: it is encoded again before storing."""
        self.changed = True


ImportStep = Callable[[Dataset, IngestContext], "Verdict | None"]
AfterStore = Callable[["Stored", IngestContext], None]
Compressor = Callable[[Encoded, str, IngestContext], Encoded]
Keeps = Callable[[Encoded, str], bool]


_Registry = Registry     # the former name of this registry type, kept for code still using it

IMPORT_STEPS = Registry()
"""``IMPORT_STEPS.register(name, step, order)``; ``step(ds, ctx) -> Verdict | None``."""
AFTER_STORE = Registry()
"""``AFTER_STORE.register(name, hook)``; ``hook(stored, ctx)`` after the row is committed."""
REJECTED = Registry()
"""``REJECTED.register(name, hook)``; ``hook(ds, ctx, why) -> Verdict | None`` when the index
refused an object (``SaveToDataBase`` failed, conquest-storage.md §6.3 step 4: the
RejectedImageConverter0). ``Verdict.RETRY`` stores it once more, with the changes the hook
made (``ctx.mark_changed()``); anything else keeps the refusal."""


def _default_keeps(obj: Encoded, code: str) -> bool:
    """What :func:`_default_compression` returns untouched: all but compressed data for ``un``."""
    return not code.startswith("un") or obj.transfer_syntax in UNCOMPRESSED


def _default_compression(obj: Encoded, code: str, ctx: IngestContext) -> Encoded:
    """``un``: decompress compressed pixel data; every other code keeps the object as it is
    (the codec package replaces this with every Conquest code, conquest-storage.md §6.7)."""
    if _default_keeps(obj, code):
        return obj
    full = obj.dataset()
    full.decompress(generate_instance_uid=False)
    return Encoded.from_dataset(full, str(full.file_meta.TransferSyntaxUID))


def _never_keeps(obj: Encoded, code: str) -> bool:
    return False


class _Compression:
    """The compression step: ``COMPRESSION.set(fn, keeps)``, ``fn(obj, code, ctx) -> Encoded``.

    ``keeps(obj, code) -> bool`` is asked first: True when ``fn`` would return ``obj`` as
    it is, told cheaply (from the bytes, without parsing them; the hot path of ``un`` on
    plain uncompressed data). False means "ask ``fn``"; without ``keeps`` ``fn`` is always
    asked. The compressor alone knows which codes and objects it leaves alone.

    ``COMPRESSION.readable`` (set by the codec plug-in) expands NKI private compression:
    SaveToDisk writes NKI pixel data only to ``.v2`` files unless ``AllowNKIAsDICOM = 1``
    (conquest-storage.md §6.3 step 5)."""

    def __init__(self) -> None:
        self.fn: Compressor = _default_compression
        self.keeps_fn: Keeps = _default_keeps
        self.readable: Callable[[Encoded, "Ingest"], Encoded] | None = None

    def set(self, fn: Compressor | None, keeps: Keeps | None = None) -> None:
        self.fn = fn or _default_compression
        self.keeps_fn = keeps or (_never_keeps if fn else _default_keeps)

    def keeps(self, obj: Encoded, code: str) -> bool:
        """Whether the compressor leaves ``obj`` as it is for ``code`` (False when unsure)."""
        try:
            return bool(self.keeps_fn(obj, code))
        except Exception:  # a broken answer: the compressor decides (and reports)
            return False

    def __call__(self, obj: Encoded, code: str, ctx: IngestContext) -> Encoded:
        return self.fn(obj, code, ctx)


COMPRESSION = _Compression()


class _Space:
    """``SPACE.set(fn)``; ``fn(ingest, low_mb, wait) -> bool``: make space on the MAG devices
    (:mod:`.space`; ``low_mb`` = ``MAGDeviceThreshHold``). ``wait``: no device has room, the
    store waits for it and then looks for a device again. None: never (``*** Out of disk space``)."""

    def __init__(self) -> None:
        self.fn: Callable[[Any, int, bool], bool] | None = None

    def set(self, fn: Callable[[Any, int, bool], bool] | None) -> None:
        self.fn = fn

    def __call__(self, ingest: Any, low: int, wait: bool) -> bool:
        if self.fn is None:
            return False
        try:
            return bool(self.fn(ingest, low, wait))
        except Exception as exc:  # the hub may be gone: the store decides without it
            ingest.logs.operator.printf(f"***Cannot make space: {exc}\n")
            return False


SPACE = _Space()


@dataclass
class Stored:
    """Outcome of a successful store."""

    path: Path | None          # None when the object was dropped on purpose (IgnoreRewrite, destroy)
    relative: str = ""
    device: str = ""
    rewritten: bool = False
    sop_instance: str = ""
    patient_id: str = ""


_test_mode = ""


class _Object:
    """The object moving through the pipeline: bytes (or the spool view) and their scan."""

    def __init__(self, received: Received):
        self.received = received
        self.transfer_syntax = received.transfer_syntax
        self.data = received.data
        self.pristine = True             # data is still exactly what the spool file holds
        self.scan: Scan = scan(self.data, self.transfer_syntax)

    def replace(self, data: bytes, transfer_syntax: str | None = None, scanned: Scan | None = None) -> None:
        """New bytes for the object (``scanned``: their scan when the caller has it)."""
        self.data = data
        self.transfer_syntax = transfer_syntax or self.transfer_syntax
        self.pristine = False
        self.scan = scanned if scanned is not None else scan(data, self.transfer_syntax)

    def encoded(self) -> Encoded:
        return Encoded(bytes(self.data), self.transfer_syntax)


class Ingest:
    """Stores objects for one configuration; thread-safe, one database per call site."""

    def __init__(self, config: Configuration, logs: Logs):
        self.config = config
        self.settings = config.settings
        self.logs = logs
        self._device: tuple[float, str | None, tuple[str, Path]] | None = None

    @property
    def test_mode(self) -> str:
        """``testmode:`` text appended to new file names (process-wide)."""
        return _test_mode

    @test_mode.setter
    def test_mode(self, value: str) -> None:
        global _test_mode
        _test_mode = value

    # -- devices (GetDevice) -----------------------------------------------------------
    def choose_device(self, preferred: str | None = None) -> tuple[str, Path]:
        """``GetDevice``: the first MAG (then MIRROR) with more free space than
        ``MAGDeviceFullThreshHold``. The answer is reused for up to a second (a statvfs
        per store is measurable at hundreds of stores a second)."""
        now = time.monotonic()
        cached = self._device
        if cached is not None and cached[0] > now and cached[1] == preferred:
            return cached[2]
        choice = self._choose_device(preferred)
        self._device = (now + DEVICE_RECHECK, preferred, choice)
        return choice

    def _choose_device(self, preferred: str | None) -> tuple[str, Path]:
        threshold = self.settings.int("MAGDeviceFullThreshHold")
        ignore = self.settings.int("IgnoreMAGDeviceThreshHold")
        low = 0 if ignore else self.settings.int("MAGDeviceThreshHold")
        if preferred and preferred.upper().startswith("MAG"):
            root = device_root(self.settings, preferred.upper())
            if root and (ignore or free_megabytes(root) > 30):
                return preferred.upper(), Path(root)
        for attempt in (0, 1):
            for kind in ("MAG", "MIRROR"):
                for dev in devices(self.settings, kind):
                    if dev.root in ("", "NULL"):
                        continue
                    free = 10000 if ignore else free_megabytes(dev.root)
                    if free > threshold:
                        if kind == "MAG" and low and free < low:
                            SPACE(self, low, False)         # the LRU cleanup thread
                        return ("MAG" + str(dev.index) if kind == "MIRROR" else dev.name), Path(dev.root)
            if attempt or not low or SPACE.fn is None:
                break
            SPACE(self, low, True)                  # wait for the cleanup, then look again
        raise StoreFailed("*** Out of disk space", OUT_OF_RESOURCES)

    def spool_root(self) -> str | None:
        """Where C-STORE data beyond the memory threshold is streamed (the first usable MAG)."""
        try:
            return str(self.choose_device()[1])
        except StoreFailed:
            return None

    def open_spool(self, transfer_syntax: str, sop_class: str, sop_instance: str) -> Spool:
        """A :class:`Spool` for one incoming data set (the network entrance calls this when
        a C-STORE request arrives, before its data)."""
        return Spool(transfer_syntax, self.spool_root(), None, sop_class, sop_instance)

    # -- the pipeline ------------------------------------------------------------------
    def store(self, obj: Received | Encoded, db: Database, calling: str = "", called: str = "",
              compression: str | None = None, ctx: IngestContext | None = None) -> Stored:
        """Store one object; raises :class:`StoreFailed` (already logged) when it is not stored."""
        if ctx is None:
            ctx = IngestContext(calling, called, compression)
        ctx.ingest = self
        ctx.extra["db"] = db                 # for import steps that read the index (WorkListMode)
        received = obj if isinstance(obj, Received) else Received(obj.transfer_syntax, obj.raw)
        try:
            return self._store(received, db, ctx)
        except StoreFailed as exc:
            self.logs.operator.printf(f"{exc}\n")
            raise
        finally:
            received.close()

    def _who(self, ctx: IngestContext, sop: str = "") -> str:
        source = ctx.filename or (f"{ctx.calling.strip()}" + (f" ({ctx.peer})" if ctx.peer else ""))
        return f"{printable(sop) or 'object'} from {printable(source)}"

    def _store(self, received: Received, db: Database, ctx: IngestContext) -> Stored:
        try:
            item = _Object(received)
        except StructureError as exc:
            raise StoreFailed(f"***Refused {self._who(ctx, received.sop_instance)}: malformed data set: {exc}",
                              CANNOT_UNDERSTAND) from exc
        if item.scan.needs_repair:
            odd, trailing = len(item.scan.odd), item.scan.trailing
            try:
                item.replace(repair(item.scan))
            except StructureError as exc:
                raise StoreFailed(f"***Refused {self._who(ctx, received.sop_instance)}: {exc}",
                                  CANNOT_UNDERSTAND) from exc
            self.logs.operator.printf(f"Repaired {self._who(ctx, item.scan.text(0x00080018))}: "
                                      f"{odd} odd-length value(s) padded, {trailing} trailing NUL byte(s) "
                                      "dropped\n")
        self._check_uids(item.scan, ctx)
        if not self.settings.int("AllowEmptyPatientID"):
            fixes = image_fixes(item.scan.raw, self.settings)
            if fixes:
                if item.transfer_syntax == DEFLATED:
                    self._via_dataset(item, lambda ds: _apply_fixes(ds, fixes))
                else:
                    item.replace(patch(item.scan, fixes))
        if IMPORT_STEPS:
            verdict = self._import_steps(item, ctx)
            if verdict is Verdict.DESTROY:
                who = self._who(ctx, item.scan.text(0x00080018))
                self.logs.operator.printf(f"Destroyed by an import step: {who}\n")
                return Stored(None, sop_instance=item.scan.text(0x00080018))
            if verdict in (Verdict.REJECT, Verdict.RETRY):
                raise StoreFailed(f"***Rejected by an import step ({verdict.value}): "
                                  f"{self._who(ctx, item.scan.text(0x00080018))}")
            self._check_uids(item.scan, ctx)
        code = (ctx.compression if ctx.compression is not None else self.settings.str("IncomingCompression"))
        code = code.strip().lower()
        original = None
        if code and not code.startswith(("as", "is", "v")):
            original = Encoded(item.data, item.transfer_syntax)  # type: ignore[arg-type]
        if original is not None and not COMPRESSION.keeps(original, code):
            try:
                result = COMPRESSION(original, code, ctx)
            except Exception as exc:  # codecs raise many kinds on broken streams
                self.logs.operator.printf(f"***Could not apply compression '{printable(code)}' to "
                                          f"{self._who(ctx, item.scan.text(0x00080018))}: {printable(str(exc))}; "
                                          "stored as received\n")
            else:
                if result is not original:
                    item.replace(result.raw, result.transfer_syntax)
        try:
            return self._save(item, db, ctx)
        except StoreFailed as exc:
            if not exc.refused or not REJECTED or self._rejected(item, ctx, str(exc)) is not Verdict.RETRY:
                raise
            self.logs.operator.printf(f"{exc}; retried (RejectedImageConverter)\n")
        return self._save(item, db, ctx)

    def _rejected(self, item: _Object, ctx: IngestContext, why: str) -> Verdict:
        """Run the :data:`REJECTED` hooks on the refused object; RETRY when one asks for it."""
        try:
            ds = item.encoded().dataset()
        except BadObject:
            return Verdict.REJECT
        ctx.changed = False
        verdict = Verdict.REJECT
        for name, hook in REJECTED.items():
            try:
                verdict = hook(ds, ctx, why) or verdict
            except Exception as exc:  # a broken hook keeps the refusal
                self.logs.operator.printf(f"***Rejected-object step {name} failed: {printable(str(exc))}\n")
        if verdict is Verdict.RETRY and ctx.changed:
            ts = syntax_of(ds) or item.transfer_syntax
            new = Encoded.from_dataset(ds, ts)
            item.replace(new.raw, new.transfer_syntax)
            self._check_uids(item.scan, ctx)
        return verdict

    def _check_uids(self, sc: Scan, ctx: IngestContext) -> None:
        sop = sc.raw(0x00080018)
        if not sop or not sop.strip(b" \0"):
            raise StoreFailed(f"***Object has no SOPInstanceUID; not stored ({self._who(ctx)})", CANNOT_UNDERSTAND)
        for tag, keyword in INSTANCE_UIDS:
            value = sc.raw(tag)
            if value is None:
                continue
            text = value.rstrip(b" \0")
            if b"\0" in text:
                raise StoreFailed(f"***Refused {self._who(ctx, sc.text(0x00080018))}: {keyword} contains a NUL "
                                  "byte; the index would cut it", CANNOT_UNDERSTAND)
            if len(text) > MAX_UID:
                raise StoreFailed(f"***Refused {self._who(ctx, sc.text(0x00080018))}: {keyword} has {len(text)} "
                                  f"characters (at most {MAX_UID}); the index would cut it", CANNOT_UNDERSTAND)

    def _via_dataset(self, item: _Object, change: Callable[[Dataset], None]) -> None:
        ds = item.encoded().dataset()
        change(ds)
        new = Encoded.from_dataset(ds, item.transfer_syntax)
        item.replace(new.raw, new.transfer_syntax)

    def _import_steps(self, item: _Object, ctx: IngestContext) -> Verdict:
        try:
            encoded = item.encoded()
            ds = lazy_dataset(item.scan, encoded.raw) or encoded.dataset()   # elements made when used
        except BadObject as exc:
            raise StoreFailed(f"***Refused {self._who(ctx, item.scan.text(0x00080018))}: {exc}",
                              CANNOT_UNDERSTAND) from exc
        ctx.extra["encoded"] = encoded       # the bytes ds was decoded from (steps may send them as they are)
        ctx.changed = False
        before = None if scanned_elements(ds) is not None else dict(ds._dict)   # to re-encode only changes
        for name, step in IMPORT_STEPS.items():
            try:
                verdict = step(ds, ctx) or Verdict.KEEP
            except Exception as exc:  # a broken step must not take the store down
                self.logs.operator.printf(f"***Import step {name} failed: {printable(str(exc))}\n")
                continue
            if verdict is not Verdict.KEEP:
                return verdict
        if ctx.changed:
            ts = syntax_of(ds) or item.transfer_syntax
            spliced = splice_changes(ds, before, item.scan) if ts == item.transfer_syntax else None
            if spliced is None:
                item.replace(Encoded.from_dataset(ds, ts).raw, ts)
            else:
                item.replace(spliced[0], ts, spliced[1])
        return Verdict.KEEP

    # -- naming, writing, indexing -------------------------------------------------------
    def _name(self, header: Dataset, ctx: IngestContext) -> str:
        settings = self.settings
        try:
            name = generate_file_name(header, settings.str("FileNameSyntax"), ctx.calling, ctx.called,
                                      settings.int("MaxFileNameLength"))
        except UnsafeFileName as exc:
            raise StoreFailed(f"***{exc}") from exc
        if _test_mode:
            stem, dot, ext = name.rpartition(".")
            suffix = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in _test_mode)
            name = f"{stem}{suffix}.{ext}" if dot else name + suffix
        return name

    def _save(self, item: _Object, db: Database, ctx: IngestContext) -> Stored:
        settings = self.settings
        sc = item.scan
        sop = sc.text(0x00080018)
        patid = sc.text(0x00100020)
        header = cast(Dataset, ScanHeader(sc, item.transfer_syntax))
        values = IndexValues(sc.raw_values(db.store_rules.tags), sc.little_endian)
        mag0 = device_root(settings, "MAG0")
        with instance_lock(sop, mag0 if mag0 and os.path.isdir(mag0) else None):
            try:
                rows = db.files_of(sop)
            except DatabaseError as exc:
                raise StoreFailed(f"***Error reading the index for {self._who(ctx, sop)}: {exc}",
                                  database=True) from exc
            existing = next((r for r in rows if r.patient_id == patid), None)
            if existing is None and rows and not patid and settings.int("AllowEmptyPatientID"):
                existing = rows[0]          # the index gave it a patient ID of its study
            if existing is None and rows:
                raise StoreFailed(f"***Refused {self._who(ctx, sop)}: this SOP instance is already stored for "
                                  f"patient '{printable(rows[0].patient_id)}', this object is for patient "
                                  f"'{printable(patid)}'", refused=True)
            name = self._name(header, ctx)
            rewritten = False
            replaced = None         # the row's old file: removed once the row points at the new one
            if existing is not None:
                if not existing.device.upper().startswith("MAG"):
                    self.logs.debug.printf(f"Not rewritten (stored on {existing.device}): {sop}\n")
                    return Stored(None, sop_instance=sop, patient_id=patid)
                if settings.int("IgnoreRewrite"):
                    self.logs.debug.printf(f"Rewrite ignored (IgnoreRewrite): {sop}\n")
                    return Stored(None, sop_instance=sop, patient_id=patid)
                old_ext = existing.object_file.rpartition(".")[2].lower()
                new_ext = name.rpartition(".")[2].lower()
                if old_ext != new_ext or settings.int("RenameOnRewrite"):
                    replaced, existing = existing, None
                else:
                    name, rewritten = existing.object_file.replace("\\", "/"), True
            backup, created = None, False
            if existing is not None:
                device = existing.device
                root = Path(device_root(settings, device) or "")
                path = root / name          # name passed check_relative(): it cannot leave root
                backup = self._write(item, sc, header, name, path, root, True)
            else:
                device, root = self.choose_device(ctx.preferred_device)
                name, path, backup, created = self._write_new(item, sc, header, name, root, ctx)
            new_row = existing is None and replaced is None
            try:
                db.add(values, name, device, just_add=new_row, filename_for_log=str(path), strict=new_row)
            except DuplicateKey:
                # indexed meanwhile by another server on the same database: that row wins
                self._undo(path, backup, created)
                raise StoreFailed(f"***Refused {self._who(ctx, sop)}: it was indexed meanwhile by another "
                                  "process", refused=True)
            except DatabaseError as exc:
                self._undo(path, backup, created)
                raise StoreFailed(f"***Error saving to SQL: {exc}", database=True, refused=True) from exc
            if backup is not None:
                backup.unlink(missing_ok=True)
            if replaced is not None:
                # only now: until the row pointed at the new file, the old one was the object
                remove_stored_file(settings, replaced.object_file, replaced.device, keep=path)
        self.logs.operator.printf(f"{'Rewritten' if rewritten else 'Written'} file: {path}\n")
        counters.add("received")
        stored = Stored(path, name, device, rewritten, sop, patid)
        for hook_name, hook in AFTER_STORE.items():
            try:
                hook(stored, ctx)
            except Exception as exc:  # an after-store hook must not undo a store
                self.logs.operator.printf(f"***After-store step {hook_name} failed: {exc}\n")
        return stored

    def _write_new(self, item: _Object, sc: Scan, header: Dataset, name: str, root: Path,
                   ctx: IngestContext) -> tuple[str, Path, Path | None, bool]:
        """Write a file under a name no file has: names are unique per SOP instance or
        carry a time stamp and counter, but another process (or server on this folder) may
        have taken this one meanwhile; then the next name is used. A name that comes out
        the same again (a fixed FileNameSyntax) is overwritten, as the original does, keeping
        a backup to put back if the index refuses (it may be the file a rename replaces).
        Returns the name, the path, that backup, and whether the file is new."""
        for _attempt in range(16):
            path = root / name
            try:
                self._write(item, sc, header, name, path, root, False, exclusive=True)
                return name, path, None, True
            except FileExistsError:
                again = self._name(header, ctx)
                if again == name:
                    return name, path, self._write(item, sc, header, name, path, root, True), False
                name = again
        raise StoreFailed(f"***Failed to write file {root / name}: no free file name")

    def _write(self, item: _Object, sc: Scan, header: Dataset, name: str, path: Path, root: Path,
               rewrite: bool, exclusive: bool = False) -> Path | None:
        """Put the file in place; returns a hard-linked backup of the file a rewrite replaces.
        ``exclusive``: never overwrite, :class:`FileExistsError` when ``path`` exists."""
        backup = None
        if rewrite and path.exists():
            backup = Path(root) / ".dgate-tmp" / (path.name + f".{os.getpid()}-{threading.get_ident():x}.old.tmp")
            try:
                os.link(path, backup)
            except OSError:
                backup = None
        try:
            received = item.received
            if (COMPRESSION.readable is not None and not name.lower().endswith(".v2")
                    and NKI_PIXELS in sc and PIXEL_DATA_TAG not in sc
                    and not self.settings.int("AllowNKIAsDICOM")):
                expanded = COMPRESSION.readable(item.encoded(), self)
                item.replace(expanded.raw, expanded.transfer_syntax)
            if name.lower().endswith(".v2"):
                if item.transfer_syntax not in UNCOMPRESSED:
                    raise BadObject("Cannot write compressed pixel data in v2 format")
                with TempFile(root) as tmp:
                    tmp.write(v2_bytes(item.encoded().dataset()))
                    tmp.place(path, replace=not exclusive)
                return backup
            prefix = part10_prefix(sc.text(0x00080016), sc.text(0x00080018), item.transfer_syntax)
            spool = received.spool
            if item.pristine and spool is not None and received.prefix == prefix:
                spool.place(path, replace=not exclusive)   # the spooled file is the object file as it is
                return backup
            with TempFile(root) as tmp:
                tmp.write_all((prefix, item.data))
                tmp.place(path, replace=not exclusive)
            return backup
        except (OSError, BadObject) as exc:
            if backup is not None:
                backup.unlink(missing_ok=True)
            if exclusive and isinstance(exc, FileExistsError):
                raise
            raise StoreFailed(f"***Failed to write file {path}: {exc}") from exc

    @staticmethod
    def _undo(path: Path, backup: Path | None, created: bool) -> None:
        """Remove the file this store created, or put back the one it replaced (without a
        backup the new content stays: the row may point at that name)."""
        try:
            if backup is not None:
                os.replace(backup, path)
            elif created:
                path.unlink(missing_ok=True)
        except OSError:
            pass


def _apply_fixes(ds: Dataset, fixes: dict[int, tuple[str, bytes]]) -> None:
    from .fiximage import KEYWORDS
    for tag, (_vr, value) in fixes.items():
        setattr(ds, KEYWORDS[tag], value.decode("latin-1"))
