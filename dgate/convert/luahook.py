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

import functools
from typing import Callable

from .rc import RC


@functools.cache
def _runtime() -> Callable[..., int]:
    """dgate.luabind.bridge.run_converter, imported on first use (lupa loads only then)."""
    from ..luabind.bridge import run_converter
    return run_converter


def run_lua(code: str, run, command_line: str | None = None, preset: int = RC.NONE) -> int:
    """Run Lua for a converter statement of ``run``; the verdict."""
    runner = run.ctx.services.lua or _runtime()
    return int(runner(code, run.dataset(), run.ctx, command_line=command_line, rc=int(preset)))
