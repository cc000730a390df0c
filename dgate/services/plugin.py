"""The DIMSE-N services on the server port: print, storage commitment, MPPS (PS3.4 F, H, J).

Plug-in module (listed in :mod:`dgate.hub.plugins`): registers one handler in the service
table (:data:`dgate.net.services.SERVICES`) for every (command field, SOP class) of
:data:`dgate.services.table.SERVICE_TABLE`. The handler turns the message into an
:class:`~dgate.services.nmessages.NRequest` (Affected SOP Class/Instance for N-CREATE and
N-EVENT-REPORT, Requested for the others; Action/Event Type ID; the N-GET Attribute
Identifier List; the presentation context's abstract syntax), hands it to the
association's :class:`~dgate.services.table.AssociationServices` (made at the first
N-request, kept in ``session.extra``) and answers with the command field | 0x8000, the
status, the Error Comment when set, the Affected SOP Class/Instance (the new UID of an
N-CREATE that did not give one), the echoed type ID and the response data set.

A request arrives on a context of its own SOP class, or, for the print classes, on a
context of the meta SOP class it belongs to (``print_scp.META_MEMBERS``); any other
context gets 0x0122 (SOP class not supported).

Storage commitment (N-ACTION, type 1): after the response, each N-EVENT-REPORT the
service returns is sent on the same association, unless the requester releases it within
:data:`REPORT_GRACE` seconds (or releases or aborts before it answered): then the report
goes on a new association to the requester's AE from
acrnema.map, on which we propose the SOP class with SCP role selection
(:func:`dgate.services.commitment_scu.send_event_report`, in a background thread, 3 tries).
An incoming N-EVENT-REPORT (results of a commitment we asked for) goes to the hub, where
:func:`dgate.services.commitment_scu.request_commitment` waits for it.

:data:`dgate.net.hooks.PRINTSERVER` is the seam for ``[lua] printserver``: ``PRINTSERVER.set(fn)``
with ``fn(session) -> hook | None`` and ``hook(event_or_file_name, dataset, request) -> bool |
None`` (False: not handled, the built-in logging/saving runs).
"""
from __future__ import annotations

import struct
import threading
import time

from pydicom.dataset import Dataset

from ..db import open_database
from ..log import printable
from ..net.association import Aborted, Closed, Message, ProtocolError
from ..net.dimse import (
    ACTION_TYPE,
    AFFECTED_SOP_CLASS,
    AFFECTED_SOP_INSTANCE,
    ATTRIBUTE_LIST,
    ERROR_COMMENT,
    EVENT_TYPE,
    N_ACTION_RQ,
    N_EVENT_REPORT_RQ,
    REQUESTED_SOP_CLASS,
    REQUESTED_SOP_INSTANCE,
    request_fields,
)
from ..net.hooks import PRINTSERVER
from ..net.services import SERVICES
from ..net.session import AssociationInfo, encode_dataset
from ..runtime import counters
from ..store.formats import BadObject
from . import print_scp
from .nmessages import N_CREATE, N_EVENT_REPORT, N_GET, EventReport, NRequest, NResponse
from .table import SERVICE_TABLE, AssociationServices

SOP_CLASS_NOT_SUPPORTED = 0x0122
PROCESSING_FAILURE = 0x0110
REPORT_TRIES = 3
REPORT_GRACE = 0.5          # seconds a requester has to release before its report is sent on the association
REPORT_RETRY_SECONDS = 2.0


def services_of(session: AssociationInfo) -> AssociationServices:
    """The association's DIMSE-N services (made on first use)."""
    found = session.extra.get("nservices")
    if found is None:
        server = session.server
        config, logs, own_ae = server.config, server.logs, server.ae_title
        found = AssociationServices(config, lambda: open_database(config, logs, own_ae=own_ae), logs, own_ae,
                                    printserver=PRINTSERVER(session))
        session.extra["nservices"] = found
    return found


def _tags(raw: bytes | None) -> list[int]:
    """An AT value list (the N-GET Attribute Identifier List)."""
    if not raw:
        return []
    return [(g << 16) | e for g, e in struct.iter_unpack("<HH", raw[:len(raw) // 4 * 4])]


def to_request(session: AssociationInfo, msg: Message, dataset: Dataset | None) -> NRequest:
    command = msg.command
    field = command.field
    if field in (N_CREATE, N_EVENT_REPORT):
        sop_class, instance = command.uid(AFFECTED_SOP_CLASS), command.uid(AFFECTED_SOP_INSTANCE)
    else:
        sop_class, instance = command.uid(REQUESTED_SOP_CLASS), command.uid(REQUESTED_SOP_INSTANCE)
    type_id = command.us(ACTION_TYPE) if field == N_ACTION_RQ else command.us(EVENT_TYPE)
    return NRequest(field, sop_class, instance, dataset, type_id,
                    _tags(command.raw(ATTRIBUTE_LIST)) if field == N_GET else [], command.message_id,
                    session.calling.strip(), session.called.strip(), msg.abstract_syntax)


def context_allows(abstract_syntax: str, sop_class: str) -> bool:
    return abstract_syntax == sop_class or sop_class in print_scp.META_MEMBERS.get(abstract_syntax, ())


def response_extra(request: NRequest, response: NResponse) -> dict[int, object]:
    extra: dict[int, object] = {}
    if response.sop_class:
        extra[AFFECTED_SOP_CLASS] = response.sop_class
    if response.sop_instance:
        extra[AFFECTED_SOP_INSTANCE] = response.sop_instance
    if request.command == N_ACTION_RQ:
        extra[ACTION_TYPE] = response.type_id or request.type_id
    elif request.command == N_EVENT_REPORT_RQ:
        extra[EVENT_TYPE] = response.type_id or request.type_id
    if response.error_comment:
        extra[ERROR_COMMENT] = response.error_comment
    return extra


def handle(session: AssociationInfo, msg: Message) -> None:
    """Service-table handler of every N-request of :data:`SERVICE_TABLE`."""
    session.announce(msg)
    counters.add("nservices")
    logs = session.logs
    command = msg.command
    if not context_allows(msg.abstract_syntax, command.sop_class):
        logs.operator.printf(f"***{command.name} for {printable(command.sop_class)} on a presentation context "
                             f"of {printable(msg.abstract_syntax)} refused\n")
        session.respond(msg, SOP_CLASS_NOT_SUPPORTED)
        return
    try:
        dataset = session.identifier(msg) if msg.data is not None else None
    except BadObject as exc:
        logs.operator.printf(f"***{command.name} from {session.who()}: cannot decode the data set: "
                             f"{printable(str(exc))}\n")
        session.respond(msg, PROCESSING_FAILURE, extra={ERROR_COMMENT: "data set cannot be decoded"})
        return
    request = to_request(session, msg, dataset)
    response = services_of(session).handle(request)
    session.respond(msg, response.status, response.dataset, response_extra(request, response))
    if response.ok:
        for event in response.events:
            deliver_report(session, msg, event)


# -- storage commitment reports ---------------------------------------------------------
def deliver_report(session: AssociationInfo, msg: Message, event: EventReport) -> None:
    """Send ``event`` on this association; when the requester is gone, on a new one."""
    assoc = session.assoc
    logs = session.logs
    if assoc.release_requested(REPORT_GRACE):   # the requester did not wait (its release is answered next)
        logs.operator.printf(f"Storage commitment report to {printable(event.destination_ae)}: association "
                             "released; sending it on a new association\n")
        report_later(session, event)
        return
    message_id = assoc.message_id()
    fields = request_fields(N_EVENT_REPORT_RQ, message_id, event.sop_class, True, {EVENT_TYPE: event.event_type},
                            event.sop_instance)
    try:
        assoc.send_message(msg.context_id, fields, encode_dataset(event.dataset, msg.transfer_syntax))
        reply = assoc.wait_response(message_id, timeout=session.server.network_timeout())
    except (Aborted, Closed, ProtocolError, TimeoutError):
        logs.operator.printf(f"Storage commitment report to {printable(event.destination_ae)}: association "
                             f"{'released' if assoc.released else 'ended'} first; sending it on a new association\n")
        report_later(session, event)
        if assoc.released:
            return
        raise
    status = reply.command.status
    if status != 0x0000:
        logs.operator.printf(f"***Storage commitment report to {printable(event.destination_ae)} answered "
                             f"0x{status:04x}\n")
    else:
        logs.debug.printf(f"Storage commitment report sent to {printable(event.destination_ae)}\n")


def report_later(session: AssociationInfo, event: EventReport) -> threading.Thread:
    """Send ``event`` to its destination AE on a new association, in the background."""
    server = session.server
    thread = threading.Thread(target=send_report, args=(server.config, server.logs, server.ae_title, event),
                              daemon=True, name="commitment-report")
    thread.start()
    return thread


def send_report(config, logs, own_ae: str, event: EventReport, tries: int = REPORT_TRIES) -> bool:
    """The report on a new association (SCP role); True when the requester took it."""
    from .commitment_scu import CommitmentFailed, send_event_report
    destination = event.destination_ae
    address = config.amap.lookup(destination)
    if address is None:
        logs.operator.printf(f"***Storage commitment report not sent: {printable(destination)} is not in "
                             "acrnema.map\n")
        return False
    why = ""
    for attempt in range(tries):
        if attempt:
            time.sleep(REPORT_RETRY_SECONDS)
        try:
            status = send_event_report(own_ae, address, event)
        except (CommitmentFailed, OSError, RuntimeError, ValueError) as exc:
            why = str(exc)
            continue
        if status == 0x0000:
            logs.operator.printf(f"Storage commitment report sent to {printable(destination)} on a new "
                                 "association\n")
            return True
        why = f"answered 0x{status:04x}"
    logs.operator.printf(f"***Storage commitment report to {printable(destination)} not delivered: "
                         f"{printable(why)}\n")
    return False


def register() -> None:
    for command_field, sop_class in SERVICE_TABLE:
        SERVICES.register(command_field, handle, [sop_class])


register()
