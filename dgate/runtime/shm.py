"""A memory segment shared by the hub and its workers (Linux ``memfd``).

Layout (all integers little-endian int64):

* ``0``: magic ``DGATESHM``; ``8``: the UID counter (``GenUID``'s ``UIDPostfix``);
  ``16``: number of counter names in use; ``24``: the file-name counter (``%counter``);
* ``NAMES_AT``: :data:`MAX_NAMES` counter names of 32 bytes (NUL padded);
* ``ROWS_AT``: :data:`MAX_ROWS` rows of :data:`MAX_NAMES` counters, one row per process
  (row 0 the hub, row ``i`` worker slot ``i``; a restarted worker keeps its row, so no
  count is lost when a worker dies).

Cross-process updates of shared words (the UID counter, the name table) hold a lock on
that word's byte range (:mod:`.filelock`); a row is written only by its own process.
"""
from __future__ import annotations

import mmap
import os
import struct
import threading

from . import filelock

MAGIC = b"DGATESHM"
MAX_NAMES = 256
NAME_SIZE = 32
MAX_ROWS = 33
UID_AT = 8
NAMES_USED_AT = 16
FILE_COUNTER_AT = 24
NAMES_AT = 64
ROWS_AT = NAMES_AT + MAX_NAMES * NAME_SIZE
SIZE = ROWS_AT + MAX_ROWS * MAX_NAMES * 8
_Q = struct.Struct("<q")


class SharedSegment:
    """The mapped segment; ``fd`` can be passed to a child process (``pass_fds``)."""

    def __init__(self, fd: int, create: bool = False):
        self.fd = fd
        if create:
            os.ftruncate(fd, SIZE)
        self.map = mmap.mmap(fd, SIZE)
        if create:
            self.map[0:8] = MAGIC
        elif self.map[0:8] != MAGIC:
            raise ValueError("not a dgate shared segment")
        self._thread_lock = threading.Lock()

    @classmethod
    def create(cls) -> "SharedSegment":
        fd = os.memfd_create("dgate-shared", 0)
        return cls(fd, create=True)

    # -- locked words ---------------------------------------------------------------
    def _locked(self, offset: int):
        segment = self

        class _Lock:
            def __enter__(self) -> None:
                segment._thread_lock.acquire()
                filelock.lock(segment.fd, offset, 8)

            def __exit__(self, *exc) -> None:
                filelock.unlock(segment.fd, offset, 8)
                segment._thread_lock.release()
        return _Lock()

    def read(self, offset: int) -> int:
        return _Q.unpack_from(self.map, offset)[0]

    def write(self, offset: int, value: int) -> None:
        _Q.pack_into(self.map, offset, value)

    def fetch_add(self, offset: int, amount: int = 1) -> int:
        """Add to a shared word; returns the value before (atomic across processes)."""
        with self._locked(offset):
            value = self.read(offset)
            self.write(offset, value + amount)
            return value

    def store(self, offset: int, value: int) -> None:
        with self._locked(offset):
            self.write(offset, value)

    # -- counter names --------------------------------------------------------------
    def name_index(self, name: str) -> int:
        """The slot of a counter name, allocated on first use by any process (-1: table full)."""
        key = name.encode("utf-8")[:NAME_SIZE].ljust(NAME_SIZE, b"\0")
        with self._locked(NAMES_USED_AT):
            used = self.read(NAMES_USED_AT)
            for i in range(used):
                at = NAMES_AT + i * NAME_SIZE
                if self.map[at:at + NAME_SIZE] == key:
                    return i
            if used >= MAX_NAMES:
                return -1
            at = NAMES_AT + used * NAME_SIZE
            self.map[at:at + NAME_SIZE] = key
            self.write(NAMES_USED_AT, used + 1)
            return used

    def names(self) -> list[str]:
        used = self.read(NAMES_USED_AT)
        return [bytes(self.map[NAMES_AT + i * NAME_SIZE:NAMES_AT + (i + 1) * NAME_SIZE]).rstrip(b"\0").decode()
                for i in range(used)]

    @staticmethod
    def cell(row: int, index: int) -> int:
        return ROWS_AT + (row * MAX_NAMES + index) * 8
