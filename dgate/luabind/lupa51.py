"""The one place that loads lupa: its Lua 5.1 runtime only (environment.md §1.3).

``lupa.lua51`` is imported under ``lupa.allow_lua_module_loading()`` so that C modules
such as Debian's lua-socket (``require "socket"``) find the ``lua_*`` symbols. Importing
any other lupa runtime in the same process (``lupa.LuaRuntime``, ``lupa.LuaError``,
``lupa.lua54``...) crashes once this one is loaded RTLD_GLOBAL, so nothing else in
dgate may touch lupa.
"""
from __future__ import annotations

import threading
from types import ModuleType

_lock = threading.Lock()
_module: ModuleType | None = None

LUA_PATHS = ("/usr/share/lua/5.1/?.lua", "/usr/share/lua/5.1/?/init.lua",
             "/usr/local/share/lua/5.1/?.lua", "/usr/local/share/lua/5.1/?/init.lua")
LUA_CPATHS = ("/usr/lib/x86_64-linux-gnu/lua/5.1/?.so", "/usr/lib/lua/5.1/?.so", "/usr/local/lib/lua/5.1/?.so")


def lua51() -> ModuleType:
    """The ``lupa.lua51`` module, loaded once with C-module loading allowed."""
    global _module
    if _module is None:
        with _lock:
            if _module is None:
                import lupa
                with lupa.allow_lua_module_loading():
                    from lupa import lua51 as module
                _module = module
    return _module


def new_runtime():
    """A fresh Lua 5.1 state with every standard library (as ``luaL_openlibs``)."""
    module = lua51()
    return module.LuaRuntime(unpack_returned_tuples=True, register_eval=False, register_builtins=False,
                             encoding="latin-1")


def lua_type(value) -> str | None:
    return lua51().lua_type(value)
