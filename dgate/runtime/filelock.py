"""Byte-range locks shared between processes that are free of false deadlocks.

POSIX record locks (``lockf``) belong to a *process*: with several threads a process
can be reported as deadlocked (``EDEADLK``) with another process although each thread
holds only one lock. Linux open-file-description locks (``F_OFD_SETLKW``) belong to the
open file and have no such detection; threads of one process must still be kept apart
by the caller (a ``threading.Lock`` per range). Without OFD locks, ``lockf`` is used and
a false ``EDEADLK`` is retried.
"""
from __future__ import annotations

import errno
import fcntl
import os
import struct
import time

_FLOCK = "@hhqqi4x"           # struct flock on Linux: type, whence, start, len, pid (+ padding)
_OFD = getattr(fcntl, "F_OFD_SETLKW", None) if os.uname().sysname == "Linux" else None


def lock(fd: int, start: int, length: int = 1) -> None:
    """Exclusive lock on ``length`` bytes at ``start`` (waits)."""
    if _OFD is not None:
        fcntl.fcntl(fd, _OFD, struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, start, length, 0))
        return
    while True:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX, length, start)
            return
        except OSError as exc:
            if exc.errno != errno.EDEADLK:
                raise
            time.sleep(0.001)


def unlock(fd: int, start: int, length: int = 1) -> None:
    if _OFD is not None:
        fcntl.fcntl(fd, _OFD, struct.pack(_FLOCK, fcntl.F_UNLCK, os.SEEK_SET, start, length, 0))
        return
    fcntl.lockf(fd, fcntl.LOCK_UN, length, start)
