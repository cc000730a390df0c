"""The hub process: listener, association accounting, worker pool, hub services and tasks
(README "Server architecture").

* It accepts every connection itself, numbers it (``UPACS THREAD n``), refuses it when
  ``MaxAssociations`` are open (A-ASSOCIATE-RJ, transient, local limit exceeded, logged
  with the peer) and hands it to the worker with the fewest open associations (fd
  passing over the worker's socket pair; ties go round-robin), or, in single-process
  mode, serves it in a thread of its own.
* Workers report each association's end, so a connection that closes frees its slot at
  once. A worker that dies is logged and restarted; its row of counters is kept.
* It runs the hub services workers call (``server_command`` with the dispatcher injected
  by the command line layer, and whatever the plug-ins register), and after each server
  command broadcasts what changed (:mod:`.state`).
* It starts the registered hub tasks (incoming folder, mirror queue, ...) and stops them
  on exit (SIGTERM, SIGINT, ``quit:``).
"""
from __future__ import annotations

import itertools
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .. import runtime, uids
from ..config import Configuration
from ..log import Logs, printable
from ..runtime.shm import SharedSegment
from ..store import filenames
from ..store.devices import devices
from ..store.ingest import Ingest
from ..store.tempfiles import clean_stale
from . import plugins, state
from .listener import BACKLOG, accept, bind
from .wire import Link


def _peer_closed(sock: socket.socket) -> bool:
    """Has the peer of a just-accepted socket already closed it (and sent nothing)?"""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True


CommandHandler = Callable[[str, "bytes | None", str, str, Any], "bytes | None"]
MAX_WORKERS = 4
RESTART_BACKOFF = 1.0


def worker_count(settings, single: bool = False) -> int:
    """``ServerWorkers`` (default: the CPU count, at most 4); 0 or ``-b``: single process."""
    if single:
        return 0
    value = settings.raw("ServerWorkers")
    if value is not None and value.strip():
        return max(0, min(settings.int("ServerWorkers"), 32))
    return max(1, min(os.cpu_count() or 1, MAX_WORKERS))


@dataclass
class Worker:
    index: int
    proc: subprocess.Popen
    link: Link
    started: float = field(default_factory=time.monotonic)
    open: set[int] = field(default_factory=set)
    alive: bool = True
    ready: threading.Event = field(default_factory=threading.Event)


class Hub:
    """The server process (see module docstring). ``run()`` blocks until it stops."""

    def __init__(self, config: Configuration, logs: Logs, ae_title: str, port: int,
                 command_handler: CommandHandler, workers: int, address: str = "0.0.0.0",
                 worker_args: dict | None = None):
        self.config = config
        self.settings = config.settings
        self.logs = logs
        self.ae_title = ae_title
        self.port = port
        self.address = address
        self.command_handler = command_handler
        self.n_workers = workers
        self.worker_args = worker_args or {}
        self.started_at = time.time()
        self.status_string = ""
        self.ingest = Ingest(config, logs)
        self._debug_level = self.settings.int("DebugLevel")
        self.workers: list[Worker | None] = [None] * workers
        self.server: Any = None          # the DicomServer in single-process mode
        self._lock = threading.Lock()
        self._numbers = itertools.count()
        self.total = 0
        self.open = 0
        self._round = 0
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._listener: socket.socket | None = None
        self._tasks: list[tuple[str, Any]] = []
        self._refusers = threading.BoundedSemaphore(8)
        self._executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="hub-post")
        self._last_state: dict | None = None
        self.segment: SharedSegment | None = None

    # -- what server commands see (CommandContext.server) --------------------------------
    def association_count(self) -> tuple[int, int]:
        """(associations so far, open now) of the whole server."""
        with self._lock:
            return self.total, self.open

    @property
    def debug_level(self) -> int:
        return self._debug_level

    @debug_level.setter
    def debug_level(self, value: int) -> None:
        self._debug_level = value
        if self.server is not None:
            self.server.debug_level = value

    # -- start and stop ---------------------------------------------------------------
    def run(self) -> int:
        try:
            self._listener = bind(self.address, self.port)
        except OSError as exc:
            self.logs.operator.printf(f"***Failed to Listen () - bind error: {exc}\n")
            sys.stderr.write(f"dgate: cannot listen on port {self.port}: {exc}\n")
            return 1
        self.segment = SharedSegment.create()
        runtime.counters.attach(self.segment, 0)
        uids.attach(self.segment, initialise=True)
        filenames.attach(self.segment)
        runtime.set_role("hub" if self.n_workers else "single")
        runtime.register_service("server_command", self._server_command)
        runtime.register_service("hub.association_count", self.association_count)
        plugins.load(self.logs)
        if self.n_workers == 0:
            from ..net.server import DicomServer
            self.server = DicomServer(self.config, self.logs, self.ae_title, self.port)
        else:
            for i in range(self.n_workers):
                self._spawn(i)
            self._wait_ready(60.0)
        self._start_tasks()
        self._listener.listen(BACKLOG)           # connections are accepted from here on
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                signal.signal(sig, lambda *_: self.stop())
            except ValueError:
                pass          # not the main thread (tests)
        try:
            self._accept_loop()
        finally:
            self._shutdown()
        return 0

    def stop(self) -> None:
        self._stopping.set()
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def _start_tasks(self) -> None:
        ctx = runtime.TaskContext(self.config, self.logs, self.ae_title, self.port, self)
        for name, factory in runtime.tasks():
            try:
                task = factory(ctx)
                if task is not None:
                    task.start()
                    self._tasks.append((name, task))
            except Exception as exc:  # one broken task must not stop the server
                self.logs.operator.printf(f"***Hub task {name} did not start: {exc}\n")

    def _shutdown(self) -> None:
        if self._listener is not None:
            self._listener.close()
        for worker in self.workers:
            if worker is not None and worker.alive:
                try:
                    worker.link.send(("stop",))
                except OSError:
                    pass
        deadline = time.monotonic() + 5
        for worker in self.workers:
            if worker is None:
                continue
            try:
                worker.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.proc.kill()
                worker.proc.wait()
        for name, task in reversed(self._tasks):
            try:
                task.stop()
            except Exception as exc:
                self.logs.operator.printf(f"***Hub task {name} did not stop cleanly: {exc}\n")
        self._executor.shutdown(wait=False)

    # -- accepting -------------------------------------------------------------------
    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                ready, _, _ = select.select([self._listener.fileno(), self._wake_r], [], [], 1.0)
            except InterruptedError:
                continue
            if self._wake_r in ready:
                os.read(self._wake_r, 64)
            if self._listener.fileno() in ready:
                while True:
                    accepted = accept(self._listener)
                    if accepted is None:
                        break
                    self._place(*accepted)
            self._check_workers()

    def _place(self, sock: socket.socket, address: tuple) -> None:
        limit = self.settings.int("MaxAssociations")
        limit = limit if limit > 0 else 200
        with self._lock:
            number = next(self._numbers)
            self.total = number + 1
        refuse = not self._take_slot(limit)
        if refuse and _peer_closed(sock):
            # a port scan or load-balancer probe that is gone already: nothing to refuse
            self.logs.debug.printf(f"Connection from {address[0]}:{address[1]} closed before an association "
                                   "request\n")
            sock.close()
            return
        if refuse:
            deadline = time.monotonic() + 0.2         # slots of connections that just closed come back
            while refuse and time.monotonic() < deadline:
                time.sleep(0.01)
                refuse = not self._take_slot(limit)
        peer = (str(address[0]), int(address[1]))
        if refuse:
            self._refuse(sock, peer, limit)
            return
        if self.n_workers == 0:
            threading.Thread(target=self._serve_here, args=(sock, peer, number), daemon=True,
                             name=f"association-{number}").start()
            return
        worker = self._pick()
        if worker is None:
            with self._lock:
                self.open -= 1
            self.logs.operator.printf(f"***Connection from {peer[0]}:{peer[1]} dropped: no worker is running\n")
            sock.close()
            return
        try:
            with self._lock:
                worker.open.add(number)
            worker.link.send(("conn", peer, number), (sock.fileno(),))
        except OSError:
            with self._lock:
                worker.open.discard(number)
                self.open -= 1
            self.logs.operator.printf(f"***Connection from {peer[0]}:{peer[1]} dropped: worker {worker.index} "
                                      "does not answer\n")
        finally:
            sock.close()

    def _take_slot(self, limit: int) -> bool:
        with self._lock:
            if self.open >= limit:
                return False
            self.open += 1
            return True

    def _pick(self) -> Worker | None:
        with self._lock:
            alive = [w for w in self.workers if w is not None and w.alive]
            if not alive:
                return None
            least = min(len(w.open) for w in alive)
            candidates = [w for w in alive if len(w.open) == least]
            self._round += 1
            return candidates[self._round % len(candidates)]

    def _serve_here(self, sock: socket.socket, peer: tuple[str, int], number: int) -> None:
        try:
            self.server.serve(sock, peer, number)
        finally:
            with self._lock:
                self.open -= 1

    def _refuse(self, sock: socket.socket, peer: tuple[str, int], limit: int) -> None:
        """A-ASSOCIATE-RJ (transient, local limit exceeded) in a short-lived thread."""
        self.logs.operator.printf(f"***Association from {peer[0]}:{peer[1]} refused: {limit} associations are "
                                  "open (MaxAssociations)\n")
        if not self._refusers.acquire(blocking=False):
            sock.close()
            return

        def answer() -> None:
            from ..net import pdu
            try:
                sock.settimeout(2.0)
                head = sock.recv(6)
                if len(head) == 6 and head[0] == pdu.ASSOCIATE_RQ:
                    sock.sendall(pdu.encode_rejection(pdu.Rejection(2, 3, 2)))
            except OSError:
                pass
            finally:
                sock.close()
                self._refusers.release()
        threading.Thread(target=answer, daemon=True, name="refuse").start()

    # -- workers -----------------------------------------------------------------------
    def _spawn(self, index: int) -> None:
        assert self.segment is not None
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        args = dict(self.worker_args, index=index, link_fd=child.fileno(), shm_fd=self.segment.fd,
                    ae=self.ae_title, port=self.port, row=index + 1,
                    state=state.snapshot(self.config, self.logs, self.debug_level, self.ingest.test_mode))
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = package_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        proc = subprocess.Popen([sys.executable, "-m", "dgate.hub.worker", json.dumps(args)],
                                pass_fds=(child.fileno(), self.segment.fd), env=env, close_fds=True)
        child.close()
        worker = Worker(index, proc, Link(parent))
        with self._lock:
            self.workers[index] = worker
        threading.Thread(target=self._read_worker, args=(worker,), daemon=True, name=f"worker-{index}").start()

    def _wait_ready(self, timeout: float) -> None:
        """Accept connections only once the workers can serve them (they import pydicom &c.)."""
        deadline = time.monotonic() + timeout
        for worker in list(self.workers):
            if worker is not None:
                worker.ready.wait(max(0.0, deadline - time.monotonic()))

    def _read_worker(self, worker: Worker) -> None:
        while True:
            try:
                message, _fds = worker.link.recv()
            except (EOFError, OSError):
                break
            kind = message[0]
            if kind == "ready":
                worker.ready.set()
            elif kind == "closed":
                with self._lock:
                    if message[1] in worker.open:
                        worker.open.discard(message[1])
                        self.open -= 1
            elif kind == "call":
                threading.Thread(target=self._answer, args=(worker, message), daemon=True,
                                 name=f"call-{message[2]}").start()
            elif kind == "post":
                self._executor.submit(self._run_post, message)
        worker.ready.set()
        self._worker_gone(worker)

    def _answer(self, worker: Worker, message: tuple) -> None:
        _, call_id, name, args, kwargs = message
        try:
            result = runtime.local_service(name)(*args, **kwargs)
            reply = ("reply", call_id, True, result)
        except Exception as exc:  # the caller gets the error, the hub goes on
            reply = ("reply", call_id, False, f"{type(exc).__name__}: {exc}")
        try:
            worker.link.send(reply)
        except OSError:
            pass

    def _run_post(self, message: tuple) -> None:
        _, name, args, kwargs = message
        try:
            runtime.local_service(name)(*args, **kwargs)
        except Exception as exc:
            self.logs.operator.printf(f"***Hub service {name} failed: {exc}\n")

    def _worker_gone(self, worker: Worker) -> None:
        with self._lock:
            if not worker.alive:
                return
            worker.alive = False
            lost = len(worker.open)
            self.open -= lost
            worker.open.clear()
        worker.link.close()
        try:
            rc = worker.proc.wait(5)
        except subprocess.TimeoutExpired:
            worker.proc.kill()
            rc = worker.proc.wait()
        if self._stopping.is_set():
            return
        how = f"signal {-rc}" if rc < 0 else f"exit code {rc}"
        self.logs.operator.printf(f"***Worker {worker.index} (pid {worker.proc.pid}) ended with {how}; "
                                  f"{lost} association(s) lost; starting a new one\n")
        stale = clean_stale(d.root for d in devices(self.settings, "MAG") if d.root not in ("", "NULL"))
        if stale:
            self.logs.operator.printf(f"Removed {len(stale)} unfinished temporary file(s) of worker {worker.index}\n")
        if time.monotonic() - worker.started < RESTART_BACKOFF:
            time.sleep(RESTART_BACKOFF)
        if not self._stopping.is_set():
            self._spawn(worker.index)

    def _check_workers(self) -> None:
        for worker in self.workers:
            if worker is not None and worker.alive and worker.proc.poll() is not None:
                worker.link.close()          # the reader thread notices and restarts it

    # -- services ----------------------------------------------------------------------
    def _server_command(self, text: str, upload: bytes | None, peer: str, calling: str) -> bytes | None:
        try:
            return self.command_handler(text, upload, peer, calling, self)
        except Exception as exc:  # a failing command must not take the server down
            self.logs.operator.printf(f"***server command {printable(text.split(':', 1)[0][:40])}: failed: "
                                      f"{printable(str(exc))}\n")
            return None
        finally:
            self.sync()

    def sync(self) -> None:
        """Broadcast what server commands changed to the workers (logs, amap, settings)."""
        if self.n_workers == 0:
            return
        current = state.snapshot(self.config, self.logs, self.debug_level, self.ingest.test_mode)
        if current == self._last_state:
            return
        self._last_state = current
        for worker in list(self.workers):
            if worker is not None and worker.alive:
                try:
                    worker.link.send(("state", current))
                except OSError:
                    pass
