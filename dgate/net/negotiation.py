"""What the server accepts on an association, from dgatesop.lst (conquest-storage.md §5.2,
conquest-protocol.md §4.4), and the negotiation helpers of the pynetdicom SCU side.

Acceptor rules (``CheckedPDU_Service``):

* ``application`` lines limit the application context (reject reason 2), ``RemoteAE``
  lines the calling AE (reason 3), ``LocalAE`` lines the called AE (reason 7); an empty
  list accepts everything; rejections are permanent, source 1 (service user);
* a proposed context whose abstract syntax is not a ``sop`` line gets result 3; else the
  first transfer syntax *in the proposer's order* that is a ``transfer`` line is
  accepted, none gives result 4;
* SCP/SCU role selection items are answered with the proposed values (C-GET needs the
  requestor as storage SCP); asynchronous operations and extended negotiation are not
  offered back (as 1.5.0e);
* a called AE ``AE~xx`` asks for compression ``xx`` of the objects it stores.

The list is re-read when the file changes (:class:`SopListWatcher`), so edits apply to
the next association. A refused context is logged with the dgatesop.lst line that would
allow it.
"""
from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass, field
from typing import Callable

from ..config.soplist import SopList
from . import pdu

IMPLEMENTATION_UID = "1.2.826.0.1.3680043.2.135.1066.101"
IMPLEMENTATION_VERSION = "1.5.0/OTHER"
NKI_MOVE = {
    "1.2.826.0.1.3680043.2.135.1066.5.1.4.1.2.1.2": "PatientRootRetrieveNKI",
    "1.2.826.0.1.3680043.2.135.1066.5.1.4.1.2.2.2": "StudyRootRetrieveNKI",
    "1.2.826.0.1.3680043.2.135.1066.5.1.4.1.2.3.2": "PatientStudyOnlyRetrieveNKI",
}


class SopListWatcher:
    """The current dgatesop.lst, re-read when its modification time changes."""

    def __init__(self, load: Callable[[], SopList], path: str):
        self.load = load
        self.path = path
        self.mtime: float | None = None
        self.current: SopList = load()
        self._lock = threading.Lock()
        self.mtime = self._stat()

    def _stat(self) -> float | None:
        try:
            return os.stat(self.path).st_mtime
        except OSError:
            return None

    def refresh(self) -> SopList:
        mtime = self._stat()
        if mtime != self.mtime:
            with self._lock:
                try:
                    self.current = self.load()
                except Exception:      # a half-written list: keep the previous one
                    return self.current
                self.mtime = mtime
        return self.current


@dataclass
class Outcome:
    """Result of negotiating one A-ASSOCIATE-RQ."""

    accept: pdu.Associate | None = None
    reject: pdu.Rejection | None = None
    why: str = ""                                   # reason for a rejection, for the log
    refused: list[str] = field(default_factory=list)  # log lines for refused contexts
    compression: str | None = None                  # from a called AE ``AE~xx``


def sop_name(uid: str) -> str:
    from pydicom.uid import UID
    name = UID(uid).keyword if uid else ""
    return name or ("PrivateSOPClass" if uid not in NKI_MOVE else NKI_MOVE[uid])


def _refusal_line(pc: pdu.ProposedContext, soplist: SopList) -> str:
    uid = pc.abstract_syntax
    if not soplist.accepts_sop(uid):
        return (f"*** Presentation context refused: {uid} ({sop_name(uid)}) is not in dgatesop.lst; "
                f"to accept it add the line: {sop_name(uid):<42} {uid:<44} sop\n")
    syntaxes = ", ".join(pc.transfer_syntaxes) or "(none)"
    first = pc.transfer_syntaxes[0] if pc.transfer_syntaxes else ""
    return (f"*** Presentation context refused for {uid} ({sop_name(uid)}): none of the transfer "
            f"syntaxes {syntaxes} is in dgatesop.lst; to accept it add the line: "
            f"{sop_name(first):<42} {first:<44} transfer\n")


def negotiate(rq: pdu.Associate, soplist: SopList, max_length: int) -> Outcome:
    """Answer an A-ASSOCIATE-RQ from the accept lists of dgatesop.lst."""
    out = Outcome()
    called = rq.called_ae
    if "~" in called:
        called, _, suffix = called.partition("~")
        out.compression = suffix.strip() or None
    if not soplist.accepts_application(rq.application_context):
        out.reject, out.why = pdu.Rejection(1, 1, 2), f"application context {rq.application_context} not accepted"
        return out
    if not soplist.accepts_remote_ae(rq.calling_ae):
        out.reject, out.why = pdu.Rejection(1, 1, 3), f"calling AE '{rq.calling_ae}' is not a RemoteAE in dgatesop.lst"
        return out
    if not soplist.accepts_local_ae(called):
        out.reject, out.why = pdu.Rejection(1, 1, 7), f"called AE '{called}' is not a LocalAE in dgatesop.lst"
        return out
    accepted = []
    ok_classes = set()
    for pc in rq.contexts:
        if not soplist.accepts_sop(pc.abstract_syntax):
            accepted.append(pdu.AcceptedContext(pc.id, pdu.ABSTRACT_SYNTAX_NOT_SUPPORTED, "1.2.840.10008.1.2",
                                                pc.abstract_syntax))
            out.refused.append(_refusal_line(pc, soplist))
            continue
        chosen = soplist.choose_transfer(pc.transfer_syntaxes)
        if chosen is None:
            accepted.append(pdu.AcceptedContext(pc.id, pdu.TRANSFER_SYNTAXES_NOT_SUPPORTED, "1.2.840.10008.1.2",
                                                pc.abstract_syntax))
            out.refused.append(_refusal_line(pc, soplist))
            continue
        accepted.append(pdu.AcceptedContext(pc.id, pdu.ACCEPTANCE, chosen, pc.abstract_syntax))
        ok_classes.add(pc.abstract_syntax)
    out.accept = pdu.Associate(
        rq.called_ae, rq.calling_ae, rq.raw_called, rq.raw_calling, rq.application_context, accepted=accepted,
        max_length=max_length, implementation_class_uid=IMPLEMENTATION_UID,
        implementation_version_name=IMPLEMENTATION_VERSION,
        roles=[r for r in rq.roles if r.sop_class in ok_classes])
    return out


# -- helpers of the pynetdicom SCU side (net/scu.py) ------------------------------------
def set_nodelay(assoc) -> None:
    """TCP_NODELAY on a pynetdicom association's socket (without it each exchange stalls ~40 ms)."""
    try:
        sock = assoc.dul.socket.socket
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (AttributeError, OSError):
        pass


def accepted_pairs(assoc, as_scu: bool = False) -> set[tuple[str, str]]:
    """(SOP class, transfer syntax) of every context a pynetdicom peer accepted (ours as SCU only)."""
    return {(str(cx.abstract_syntax), str(cx.transfer_syntax[0]))
            for cx in assoc.accepted_contexts if cx.as_scu or not as_scu}


def fit_to_accepted(ds, accepted: set[tuple[str, str]]) -> None:
    """Decompress an object whose compressed syntax the peer did not accept; pynetdicom
    re-encodes uncompressed objects to whatever uncompressed syntax was accepted."""
    from ..store.formats import UNCOMPRESSED
    ts = str(ds.file_meta.TransferSyntaxUID)
    if ts not in UNCOMPRESSED and (str(ds.SOPClassUID), ts) not in accepted:
        ds.decompress(generate_instance_uid=False)
