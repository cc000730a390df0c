"""A queue kept on disk as an append-only journal (export queues, delayed operations).

Each line is one JSON record: ``{"add": id, "entry": {…}}``, ``{"done": id}`` or
``{"fail": id, "tries": n}``. Replaying the file gives the entries still to do, so a
restart or a ``kill -9`` loses nothing that was enqueued (the line is written and
flushed before ``add`` returns); an entry is marked done right after it succeeded, so a
clean restart sends nothing twice. A damaged line is reported with its line number and
skipped; the readable entries still run. The file is compacted when mostly done lines.
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Callable


class Journal:
    """Entries by id, in insertion order, persisted in ``path``."""

    def __init__(self, path: Path, report: Callable[[str], None] | None = None, sync: bool = False):
        self.path = Path(path)
        self.report = report or (lambda text: None)
        self.sync = sync
        self.lock = threading.Lock()
        self.entries: dict[str, dict[str, Any]] = {}
        self.tries: dict[str, int] = {}
        self.damaged: list[int] = []
        self._lines = 0
        self._load()
        self._file = open(self.path, "a", encoding="utf-8")

    def _load(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, "rb") as f:
            raw_lines = f.read().split(b"\n")
        for number, raw in enumerate(raw_lines, 1):
            if not raw.strip():
                continue
            self._lines += 1
            try:
                record = json.loads(raw.decode("utf-8"))
                if not isinstance(record, dict):
                    raise ValueError("not an object")
                if "add" in record:
                    if not isinstance(record.get("entry"), dict):
                        raise ValueError("entry missing")
                    self.entries[str(record["add"])] = record["entry"]
                elif "done" in record:
                    self.entries.pop(str(record["done"]), None)
                    self.tries.pop(str(record["done"]), None)
                elif "fail" in record:
                    self.tries[str(record["fail"])] = int(record.get("tries", 1))
                else:
                    raise ValueError("unknown record")
            except (ValueError, UnicodeDecodeError) as exc:
                self.damaged.append(number)
                self.report(f"*** queue file {self.path} line {number} is damaged ({exc}); line skipped\n")
        if self.damaged:
            self.report(f"*** queue file {self.path}: {len(self.damaged)} damaged line(s) skipped, "
                        f"{len(self.entries)} readable entries kept\n")
        self._compact_locked()

    def _write(self, record: dict) -> None:
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._file.flush()
        if self.sync:
            os.fsync(self._file.fileno())
        self._lines += 1

    def add(self, entry_id: str, entry: dict[str, Any]) -> None:
        with self.lock:
            self.entries[entry_id] = entry
            self._write({"add": entry_id, "entry": entry})

    def replace(self, old_id: str, new_id: str, entry: dict[str, Any]) -> None:
        """Drop ``old_id`` and add ``new_id`` (``into_queue_unique``)."""
        with self.lock:
            if old_id in self.entries:
                self.entries.pop(old_id)
                self.tries.pop(old_id, None)
                self._write({"done": old_id})
            self.entries[new_id] = entry
            self._write({"add": new_id, "entry": entry})

    def done(self, entry_id: str) -> None:
        with self.lock:
            if self.entries.pop(entry_id, None) is not None:
                self.tries.pop(entry_id, None)
                self._write({"done": entry_id})
            if self._lines > 1000 and self._lines > 4 * len(self.entries):
                self._file.close()
                self._compact_locked()
                self._file = open(self.path, "a", encoding="utf-8")

    def failed(self, entry_id: str) -> int:
        with self.lock:
            n = self.tries.get(entry_id, 0) + 1
            self.tries[entry_id] = n
            self._write({"fail": entry_id, "tries": n})
            return n

    def _compact_locked(self) -> None:
        if not self.entries and not self.damaged:
            if self.path.exists():
                self.path.unlink()
            self._lines = 0
            return
        temp = self.path.with_name(self.path.name + ".tmp")
        with open(temp, "w", encoding="utf-8") as f:
            for entry_id, entry in self.entries.items():
                f.write(json.dumps({"add": entry_id, "entry": entry}, separators=(",", ":")) + "\n")
                if entry_id in self.tries:
                    f.write(json.dumps({"fail": entry_id, "tries": self.tries[entry_id]}) + "\n")
            f.flush()
            os.fsync(f.fileno())
        if self.damaged:
            keep = self.path.with_name(self.path.name + ".damaged")
            try:
                os.replace(self.path, keep)
                self.report(f"*** damaged queue file kept as {keep}\n")
            except OSError:
                pass
            self.damaged = []
        os.replace(temp, self.path)
        self._lines = len(self.entries) + len(self.tries)

    def close(self) -> None:
        with self.lock:
            try:
                self._file.close()
            finally:
                self._compact_locked()

    def items(self) -> list[tuple[str, dict[str, Any]]]:
        with self.lock:
            return list(self.entries.items())

    def __len__(self) -> int:
        return len(self.entries)
