"""Lua 5.1 scripting with the Conquest Lua API (conquest-lua-web.md §1–§7, §9).

Importing this package loads nothing heavy; lupa (``lupa.lua51`` only, see
:mod:`.lupa51`) is loaded when the first state is made. Entry points for the rest of
dgate (imported lazily by their callers):

* :mod:`.states` — ``configure(LuaServices)``, ``global_state()``, ``association_state()``,
  ``export_state(n)``, ``delayed_state()``;
* :class:`.runtime.LuaState` ``.run(chunk, ctx, data, command) -> str | None``;
* :func:`run_chunk` below; :func:`run_converter` for the converter engine (``lua``
  statements, ``[lua]`` converter keys, ``file.lua(args)``); :mod:`.hooks` for the
  ``[lua]`` association and global hooks;
  :func:`.naming.install` for ``lua:`` file names; :mod:`.entry` for the command line.
"""
from __future__ import annotations

from typing import Any


def run_chunk(state: Any, chunk: str, data: Any = None, context: Any = None, command: Any = None) -> str | None:
    """Run ``chunk`` in ``state`` (a :class:`~.runtime.LuaState`, or ``"global"`` /
    None for the global state) with ``Data`` = ``data`` (a pydicom Dataset, changed in
    place); returns the chunk's string/number result (in a worker process, a chunk without
    data runs in the hub's global state, through the hub service ``lua.global``). ``context`` is a
    :class:`~.context.LuaContext` (its ``rc`` holds the verdict afterwards)."""
    from . import states
    if state is None or state == "global":
        from ..runtime import role
        if role() == "worker" and data is None and command is None:
            from .serverhooks import run_global  # the server's global state is the hub's
            result, rc = run_global(chunk, getattr(context, "calling", "") or "global",
                                    getattr(context, "called", "") or "global")
            if context is not None:
                context.rc = rc
            return result
        state = states.global_state()
    return state.run(chunk, context, data, command)


def run_converter(code: str, dataset: Any, context: Any = None, *, command_line: str | None = None,
                  rc: int = 0) -> int:
    """The converter engine's Lua call (see :func:`.bridge.run_converter`); the verdict."""
    from .bridge import run_converter as run
    return run(code, dataset, context, command_line=command_line, rc=rc)
