"""The ``[lua]`` hooks of dicom.ini wired into the running server (conquest-lua-web.md §1.3,
§1.5, §1.6, §6.3). Registered by :mod:`.plugin`, which the hub and every worker import.

Per association (in the process and thread that serve it):

* ``ASSOCIATION_START`` (order 10, after the process set-up at order 0) makes the
  association's :class:`ServerLua` and keeps it as **``info.extra["lua"]``**. This is the
  contract with the converter wiring (``dgate/convert``): ``info.extra["lua"].state`` is
  the association's :class:`~.runtime.LuaState` (made on first use, so an association
  without Lua costs no Lua state), ``info.extra["lua"].info`` its ``Association`` fields
  (Calling, Called, Thread, ConnectedIP). ``[lua] association`` runs here; a
  ``destroy()``/``reject()`` verdict (rc 2/6) drops the connection.
* ``COMMAND``: ``[lua] command`` before each DIMSE command (server-command C-ECHOs
  included) with ``Command`` the request's command set; rc 2/6 drops the connection
  without a response.
* ``CLIENT_ERROR``: ``[lua] clienterror`` after an unsupported command, ``Command`` = it.
* ``ASSOCIATION_END``: ``[lua] endassociation`` when the peer released (not after an
  abort or a broken link, as the original); then the state is dropped.
* ``PRINTSERVER``: ``[lua] printserver`` instead of the print SCP's logging/saving, with
  ``command_line`` the event name or the image box file name, ``Data`` the request data.
* ``LOCAL_COMMAND``: ``globallua:`` runs in the server's one global state (:func:`run_global`,
  in a worker through the hub service ``lua.global``, with ``Command`` the C-ECHO request);
  ``lua:`` and ``luastart:`` server commands run in the association's
  state in the serving process (fresh per command association, ``[lua] association`` has
  run in it); ``luastart:`` answers at once and runs the chunk on a thread of its own
  (``endassociation`` then runs after that chunk, in the same state).
  every other command goes to the hub.

Process-wide (the hub): ``[lua] background`` about every second and ``nightly`` at 03:00 in
the global state, as the hub task ``lua.background`` (run unconditionally, keys re-read each
round); ``[lua] startup`` runs in the hub process before it serves (``dgate.cli.main``).
The global state lives in the hub; :func:`run_global` (hub service ``lua.global``) runs a
chunk there from any process, serialised by the state's lock (``dolua_critical``).

A Lua error in any hook is logged as ``*** lua run error …`` (or ``*** lua syntax error``)
and the default verdict is kept; a chunk that never ends blocks only its own association
(lupa releases the GIL while Lua runs).
"""
from __future__ import annotations

import threading
from typing import Any

from pydicom.dataset import Dataset

from ..net import hooks
from ..net.hooks import PRINTSERVER
from ..runtime import call as hub_call
from ..runtime import register_service, register_task, role
from .context import LuaContext
from .hooks import AssociationInfo, AssociationLua, LuaBackground

KEY = "lua"
LOCAL_COMMANDS = ("lua", "luastart", "globallua")


class ServerLua(AssociationLua):
    """The Lua side of one served association (``info.extra["lua"]``)."""

    def __init__(self, session: Any):
        calling = session.calling.strip() if session.calling else ""
        called = session.called.strip() if session.called else ""
        super().__init__(AssociationInfo(calling, called, int(session.number), connected_ip(session.address)),
                         session.server.config)
        self.session = session
        self._detached = 0              # luastart: chunks still running on their own threads
        self._end_pending = False
        self._lock = threading.Lock()

    def finish(self) -> None:
        """The association ended: ``endassociation`` now, or, while a ``luastart:`` chunk
        still runs in this state, on its thread after it (the state is busy until then)."""
        with self._lock:
            if self._detached:
                self._end_pending = True
                return
        self.end()
        self.close()

    def detached(self, state: Any, chunk: str, cmd: Dataset) -> None:
        """Run a ``luastart:`` chunk (on its own thread)."""
        from . import naming
        naming.current_association(self)
        try:
            state.run(chunk, self.context(), None, cmd)
        finally:
            with self._lock:
                self._detached -= 1
                pending = self._end_pending and not self._detached
            if pending:
                self.end()
                self.close()

    def start_detached(self, state: Any, chunk: str, cmd: Dataset) -> None:
        with self._lock:
            self._detached += 1
        threading.Thread(target=self.detached, args=(state, chunk, cmd), name="luastart", daemon=True).start()


def connected_ip(address: str) -> str:
    """``Association.ConnectedIP``: the dotted quad (IPv4-mapped IPv6 unwrapped)."""
    text = (address or "").strip()
    if text.startswith("::ffff:"):
        text = text[7:]
    return text or "0.0.0.0"


def session_lua(info: Any) -> ServerLua | None:
    return info.extra.get(KEY) if info is not None else None


def command_dataset(command: Any, dictionary: Any = None) -> Dataset:
    """A DIMSE command set (:class:`dgate.net.dimse.Command`) as the ``Command`` object:
    every element with its raw bytes, VR from the command dictionary or dgate.dic."""
    return command.as_dataset(dictionary)


# -- association hooks ---------------------------------------------------------------------
def on_start(info: Any) -> bool:
    from . import naming
    lua = ServerLua(info)
    info.extra[KEY] = lua
    naming.current_association(lua)
    if not lua.start():
        info.logs.debug.printf(f"[lua] association refused the association from {info.who()}\n")
        return False
    return True


def on_command(info: Any, command: Any) -> bool:
    lua = session_lua(info)
    if lua is None or not lua._hook("command"):
        return True
    return lua.command(command_dataset(command, lua.state.dictionary))


def on_client_error(info: Any, command: Any) -> None:
    lua = session_lua(info)
    if lua is not None and lua._hook("clienterror"):
        lua.client_error(command_dataset(command, lua.state.dictionary))


def on_end(info: Any) -> None:
    from . import naming
    lua = info.extra.pop(KEY, None)
    naming.current_association(None)
    if lua is None:
        return
    if info.assoc.released:
        lua.finish()
    else:
        lua.close()


# -- print server --------------------------------------------------------------------------
def printserver(session: Any):
    """``PRINTSERVER``: the association's ``[lua] printserver`` hook, or None (built-in)."""
    lua = session_lua(session)
    if lua is None or not lua._hook("printserver"):
        return None

    def hook(event: str, data: Dataset | None, request: Any) -> bool:
        return lua.print_event(event, data, request_dataset(request))
    return hook


def request_dataset(request: Any) -> Dataset | None:
    """The print request's command fields (an :class:`~dgate.services.nmessages.NRequest`)."""
    if request is None:
        return None
    ds = Dataset()
    ds.CommandField = int(getattr(request, "command", 0) or 0)
    if getattr(request, "message_id", None) is not None:
        ds.MessageID = int(request.message_id)
    if getattr(request, "sop_class", ""):
        ds.AffectedSOPClassUID = request.sop_class
    if getattr(request, "sop_instance", ""):
        ds.AffectedSOPInstanceUID = request.sop_instance
    return ds


# -- lua: / luastart: in the association's state ---------------------------------------------
def local_command(info: Any, text: str, upload: bytes | None, command: Any) -> tuple[bytes | None] | None:
    name, colon, args = text.partition(":")
    lua = session_lua(info)
    if not colon or name not in LOCAL_COMMANDS or lua is None or _refused(info, name):
        return None
    from ..runtime import counters
    counters.add("gui_requests")
    if name == "globallua":
        # the server's one global state (the hub's, through the service lua.global from a
        # worker), under its lock; Command is this C-ECHO; no returnfile (§1.6)
        result, _ = run_global(args, lua.info.calling or "global", lua.info.called or "global",
                               command_dataset(command))
        return ((result.encode("latin-1", "replace") or None) if result is not None else None,)
    state = lua.state
    cmd = command_dataset(command, state.dictionary)
    if name == "lua":
        return (lua_reply(state, args, lua.context(), cmd, info.logs),)
    lua.start_detached(state, args, cmd)
    return (None,)


def _refused(info: Any, name: str) -> bool:
    """``RefusedServerCommands`` lists it: the hub refuses it and logs that."""
    text = info.server.settings.str("RefusedServerCommands").replace(";", ",")
    return name.lower() in {n.strip().lower() for n in text.split(",")}


RESPONSE_OVERRIDE = 0x99990403


def lua_reply(state: Any, chunk: str, ctx: LuaContext, cmd: Dataset, logs: Any) -> bytes | None:
    """``lua:`` (§6.1): the ``returnfile`` (read, then deleted), else the chunk's
    string/number result, else the bytes the script put in ``Command`` 9999,0403."""
    import os

    from .elements import raw_bytes
    state.lua.globals().returnfile = None
    if RESPONSE_OVERRIDE in cmd:
        del cmd[RESPONSE_OVERRIDE]
    result = state.run(chunk, ctx, None, cmd)
    returnfile = state.run("return returnfile", LuaContext(ctx.calling, ctx.called, ctx.thread, ctx.connected_ip))
    if returnfile:
        try:
            with open(returnfile, "rb") as handle:
                data = handle.read()
            os.unlink(returnfile)
            return data
        except OSError as exc:
            logs.operator.printf(f"***lua: cannot read returnfile {returnfile}: {exc}\n")
    override = raw_bytes(cmd, RESPONSE_OVERRIDE, state.dictionary) if RESPONSE_OVERRIDE in cmd else None
    if result is not None and override is None:
        return result.encode("latin-1", "replace") or None
    return override or None


# -- global state in the hub -----------------------------------------------------------------
def _global_service(chunk: str, calling: str = "global", called: str = "global",
                    command: Dataset | None = None) -> tuple[str | None, int]:
    from . import states
    ctx = LuaContext(calling, called)
    result = states.global_state().run(chunk, ctx, None, command)
    return result, ctx.rc


def run_global(chunk: str, calling: str = "global", called: str = "global",
               command: Dataset | None = None) -> tuple[str | None, int]:
    """Run ``chunk`` in the server's global state (the hub's; from a worker through the
    hub service ``lua.global``), ``Command`` = ``command``; (result, verdict). Used by
    ``globallua:`` served in a worker (``dolua_critical`` in globalPDU, dgate.cpp)."""
    if role() == "worker":
        return hub_call("lua.global", chunk, calling, called, command)
    return _global_service(chunk, calling, called, command)


def background_task(ctx: Any) -> LuaBackground:
    """Hub task: ``[lua] background``/``nightly`` in the hub's global state."""
    from . import states
    from .context import LuaServices
    current = states._services
    if current is None or current.config is not ctx.config:
        states.configure(LuaServices(config=ctx.config, logs=ctx.logs, own_ae=ctx.own_ae, server_port=ctx.port))
    return LuaBackground(ctx.config)


def install() -> None:
    hooks.ASSOCIATION_START.register("lua.association", on_start, order=10)
    hooks.COMMAND.register("lua.command", on_command)
    hooks.CLIENT_ERROR.register("lua.clienterror", on_client_error)
    hooks.ASSOCIATION_END.register("lua.endassociation", on_end, order=90)
    hooks.LOCAL_COMMAND.set(local_command)
    PRINTSERVER.set(printserver)
    register_service("lua.global", _global_service)
    register_task("lua.background", background_task)
