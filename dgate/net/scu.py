"""Client side: C-ECHO, C-STORE, C-FIND, C-MOVE and C-GET to another AE.

Used by the move commands, forwarding and the web layer. Peers are reached through
acrnema.map addresses (:class:`dgate.config.acrnema.Address`). C-STORE proposes each
object's own transfer syntax and an uncompressed fallback; an object whose compressed
syntax the peer refuses is decompressed before sending. TCP_NODELAY is set on every
association.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from pydicom.dataset import Dataset
from pynetdicom import AE, build_context, evt
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from ..config.acrnema import Address
from ..store.formats import EXPLICIT_LE, IMPLICIT_LE, UNCOMPRESSED
from .negotiation import IMPLEMENTATION_UID, IMPLEMENTATION_VERSION, accepted_pairs, fit_to_accepted, set_nodelay

QR_MODELS = {
    ("find", "patient"): "1.2.840.10008.5.1.4.1.2.1.1", ("find", "study"): "1.2.840.10008.5.1.4.1.2.2.1",
    ("find", "patientstudyonly"): "1.2.840.10008.5.1.4.1.2.3.1", ("find", "worklist"): "1.2.840.10008.5.1.4.31",
    ("move", "patient"): "1.2.840.10008.5.1.4.1.2.1.2", ("move", "study"): "1.2.840.10008.5.1.4.1.2.2.2",
    ("move", "patientstudyonly"): "1.2.840.10008.5.1.4.1.2.3.2",
    ("get", "patient"): "1.2.840.10008.5.1.4.1.2.1.3", ("get", "study"): "1.2.840.10008.5.1.4.1.2.2.3",
}


class AssociationFailed(Exception):
    """The peer could not be reached or refused the association."""


@dataclass
class MoveResult:
    status: int
    completed: int = 0
    failed: int = 0
    warning: int = 0

    @property
    def ok(self) -> bool:
        return self.status == 0x0000


def _nodelay(event) -> None:
    set_nodelay(event.assoc)


def _ae(own_ae: str, timeout: float) -> AE:
    """A pynetdicom AE that introduces itself as Conquest does (implementation UID and version)."""
    ae = AE(ae_title=own_ae[:16])
    ae.implementation_class_uid = IMPLEMENTATION_UID
    ae.implementation_version_name = IMPLEMENTATION_VERSION
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    return ae


def _associate(own_ae: str, address: Address, contexts: list, timeout: float = 30.0,
               ext_neg: list | None = None):
    ae = _ae(own_ae, timeout)
    assoc = ae.associate(address.host, address.port, contexts=contexts[:128], ae_title=address.ae[:16],
                         ext_neg=ext_neg, evt_handlers=[(evt.EVT_CONN_OPEN, _nodelay)])
    if not assoc.is_established:
        raise AssociationFailed(f"could not associate with {address.ae} at {address.host}:{address.port}")
    return assoc


def echo(own_ae: str, address: Address, timeout: float = 10.0) -> bool:
    """True when an association was made and a C-ECHO answer came back."""
    try:
        assoc = _associate(own_ae, address, [build_context(Verification)], timeout)
    except (AssociationFailed, OSError):
        return False
    try:
        status = assoc.send_c_echo()
        return bool(status)
    finally:
        assoc.release()


def store(own_ae: str, address: Address, datasets: Iterable[Dataset], timeout: float = 30.0) -> list[int]:
    """C-STORE each data set; returns the status per object (-1 when it could not be sent)."""
    datasets = list(datasets)
    contexts, seen = [], set()
    for ds in datasets:
        sop, ts = str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID)
        if (sop, ts) not in seen and ts not in UNCOMPRESSED:
            seen.add((sop, ts))
            contexts.append(build_context(sop, [ts]))
        if (sop, "") not in seen:
            seen.add((sop, ""))
            contexts.append(build_context(sop, [EXPLICIT_LE, IMPLICIT_LE]))
    assoc = _associate(own_ae, address, contexts, timeout)
    accepted = accepted_pairs(assoc)
    results = []
    try:
        for ds in datasets:
            fit_to_accepted(ds, accepted)
            try:
                status = assoc.send_c_store(ds)
                results.append(int(status.Status) if status else -1)
            except (ValueError, RuntimeError):
                results.append(-1)
    finally:
        assoc.release()
    return results


def find(own_ae: str, address: Address, identifier: Dataset, model: str = "study",
         timeout: float = 30.0) -> list[Dataset]:
    """C-FIND; returns the pending responses' identifiers."""
    uid = QR_MODELS[("find", model)]
    assoc = _associate(own_ae, address, [build_context(uid)], timeout)
    try:
        return [ds for status, ds in assoc.send_c_find(identifier, uid)
                if status is not None and status.Status in (0xFF00, 0xFF01) and ds is not None]
    finally:
        assoc.release()


def move(own_ae: str, address: Address, destination: str, identifier: Dataset, model: str = "study",
         message_id: int = 1, timeout: float = 600.0) -> MoveResult:
    """C-MOVE to ``destination``; returns the final status and sub-operation counts."""
    uid = QR_MODELS[("move", model)]
    assoc = _associate(own_ae, address, [build_context(uid)], timeout)
    result = MoveResult(0xC000)
    try:
        for status, _ds in assoc.send_c_move(identifier, destination, uid, msg_id=message_id):
            if status is None:
                break
            result.status = int(status.Status)
            result.completed = int(status.get("NumberOfCompletedSuboperations", result.completed) or 0)
            result.failed = int(status.get("NumberOfFailedSuboperations", result.failed) or 0)
            result.warning = int(status.get("NumberOfWarningSuboperations", result.warning) or 0)
    finally:
        assoc.release()
    return result


def get(own_ae: str, address: Address, identifier: Dataset, storage_classes: list[str],
        handle_store, model: str = "study", timeout: float = 600.0) -> MoveResult:
    """C-GET; ``handle_store(event)`` receives every object (return a status int)."""
    from pynetdicom.pdu_primitives import SCP_SCU_RoleSelectionNegotiation
    uid = QR_MODELS[("get", model)]
    contexts = [build_context(uid)] + [build_context(sop, [EXPLICIT_LE, IMPLICIT_LE]) for sop in storage_classes]
    roles: list = []
    for sop in storage_classes:
        role = SCP_SCU_RoleSelectionNegotiation()
        role.sop_class_uid = sop
        role.scu_role = False
        role.scp_role = True
        roles.append(role)
    ae = _ae(own_ae, timeout)
    assoc = ae.associate(address.host, address.port, contexts=contexts[:128], ae_title=address.ae[:16],
                         ext_neg=roles, evt_handlers=[(evt.EVT_CONN_OPEN, _nodelay),
                                                      (evt.EVT_C_STORE, handle_store)])
    if not assoc.is_established:
        raise AssociationFailed(f"could not associate with {address.ae} at {address.host}:{address.port}")
    result = MoveResult(0xC000)
    try:
        for status, _ds in assoc.send_c_get(identifier, uid):
            if status is None:
                break
            result.status = int(status.Status)
            result.completed = int(status.get("NumberOfCompletedSuboperations", result.completed) or 0)
            result.failed = int(status.get("NumberOfFailedSuboperations", result.failed) or 0)
    finally:
        assoc.release()
    return result
