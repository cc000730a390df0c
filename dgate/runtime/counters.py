"""Status counters (``display_status``): one view over the hub and all workers.

Without a shared segment (tools, tests, single-process servers before ``attach``)
counts are kept in this process. Once :meth:`Counters.attach` is called, each process
adds to its own row of the segment and :meth:`Counters.get` sums the rows, so the hub
shows the whole server; a restarted worker keeps its row, so no count is lost.
"""
from __future__ import annotations

import threading

from .shm import MAX_ROWS, SharedSegment


class Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local: dict[str, int] = {}
        self._segment: SharedSegment | None = None
        self._row = 0
        self._slots: dict[str, int] = {}

    def attach(self, segment: SharedSegment, row: int) -> None:
        """Count in row ``row`` of ``segment`` from now on (earlier local counts move there)."""
        with self._lock:
            self._segment, self._row, self._slots = segment, row, {}
            pending, self._local = self._local, {}
        for name, value in pending.items():
            self.add(name, value)

    def _slot(self, name: str) -> int:
        slot = self._slots.get(name)
        if slot is None:
            assert self._segment is not None
            slot = self._segment.name_index(name)
            self._slots[name] = slot
        return slot

    def add(self, name: str, amount: int = 1) -> None:
        segment = self._segment
        if segment is None:
            with self._lock:
                self._local[name] = self._local.get(name, 0) + amount
            return
        slot = self._slot(name)
        if slot < 0:
            return
        cell = SharedSegment.cell(self._row, slot)
        with self._lock:
            segment.write(cell, segment.read(cell) + amount)

    def get(self, name: str) -> int:
        segment = self._segment
        if segment is None:
            return self._local.get(name, 0)
        slot = self._slot(name)
        if slot < 0:
            return 0
        return sum(segment.read(SharedSegment.cell(row, slot)) for row in range(MAX_ROWS))

    def snapshot(self) -> dict[str, int]:
        """Every counter with its total."""
        if self._segment is None:
            return dict(self._local)
        return {name: self.get(name) for name in self._segment.names()}


counters = Counters()
"""The counters of this process (shared with the whole server once attached)."""
