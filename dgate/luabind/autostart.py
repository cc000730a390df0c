"""Cheap test, without loading Lua or pydicom, whether a ``dgate`` invocation has Lua
start-up work: a ``[lua] startup`` key or an autostart ``dgate.lua`` (conquest-lua-web.md
§1.6, §1.7). The command-line client calls this on every run."""
from __future__ import annotations

import sys
from pathlib import Path


def autostart_stem() -> str:
    """``<exe-name>.lua``'s stem: the program name up to its first dot (``dgate``)."""
    name = sys.argv[0] if sys.argv else "dgate"
    if not name or name.endswith("__main__.py") or name == "-m":
        return "dgate"
    return Path(name).name.split(".", 1)[0] or "dgate"


def needs_startup(ini) -> bool:
    if ini is not None and ini.get("lua", "startup"):
        return True
    stem = autostart_stem()
    return Path(f"{stem}.lua").is_file() or Path("lua", f"{stem}.lua").is_file()
