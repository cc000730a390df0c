"""The Lua states of a process and their lifetimes (conquest-lua-web.md §1.3).

* the **global state** (``globalPDU``): one per process, calls serialised by its lock
  (``dolua_critical``): ``[lua]startup/nightly/background``, autostart ``dgate.lua``,
  ``--dolua``, ``globallua:``;
* one state **per association** (:func:`association_state`), made on first use by the
  association's code and dropped with it;
* one state **per ExportConverter** N (:func:`export_state`), for the server's lifetime;
* the **delayed-operation** state (:func:`delayed_state`) for ``process … by x.lua``.
"""
from __future__ import annotations

import threading

from .context import LuaServices
from .runtime import LuaState

_lock = threading.Lock()
_services: LuaServices | None = None
_global: LuaState | None = None
_exports: dict[int, LuaState] = {}
_delayed: LuaState | None = None


def configure(services: LuaServices) -> None:
    """Set the process's services (configuration, logs, injected callables); states
    made afterwards use them. Existing states are dropped."""
    global _services, _global, _delayed
    with _lock:
        _services = services
        _global = None
        _delayed = None
        _exports.clear()


def services() -> LuaServices:
    global _services
    with _lock:
        if _services is None:
            _services = LuaServices()
        return _services


def global_state() -> LuaState:
    global _global
    current = services()
    with _lock:
        if _global is None:
            _global = LuaState(current, "global")
        return _global


def export_state(number: int) -> LuaState:
    current = services()
    with _lock:
        state = _exports.get(number)
        if state is None:
            state = _exports[number] = LuaState(current, f"export{number}")
        return state


def delayed_state() -> LuaState:
    global _delayed
    current = services()
    with _lock:
        if _delayed is None:
            _delayed = LuaState(current, "prefetch")
        return _delayed


def association_state() -> LuaState:
    """A new per-association state (the caller keeps it for the association's life)."""
    return LuaState(services(), "association")


def fresh_state() -> LuaState:
    return LuaState(services(), "fresh")
