"""Where Lua files named by scripts are found: as given, below BaseDir, then the
``lua/`` folder shipped with dgate (our anonymisation scripts), in that order."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .runtime import LuaState


def shipped_lua_dir() -> Path | None:
    """The ``lua/`` folder of this installation (source tree or ``share/dgate/lua``)."""
    here = Path(__file__).resolve().parent.parent.parent / "lua"
    if here.is_dir():
        return here
    installed = Path(sys.prefix) / "share" / "dgate" / "lua"
    return installed if installed.is_dir() else None


def find_lua_file(state: "LuaState", name: str) -> str | None:
    if os.path.isfile(name):
        return name
    base = state.base_dir()
    if base and os.path.isfile(os.path.join(base, name)):
        return os.path.join(base, name)
    shipped = shipped_lua_dir()
    if shipped is not None:
        parts = Path(name).parts
        tail = Path(*parts[1:]) if parts and parts[0] == "lua" and len(parts) > 1 else Path(name)
        if (shipped / tail).is_file():
            return str(shipped / tail)
    return None
