"""Converters at the object's life-cycle points outside a DICOM request
(conquest-lua-web.md §1.5/§8.1/§8.7, conquest-storage.md §6.3/§6.6):

* ``RejectedImageConverter0`` (:data:`dgate.store.ingest.REJECTED`): the index refused an
  incoming object (``SaveToDataBase`` failed); ``retry`` (rc 7) stores it once more with
  the changes the converter made. Also for a dropped file given up on: an empty object
  with ``Filename`` set.
* ``RegenConverter0`` / ``RegenFailConverter0`` (:data:`dgate.store.regen.REGEN`): each file
  regeneration enters (``destroy``/``reject`` vetoes it), and each file it cannot enter
  (an empty object when the file cannot be read).
* ``RejectedImageWorkListConverter0`` (:data:`dgate.store.worklist.REJECTED_WORKLIST`):
  ``WorkListMode`` 2 found no worklist row; ``retry`` looks it up once more.
* ``ArchiveConverter0`` / ``MoveDeviceConverter0``: :func:`archive_runner`, the per-object
  callback of :class:`dgate.store.archive.Archiver` (archival to a JUKEBOX/cache, device
  moves).

Each runs in the process where the event happens, with the own AE as calling and called
AE when no association is involved.
"""
from __future__ import annotations

from pathlib import Path

from pydicom.dataset import Dataset

from ..net import hooks
from ..store.ingest import REJECTED, IngestContext, Verdict
from ..store.regen import REGEN
from ..store.space import PROTECTED
from ..store.worklist import REJECTED_WORKLIST
from ..store.worklist import sync as worklist_sync
from .context import ConvertContext
from .keys import Converters, configured
from .pristine import snapshot, syntax_of, unchanged
from .rc import RC


def _routing(config, logs):
    """The server's converter services in a server process; None in a command-line tool (it
    must not open the server's queues)."""
    from ..runtime import role
    if role() not in ("hub", "single", "worker"):
        return None
    from .plugin import routing_for
    return routing_for(config, logs)


def _converters(config, logs) -> Converters:
    routing = _routing(config, logs)
    return routing.converters if routing is not None else Converters(config, logs)


def _context(config, logs, family: str, **fields) -> ConvertContext:
    own = config.settings.str("MyACRNema")
    routing = _routing(config, logs)
    ctx = routing.context(family=family, **fields) if routing is not None else \
        ConvertContext(config, logs, family=family, **fields)
    ctx.own_ae = ctx.own_ae or own
    if not ctx.calling:
        ctx.calling = own
    if not ctx.called:
        ctx.called = own
    return ctx


# -- RejectedImageConverter0 / RejectedImageWorkListConverter0 -------------------------------------
def _run_on_rejected(ds: Dataset, ictx: IngestContext, key: str, run: str) -> Verdict | None:
    """Run converter ``key`` (the :class:`Converters` method ``run``) on an object the store
    refused; the changes it makes are kept, ``retry`` asks the store to try once more."""
    ingest = ictx.ingest
    if ingest is None or not configured(ingest.config, key):
        return None
    config, logs = ingest.config, ingest.logs
    from .plugin import command_dataset
    ctx = _context(config, logs, key[:-len("Converter0")], calling=ictx.calling, called=ictx.called,
                   sop=str(ds.get("SOPInstanceUID", "") or ""), command=command_dataset(ictx.command),
                   filename=ictx.filename or None, association=ictx.association)
    before, ts_before = snapshot(ds), syntax_of(ds)
    try:
        verdict = getattr(_converters(config, logs), run)(ds, ctx)
    finally:
        ctx.close()
    if verdict.ran and not unchanged(ds, before, ts_before):
        ictx.mark_changed()
    return Verdict.RETRY if verdict.rc == RC.RETRY else None


def _rejected(ds: Dataset, ictx: IngestContext, why: str) -> Verdict | None:
    """RejectedImageConverter0: the index refused ``ds`` (``why``)."""
    return _run_on_rejected(ds, ictx, "RejectedImageConverter0", "run_rejected")


def _rejected_worklist(ds: Dataset, ictx: IngestContext) -> Verdict | None:
    """RejectedImageWorkListConverter0: WorkListMode 2 found no worklist row for ``ds``."""
    return _run_on_rejected(ds, ictx, "RejectedImageWorkListConverter0", "run_rejected_worklist")


def _association_start(info) -> None:
    worklist_sync(info.server.config.settings)


# -- RegenConverter0 / RegenFailConverter0 -------------------------------------------------------
def _regen_check(db, path: Path, device: str) -> bool:
    """RegenConverter0 on the object of ``path``; False (destroy/reject): not entered."""
    config = getattr(db, "config", None)
    if config is None or not configured(config, "RegenConverter0"):
        return True
    from ..store.formats import read_file
    try:
        ds = read_file(path).dataset()
    except Exception:
        return True                       # regen itself reports the unreadable file
    ctx = _context(config, db.logs, "Regen", file_name=str(path), sop=str(ds.get("SOPInstanceUID", "") or ""),
                   db_factory=lambda: db)
    verdict = _converters(config, db.logs).run_regen(ds, ctx)
    return verdict.rc not in (RC.DESTROY, RC.REJECT)


def _regen_failed(db, path: Path, device: str, why: str) -> None:
    config = getattr(db, "config", None)
    if config is None or not configured(config, "RegenFailConverter0"):
        return
    from ..store.formats import read_file
    try:
        ds = read_file(path).dataset()
    except Exception:
        ds = Dataset()
    ctx = _context(config, db.logs, "RegenFail", file_name=str(path), filename=str(path), db_factory=lambda: db)
    _converters(config, db.logs).run_regen_fail(ds, ctx)


# -- ArchiveConverter0 / MoveDeviceConverter0 ----------------------------------------------------
def archive_runner(config, logs, own_ae: str = ""):
    """The :class:`~dgate.store.archive.Archiver` ``each(path, device, kind)`` callback:
    ``ArchiveConverter0`` for archival copies (``kind`` "archive"), ``MoveDeviceConverter0``
    for device moves ("move"), on the object at its new place (``%f``); None when neither is
    configured."""
    if not (configured(config, "ArchiveConverter0") or configured(config, "MoveDeviceConverter0")):
        return None
    converters = Converters(config, logs)

    def each(path: Path, device: str, kind: str = "move") -> None:
        family = "Archive" if kind == "archive" else "MoveDevice"
        if not configured(config, f"{family}Converter0"):
            return
        from ..store.formats import read_file
        try:
            ds = read_file(path).dataset()
        except Exception:
            return
        ctx = _context(config, logs, family, file_name=str(path), sop=str(ds.get("SOPInstanceUID", "") or ""))
        if own_ae:
            ctx.own_ae = own_ae
        try:
            if kind == "archive":
                converters.run_archive(ds, ctx)
            else:
                converters.run_move_device(ds, ctx)
        finally:
            ctx.close()
    return each


# -- space making: what an export queue still needs ------------------------------------------------
def _queued_patients() -> set[str]:
    """Patient IDs of the objects waiting in this hub's export and delayed-operation queues."""
    from . import plugin
    routing = plugin._hub_routing
    exports = getattr(routing, "exports", None)
    queues = list(getattr(exports, "queues", {}).values())
    delayed = getattr(getattr(routing, "delayed", None), "queue", None)
    if delayed is not None:                       # forward/get/… after N: they still need the data
        queues.append(delayed)
    found: set[str] = set()
    for queue in queues:
        for _id, entry in queue.journal.items():
            if entry.get("patient_id"):
                found.add(str(entry["patient_id"]))
    return found


REJECTED.register("convert.rejected", _rejected)
REJECTED_WORKLIST.register("convert.rejected_worklist", _rejected_worklist)
hooks.ASSOCIATION_START.register("worklistmode.sync", _association_start, order=4)
PROTECTED.add("convert.exports", _queued_patients)
REGEN.set(_regen_check, _regen_failed)
