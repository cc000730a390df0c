"""Storage commitment SCU: ask another archive to commit to instances we sent it
(PS3.4 J; e.g. after forwarding), and send our own N-EVENT-REPORTs on a new association.

:func:`request_commitment` sends the N-ACTION and waits for the N-EVENT-REPORT on the same
association and, at the same time, for one the archive sends to our own server on a new
association: the server hands those to the hub (:data:`dgate.services.commitment.results`),
where this waits for them from whichever process it runs in (hub, worker; a stand-alone
process only sees reports on the same association). Used by the server command
``requestcommitment:`` (:mod:`dgate.commands.commitment_cmds`), which Lua scripts reach with
``servercommand``.
"""
from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Iterable

from pydicom.dataset import Dataset
from pynetdicom import AE, build_context, build_role, evt

from ..config.acrnema import Address
from ..uids import gen_uid
from . import commitment
from .nmessages import N_EVENT_REPORT, EventReport, NRequest

STORAGE_COMMITMENT = commitment.STORAGE_COMMITMENT
COMMITMENT_INSTANCE = commitment.COMMITMENT_INSTANCE
POLL = 0.2          # seconds between looks at the two ways a report can come


class CommitmentFailed(Exception):
    """No commitment answer: association refused, N-ACTION failed, or no report in time."""


@dataclass
class CommitmentOutcome:
    transaction: str
    committed: list[str] = field(default_factory=list)
    failed: dict[str, int] = field(default_factory=dict)      # SOP instance UID → Failure Reason

    @property
    def ok(self) -> bool:
        return not self.failed


def _nodelay(event) -> None:
    raw = getattr(getattr(event.assoc.dul, "socket", None), "socket", None)
    if raw is not None:
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass


def _outcome(transaction: str, ds: Dataset) -> CommitmentOutcome:
    out = CommitmentOutcome(transaction)
    for item in ds.get("ReferencedSOPSequence") or []:
        out.committed.append(str(item.ReferencedSOPInstanceUID))
    for item in ds.get("FailedSOPSequence") or []:
        out.failed[str(item.ReferencedSOPInstanceUID)] = int(item.get("FailureReason", 0x0110))
    return out


def request_commitment(own_ae: str, address: Address, references: Iterable[tuple[str, str]],
                       timeout: float = 60.0, uid_prefix: str = "1.2.826.0.1.3680043.2.135.1066",
                       same_association_wait: float | None = None) -> CommitmentOutcome:
    """Ask ``address`` to commit to (SOP class, SOP instance) ``references``."""
    refs = list(references)
    transaction = gen_uid(uid_prefix)
    action = commitment.action_dataset(transaction, refs)
    got: dict[str, Dataset] = {}
    arrived = threading.Event()

    def on_report(event):
        ds = event.event_information
        if str(ds.get("TransactionUID", "")) == transaction:
            got["report"] = ds
            arrived.set()
        return 0x0000, None

    ae = AE(ae_title=own_ae[:16])
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    assoc = ae.associate(address.host, address.port, contexts=[build_context(STORAGE_COMMITMENT)],
                         ae_title=address.ae[:16],
                         evt_handlers=[(evt.EVT_CONN_OPEN, _nodelay), (evt.EVT_N_EVENT_REPORT, on_report)])
    if not assoc.is_established:
        raise CommitmentFailed(f"could not associate with {address.ae} at {address.host}:{address.port}")
    start = time.monotonic()
    deadline = start + timeout
    same_deadline = start + min(same_association_wait if same_association_wait is not None else timeout, timeout)
    later = None
    try:
        status, _ = assoc.send_n_action(action, 1, STORAGE_COMMITMENT, COMMITMENT_INSTANCE)
        code = getattr(status, "Status", None)
        if code != 0x0000:
            raise CommitmentFailed(f"N-ACTION answered {'nothing' if code is None else f'0x{code:04X}'}")
        # the report comes on this association or on a new one to our server: watch both
        while later is None and time.monotonic() < same_deadline and assoc.is_established:
            if arrived.wait(min(POLL, max(0.0, same_deadline - time.monotonic()))):
                break
            later = commitment.results.wait(transaction, 0.0 if arrived.is_set() else POLL)
    finally:
        if assoc.is_established:
            assoc.release()
    if "report" in got:
        return _outcome(transaction, got["report"])
    if later is None:
        later = commitment.results.wait(transaction, max(0.0, deadline - time.monotonic()))
    if later is None:
        raise CommitmentFailed(f"no storage commitment report for {transaction} within {timeout:.0f} s")
    return _outcome(transaction, later[1])


def send_event_report(own_ae: str, address: Address, report: EventReport, timeout: float = 30.0) -> int:
    """Send a commitment N-EVENT-REPORT on a new association (we take the SCP role); the status."""
    ae = AE(ae_title=own_ae[:16])
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    assoc = ae.associate(address.host, address.port, contexts=[build_context(report.sop_class)],
                         ae_title=address.ae[:16], ext_neg=[build_role(report.sop_class, scp_role=True)],
                         evt_handlers=[(evt.EVT_CONN_OPEN, _nodelay)])
    if not assoc.is_established:
        raise CommitmentFailed(f"could not associate with {address.ae} at {address.host}:{address.port}")
    try:
        status, _ = assoc.send_n_event_report(report.dataset, report.event_type, report.sop_class,
                                              report.sop_instance)
        return int(getattr(status, "Status", 0xFFFF))
    finally:
        if assoc.is_established:
            assoc.release()


def receive_request(event) -> NRequest:
    """An incoming pynetdicom N-EVENT-REPORT event as an :class:`NRequest` (for adapters)."""
    req = event.request
    return NRequest(N_EVENT_REPORT, str(req.AffectedSOPClassUID), str(req.AffectedSOPInstanceUID),
                    event.event_information, int(req.EventTypeID), calling_ae=event.assoc.requestor.ae_title)
