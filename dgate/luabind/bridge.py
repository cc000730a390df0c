"""Between Lua and the converter language (conquest-lua-web.md §3 ``script``, §8.5 ``lua``).

* Lua → converters: ``script(cmd)`` calls :func:`run_converter`, which hands the text to
  ``dgate.convert.run_script(text, dataset, context)`` (the converter engine, imported
  lazily) with a :class:`ConverterCall` context; without the engine only the Lua forms
  (``lua:<chunk>``, ``file.lua``, ``file.lua(args)``) run here and other statements are
  logged as needing the converter engine.
* converters → Lua: the engine's ``lua "..."``/``lua:`` statement and ``file.lua(args)``
  call :func:`run_lua_statement` with the object; it runs in the state of the caller
  (``context.lua_state``) or in a fresh one, and returns the verdict.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydicom.dataset import Dataset

from .context import LuaContext
from .handles import Handle

if TYPE_CHECKING:
    from .runtime import LuaState

_LUA_FILE = re.compile(r"^\s*(\S+\.lua)(?:\((.*)\))?\s*$", re.IGNORECASE | re.DOTALL)


@dataclass
class ConverterCall:
    """What the converter engine gets from Lua's ``script()``."""

    lua_state: LuaState
    calling: str = ""
    called: str = ""
    converter: int = -2            # quiet, as the original's N = -2
    variables: dict[str, str] = field(default_factory=dict)
    config: Any = None
    logs: Any = None

    def database(self):
        return self.lua_state.services.database()


def _engine():
    try:
        from .. import convert
    except ImportError:
        return None
    return getattr(convert, "run_script", None)


def run_converter(state: LuaState, text: str, ds: Dataset) -> int | None:
    """A converter statement on ``ds`` from Lua; the resulting rc (None: nothing set)."""
    engine = _engine()
    ctx = state.ctx
    if engine is not None:
        call = ConverterCall(state, ctx.calling, ctx.called, -2, state.variables, state.services.config,
                             state.services.logs)
        result = engine(text, ds, call)
        return _rc_of(result)
    return _lua_only(state, text, ds)


def _rc_of(result: Any) -> int | None:
    if result is None:
        return None
    if isinstance(result, int):
        return result
    return getattr(result, "rc", None) or getattr(result, "code", None)


def _lua_only(state: LuaState, text: str, ds: Dataset) -> int | None:
    stripped = text.strip()
    if stripped.lower().startswith("lua:"):
        return run_lua_statement(stripped[4:], ds, state=state)
    match = _LUA_FILE.match(stripped)
    if match:
        return run_lua_file(state, match.group(1), match.group(2), ds)
    state.services.logs.operator.printf(
        f"***converter statement '{stripped[:60]}' needs the converter engine (dgate.convert)\n")
    return None


def run_lua_file(state: LuaState, name: str, args: str | None, ds: Dataset,
                 ctx: LuaContext | None = None) -> int:
    """``file.lua(args)``: ``dofile`` with ``command_line`` = args (and ``version``)."""
    from .lua_files import find_lua_file
    path = find_lua_file(state, name) or name
    from ..version import DGATE_VERSION
    run_ctx = ctx or _child_context(state)
    run_ctx.extra_globals = {**run_ctx.extra_globals, "command_line": args if args is not None else "",
                             "version": DGATE_VERSION}
    state.run(f"dofile([[{path}]])", run_ctx, Handle(ds), _command_of(state))
    return run_ctx.rc


def _child_context(state: LuaState) -> LuaContext:
    ctx = state.ctx
    return LuaContext(ctx.calling, ctx.called, ctx.thread, ctx.connected_ip, 1, ctx.storage, ctx.filename)


def _command_of(state: LuaState) -> Dataset | None:
    return state.command.ds


def run_lua_statement(code: str, ds: Dataset | None, context: Any = None, state: LuaState | None = None) -> int:
    """Run a converter's Lua code on ``ds``; returns the verdict (1 when none was set).

    ``context`` may carry ``lua_state`` (the state to run in), ``calling``/``called``.
    The code's ``Data`` is ``ds``, changes are made in place.
    """
    target = state or getattr(context, "lua_state", None)
    if target is None:
        from .states import fresh_state
        target = fresh_state()
    ctx = _child_context(target) if state is not None or context is None else LuaContext(
        str(getattr(context, "calling", "") or ""), str(getattr(context, "called", "") or ""))
    target.run(code, ctx, Handle(ds if ds is not None else Dataset()), _command_of(target))
    return ctx.rc


def run_converter_fresh(state: LuaState, script: str, ds: Dataset, calling: str, called: str) -> int:
    """A modifier script on ``ds`` in a context with the given AEs (``ModifyImageFile``)."""
    saved = state.ctx
    state.ctx = LuaContext(calling, called)
    try:
        rc = run_converter(state, script, ds)
    finally:
        state.ctx = saved
    return 1 if rc is None else rc
