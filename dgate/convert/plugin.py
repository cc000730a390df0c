"""Converters and routing wired into the running server (listed in :data:`dgate.hub.plugins.MODULES`).

What this module registers, per process (hub and every worker):

* import step ``convert.import`` (:data:`dgate.store.ingest.IMPORT_STEPS`): ImportConverterN after
  FixImage, before compression and naming (``SaveToDisk``, conquest-lua-web.md §8.7): destroy (rc 2)
  drops the object and answers success, reject (rc 6) refuses it with ``StorageFailedErrorCode``,
  retry (rc 7) refuses it too; ``storage MAGn`` picks the device. Objects arriving for a C-MOVE
  with move originator message ID 0xFBAD (virtual-server and ``get`` fetches) skip them (§8.10).
  The step is registered only while a converter is configured (it costs a full decode).
* after-store hook ``convert.export``: one record per stored object to the hub service
  ``convert.export`` (a *call*: the entry is in the persistent queue journal before the C-STORE
  is answered), which puts it in every ExportConverterN queue (:class:`.queues.ExportQueues`).
* C-FIND hooks: QueryConverter0 (destroy → 0xC011), QueryResultConverter0 (destroy → record
  dropped), the virtual servers' answers merged in (``VirtualServerFor0..9``, :mod:`.virtual`);
  worklist converters (WorkListQueryConverter0, ModalityWorkListQueryResultConverter0).
* retrieve hooks: RetrieveConverter0 (destroy → 0xC013, ``%s`` = move destination), objects held
  only by a virtual server fetched here first, RetrieveResultConverter0 on each object sent.
* hub task ``routing``: the hub's :class:`.routing.Routing` (export queues, delayed operations,
  the forwarder's idle closer), the object server commands find as ``server.routing``; hub
  service ``convert.delayed`` for delayed operations queued by converters in workers.

Converters in a worker forward with the worker's own :class:`.forward.Forwarder` (association
reuse per converter and channel inside that process). Lua converter code runs in the
association's Lua state (``info.extra["lua"].state``, made by the Lua plug-in) when there is
one, else in a state of this module kept for the association.
"""
from __future__ import annotations

import functools
import threading
from typing import Any

from pydicom.dataset import Dataset

from ..net import hooks
from ..net.dimse import MOVE_DESTINATION, MOVE_ORIGINATOR_ID
from ..runtime import TaskContext, call, register_service, register_task
from ..runtime import role as runtime_role
from ..store.ingest import AFTER_STORE, IMPORT_STEPS, IngestContext, Stored, Verdict
from ..store.lazyset import plain_text
from .context import ConvertContext, Services
from .forward import Forwarder
from .keys import Converters, configured, converter_numbers
from .pristine import SOURCE, remember_source, snapshot, syntax_of, unchanged
from .rc import RC
from .routing import RoutingBase, for_config

FETCH_MESSAGE_ID = 0xFBAD

_lock = threading.Lock()
_hub_routing: Any = None
_local: dict[tuple[str, int], "ProcessRouting"] = {}
_pending: list[tuple[str, Any]] = []        # hub: work that came before the routing task started


class _DelayedProxy:
    """``services.delayed`` in a worker: delayed operations go to the hub's queue."""

    def enqueue(self, op) -> bool:
        return bool(call("convert.delayed", op))


class ProcessRouting(RoutingBase):
    """A worker's converter services: converters, its own forwarder, the hub's delayed queue."""

    def __init__(self, config, logs, port: int, own_ae: str):
        self.config, self.logs, self.port, self.own_ae = config, logs, port, own_ae
        self.converters = Converters(config, logs)
        self.forwarder = Forwarder(config, logs)
        self.forwarder.start()
        self.services = Services(forwarder=self.forwarder, delayed=_DelayedProxy())
        self._compression_lua = None
        from ..codec import set_compression_converter
        set_compression_converter(self.compression_converter)


def routing_for(config, logs, port: int | None = None, own_ae: str = ""):
    """This process's converter services for ``config``: the hub's Routing in the hub and in a
    single-process server, a :class:`ProcessRouting` in a worker."""
    port = int(port if port is not None else config.settings.int("TCPPort"))
    own_ae = own_ae or config.settings.str("MyACRNema")
    role = runtime_role()
    if role != "worker":
        hub = _hub_routing
        if hub is not None and hub.config is config:
            return hub
        if role not in ("hub", "single"):
            return for_config(config, logs, port, own_ae)
        # a hub before its routing task started (incoming folder): its delayed operations and
        # exports wait in _pending for the task
    last = _last_local
    if last is not None and last[0] is config and last[1] == port:
        return last[2]                           # asked for every object: the same one again
    return _process_routing(config, logs, port, own_ae)


_last_local: tuple[Any, int, ProcessRouting] | None = None


def _process_routing(config, logs, port: int, own_ae: str) -> ProcessRouting:
    """The :class:`ProcessRouting` of a configuration folder and port in this process (one
    for a folder's new configuration replaces the old one's)."""
    global _last_local
    key = (str(config.base_dir), port)
    with _lock:
        found = _local.get(key)
        if found is None or found.config is not config:
            if found is not None:
                found.forwarder.stop()
            found = _local[key] = ProcessRouting(config, logs, port, own_ae)
        _last_local = (config, port, found)
    return found


# -- which converters are configured ------------------------------------------------------
def import_configured(config) -> bool:
    return bool(converter_numbers(config, "Import"))


def sync(config) -> None:
    """(Un)register the hooks whose mere presence costs a decode per object."""
    if import_configured(config):
        IMPORT_STEPS.register("convert.import", _import_step, order=50)
    else:
        IMPORT_STEPS.unregister("convert.import")
    if configured(config, "RetrieveResultConverter0"):
        hooks.RETRIEVE_OBJECT.register("convert.retrieve_result", _retrieve_result)
    else:
        hooks.RETRIEVE_OBJECT.unregister("convert.retrieve_result")


# -- per association ---------------------------------------------------------------------------
def _may_run_lua(config, keys: tuple[str, ...]) -> bool:
    """A converter of ``keys`` is a ``[lua]`` chunk or its line can call Lua; the answer is
    kept until dicom.ini is read again (it is asked for every object)."""
    def answer() -> bool:
        ini = config.ini
        return any(ini.get("lua", key) or "lua" in (config.settings.str(key, "") or "").lower() for key in keys)
    return config.ini.derived(("may run lua", keys), answer)


@functools.lru_cache(maxsize=64)
def _keys(family: str, numbers: tuple[int, ...]) -> tuple[str, ...]:
    """``<family>ConverterN`` for each N of ``numbers``."""
    return tuple(f"{family}Converter{n}" for n in numbers)


def _lua_state(session, keys: tuple[str, ...] = ()) -> Any:
    """The association's Lua state, only when one of the converters ``keys`` may run Lua (the
    Lua plug-in makes the state on first use; an association without Lua needs none)."""
    if session is None or not _may_run_lua(session.server.config, keys):
        return None
    lua = session.extra.get("lua")
    state = getattr(lua, "state", None) if lua is not None else None
    return state if state is not None else session.extra.get("convert.lua")


def _keep_lua_state(session, ctx: ConvertContext) -> None:
    """A state the Lua runtime made for this call is kept for the association's next ones."""
    if session is None or ctx.lua_state is None or session.extra.get("lua") is not None:
        return
    session.extra["convert.lua"] = ctx.lua_state


def command_dataset(command, dictionary=None) -> Dataset | None:
    """The DIMSE request as a Dataset (Lua's ``Command``), from the raw command elements
    (:meth:`dgate.net.dimse.Command.as_dataset`)."""
    if command is None:
        return None
    if isinstance(command, Dataset):
        return command
    try:
        return command.as_dataset(dictionary)
    except Exception:
        return None


def _request(hctx) -> Dataset | None:
    """The request of a query/retrieve hook context as a Dataset, parsed once per request."""
    found = getattr(hctx, "_convert_command", None)
    if found is None:
        found = command_dataset(hctx.command)
        try:
            hctx._convert_command = found
        except AttributeError:
            pass
    return found


def _session_context(session, family: str, **fields) -> tuple[Any, ConvertContext]:
    server = session.server
    routing = routing_for(server.config, server.logs, server.port, server.ae_title)
    ctx = routing.context(calling=session.calling, called=session.called, family=family, association=session,
                          variables=session.extra.setdefault("convert.variables", {}),
                          lua_state=_lua_state(session, _keys(family, (0,))), thread_number=session.number,
                          db_factory=session.database, **fields)
    return routing, ctx


def _association_start(info) -> None:
    server = info.server
    sync(server.config)
    routing_for(server.config, server.logs, server.port, server.ae_title)   # s0…s9 in this process


def _association_end(info) -> None:
    """The last association of this process ended: its import forward links are closed (as
    1.5.0e does when its last association ends; otherwise after ForwardAssociationCloseDelay)."""
    server = info.server
    if server.open_count() <= 1:                      # this one is still counted
        routing_for(server.config, server.logs, server.port, server.ae_title).forwarder.close_import_links()


# -- import ------------------------------------------------------------------------------------
def _import_step(ds: Dataset, ictx: IngestContext) -> Verdict | None:
    """ImportConverterN on an incoming object (``SaveToDisk``)."""
    command = ictx.command
    if command is not None and hasattr(command, "us") and command.us(MOVE_ORIGINATOR_ID) == FETCH_MESSAGE_ID:
        return None
    ingest = ictx.ingest
    config = ingest.config
    session = ictx.association
    ictx.extra["modality"] = plain_text(ds, 0x00080060, "Modality")      # read without parsing
    ictx.extra["station"] = plain_text(ds, 0x00081010, "StationName")
    if session is not None and hasattr(session, "server"):
        routing = routing_for(config, ingest.logs, session.server.port, session.server.ae_title)
        extra: dict = dict(association=session, variables=session.extra.setdefault("convert.variables", {}),
                           lua_state=_lua_state(session, _keys("Import", converter_numbers(config, "Import"))),
                           thread_number=session.number,
                           db_factory=session.database)
    else:
        session = None
        routing = routing_for(config, ingest.logs)
        extra = {}
    ctx = routing.context(calling=ictx.calling, called=ictx.called, family="Import",
                          modality=ictx.extra["modality"], station=ictx.extra["station"],
                          sop=plain_text(ds, 0x00080018, "SOPInstanceUID"), command=command_dataset(command),
                          filename=ictx.filename or None, **extra)
    encoded = ictx.extra.get("encoded")
    if encoded is not None and not ictx.changed:    # forwards send the received bytes while ds is unchanged
        remember_source(ds, encoded.raw, encoded.transfer_syntax)
        before, ts_before = ds.__dict__[SOURCE][2:4]  # the snapshot just taken
    else:
        before, ts_before = snapshot(ds), syntax_of(ds)
    try:
        verdict = routing.converters.run_import(ds, ctx)
    finally:
        _keep_lua_state(session, ctx)
        ctx.close()
    if not verdict.ran:
        return None
    if not unchanged(ds, before, ts_before):
        ictx.mark_changed()
    if verdict.storage:
        ictx.preferred_device = verdict.storage
    if verdict.rc == RC.DESTROY:
        return Verdict.DESTROY
    if verdict.rc == RC.REJECT:
        return Verdict.REJECT
    if verdict.rc == RC.RETRY:
        return Verdict.RETRY
    return None


# -- export ------------------------------------------------------------------------------------
_FILTERS = ("ExportModality", "ExportStationName")


def _after_store(stored: Stored, ictx: IngestContext) -> None:
    """Queue the stored object for the export converters (persistent before the answer)."""
    ingest = ictx.ingest
    if stored.path is None or ingest is None:
        return
    config = ingest.config
    count = max(0, min(config.settings.int("ExportConverters"), 20))
    if not count or not any(configured(config, f"ExportConverter{n}") for n in range(count)):
        return
    modality, station = ictx.extra.get("modality"), ictx.extra.get("station")
    if modality is None and any(config.settings.raw(f"{k}{n}") for k in _FILTERS for n in range(count)):
        modality, station = _header_values(str(stored.path))
    record = dict(file=str(stored.path), modality=modality or "", station=station or "", sop=stored.sop_instance,
                  patient_id=stored.patient_id, calling=ictx.calling, called=ictx.called, device=stored.device,
                  object_file=stored.relative)
    role = runtime_role()
    if role == "worker":
        call("convert.export", record)
    elif role in ("hub", "single"):
        _export_service(record)
    else:
        # a command-line tool (dgate -fa…) must not open the running server's queue journals
        ingest.logs.operator.printf(f"Export converters not run for {stored.path} (stored outside the server; "
                                    "use --addimagefile: to store through it)\n")


def _header_values(path: str) -> tuple[str, str]:
    import pydicom
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["Modality", "StationName"])
    except Exception:
        return "", ""
    return str(ds.get("Modality", "") or ""), str(ds.get("StationName", "") or "")


def _export_service(record: dict) -> int:
    """Hub service ``convert.export``: one stored object into the ExportConverterN queues."""
    with _lock:
        routing = _hub_routing
        if routing is None:
            _pending.append(("export", record))
            return 0
    return routing.enqueue_export(record)


def _delayed_service(op) -> bool:
    """Hub service ``convert.delayed``: a delayed operation into the hub's queue."""
    with _lock:
        routing = _hub_routing
        if routing is None:
            _pending.append(("delayed", op))
            return True
    return bool(routing.enqueue_delayed(op))


# -- C-FIND ------------------------------------------------------------------------------------
def _run_find_converter(ds: Dataset, qctx, key: str, family: str, run: str) -> bool | None:
    """C-FIND converter ``key`` (Converters method ``run``) on ``ds``; False: destroyed
    (the query is refused / the answer dropped). Worklist queries have their own hook."""
    if qctx.level is None:                    # worklist: WORKLIST_CONVERTERS
        return None
    if not configured(qctx.session.server.config, key):
        return None
    routing, ctx = _session_context(qctx.session, family, command=_request(qctx))
    try:
        verdict = getattr(routing.converters, run)(ds, ctx)
    finally:
        _keep_lua_state(qctx.session, ctx)
    return False if verdict.destroyed else None


def _find_query(identifier: Dataset, qctx) -> bool | None:
    return _run_find_converter(identifier, qctx, "QueryConverter0", "Query", "run_query")


def _find_result(result: Dataset, qctx) -> bool | None:
    return _run_find_converter(result, qctx, "QueryResultConverter0", "QueryResult", "run_query_result")


def _find_merge(level: str, identifier: Dataset, local: list[Dataset], qctx) -> list[Dataset] | None:
    """The virtual servers' answers merged with the local ones (``VirtualQuery``)."""
    from . import virtual
    server = qctx.session.server
    if not virtual.servers(server.config.settings):
        return None
    routing, ctx = _session_context(qctx.session, "VirtualServerQuery")
    return virtual.find(level, identifier, server.config, server.logs, server.ae_title, local,
                        converters=routing.converters, ctx=ctx)


def _worklist_converters(qctx):
    session = qctx.session
    config = session.server.config
    query_on = configured(config, "WorkListQueryConverter0")
    result_on = configured(config, "ModalityWorkListQueryResultConverter0")
    if not (query_on or result_on):
        return None
    server = session.server
    routing = routing_for(server.config, server.logs, server.port, server.ae_title)

    def query_hook(ds: Dataset) -> int | None:
        _, ctx = _session_context(session, "WorkListQuery", command=_request(qctx))
        verdict = routing.converters.run_worklist_query(ds, ctx)
        _keep_lua_state(session, ctx)
        return verdict.rc if verdict.ran else None

    def result_hook(ds: Dataset) -> int | None:
        _, ctx = _session_context(session, "ModalityWorkListQueryResult", command=_request(qctx))
        verdict = routing.converters.run_worklist_result(ds, ctx)
        _keep_lua_state(session, ctx)
        return verdict.rc if verdict.ran else None
    return (query_hook if query_on else None, result_hook if result_on else None)


# -- C-MOVE / C-GET ----------------------------------------------------------------------------
def _move_destination(command) -> str:
    """The Move Destination of a C-MOVE request (PS3.7 C.4.2.1.4; empty for a C-GET)."""
    return command.text(MOVE_DESTINATION) if hasattr(command, "text") else ""


def _retrieve_query(identifier: Dataset, rctx) -> bool | None:
    session = rctx.session
    server = session.server
    config = server.config
    destination = _move_destination(rctx.command)
    if configured(config, "RetrieveConverter0"):
        routing, ctx = _session_context(session, "Retrieve", command=_request(rctx),
                                        move_destination=destination)
        try:
            verdict = routing.converters.run_retrieve(identifier, ctx)
        finally:
            _keep_lua_state(session, ctx)
        if verdict.destroyed:
            return False
    from . import virtual
    if virtual.servers(config.settings):
        try:
            virtual.fetch_missing(identifier, config, server.logs, server.ae_title, session.database(),
                                  timeout=float(config.settings.int("TCPIPTimeOut") or 600))
        except Exception as exc:  # the local objects are still sent
            server.logs.operator.printf(f"*** Virtual server - fetch failed: {exc}\n")
    return None


def _retrieve_result(ds: Dataset, rctx) -> bool | None:
    session = rctx.session
    if not configured(session.server.config, "RetrieveResultConverter0"):
        return None
    destination = rctx.destination or _move_destination(rctx.command)
    routing, ctx = _session_context(session, "RetrieveResult", command=_request(rctx),
                                    move_destination=destination)
    try:
        verdict = routing.converters.run_retrieve_result(ds, ctx)
    finally:
        _keep_lua_state(session, ctx)
    return False if verdict.destroyed else None


# -- hub task ----------------------------------------------------------------------------------
def _routing_task(tctx: TaskContext):
    global _hub_routing
    routing = for_config(tctx.config, tctx.logs, tctx.port, tctx.own_ae)
    with _lock:
        _hub_routing = routing
        pending = list(_pending)
        _pending.clear()
    for kind, item in pending:
        if kind == "export":
            routing.enqueue_export(item)
        else:
            routing.enqueue_delayed(item)
    if tctx.hub is not None:
        tctx.hub.routing = routing
    sync(tctx.config)
    return routing


register_task("routing", _routing_task)
register_service("convert.export", _export_service)
register_service("convert.delayed", _delayed_service)
AFTER_STORE.register("convert.export", _after_store, order=60)
hooks.ASSOCIATION_START.register("convert.sync", _association_start, order=5)
hooks.ASSOCIATION_END.register("convert.close_links", _association_end)
hooks.FIND_QUERY.register("convert.query", _find_query)
hooks.FIND_RESULT.register("convert.query_result", _find_result)
hooks.FIND_MERGE.set(_find_merge)
hooks.WORKLIST_CONVERTERS.set(_worklist_converters)
hooks.RETRIEVE_QUERY.register("convert.retrieve", _retrieve_query)
