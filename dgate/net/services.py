"""The service table: which handler answers which DIMSE request (PS3.7 §9–§10).

``SERVICES.register(command_field, handler, sop_classes=None)`` plugs a service in;
``handler(session: AssociationInfo, msg: Message) -> None`` must answer the request
(``session.respond(msg, status, dataset, extra)``). A handler registered for given SOP
classes wins over one registered for all (``None``). Requests without a handler get a
failure response (0x0211 *unrecognized operation*) and the CLIENT_ERROR hooks run.

Registered by default: C-ECHO (with the server-command channel), C-STORE, C-FIND,
C-MOVE, C-GET; C-CANCEL outside an operation is ignored. The N-services (N-CREATE,
N-SET, N-GET, N-ACTION, N-DELETE, N-EVENT-REPORT: field constants in :mod:`.dimse`)
are for later capabilities (print, storage commitment, MPPS); a handler can send a
request of its own on the same association with ``session.assoc.send_message`` and
``session.assoc.wait_response`` (e.g. N-EVENT-REPORT of storage commitment).
"""
from __future__ import annotations

import threading
from typing import Callable, Iterable

from .association import Message
from .dimse import C_CANCEL_RQ, C_ECHO_RQ, C_FIND_RQ, C_GET_RQ, C_MOVE_RQ, C_STORE_RQ
from .session import AssociationInfo

Handler = Callable[[AssociationInfo, Message], None]
UNRECOGNIZED_OPERATION = 0x0211


class ServiceTable:
    def __init__(self) -> None:
        self._by_class: dict[tuple[int, str], Handler] = {}
        self._any: dict[int, Handler] = {}
        self._lock = threading.Lock()

    def register(self, command_field: int, handler: Handler, sop_classes: Iterable[str] | None = None) -> Handler:
        with self._lock:
            if sop_classes is None:
                self._any[command_field] = handler
            else:
                for uid in sop_classes:
                    self._by_class[(command_field, uid)] = handler
        return handler

    def lookup(self, command_field: int, sop_class: str) -> Handler | None:
        return self._by_class.get((command_field, sop_class)) or self._any.get(command_field)


def _ignore(session: AssociationInfo, msg: Message) -> None:
    """C-CANCEL for an operation that is already over: nothing to answer (PS3.7 §9.3.2.3)."""


def _defaults(table: ServiceTable) -> None:
    from . import query, retrieve, storage, verification
    table.register(C_ECHO_RQ, verification.echo)
    table.register(C_STORE_RQ, storage.store)
    table.register(C_FIND_RQ, query.find)
    table.register(C_MOVE_RQ, retrieve.move)
    table.register(C_GET_RQ, retrieve.get)
    table.register(C_CANCEL_RQ, _ignore)


SERVICES = ServiceTable()
_defaults(SERVICES)
