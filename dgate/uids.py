"""UID generation as dgate does it (conquest-protocol.md §5.9, conquest-storage.md §3.8).

* ``genuid`` / ``-fu``: ``<UIDPrefix>.6.<unix time>.<counter mod 10000>``
* database UIDs (``changeuid``): ``<UIDPrefix>.7.<unix time>.<counter mod 10000>``

The counter is process-wide, starts at 0 (or the ``-c`` value) and is incremented
before use, so concurrent callers never get the same UID within one second.
"""
from __future__ import annotations

import itertools
import threading
import time

_lock = threading.Lock()
_counter = itertools.count(1)


def set_counter(start: int) -> None:
    """``-c#``: the next UID uses ``start + 1``."""
    global _counter
    with _lock:
        _counter = itertools.count(start + 1)


def _next() -> int:
    with _lock:
        return next(_counter)


def gen_uid(prefix: str, kind: int = 6, now: float | None = None) -> str:
    """A new UID below ``prefix``; ``kind`` 6 for GenUID, 7 for database UIDs."""
    stamp = int(now if now is not None else time.time())
    return f"{prefix}.{kind}.{stamp}.{_next() % 10000}"
