"""The one place the converter language calls Lua (``lua "…"``, ``lua:``, ``file.lua(…)``,
``[lua]`` converter keys, delayed ``process … by x.lua``).

The Lua runtime is :func:`dgate.luabind.bridge.run_converter` (imported on first use, then kept), or
``ConvertContext.services.lua`` when the server injected another callable with the same
contract::

    run_converter(code: str, dataset: Dataset | None, context: ConvertContext, *,
                  command_line: str | None = None, rc: int = 0) -> int

It runs ``code`` with ``Data`` = ``dataset`` (changed in place) in ``context.lua_state``
(the association's or export converter's state), the AEs of ``context``,
``command_line``/``version`` set when ``command_line`` is given, and returns the verdict
(``rc`` unless ``destroy()``/``reject()``/``retry()`` or ``script()`` set one;
conquest-lua-web.md §8.5 #23, #26).
"""
from __future__ import annotations

from .rc import RC

_RUNTIME: list = []          # dgate.luabind.bridge.run_converter, once imported


def run_lua(code: str, run, command_line: str | None = None, preset: int = RC.NONE) -> int:
    """Run Lua for a converter statement of ``run``; the verdict."""
    runner = run.ctx.services.lua
    if runner is None:
        if not _RUNTIME:
            from ..luabind.bridge import run_converter
            _RUNTIME.append(run_converter)
        runner = _RUNTIME[0]
    return int(runner(code, run.dataset(), run.ctx, command_line=command_line, rc=int(preset)))
