"""Running the web server: inside the DICOM server process (:func:`start_web`, uvicorn in
its own thread and event loop) or on its own (:func:`run_web`, ``python3 -m dgate.web``).

uvicorn gives HTTP/1.1 keep-alive and streaming; database and file work runs in worker
threads (Starlette's thread pool), so neither the event loop nor the DICOM server waits.
"""
from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass

import uvicorn

from ..config import Configuration
from ..log import Logs
from .app import build_app
from .context import WebContext
from .settings import WebSettings


@dataclass
class WebHandle:
    """A running web server; :meth:`stop` ends it."""

    server: uvicorn.Server
    thread: threading.Thread
    ctx: WebContext
    port: int

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
        self.ctx.close()

    @property
    def running(self) -> bool:
        return self.thread.is_alive() and self.server.started


MAX_HEAD = 64 * 1024
"""Largest request line + headers accepted (httptools itself has no limit: a client could
fill the memory with one endless header); more gets 431 and the connection is closed."""


def _http_protocol():
    """uvicorn's httptools protocol with :data:`MAX_HEAD` enforced, else h11 (16 kB limit)."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return "h11"

    class BoundedHead(HttpToolsProtocol):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._in_head, self._head_bytes, self._tail = True, 0, b""

        def data_received(self, data: bytes) -> None:
            if self._in_head:
                self._head_bytes += len(data)
                window, self._tail = self._tail + data, data[-3:]
                if self._head_bytes > MAX_HEAD and b"\r\n\r\n" not in window:
                    text = b"request line and headers longer than %d bytes\n" % MAX_HEAD
                    self.transport.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                                         b"content-type: text/plain\r\nconnection: close\r\n"
                                         b"content-length: %d\r\n\r\n%s" % (len(text), text))
                    self.transport.close()
                    self._in_head = False
                    return
            super().data_received(data)

        def on_headers_complete(self) -> None:
            self._in_head = False
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._in_head, self._head_bytes, self._tail = True, 0, b""

    return BoundedHead


def _uvicorn(ctx: WebContext, port: int, address: str) -> uvicorn.Server:
    app = build_app(ctx)
    cfg = uvicorn.Config(app, host=address, port=port, log_level="warning", access_log=False, http=_http_protocol(),
                         timeout_keep_alive=30, lifespan="off", server_header=False,
                         timeout_graceful_shutdown=5)
    return uvicorn.Server(cfg)


def bind(address: str, port: int) -> socket.socket:
    """The listening HTTP socket: SO_REUSEADDR (a restart does not wait for TIME_WAIT),
    TCP_NODELAY inherited by accepted connections; raises OSError when the port is taken."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((address, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (what ``uvicorn.run`` picks for the standalone server), else
    asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def make_context(config: Configuration, logs: Logs, own_ae: str = "", dicom_port: int = 0,
                 status: object | None = None, ingest: object | None = None) -> WebContext:
    ctx = WebContext(config, logs, WebSettings.from_config(config), own_ae=own_ae, dicom_port=dicom_port,
                     started_at=time.time(), status=status)
    if ingest is not None:
        ctx.use_ingest(ingest)
    return ctx


def start_web(config: Configuration, logs: Logs, own_ae: str = "", dicom_port: int = 0,
              port: int | None = None, address: str | None = None, status: object | None = None,
              ingest: object | None = None, timeout: float = 15.0) -> WebHandle | None:
    """Start the web server in a thread; None when ``WebPort`` is 0.

    ``own_ae``/``dicom_port``: the DICOM server's AE title and port (for moves and status);
    ``status``: an object whose ``queues()`` lists the hub's queues; ``ingest``: the
    server's :class:`~dgate.store.ingest.Ingest` (STOW then uses the same pipeline object).
    Raises OSError when the port cannot be bound.
    """
    ctx = make_context(config, logs, own_ae, dicom_port, status, ingest)
    port = ctx.web.port if port is None else port
    if not port:
        return None
    ctx.web.port = port
    address = address or ctx.web.address
    try:
        sock = bind(address, port)
    except OSError as exc:
        ctx.close()
        raise OSError(f"the web server cannot listen on {address}:{port}: {exc.strerror or exc}") from exc
    server = _uvicorn(ctx, port, address)
    failure: list[BaseException] = []

    def run() -> None:
        loop = _new_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.serve(sockets=[sock]))
        except BaseException as exc:     # SystemExit from a failed bind, among others
            failure.append(exc)
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="dgate-web", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    if not server.started:
        server.should_exit = True
        thread.join(2)
        sock.close()
        ctx.close()
        raise OSError(f"the web server could not start on {address}:{port}"
                      + (f" ({failure[0]!r})" if failure else ""))
    logs.operator.printf(f"Web server listening on {address}:{port}\n")
    return WebHandle(server, thread, ctx, port)


def run_web(config: Configuration, logs: Logs, port: int | None = None, address: str | None = None) -> int:
    """Serve until interrupted (the standalone command)."""
    ctx = make_context(config, logs)
    port = ctx.web.port if port is None else port
    ctx.web.port = port
    server = _uvicorn(ctx, port, address or ctx.web.address)
    server.run()
    ctx.close()
    return 0 if server.started else 1
