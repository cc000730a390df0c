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
_shared: dict[str, LuaState] = {}       # state name ("global", "prefetch", "export<N>") → state


def configure(services: LuaServices) -> None:
    """Set the process's services (configuration, logs, injected callables); states
    made afterwards use them. Existing states are dropped."""
    global _services
    with _lock:
        _services = services
        _shared.clear()


def services() -> LuaServices:
    global _services
    with _lock:
        if _services is None:
            _services = LuaServices()
        return _services


def _shared_state(name: str) -> LuaState:
    """The process's state called ``name``, made on first use."""
    current = services()
    with _lock:
        state = _shared.get(name)
        if state is None:
            state = _shared[name] = LuaState(current, name)
        return state


def global_state() -> LuaState:
    return _shared_state("global")


def export_state(number: int) -> LuaState:
    return _shared_state(f"export{number}")


def delayed_state() -> LuaState:
    return _shared_state("prefetch")


def association_state() -> LuaState:
    """A new per-association state (the caller keeps it for the association's life)."""
    return LuaState(services(), "association")


def fresh_state() -> LuaState:
    return LuaState(services(), "fresh")
