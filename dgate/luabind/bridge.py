"""Between Lua and the converter language, one function each way
(conquest-lua-web.md §1.3, §3 ``script``, §8.5 #23 and #26, §8.7).

* converters → Lua: :func:`run_converter` (exported as ``dgate.luabind.run_converter``)
  is what the converter engine calls (``dgate/convert/luahook.py``) for ``lua "…"``,
  ``lua:…``, ``file.lua(args)``, the ``[lua]`` converter keys that replace a converter
  line, and delayed ``process … by x.lua``. It runs in ``context.lua_state`` when the
  caller set one (the server sets the association's state on the association's
  :class:`~dgate.convert.ConvertContext`); otherwise ExportConverterN runs in that
  converter's state, delayed jobs in the delayed-operation state, and anything else in a
  new state that is then kept on the context (later calls with that context share it).
* Lua → converters: ``script(cmd)`` calls :func:`run_statements`, which hands the text to
  ``dgate.convert.run_script`` with the :class:`~dgate.convert.ConvertContext` of the
  converter call the Lua code runs in (N = -2, quiet, as the original), or, outside
  converters, a context for the state's configuration with the process's routing
  services (forwarder, delayed-operation queue).

Verdicts are the converter return codes both ways (2 destroy, 3 stop, 5 return,
6 reject, 7 retry, 8 defer); ``script()`` sets the Lua call's verdict to the converter
line's rc, as the original's ``luascript`` does.
"""
from __future__ import annotations

from typing import Any

from pydicom.dataset import Dataset

from . import states
from .context import LuaContext, LuaServices
from .runtime import LuaState


# -- converters → Lua ------------------------------------------------------------------------
def run_converter(code: str, dataset: Dataset | None, context: Any = None, *, command_line: str | None = None,
                  rc: int = 0) -> int:
    """Run a converter's Lua ``code`` with ``Data`` = ``dataset`` (changed in place; a
    dummy object when None); returns the verdict: ``rc`` unless the code called
    ``destroy()``/``reject()``/``retry()`` or ``script()`` set one.

    ``context`` is the :class:`~dgate.convert.ConvertContext` of the call (or None). It
    gives the AEs (``Association``), the thread number, ``%x %y %z`` (shared both ways),
    ``Data.Storage`` (import converters; a value the script sets comes back in
    ``context.storage``), ``Filename`` (``context.filename``) and ``Command``
    (``context.command``). ``command_line`` sets the globals ``command_line`` and
    ``version`` (``file.lua(args)``, delayed jobs)."""
    state = state_for(context)
    lctx = LuaContext(str(getattr(context, "calling", "") or ""), str(getattr(context, "called", "") or ""),
                      int(getattr(context, "thread_number", 0) or 0), rc=int(rc),
                      converter=int(getattr(context, "number", -2)))
    lctx.convert = context
    storage_in: str | None = None
    if getattr(context, "family", "") == "Import":
        storage_in = str(getattr(context, "storage", "") or "")
        lctx.storage = storage_in
    filename = getattr(context, "filename", None)
    if filename is not None:
        lctx.filename = filename
        lctx.extra_globals["Filename"] = filename
    if command_line is not None:
        from ..version import DGATE_VERSION
        lctx.extra_globals.update(command_line=command_line, version=DGATE_VERSION)
    variables = getattr(context, "variables", None)
    saved = state.variables
    with state.lock:
        if isinstance(variables, dict):
            state.variables = variables
        try:
            state.run(code, lctx, dataset, getattr(context, "command", None))
        finally:
            state.variables = saved
    if lctx.storage is not None and lctx.storage != storage_in and context is not None:
        context.storage = lctx.storage
    return lctx.rc


def state_for(context: Any) -> LuaState:
    """The Lua state a converter call runs in (see the module docstring)."""
    existing = getattr(context, "lua_state", None)
    if existing is not None:
        return existing
    services = _services_for(context)
    shared = services is states.services()
    family = getattr(context, "family", "")
    number = int(getattr(context, "number", -1))
    if family == "Export" and number >= 0:
        return states.export_state(number) if shared else LuaState(services, f"export{number}")
    if family == "Delayed":
        return states.delayed_state() if shared else LuaState(services, "prefetch")
    state = LuaState(services, "converter")
    if context is not None:
        try:
            context.lua_state = state
        except AttributeError:
            pass
    return state


def _services_for(context: Any) -> LuaServices:
    """The process's Lua services when they are for the context's configuration (made
    for it when Lua was not configured yet); else services of that configuration."""
    config = getattr(context, "config", None)
    current = states.services()
    if config is None or current.config is config:
        return current
    made = LuaServices(config=config, logs=getattr(context, "logs", current.logs),
                       own_ae=str(getattr(context, "own_ae", "") or ""),
                       server_port=int(getattr(context, "port", 0) or 0) or None)
    db = getattr(context, "db", None)
    if callable(db):
        made.open_db = db
    if current.config is None:
        states.configure(made)
        return states.services()
    return made


# -- Lua → converters ------------------------------------------------------------------------
def run_statements(state: LuaState, text: str, ds: Dataset) -> int | None:
    """``script(cmd)``: converter statements on ``ds``; the rc (None: nothing ran)."""
    from ..convert import run_script
    lctx = state.ctx
    ctx = _convert_context(state, lctx)
    if ctx is None:
        state.services.logs.operator.printf(f"***script('{text[:60]}'): no dicom.ini in this process, so no "
                                            "converter can run\n")
        return None
    rc = run_script(text, ds, ctx)
    if ctx.storage and lctx.storage is not None and ctx.storage != lctx.storage:
        lctx.storage = ctx.storage
    return int(rc)


def _convert_context(state: LuaState, lctx: LuaContext):
    outer = lctx.convert
    if outer is not None and hasattr(outer, "child"):
        ctx = outer.child(number=-2, lua_state=state)
    else:
        config = state.services.config
        if config is None:
            return None
        from ..convert.routing import for_config
        routing = for_config(config, state.services.logs, state.services.port, state.services.ae)
        ctx = routing.context(calling=lctx.calling, called=lctx.called, number=-2, variables=state.variables,
                              db_factory=state.services.database, lua_state=state, thread_number=lctx.thread)
    ctx.command = state.command.ds
    if lctx.storage is not None:
        ctx.storage = lctx.storage
    return ctx


def run_converter_fresh(state: LuaState, script: str, ds: Dataset, calling: str, called: str) -> int:
    """A modifier script (converter statements, ``lua:…`` or ``file.lua(…)``) on ``ds`` with
    the given AEs (``ModifyImageFile``); the rc (1 when nothing set one)."""
    saved = state.ctx
    state.ctx = LuaContext(calling, called)
    try:
        rc = run_statements(state, script, ds)
    finally:
        state.ctx = saved
    return 1 if rc is None else rc
