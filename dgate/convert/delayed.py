"""Delayed operations (``prefetch_queue``, conquest-lua-web.md §8.10).

``forward|get|delete|process|submit|submit2 patient|study|series|image … [after s]``,
``merge study …``, ``prefetch`` and ``preretrieve AE`` are parsed into a
:class:`DelayedOp` and put into one persistent FIFO queue
(``DelayedQueue<port>.jsonl``). A queued operation equal to a new one (everything but
the time) is replaced and its delay restarts, so ``forward study to X after 600`` fires
600 s after the last image of the study arrived. The default delay is
``ForwardCollectDelay``. Failures (peer down) are retried with the queue rules,
``MaximumDelayedFetchForwardRetries`` giving up.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from pydicom.dataset import Dataset

from ..config.keys import atoi
from .workqueue import Entry, WorkQueue


@dataclass
class DelayedOp:
    """One queued operation (the 1000-byte record of the original)."""

    operation: str                # forward, get, delete, process, merge, submit, submit2, prefetch, preretrieve
    level: str = ""               # patient, study, series, image, selection
    patient_id: str = ""
    server: str = ""              # to/from AE, or the process command
    study: str = ""
    series: str = ""
    sop: str = ""
    compression: str = ""
    modality: str = ""
    date: str = ""
    imagetype: str = ""           # also split i/n, target host
    seriesdesc: str = ""          # also password, submit2 command
    script: str = ""
    delay: int = 0
    queued_at: float = 0.0

    def key(self) -> str:
        """Everything but the time: equal keys replace each other in the queue."""
        d = asdict(self)
        d.pop("queued_at")
        return repr(sorted(d.items()))

    def describe(self) -> str:
        return (f"{self.operation} {self.level} - ({self.level} {self.modality} {self.date} of "
                f"{self.patient_id}) to {self.server}")


def _date_range(from_days: int, to_days: int, base: float) -> str:
    a, b = time.localtime(base + 86400 * from_days), time.localtime(base + 86400 * to_days)
    return time.strftime("%Y%m%d", a) + "-" + time.strftime("%Y%m%d", b)


def _plus_minus(text: str) -> tuple[int, int]:
    first = atoi(text)
    rest = text[1:]
    cut = min([i for i in (rest.find("+"), rest.find("-")) if i >= 0], default=-1)
    return first, atoi(rest[cut:]) if cut >= 0 else 0


def parse_delayed(line: str, ds: Dataset | None, default_delay: int = 600) -> DelayedOp:
    """Parse a delayed-operation statement; UIDs of the current object fill the level."""
    words = line.split(" ", 2)
    op = DelayedOp(operation=words[0].lower(), level=(words[1].lower() if len(words) > 1 else ""))
    level = op.level
    rest = words[2] if len(words) > 2 else ""

    def take(n: int) -> str:
        nonlocal rest
        value, _, rest = rest[n:].partition(" ")
        return value

    while rest:
        low = rest.lower()
        if low.startswith("compressed as "):
            op.compression = take(14)
        elif low.startswith("to "):
            op.server = take(3)
        elif low.startswith("from "):
            op.server = take(5)
        elif low.startswith("after "):
            op.delay = atoi(take(6))
        elif low.startswith("by "):
            op.server, rest = rest[3:], ""
        elif low.startswith("date "):
            op.date, level = take(5), "selection"
        elif low.startswith("now "):
            op.date, level = _date_range(*_plus_minus(take(4)), time.time()), "selection"
        elif low.startswith("age "):
            a, b = _plus_minus(take(4))
            study_date = str(ds.get("StudyDate", "")) if ds is not None else ""
            try:
                base = time.mktime(time.strptime(study_date[:8], "%Y%m%d"))
            except ValueError:
                base = time.time()
            op.date, level = _date_range(a, b, base), "selection"
        elif low.startswith("modality "):
            op.modality, level = take(9), "selection"
        elif low.startswith("sop "):
            op.sop, level = take(4), "selection"
        elif low.startswith("imagetype "):
            op.imagetype, level = take(10), "study"
        elif low.startswith("split "):
            op.imagetype = take(6)
        elif low.startswith("target "):
            op.imagetype = take(7)
        elif low.startswith("seriesdesc "):
            op.seriesdesc, level = take(11), "study"
        elif low.startswith("password "):
            op.seriesdesc = take(9)
        elif low.startswith("command ["):
            body, _, rest = rest[9:].partition("]")
            op.seriesdesc, rest = body, rest.lstrip(" ")
        elif low.startswith("command "):
            op.seriesdesc = take(8)
        elif low.startswith('script "'):
            op.script, rest = rest[8:-1] if rest.endswith('"') else rest[8:], ""
        elif low.startswith("script "):
            op.script, rest = rest[7:], ""
        elif low.startswith("series "):
            op.series, level = take(7), "selection"
        elif low.startswith("study "):
            op.study, level = take(6), "selection"
        else:
            take(0)           # unknown word: skipped
    if ds is not None:
        if level.startswith(("stu", "ser", "ima")) and "StudyInstanceUID" in ds:
            op.study = str(ds.StudyInstanceUID).rstrip()
        if level.startswith(("ser", "ima")) and "SeriesInstanceUID" in ds:
            op.series = str(ds.SeriesInstanceUID).rstrip()
        if level.startswith("ima") and "SOPInstanceUID" in ds:
            op.sop = str(ds.SOPInstanceUID).rstrip()
        op.patient_id = str(ds.get("PatientID", "")).rstrip()
    op.level = level
    if not op.delay:
        op.delay = default_delay
    return op


class DelayedQueue:
    """The process's delayed-operation queue (hub background task: ``start``/``stop``)."""

    def __init__(self, config, logs, forwarder=None, port: int | None = None, own_ae: str = "",
                 db_factory=None, folder: Path | None = None, services=None):
        self.config = config
        self.logs = logs
        self.forwarder = forwarder
        self.services = services
        self.port = port if port is not None else config.settings.int("TCPPort")
        self.own_ae = own_ae or config.settings.str("MyACRNema")
        self.db_factory = db_factory
        s = config.settings
        self.queue = WorkQueue("delayed", Path(folder or config.base_dir) / f"DelayedQueue{self.port}.jsonl",
                               self.execute, logs, threads=1, hold_off=lambda: s.int("FailHoldOff"),
                               retry_delay=lambda: s.int("RetryDelay"),
                               max_tries=lambda: s.int("MaximumDelayedFetchForwardRetries"),
                               ready=lambda e: e.get("queued_at", 0) + e.get("delay", 0) <= time.time())

    def enqueue(self, op: DelayedOp | dict) -> bool:
        """Queue an operation (replacing an equal one); True when queued."""
        if isinstance(op, dict):
            op = DelayedOp(**{k: v for k, v in op.items() if k in DelayedOp.__dataclass_fields__})
        op.queued_at = time.time()
        self.queue.put(asdict(op), unique_key=op.key())
        return True

    def start(self) -> None:
        self.queue.start()

    def stop(self) -> None:
        self.queue.stop()

    def status(self) -> list[str]:
        st = self.queue.status()
        return [f"Delayed operations queue: {st['queued']} queued, {st['busy']} busy, {st['failed']} waiting for "
                f"retry, {st['done']} done, {st['failures']} failures\n"]

    # -- execution -----------------------------------------------------------------------
    def _db(self):
        if self.db_factory is not None:
            return self.db_factory()
        from ..db import open_database
        return open_database(self.config, self.logs, own_ae=self.own_ae)

    def selection(self, op: DelayedOp) -> Dataset:
        ident = Dataset()
        for keyword, value in (("PatientID", op.patient_id), ("StudyInstanceUID", op.study),
                               ("SeriesInstanceUID", op.series), ("SOPInstanceUID", op.sop),
                               ("Modality", op.modality), ("StudyDate", op.date),
                               ("SeriesDescription", op.seriesdesc if op.operation in ("forward", "get", "delete",
                                                                                     "merge") else "")):
            if value:
                setattr(ident, keyword, value)
        return ident

    def files(self, op: DelayedOp) -> list[Path]:
        """The local files an operation selects."""
        from ..store.devices import locate
        db = self._db()
        try:
            found = db.stored_files(self.selection(op))
        finally:
            if self.db_factory is None:
                db.close()
        paths = []
        for item in found:
            path = locate(self.config.settings, item.device, item.object_file)
            if path is not None:
                paths.append(path)
        if op.imagetype and op.operation in ("forward", "delete") and "/" not in op.imagetype:
            paths = [p for p in paths if _image_type_matches(p, op.imagetype)]
        return paths

    def execute(self, entry: Entry) -> bool:
        """Run one operation; True = retry later."""
        op = DelayedOp(**{k: v for k, v in entry.items() if k in DelayedOp.__dataclass_fields__})
        handler = _OPERATIONS.get(op.operation)
        if handler is None:
            self.logs.operator.printf(f"*** delayed operation '{op.operation}' is not known; dropped\n")
            return False
        return handler(self, op)


def _image_type_matches(path: Path, wanted: str) -> bool:
    from ..store.formats import read_file
    try:
        value = read_file(path).header().get("ImageType", "")
    except Exception:
        return False
    text = "\\".join(value) if isinstance(value, (list, tuple)) or hasattr(value, "__iter__") and \
        not isinstance(value, str) else str(value)
    from .match import match
    return match(text, wanted)


def _forward(q: DelayedQueue, op: DelayedOp) -> bool:
    """Send the selected local objects to ``to AE`` (the original C-MOVEs them from itself)."""
    from ..store.formats import read_file
    from .context import ConvertContext, Services
    from .forward import Forwarder, ForwardSpec
    forwarder = q.forwarder or Forwarder(q.config, q.logs)
    paths = q.files(op)
    if op.imagetype and "/" in op.imagetype:          # split i/n
        i, _, n = op.imagetype.partition("/")
        paths = [p for k, p in enumerate(paths) if n.isdigit() and int(n) and k % int(n) == atoi(i) % int(n)]
    ctx = ConvertContext(q.config, q.logs, family="Delayed", number=-1, own_ae=q.own_ae, port=q.port,
                         services=Services(forwarder=forwarder))
    spec = ForwardSpec(destination=op.server, compression=op.compression or None, script=op.script)
    for path in paths:
        try:
            ds = read_file(path).dataset()
        except Exception as exc:
            q.logs.operator.printf(f"*** delayed forward: cannot read {path}: {exc}\n")
            continue
        ok, retry = forwarder.forward(spec, ds, ctx, 0, export=True)
        if not ok and retry:
            return True
    q.logs.operator.printf(f"Delayed forward of {len(paths)} object(s) to {op.server} done\n")
    if q.forwarder is None:
        forwarder.close_all()
    return False


def _get(q: DelayedQueue, op: DelayedOp) -> bool:
    """C-MOVE the selection from ``from AE`` to this server (message id 0xFBAD)."""
    from ..net import scu
    address = q.config.amap.lookup(op.server)
    if address is None:
        q.logs.operator.printf(f"***dicommove: AE not found: {op.server}\n")
        return False
    ident = q.selection(op)
    if op.sop:
        level = "IMAGE"
    elif op.series:
        level = "SERIES"
    elif op.study or op.date or op.modality:
        level = "STUDY" if not op.modality and not op.date else "SERIES"
    else:
        level = "PATIENT"
    ident.QueryRetrieveLevel = level
    try:
        result = scu.move(q.own_ae, address, q.own_ae, ident, "patient" if level == "PATIENT" else "study", 0xFBAD)
    except (scu.AssociationFailed, OSError) as exc:
        q.logs.operator.printf(f"***dicommove: could not connect to AE: {op.server} ({exc})\n")
        return True
    if not result.ok:
        q.logs.operator.printf(f"***dicommove: remote DICOM error {result.status:#06x}\n")
        return result.status in (0xA700, 0xC000)
    return False


def _delete(q: DelayedQueue, op: DelayedOp) -> bool:
    from ..store.removal import remove_stored_file
    db = q._db()
    try:
        removed = db.delete(patient_id=op.patient_id, study_uid=op.study, series_uid=op.series, sop_uid=op.sop)
        for item in removed:
            remove_stored_file(q.config.settings, item.object_file, item.device)
    finally:
        if q.db_factory is None:
            db.close()
    q.logs.operator.printf(f"Delayed delete removed {len(removed)} object(s) of {op.patient_id}\n")
    return False


def _process(q: DelayedQueue, op: DelayedOp) -> bool:
    command = op.server
    first, _, rest = command.partition(" ")
    if "(" in first and not rest:
        first, _, rest = first.partition("(")
        rest = rest.rsplit(")", 1)[0]
    if first.lower().endswith(".lua"):
        from .context import ConvertContext, Services
        from .luahook import run_lua
        from .script import Run
        ctx = ConvertContext(q.config, q.logs, calling="prefetch", called="prefetch", family="Delayed", number=-1,
                             own_ae=q.own_ae, port=q.port, services=q.services or Services())
        run_lua(f"dofile('{first.replace(chr(92), chr(92) * 2)}')", Run(ctx, None), command_line=rest)
        return False
    subprocess.run(command, shell=True, cwd=q.config.base_dir)
    return False


def _prefetch(q: DelayedQueue, op: DelayedOp) -> bool:
    """Read every file of the patient once (operating-system cache warm-up)."""
    count = 0
    for path in q.files(DelayedOp(operation="prefetch", patient_id=op.patient_id)):
        with open(path, "rb") as f:
            while f.read(1 << 20):
                pass
        count += 1
    q.logs.operator.printf(f"Prefetched {count} file(s) of patient {op.patient_id}\n")
    return False


def _preretrieve(q: DelayedQueue, op: DelayedOp) -> bool:
    return _get(q, DelayedOp(operation="get", level="patient", patient_id=op.patient_id, server=op.server))


def build_archive(q: DelayedQueue, op: DelayedOp, target: Path) -> int:
    """Zip the selected objects (each first run through ``op.script``, NKI data expanded);
    the count."""
    from .context import Services
    from .onfile import read_object, script_context, through_script
    count = 0
    ctx = script_context(q.config, q.logs, family="Submit", own_ae=q.own_ae, port=q.port,
                         services=q.services or Services())
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in q.files(op):
            if op.script:
                try:
                    ds = read_object(path)
                except Exception:
                    continue
                if through_script(ds, op.script, ctx) is None:
                    continue
                with tempfile.NamedTemporaryFile(suffix=".dcm", delete=False) as tmp:
                    ds.save_as(tmp.name, enforce_file_format=True)
                zf.write(tmp.name, f"{ds.SOPInstanceUID}.dcm")
                os.unlink(tmp.name)
            else:
                zf.write(path, path.name)
            count += 1
    return count


def _submit(q: DelayedQueue, op: DelayedOp, custom: bool) -> bool:
    """Zip the selection and upload it: ``submit`` with ``pscp -pw`` (sftp, port 22) or,
    without PuTTY, ``sshpass``+``scp``/``scp``; ``submit2`` with a printf-style command
    line given (archive, target)."""
    fd, name = tempfile.mkstemp(suffix=".zip")
    os.close(fd)
    archive = Path(name)
    build_archive(q, op, archive)
    target = op.imagetype or op.server
    if custom:
        try:
            command = op.seriesdesc % (str(archive), target) if op.seriesdesc.count("%s") == 2 else \
                f"{op.seriesdesc} {shlex.quote(str(archive))} {shlex.quote(target)}"
        except TypeError:
            command = f"{op.seriesdesc} {shlex.quote(str(archive))} {shlex.quote(target)}"
    elif shutil.which("pscp"):
        command = f"pscp -pw {shlex.quote(op.seriesdesc)} -batch {shlex.quote(str(archive))} {shlex.quote(target)}"
    elif op.seriesdesc and shutil.which("sshpass"):
        command = f"sshpass -p {shlex.quote(op.seriesdesc)} scp -o BatchMode=no {shlex.quote(str(archive))} " \
                  f"{shlex.quote(target)}"
    else:
        command = f"scp -B {shlex.quote(str(archive))} {shlex.quote(target)}"
    result = subprocess.run(command, shell=True, capture_output=True, cwd=q.config.base_dir)
    if result.returncode != 0:
        q.logs.operator.printf("*** Failed uploading archive to submit\n")
        archive.unlink(missing_ok=True)
        return True
    archive.unlink(missing_ok=True)
    return False


def _merge(q: DelayedQueue, op: DelayedOp) -> bool:
    """``merge study`` (``DcmMergeStudy``): the series of the study (with the ``modality``
    and ``seriesdesc`` filters) merged into one new series, each image through
    MergeSeriesConverter0 and ``op.script``, by the Lua capability's merge
    (:func:`dgate.luabind.modify.merge`) in the delayed-operation state."""
    from ..luabind.bridge import state_for
    from ..luabind.modify import merge
    from .context import ConvertContext
    ident = Dataset()
    ident.QueryRetrieveLevel = "SERIES"
    for keyword, value in (("PatientID", op.patient_id), ("StudyInstanceUID", op.study), ("Modality", op.modality),
                           ("SeriesDescription", op.seriesdesc)):
        if value:
            setattr(ident, keyword, value)
    ident.SeriesInstanceUID = ""
    db = q._db()
    try:
        uids = sorted({str(r.get("SeriesInstanceUID", "")) for r in db.find("SERIES", ident)} - {""})
    finally:
        if q.db_factory is None:
            db.close()
    if len(uids) < 2:
        q.logs.operator.printf(f"Delayed merge study {op.study}: {len(uids)} series, nothing to merge\n")
        return False
    state = state_for(ConvertContext(q.config, q.logs, family="Delayed", number=-1, own_ae=q.own_ae, port=q.port))
    new = merge(state, uids, "series", op.script)
    q.logs.operator.printf(f"Delayed merge study {op.study}: {len(uids)} series merged into {new}\n")
    return False


_OPERATIONS = {
    "forward": _forward, "get": _get, "delete": _delete, "process": _process, "prefetch": _prefetch,
    "preretrieve": _preretrieve, "merge": _merge,
    "submit": lambda q, op: _submit(q, op, False), "submit2": lambda q, op: _submit(q, op, True),
}
