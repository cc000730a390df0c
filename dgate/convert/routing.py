"""The process-wide routing services of one server: forwarder, export queues, delayed
operations, converters — created together, started and stopped together.

In the hub/worker model the hub owns one :class:`Routing` (``start()`` at server start,
``stop()`` at shutdown); workers call ``enqueue_export``/``enqueue_delayed`` through a
hub service. :func:`for_config` gives the process's instance for a configuration (used
by server commands and by single-process mode).

A Routing also registers itself with the codec as the runner of compression codes
``s0``…``s9`` (``CompressionConverterN``, :func:`dgate.codec.set_compression_converter`);
the most recently made Routing of the process is the one the codec calls.
"""
from __future__ import annotations

import threading
from typing import Any

from .context import ConvertContext, Services
from .delayed import DelayedQueue
from .forward import Forwarder
from .keys import Converters
from .queues import ExportQueues, StoredObject


class RoutingBase:
    """What the hub's :class:`Routing` and a worker's routing share: converter contexts wired
    to their services, and CompressionConverterN for compression code ``s<n>``. Subclasses set
    ``config``, ``logs``, ``port``, ``own_ae``, ``converters``, ``services`` and
    ``_compression_lua``."""

    config: Any
    logs: Any
    port: int
    own_ae: str
    converters: Converters
    services: Services
    _compression_lua: Any

    def compression_converter(self, ds, n: int):
        """Compression code ``s<n>``: CompressionConverterN on ``ds`` (changed in place; its
        rc is not used, as in 1.5.0e). ``[lua]`` versions share one Lua state."""
        ctx = self.context(family="Compression", number=n, lua_state=self._compression_lua)
        try:
            self.converters.run_compression(n, ds, ctx)
        finally:
            self._compression_lua = ctx.lua_state
            ctx.close()
        return None

    def context(self, **fields) -> ConvertContext:
        """A converter context wired to these services."""
        fields.setdefault("own_ae", self.own_ae)
        fields.setdefault("port", self.port)
        return ConvertContext(self.config, self.logs, services=self.services, **fields)


class Routing(RoutingBase):
    def __init__(self, config, logs, port: int | None = None, own_ae: str = ""):
        self.config = config
        self.logs = logs
        self.port = port if port is not None else config.settings.int("TCPPort")
        self.own_ae = own_ae or config.settings.str("MyACRNema")
        self.converters = Converters(config, logs)
        self.forwarder = Forwarder(config, logs)
        self.services = Services(forwarder=self.forwarder)
        self.delayed = DelayedQueue(config, logs, forwarder=self.forwarder, port=self.port, own_ae=self.own_ae,
                                    services=self.services)
        self.services.delayed = self.delayed
        self.exports = ExportQueues(config, logs, services=self.services, port=self.port, own_ae=self.own_ae)
        self.started = False
        self._compression_lua = None
        from ..codec import set_compression_converter
        set_compression_converter(self.compression_converter)

    def enqueue_export(self, stored: StoredObject | dict) -> int:
        return self.exports.enqueue(stored)

    def enqueue_delayed(self, op) -> bool:
        return self.delayed.enqueue(op)

    def start(self) -> None:
        if not self.started:
            self.forwarder.start()
            self.exports.start()
            self.delayed.start()
            self.started = True

    def stop(self) -> None:
        if self.started:
            self.exports.stop()
            self.delayed.stop()
            self.forwarder.stop()
            self.started = False

    def status(self) -> list[str]:
        lines = self.exports.status() + self.delayed.status()
        lines.append(f"Forward associations open: {self.forwarder.open_links()}\n")
        return lines


_instances: dict[tuple[str, int], Routing] = {}
_lock = threading.Lock()


def for_config(config, logs, port: int | None = None, own_ae: str = "", start: bool = False) -> Routing:
    """The process's Routing for this configuration folder and port."""
    key = (str(config.base_dir), port if port is not None else config.settings.int("TCPPort"))
    with _lock:
        routing = _instances.get(key)
        if routing is None:
            routing = _instances[key] = Routing(config, logs, port, own_ae)
    if start:
        routing.start()
    return routing


def existing() -> list[Routing]:
    with _lock:
        return list(_instances.values())
