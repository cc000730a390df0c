"""Automatic space making on the MAG devices (``GetDevice`` / ``PanicKillOff``,
conquest-storage.md §6.1).

When the MAG device chosen for a new object has less free space than
``MAGDeviceThreshHold`` (≠ 0), the hub deletes least recently used patients (``LRUSort``
over the study table if set, else ``DICOMPatients.AccessTime``) in a background thread
until more than ``MAGDeviceThreshHold + 1000 + 5`` MB are free. When no MAG device has more
than ``MAGDeviceFullThreshHold`` free, the store waits for that cleanup instead of answering
``*** Out of disk space`` (with ``MAGDeviceThreshHold = 0`` or outside a server it answers so).

A patient is never deleted while an export queue still holds one of its objects
(:data:`PROTECTED`, set by the converter plug-in): the original deletes regardless; losing
an object that is still to be forwarded is worse than a full disk.
"""
from __future__ import annotations

import threading
from typing import Callable

from ..runtime import IdleTask, TaskContext, call, post, register_service, register_task
from ..runtime import role as runtime_role
from .ingest import SPACE

MARGIN = 1000 + 5
WAIT_SECONDS = 300


class _Protected:
    """``PROTECTED.add(name, fn)``; ``fn() -> set[str]``: patient IDs that must not be deleted."""

    def __init__(self) -> None:
        self._fns: dict[str, Callable[[], set[str]]] = {}

    def add(self, name: str, fn: Callable[[], set[str]]) -> None:
        self._fns[name] = fn

    def patients(self) -> set[str]:
        found: set[str] = set()
        for fn in list(self._fns.values()):
            try:
                found |= set(fn())
            except Exception:  # a broken source protects nothing more
                pass
        return found


PROTECTED = _Protected()
_context: TaskContext | None = None
_running = threading.Lock()


def make_space(config, logs, mb: int, wait: bool = False) -> int:
    """Delete LRU patients (not :data:`PROTECTED`) until a MAG device has ``mb`` MB free;
    the number deleted. One run at a time: a second caller returns 0 at once, or with
    ``wait`` after the running one (then runs itself)."""
    if not _running.acquire(blocking=wait, timeout=WAIT_SECONDS if wait else -1):
        return 0
    try:
        from ..db import open_database
        from .archive import Archiver
        db = open_database(config, logs)
        try:
            deleted = Archiver(db, config.settings, logs).make_space(mb, protected=PROTECTED.patients())
            if deleted:
                logs.operator.printf(f"Made space on the MAG devices ({mb} MB wanted): {deleted} patient(s) "
                                     "deleted\n")
        finally:
            db.close()
        return deleted
    finally:
        _running.release()


def _service(mb: int, wait: bool = False) -> int:
    """Hub service ``store.make_space``: in the background, or at once with ``wait``."""
    ctx = _context
    if ctx is None:
        return 0
    if wait:
        return make_space(ctx.config, ctx.logs, mb, wait=True)
    threading.Thread(target=make_space, args=(ctx.config, ctx.logs, mb), name="make-space", daemon=True).start()
    return 0


def _request(ingest, low: int, wait: bool) -> bool:
    """The ingest's SPACE hook: ask the hub to make space; True when it ran (``wait``)."""
    role = runtime_role()
    mb = low + MARGIN
    if role == "worker":
        if wait:
            return bool(call("store.make_space", mb, True))
        post("store.make_space", mb, False)
        return False
    if role in ("hub", "single") and _context is not None:
        return bool(_service(mb, wait))
    return False


def _task(ctx: TaskContext) -> IdleTask:
    global _context
    _context = ctx
    return IdleTask()


register_task("space", _task)
register_service("store.make_space", _service)
SPACE.set(_request)
