"""The one place the converter language calls Lua (``lua "…"``, ``lua:``, ``file.lua(…)``).

The Lua runtime lives in :mod:`dgate.luabind`. It is reached through
``ConvertContext.services.lua`` when the server injected one, else through
``dgate.luabind.run_converter`` imported on first use. Its contract::

    run_converter(code: str, dataset: Dataset | None, context: ConvertContext, *,
                  command_line: str | None = None, rc: int = 0) -> int

runs ``code`` with ``Data`` = ``dataset`` (changes made in place), the association and
AEs of ``context``, ``command_line``/``version`` set when ``command_line`` is given, and
returns the verdict (``rc`` unless ``destroy()``/``reject()``/``retry()``/``defer`` or
``script()`` set one; conquest-lua-web.md §8.5 #23, #26).
"""
from __future__ import annotations

import importlib
from typing import Any

from .rc import RC

_missing_reported = False


def _runner(ctx) -> Any:
    if ctx.services.lua is not None:
        return ctx.services.lua
    try:
        module = importlib.import_module("dgate.luabind")
    except ImportError:
        return None
    return getattr(module, "run_converter", None)


def run_lua(code: str, run, command_line: str | None = None, preset: int = RC.NONE) -> int:
    """Run Lua for a converter statement; the verdict, or ``preset`` when Lua is absent."""
    global _missing_reported
    runner = _runner(run.ctx)
    if runner is None:
        if not _missing_reported:
            _missing_reported = True
            run.ctx.logs.operator.printf("*** lua statement in a converter, but this dgate has no Lua runtime "
                                         "(dgate.luabind.run_converter); statement ignored\n")
        return preset
    return int(runner(code, run.dataset(), run.ctx, command_line=command_line, rc=int(preset)))
