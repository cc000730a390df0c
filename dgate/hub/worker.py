"""A worker process: serves the associations the hub hands it (``python -m dgate.hub.worker``).

It reads its configuration from the server folder itself, attaches the shared segment
(counters, UID counter), loads the plug-ins, and then waits on its link to the hub:

* ``("conn", peer, number)`` with a socket: serve it in a new thread, then report
  ``("closed", number)``;
* ``("state", snapshot)``: apply what a server command changed (:mod:`.state`);
* ``("stop",)``: finish the open associations (at most a few seconds) and exit;
* replies to its hub calls (:class:`HubClient`).

When the hub disappears (its end of the link closes) the worker exits too.
"""
from __future__ import annotations

import itertools
import json
import os
import socket
import sys
import threading
import time
from typing import Any

from .. import runtime, uids
from ..runtime import HubGone, ServiceError
from ..runtime.shm import SharedSegment
from ..store import filenames
from .wire import Link

GRACE = 3.0
_GONE = "the hub stopped"


class HubClient:
    """Sends hub calls from any thread of the worker and routes the replies."""

    def __init__(self, link: Link):
        self.link = link
        self._ids = itertools.count(1)
        self._waiting: dict[int, list] = {}
        self._lock = threading.Lock()
        self.gone = False

    def call(self, name: str, args: tuple, kwargs: dict) -> Any:
        call_id = next(self._ids)
        slot: list = [threading.Event(), None]
        with self._lock:
            if self.gone:
                raise HubGone("the hub is not running")
            self._waiting[call_id] = slot
        try:
            self.link.send(("call", call_id, name, args, kwargs))
        except OSError as exc:
            with self._lock:
                self._waiting.pop(call_id, None)
            raise HubGone(f"the hub cannot be reached: {exc}") from exc
        slot[0].wait()
        ok, value = slot[1]
        if not ok:
            raise HubGone(value) if value is _GONE else ServiceError(value)
        return value

    def post(self, name: str, args: tuple, kwargs: dict) -> None:
        try:
            self.link.send(("post", name, args, kwargs))
        except OSError:
            pass

    def deliver(self, call_id: int, ok: bool, value: Any) -> None:
        with self._lock:
            slot = self._waiting.pop(call_id, None)
        if slot is not None:
            slot[1] = (ok, value)
            slot[0].set()

    def fail_all(self) -> None:
        with self._lock:
            self.gone = True
            waiting, self._waiting = self._waiting, {}
        for slot in waiting.values():
            slot[1] = (False, _GONE)
            slot[0].set()


def main(argv: list[str]) -> int:
    args = json.loads(argv[0])
    from ..config import Configuration
    from ..config.cached import use_cached_settings
    from ..log import logs
    from . import plugins, state

    config = Configuration.open(args["base"], args["ini"])
    use_cached_settings(config)
    logs.set_pacs_name(config.settings.str("PACSName"))
    logs.open_files(config.settings.path("TroubleLog"), config.settings.path("UserLog"))
    state.apply_logs(logs, args["state"]["logs"])
    segment = SharedSegment(args["shm_fd"])
    runtime.counters.attach(segment, args["row"])
    uids.attach(segment)
    filenames.attach(segment)
    link = Link(socket.socket(fileno=args["link_fd"]))
    client = HubClient(link)
    runtime.set_transport(client, "worker")
    plugins.load(logs)

    from ..net.server import DicomServer
    server = DicomServer(config, logs, args["ae"], args["port"])
    state.apply(args["state"], config, logs, server)
    active: set[threading.Thread] = set()
    active_lock = threading.Lock()

    def serve(sock: socket.socket, peer: tuple[str, int], number: int) -> None:
        try:
            server.serve(sock, peer, number)
        finally:
            try:
                link.send(("closed", number))
            except OSError:
                pass
            with active_lock:
                active.discard(threading.current_thread())

    link.send(("ready",))
    stopping = False
    while True:
        try:
            message, fds = link.recv()
        except (EOFError, OSError):
            break
        kind = message[0]
        if kind == "reply":
            client.deliver(message[1], message[2], message[3])
        elif kind == "conn":
            if not fds:
                continue
            sock = socket.socket(fileno=fds[0])
            for extra in fds[1:]:
                os.close(extra)
            thread = threading.Thread(target=serve, args=(sock, tuple(message[1]), message[2]), daemon=True,
                                      name=f"association-{message[2]}")
            with active_lock:
                active.add(thread)
            thread.start()
        elif kind == "state":
            state.apply(message[1], config, logs, server)
        elif kind == "stop":
            stopping = True
            break
    client.fail_all()
    deadline = time.monotonic() + (GRACE if stopping else GRACE)
    while time.monotonic() < deadline:
        with active_lock:
            if not active:
                break
        time.sleep(0.05)
    server.pool.close_all()
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
