"""Mirror devices: a copy of every stored file on ``MIRRORDevice<n>`` for ``MAG<n>``
(``mirrorcopy_queue``; conquest-storage.md §6.1).

Copies are made by one background thread after the store has succeeded, at the same
relative path; a failure is logged (``***Mirror copy failed``) and does not affect the
store. Reads fall back to the mirror and deletions remove mirror files too
(:mod:`.devices`, :mod:`.removal`).
"""
from __future__ import annotations

import queue
import shutil
import threading
from pathlib import Path

from ..config.keys import Settings
from ..log import Logs
from .devices import device_root


class MirrorQueue:
    def __init__(self, settings: Settings, logs: Logs):
        self.settings = settings
        self.logs = logs
        self.queue: "queue.Queue[tuple[Path, str, str]]" = queue.Queue()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def submit(self, source: Path, relative: str, device: str) -> bool:
        """Queue a copy when the device has a mirror; False when it has none."""
        if not device.upper().startswith("MAG") or not device_root(self.settings, "MIRROR" + device[3:]):
            return False
        with self.lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="mirror-copy", daemon=True)
                self.thread.start()
        self.queue.put((source, relative, device))
        return True

    def _run(self) -> None:
        while True:
            source, relative, device = self.queue.get()
            root = device_root(self.settings, "MIRROR" + device[3:])
            try:
                if root is None:
                    raise OSError(f"no MIRROR device for {device}")
                target = Path(root) / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
            except (OSError, TypeError) as exc:
                self.logs.operator.printf(f"***Mirror copy failed for {source}: {exc}\n")
            finally:
                self.queue.task_done()

    def wait(self) -> None:
        """Block until every queued copy is done (tests, shutdown)."""
        self.queue.join()
