"""A persistent work queue with Conquest's retry rules (``conquest_queue``, dgate.cpp:11230).

Worker threads take the head entry and run ``process(entry) -> retry?``. After a
failure, entries are set aside untried for ``FailHoldOff`` s; set-aside and failed
entries are tried again, in order, once the queue is idle and ``RetryDelay`` s have
passed since the last failure. ``max_tries`` (> 0) gives an entry up after that many
failed tries. ``ready(entry)`` may hold the head back (delayed operations).
Entries live in a :class:`~.journal.Journal`, so nothing queued is lost by a restart.
"""
from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any, Callable

from .journal import Journal

Entry = dict[str, Any]


class WorkQueue:
    """One queue, its journal and its worker threads (``start``/``stop``)."""

    def __init__(self, name: str, path: Path, process: Callable[[Entry], bool], logs,
                 threads: int = 1, hold_off: Callable[[], int] = lambda: 60,
                 retry_delay: Callable[[], int] = lambda: 100, max_tries: Callable[[], int] = lambda: 0,
                 ready: Callable[[Entry], bool] | None = None):
        self.name = name
        self.process = process
        self.logs = logs
        self.threads = max(1, threads)
        self.hold_off, self.retry_delay, self.max_tries = hold_off, retry_delay, max_tries
        self.ready = ready
        self.journal = Journal(path, report=logs.operator.printf)
        self.cond = threading.Condition()
        self.pending: deque[str] = deque()
        self.failed: deque[str] = deque()
        for entry_id, _ in self.journal.items():
            (self.failed if entry_id in self.journal.tries else self.pending).append(entry_id)
        self.busy: set[str] = set()
        self.last_failure = 0.0
        self.sent = self.failures = self.given_up = 0
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self._seq = itertools.count()

    # -- enqueueing ----------------------------------------------------------------------
    def new_id(self) -> str:
        return f"{time.time():.6f}-{next(self._seq)}-{uuid.uuid4().hex[:8]}"

    def put(self, entry: Entry, unique_key: str | None = None) -> str:
        """Add an entry (persisted before this returns). With ``unique_key``, a queued
        entry with the same key is replaced and the new one goes to the end."""
        entry_id = self.new_id()
        with self.cond:
            if unique_key is not None:
                entry["unique"] = unique_key
                old = next((i for i, e in self.journal.items() if e.get("unique") == unique_key
                            and i not in self.busy), None)
                if old is not None:
                    self.journal.replace(old, entry_id, entry)
                    for q in (self.pending, self.failed):
                        if old in q:
                            q.remove(old)
                else:
                    self.journal.add(entry_id, entry)
            else:
                self.journal.add(entry_id, entry)
            self.pending.append(entry_id)
            self.cond.notify()
        return entry_id

    # -- running -------------------------------------------------------------------------
    def start(self) -> None:
        if self._workers:
            return
        self._stop.clear()
        for i in range(self.threads):
            worker = threading.Thread(target=self._work, name=f"{self.name}-{i}", daemon=True)
            worker.start()
            self._workers.append(worker)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the entries being processed finish; the rest stays queued on disk."""
        self._stop.set()
        with self.cond:
            self.cond.notify_all()
        for worker in self._workers:
            worker.join(timeout)
        self._workers = []
        self.journal.close()

    def _take(self) -> tuple[str, bool] | None:
        """The next entry to run and whether it is a retry; None when nothing is due."""
        now = time.time()
        for entry_id in list(self.pending):
            if entry_id in self.busy:
                continue
            entry = self.journal.entries.get(entry_id)
            if entry is None:
                self.pending.remove(entry_id)
                continue
            if self.ready is not None and not self.ready(entry):
                break               # FIFO: the head holds back later entries
            self.pending.remove(entry_id)
            if self.last_failure and now - self.last_failure < self.hold_off():
                self.failed.append(entry_id)       # set aside untried
                continue
            return entry_id, False
        if not self.pending and self.failed and now - self.last_failure >= self.retry_delay():
            for entry_id in list(self.failed):
                if entry_id not in self.busy:
                    self.failed.remove(entry_id)
                    if entry_id in self.journal.entries:
                        return entry_id, True
        return None

    def _work(self) -> None:
        while not self._stop.is_set():
            with self.cond:
                taken = self._take()
                if taken is None:
                    self.cond.wait(0.2)
                    continue
                entry_id, _retry = taken
                self.busy.add(entry_id)
                entry = dict(self.journal.entries[entry_id])
            try:
                again = bool(self.process(entry))
            except Exception as exc:
                self.logs.operator.printf(f"*** {self.name}: entry failed with an error: {exc}\n")
                again = True
            with self.cond:
                self.busy.discard(entry_id)
                if not again:
                    self.journal.done(entry_id)
                    self.sent += 1
                    self.last_failure = 0.0
                else:
                    self.failures += 1
                    self.last_failure = time.time()
                    tries = self.journal.failed(entry_id)
                    limit = self.max_tries()
                    if limit > 0 and tries >= limit:
                        self.logs.operator.printf(f"*** {self.name}: giving up on an entry after {tries} tries\n")
                        self.journal.done(entry_id)
                        self.given_up += 1
                    else:
                        self.failed.append(entry_id)
                self.cond.notify_all()

    # -- state ---------------------------------------------------------------------------
    def wait_idle(self, timeout: float = 30.0) -> bool:
        """True when nothing is pending or being processed (failed entries may remain)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.cond:
                if not self.pending and not self.busy:
                    return True
            time.sleep(0.05)
        return False

    def status(self) -> dict[str, int]:
        with self.cond:
            return {"queued": len(self.pending), "failed": len(self.failed), "busy": len(self.busy),
                    "done": self.sent, "failures": self.failures, "given_up": self.given_up}
