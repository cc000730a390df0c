"""Export converter queues (conquest-lua-web.md §8.9).

After an object is stored the server calls :meth:`ExportQueues.enqueue` once; an entry
goes into the queue of every non-empty ``ExportConverterN`` (N < ``ExportConverters`` ≤
20). Each queue is persistent (``ExportQueue<port>_<N>.jsonl`` in the server folder) and
runs ``DelayedForwarderThreads`` workers with the ``FailHoldOff``/``RetryDelay``/
``MaximumExportRetries`` rules. At processing time the entry's filters
(``ExportModalityN``, ``ExportStationNameN``, ``ExportCallingAEN``, ``ExportCalledAEN``,
``ExportFilterN``) are checked and the export line runs on the stored file.

``enqueue`` is a plain call with plain data (strings), so a worker process can make it
through a hub service; the object with ``start``/``stop`` is the hub's background task.
"""
from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from .context import ConvertContext, Services
from .match import match
from .rc import RC
from .workqueue import Entry, WorkQueue


@dataclass
class StoredObject:
    """What an export needs to know of a stored object (the 1536-byte record)."""

    file: str                 # full path of the stored file
    modality: str = ""
    station: str = ""
    sop: str = ""
    patient_id: str = ""
    calling: str = ""
    called: str = ""
    device: str = ""
    object_file: str = ""


class ExportQueues:
    """All ExportConverterN queues of one server."""

    def __init__(self, config, logs, services: Services | None = None, port: int | None = None,
                 own_ae: str = "", db_factory=None, folder: Path | None = None):
        self.config = config
        self.logs = logs
        self.services = services or Services()
        self.port = port if port is not None else config.settings.int("TCPPort")
        self.own_ae = own_ae or config.settings.str("MyACRNema")
        self.db_factory = db_factory
        self.folder = Path(folder or config.base_dir)
        self.queues: dict[int, WorkQueue] = {}
        self._lock = threading.Lock()
        self._running = False
        self._local = threading.local()
        # queues left from a previous run are picked up at once
        for path in sorted(self.folder.glob(f"ExportQueue{self.port}_*.jsonl")):
            n = path.stem.rpartition("_")[2]
            if n.isdigit():
                self._queue(int(n))

    # -- configuration --------------------------------------------------------------------
    def count(self) -> int:
        return max(0, min(self.config.settings.int("ExportConverters"), 20))

    def _queue(self, n: int) -> WorkQueue:
        with self._lock:
            queue = self.queues.get(n)
            if queue is None:
                s = self.config.settings
                def process(entry: Entry, n: int = n) -> bool:
                    return self.run_export(n, entry)
                queue = WorkQueue(f"ExportConverter{n}", self.folder / f"ExportQueue{self.port}_{n}.jsonl",
                                  process, self.logs,
                                  threads=s.int("DelayedForwarderThreads"),
                                  hold_off=lambda: s.int("FailHoldOff"), retry_delay=lambda: s.int("RetryDelay"),
                                  max_tries=lambda: s.int("MaximumExportRetries"))
                self.queues[n] = queue
                if self._running:
                    queue.start()
            return queue

    # -- the hub service ------------------------------------------------------------------
    def enqueue(self, stored: StoredObject | dict) -> int:
        """Queue a stored object for every configured export converter; how many queues."""
        record = asdict(stored) if isinstance(stored, StoredObject) else dict(stored)
        placed = 0
        for n in range(self.count()):
            if self.config.settings.str(f"ExportConverter{n}", "") or self.config.ini.get("lua", f"ExportConverter{n}"):
                self._queue(n).put(dict(record))
                placed += 1
        return placed

    # -- background task ------------------------------------------------------------------
    def start(self) -> None:
        self._running = True
        for queue in list(self.queues.values()):
            queue.start()

    def stop(self) -> None:
        self._running = False
        for queue in list(self.queues.values()):
            queue.stop()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        return all(q.wait_idle(timeout) for q in list(self.queues.values()))

    def status(self) -> list[str]:
        """Lines for ``display_status`` and ``export_status``."""
        lines = []
        for n, queue in sorted(self.queues.items()):
            st = queue.status()
            lines.append(f"ExportConverter{n} queue: {st['queued']} queued, {st['busy']} busy, "
                         f"{st['failed']} waiting for retry, {st['done']} done, {st['failures']} failures, "
                         f"{st['given_up']} given up\n")
        return lines

    # -- running one entry ----------------------------------------------------------------
    def _db(self):
        db = getattr(self._local, "db", None)
        if db is None:
            if self.db_factory is not None:
                db = self.db_factory()
            else:
                from ..db import open_database
                db = open_database(self.config, self.logs, own_ae=self.own_ae)
            self._local.db = db
        return db

    def passes_filters(self, n: int, entry: Entry) -> bool:
        s = self.config.settings
        for key, value in (("Modality", entry.get("modality", "")), ("StationName", entry.get("station", "")),
                           ("CallingAE", entry.get("calling", "")), ("CalledAE", entry.get("called", ""))):
            if not match(value, s.str(f"Export{key}{n}", "*") or "*"):
                return False
        condition = s.str(f"ExportFilter{n}", "")
        if condition:
            return export_filter(self._db(), condition, entry.get("sop", ""), entry.get("patient_id", ""),
                                 s.int("TruncateFieldNames") or 255)
        return True

    def run_export(self, n: int, entry: Entry) -> bool:
        """Run ExportConverterN for one entry; True asks for a retry later."""
        key = f"ExportConverter{n}"
        lua = self.config.ini.get("lua", key)
        text = lua or self.config.settings.str(key, "")
        if not text:
            return False
        if not lua and not self.passes_filters(n, entry):      # a [lua] key runs without the filters
            return False
        ctx = ConvertContext(self.config, self.logs, calling=entry.get("calling", ""), called=entry.get("called", ""),
                             family="Export", number=n, modality=entry.get("modality") or None,
                             station=entry.get("station") or None, sop=entry.get("sop") or None,
                             patient_id=entry.get("patient_id") or None, file_name=entry.get("file", ""),
                             db_factory=self._db, services=self.services, own_ae=self.own_ae, port=self.port)
        return run_export_line(text, ctx, entry.get("file", ""), is_lua=bool(lua))


def run_export_line(text: str, ctx: ConvertContext, path: str, is_lua: bool = False) -> bool:
    """Run an export converter line on a stored file; True = retry later."""
    from .script import Run

    def load():
        from ..store.formats import read_file
        from .pristine import remember_source
        try:
            encoded = read_file(path)
            return remember_source(encoded.dataset(), encoded.raw, encoded.transfer_syntax)
        except Exception as exc:
            ctx.logs.operator.printf(f"*** {ctx.label(0)}: cannot read {path}: {exc}\n")
            return None

    run = Run(ctx, None, export=True, load=load)
    if is_lua:
        from .luahook import run_lua
        rc = run_lua(text, run, preset=RC.OK)
    else:
        rc = run.run_line(text)
    return run.retry or rc == RC.DEFER


def export_filter(db, condition: str, sop: str, patient_id: str = "", max_name: int = 255) -> bool:
    """``ExportFilterN`` (``TestFilter``): the SQL condition holds for this SOP instance.

    The condition is the administrator's own SQL from dicom.ini; the SOP UID and patient
    ID are bound values. Identifiers longer than ``max_name`` are cut as the original does.
    """
    s = db.schema
    im, se, st, pa = s.image, s.series, s.study, s.patient
    p = db.driver.text_param
    cond = _truncate_identifiers(condition, max_name)
    sql = (f"SELECT {im.name}.ObjectFile FROM {im.name}, {se.name}, {st.name}, {pa.name} WHERE ({cond}) AND "
           f"{im.name}.{im.key.column} = {p} AND {st.name}.{st.link.column} = {pa.name}.{pa.key.column} AND "
           f"{im.name}.{im.link.column} = {se.name}.{se.key.column} AND "
           f"{se.name}.{se.link.column} = {st.name}.{st.key.column}")
    params = [sop]
    pat = im.patient_column()
    if patient_id and pat is not None:
        sql += f" AND {im.name}.{pat.column} = {p}"
        params.append(patient_id)
    try:
        return bool(db.driver.query(sql, params))
    except Exception as exc:
        db.logs.operator.printf(f"***Filter: Unable to query for image record ({exc})\n")
        return False


def _truncate_identifiers(query: str, max_name: int) -> str:
    out, in_string, in_word = [], False, 0
    for ch in query:
        if in_string:
            if ch == "'":
                in_string = False
        elif in_word:
            if ch == " ":
                in_word = 0
            else:
                in_word += 1
                if in_word > max_name:
                    ch = " "
        elif ch == "'":
            in_string = True
        elif ch.isalpha():
            in_word = 1
        out.append(ch)
    return "".join(out)
