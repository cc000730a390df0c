"""Extension points shared by every layer: an ordered table of named callables
(:class:`Registry`) and a single replaceable function (:class:`Settable`).

Plug-in modules (:mod:`dgate.hub.plugins`) fill them at import time, so the layer that
owns the extension point never imports the plug-in (TEAM.md import direction).
"""
from __future__ import annotations

import threading
from typing import Any, Callable


class Registry:
    """Named callables run in ``order`` (then registration order); registering a name
    again replaces it."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[int, int, Callable[..., Any]]] = {}
        self._lock = threading.Lock()
        self._sorted: tuple[tuple[str, Callable[..., Any]], ...] | None = None   # items(), until changed

    def register(self, name: str, fn: Callable[..., Any], order: int = 50) -> Callable[..., Any]:
        with self._lock:
            self._items[name] = (order, len(self._items), fn)
            self._sorted = None
        return fn

    def unregister(self, name: str) -> None:
        with self._lock:
            self._items.pop(name, None)
            self._sorted = None

    def items(self) -> tuple[tuple[str, Callable[..., Any]], ...]:
        """(name, callable) in run order (one object is stored many times: sorted once)."""
        found = self._sorted
        if found is None:
            with self._lock:
                found = self._sorted = tuple(
                    (n, fn) for n, (_o, _i, fn) in sorted(self._items.items(), key=lambda kv: kv[1][:2]))
        return found

    def __bool__(self) -> bool:
        return bool(self._items)


class Settable:
    """One function, ``.set(fn)`` (None restores the default: calling gives None)."""

    def __init__(self, name: str):
        self.name = name
        self.fn: Callable[..., Any] | None = None

    def set(self, fn: Callable[..., Any] | None) -> None:
        self.fn = fn

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args) if self.fn is not None else None
