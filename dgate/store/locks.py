"""Locks that serialise stores of the same SOP instance, across threads and processes.

:func:`instance_lock` maps a UID to one of :data:`STRIPES` stripes; a stripe is a
``threading.Lock`` (threads of this process) plus a lock on one byte of a lock file in
MAG0's temp folder (other processes, other servers on the same folder; see
:mod:`dgate.runtime.filelock`).
Two stores of one SOP therefore run one after the other: the second sees the first's
row and rewrites the same file, so N concurrent copies give one file and one row.
"""
from __future__ import annotations

import os
import threading
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..runtime import filelock
from .tempfiles import temp_dir

STRIPES = 1024
_thread_locks = [threading.Lock() for _ in range(STRIPES)]
_files: dict[str, int] = {}
_files_lock = threading.Lock()


def _lock_fd(root: str) -> int:
    with _files_lock:
        fd = _files.get(root)
        if fd is None:
            # kept open for the life of the process: closing any descriptor of the file
            # would drop every POSIX lock this process holds on it
            fd = os.open(temp_dir(root) / "instance.lck", os.O_RDWR | os.O_CREAT, 0o644)
            _files[root] = fd
        return fd


@contextmanager
def instance_lock(uid: str, root: str | os.PathLike | None) -> Iterator[None]:
    """Hold the stripe of ``uid``; ``root`` is the folder of the lock file (None: threads only)."""
    stripe = zlib.crc32(uid.encode("latin-1", "replace")) % STRIPES
    with _thread_locks[stripe]:
        fd = _lock_fd(str(Path(root))) if root else -1
        if fd >= 0:
            filelock.lock(fd, stripe)
        try:
            yield
        finally:
            if fd >= 0:
                filelock.unlock(fd, stripe)
