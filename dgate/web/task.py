"""The web server as a hub task (``web-server``): started with the DICOM server when
``WebPort`` is not 0 (default 8086, bind address ``WebAddress``), stopped with it.

It runs in the hub process (uvicorn in its own thread and event loop, database and file
work in worker threads), shares the hub's :class:`~dgate.store.ingest.Ingest`, so STOW-RS
goes through the same pipeline as C-STORE, and knows the server's AE title and port
(moves, status). A port that cannot be bound is reported (``***``) and the DICOM side
runs on. The original serves HTTP with Ladle on 8086 only after a ``luastart:``
(conquest-lua-web.md §10.5); here it is part of the server.

uvicorn and Starlette are imported only in the hub when the task starts: every worker
imports this module (:mod:`dgate.hub.plugins`) but never pays for the web stack.
"""
from __future__ import annotations

from typing import Any

from ..runtime import TaskContext, register_task


class WebTask:
    """Task protocol around :func:`dgate.web.server.start_web`."""

    def __init__(self, ctx: TaskContext, port: int):
        self.ctx = ctx
        self.port = port
        self.handle: Any = None

    def start(self) -> None:
        from .server import start_web
        hub = self.ctx.hub
        self.handle = start_web(self.ctx.config, self.ctx.logs, own_ae=self.ctx.own_ae, dicom_port=self.ctx.port,
                                port=self.port, status=hub, ingest=getattr(hub, "ingest", None))

    def stop(self) -> None:
        handle, self.handle = self.handle, None
        if handle is not None:
            handle.stop()
            self.ctx.logs.operator.printf("Web server stopped\n")


def _web_task(ctx: TaskContext) -> WebTask | None:
    port = ctx.config.settings.int("WebPort")
    if port <= 0:
        return None
    return WebTask(ctx, port)


register_task("web-server", _web_task)
