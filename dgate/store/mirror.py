"""Mirror devices: a copy of every stored file on ``MIRRORDevice<n>`` for ``MAG<n>``
(``mirrorcopy_queue``; conquest-storage.md §6.1).

The copy queue is process-wide and lives in the hub: an after-store hook posts each
stored file to the hub service ``mirror.copy``; the hub's :class:`MirrorQueue` (a hub
task) copies it in a background thread to the same relative path. A failure is logged
(``***Mirror copy failed``) and does not affect the store. Reads fall back to the mirror
and deletions remove mirror files too (:mod:`.devices`, :mod:`.removal`).
"""
from __future__ import annotations

import queue
import shutil
import sys
import threading
from pathlib import Path

from ..config.keys import Settings
from ..log import Logs
from ..runtime import TaskContext, post, register_task, service
from ..runtime import role as runtime_role
from .devices import device_root
from .ingest import AFTER_STORE, IngestContext, Stored


class MirrorQueue:
    def __init__(self, settings: Settings, logs: Logs):
        self.settings = settings
        self.logs = logs
        self.queue: "queue.Queue[tuple[Path, str, str] | None]" = queue.Queue()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def has_mirror(self, device: str) -> bool:
        return device.upper().startswith("MAG") and bool(device_root(self.settings, "MIRROR" + device[3:]))

    def submit(self, source: Path, relative: str, device: str) -> bool:
        """Queue a copy when the device has a mirror; False when it has none."""
        if not self.has_mirror(device):
            return False
        with self.lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="mirror-copy", daemon=True)
                self.thread.start()
        self.queue.put((Path(source), relative, device))
        return True

    def _run(self) -> None:
        while True:
            job = self.queue.get()
            if job is None:
                self.queue.task_done()
                return
            source, relative, device = job
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

    # hub task protocol
    def start(self) -> None:
        pass

    def stop(self) -> None:
        self.wait()


_queue: MirrorQueue | None = None


def _mirror_task(ctx: TaskContext) -> MirrorQueue:
    global _queue
    _queue = MirrorQueue(ctx.config.settings, ctx.logs)
    return _queue


@service("mirror.copy")
def _copy(source: str, relative: str, device: str, settings: Settings | None = None) -> None:
    """Hub service: queue one mirror copy (outside a server, e.g. ``dgate -fa``: copy now)."""
    if _queue is not None:
        _queue.submit(Path(source), relative, device)
    elif settings is not None:
        root = device_root(settings, "MIRROR" + device[3:])
        try:
            target = Path(root or "") / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        except (OSError, TypeError) as exc:
            print(f"***Mirror copy failed for {source}: {exc}", file=sys.stderr)


def _after_store(stored: Stored, ctx: IngestContext) -> None:
    """After-store hook: hand the file to the hub's queue when its device has a mirror."""
    settings = ctx.ingest.settings if ctx.ingest is not None else None
    if stored.path is None or settings is None or not stored.device.upper().startswith("MAG"):
        return
    if device_root(settings, "MIRROR" + stored.device[3:]):
        if runtime_role() in ("hub", "single", "worker"):
            post("mirror.copy", str(stored.path), stored.relative, stored.device)
        else:
            _copy(str(stored.path), stored.relative, stored.device, settings)


register_task("mirror", _mirror_task)
AFTER_STORE.register("mirror", _after_store, order=10)
