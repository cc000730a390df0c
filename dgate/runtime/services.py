"""Hub services and hub background tasks.

A *service* is a function that must run in the hub process because it owns process-wide
state (server commands, the mirror and export queues, the Lua global state, ...).
Code anywhere calls it by name:

    result = call("server_command", text, ...)    # waits for the result
    post("mirror.copy", path, relative, device)   # fire and forget

In the hub (and in single-process servers and command-line tools) this runs the
registered function directly. In a worker process the worker installs a transport
(:func:`set_transport`) and the call is sent to the hub; arguments and results must be
picklable, and an exception raised by the service is raised again in the caller as
:class:`ServiceError` (or the original type when it can be pickled).

A *task* is a background job of the hub (incoming-folder watcher, mirror queue, export
queues, HTTP server, ...): ``register_task(name, factory)``; the hub calls
``factory(ctx)`` once at start and ``start()``/``stop()`` on the object it returns.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Protocol


class ServiceError(Exception):
    """A hub service failed, or the hub could not be reached."""


class HubGone(ServiceError):
    """The hub stopped (``quit:``, a crash) while or before it was called."""


class Transport(Protocol):
    def call(self, name: str, args: tuple, kwargs: dict) -> Any: ...

    def post(self, name: str, args: tuple, kwargs: dict) -> None: ...


_services: dict[str, Callable[..., Any]] = {}
_transport: Transport | None = None
_role = "tool"
_lock = threading.Lock()


def register_service(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """Make ``fn`` callable by name from every process (runs in the hub)."""
    with _lock:
        _services[name] = fn
    return fn


def service(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator form of :func:`register_service`."""
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        return register_service(name, fn)
    return register


def local_service(name: str) -> Callable[..., Any]:
    """The registered function (hub side); raises ServiceError when unknown."""
    fn = _services.get(name)
    if fn is None:
        raise ServiceError(f"no hub service named {name!r}")
    return fn


def call(name: str, *args: Any, **kwargs: Any) -> Any:
    """Run service ``name`` in the hub and return its result."""
    transport = _transport
    if transport is not None:
        return transport.call(name, args, kwargs)
    return local_service(name)(*args, **kwargs)


def post(name: str, *args: Any, **kwargs: Any) -> None:
    """Run service ``name`` in the hub without waiting (errors are logged there)."""
    transport = _transport
    if transport is not None:
        transport.post(name, args, kwargs)
        return
    local_service(name)(*args, **kwargs)


def set_transport(transport: Transport | None, role: str = "worker") -> None:
    """Workers: send calls through ``transport`` (None: run them here)."""
    global _transport, _role
    _transport = transport
    _role = role if transport is not None else _role


def set_role(role: str) -> None:
    """``hub``, ``single``, ``worker`` or ``tool`` (command-line utilities)."""
    global _role
    _role = role


def role() -> str:
    return _role


# -- background tasks ------------------------------------------------------------------
class Task(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


class IdleTask:
    """A task with nothing to run: for a plug-in that only needs the hub's start-up call
    (``factory(ctx)``) to set itself up."""

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


@dataclass
class TaskContext:
    """What a hub task gets: the configuration, the logs and the server identity."""

    config: Any
    logs: Any
    own_ae: str
    port: int
    hub: Any = None          # the hub object (association counts, broadcast), when running


TaskFactory = Callable[[TaskContext], "Task | None"]
_tasks: dict[str, TaskFactory] = {}


def register_task(name: str, factory: TaskFactory) -> TaskFactory:
    """Run ``factory(ctx)`` in the hub at start; a None result means "not needed here"."""
    with _lock:
        _tasks[name] = factory
    return factory


def tasks() -> list[tuple[str, TaskFactory]]:
    with _lock:
        return list(_tasks.items())
