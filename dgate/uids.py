"""UID generation as dgate does it (conquest-protocol.md §5.9, conquest-storage.md §3.8).

* ``genuid`` / ``-fu``: ``<UIDPrefix>.6.<unix time>.<counter mod 10000>``
* database UIDs (``changeuid``): ``<UIDPrefix>.7.<unix time>.<counter mod 10000>``

One counter (the original's ``UIDPostfix``) serves both. It starts at 0, or at the ``-c``
value, and is used before it is incremented, so the first UID of a process ends in ``.0``
(checked against the 1.5.0e binary). In a multi-process server the counter lives in the
shared segment (:func:`attach`), so hub and workers never hand out the same value.
"""
from __future__ import annotations

import threading
import time

from .runtime.shm import UID_AT, SharedSegment

_lock = threading.Lock()
_counter = 0
_segment: SharedSegment | None = None


def set_counter(start: int) -> None:
    """``-c#``: the next UID uses ``start``."""
    global _counter
    with _lock:
        _counter = start
    if _segment is not None:
        _segment.store(UID_AT, start)


def attach(segment: SharedSegment, initialise: bool = False) -> None:
    """Use the counter in ``segment`` (the hub initialises it with this process's value)."""
    global _segment
    with _lock:
        if initialise:
            segment.store(UID_AT, _counter)
        _segment = segment


def _next() -> int:
    global _counter
    if _segment is not None:
        return _segment.fetch_add(UID_AT)
    with _lock:
        value = _counter
        _counter += 1
        return value


def gen_uid(prefix: str, kind: int = 6, now: float | None = None) -> str:
    """A new UID below ``prefix``; ``kind`` 6 for GenUID, 7 for database UIDs."""
    stamp = int(now if now is not None else time.time())
    return f"{prefix}.{kind}.{stamp}.{_next() % 10000}"
