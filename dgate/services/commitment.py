"""Storage Commitment Push Model SCP (PS3.4 J). Beyond the original, whose commitment code
is commented out (dgate.cpp:24046).

An N-ACTION (Action Type 1) on the well-known instance 1.2.840.10008.1.20.1.1 lists SOP
instances in Referenced SOP Sequence (0008,1199). Each is checked against what is really
kept: a row in the image table, a file for it on a MAG/MIRROR device, and that file's
SOP Instance UID (and the SOP class asked, when the row has one). The answer is an
N-EVENT-REPORT (Event Type 1 all committed, 2 some failed) with the committed instances
in Referenced SOP Sequence and the others in Failed SOP Sequence (0008,1198) with a
Failure Reason (0008,1197): 0x0112 no such object instance (not in the database), 0x0110
processing failure (in the database but the file is missing or unreadable), 0x0119
class/instance conflict (stored under another SOP class).

:class:`CommitmentResults` takes the N-EVENT-REPORTs another archive sends us when we
asked it (the SCU side, :mod:`dgate.services.commitment_scu`) on a new association. The reports
are kept in the hub (hub services ``commitment.report`` and ``commitment.wait``), so a
request made in any process of the server gets the report whichever worker received it.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

from ..config.keys import Settings
from ..db import Database, DatabaseError
from ..log import Logs
from ..log import logs as process_logs
from ..runtime import ServiceError, call, register_service
from ..store.devices import locate
from ..store.formats import BadObject, Encoded, read_file
from .nmessages import (
    CLASS_INSTANCE_CONFLICT,
    INVALID_OBJECT_INSTANCE,
    MISSING_ATTRIBUTE,
    N_ACTION,
    N_EVENT_REPORT,
    NO_SUCH_ACTION,
    NO_SUCH_INSTANCE,
    PROCESSING_FAILURE,
    SUCCESS,
    EventReport,
    NRequest,
    NResponse,
    failure,
)

STORAGE_COMMITMENT = "1.2.840.10008.1.20.1"
COMMITMENT_INSTANCE = "1.2.840.10008.1.20.1.1"
MAX_REFERENCES = 100000
MAX_UNCLAIMED = 1000           # reports nobody waits for (late or duplicate) kept at most


def _ref(sop_class: str, sop_uid: str, reason: int | None = None) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = sop_class
    item.ReferencedSOPInstanceUID = sop_uid
    if reason is not None:
        item.FailureReason = reason
    return item


def action_dataset(transaction: str, references) -> Dataset:
    """The N-ACTION (type 1) data set asking to commit to (SOP class, SOP instance)
    ``references`` (PS3.4 J.3.2): Transaction UID and Referenced SOP Sequence; no
    Transaction UID when ``transaction`` is empty."""
    ds = Dataset()
    if transaction:
        ds.TransactionUID = transaction
    ds.ReferencedSOPSequence = Sequence([_ref(sop_class, sop_uid) for sop_class, sop_uid in references])
    return ds


class CommitmentService:
    """Answers storage commitment requests from the database and the devices."""

    def __init__(self, database: Callable[[], Database], settings: Settings, logs: Logs | None = None,
                 own_ae: str = ""):
        self.database = database
        self.settings = settings
        self.logs = logs or process_logs
        self.own_ae = own_ae

    def handle(self, request: NRequest) -> NResponse:
        if request.command != N_ACTION or request.sop_class != STORAGE_COMMITMENT:
            return failure(0x0211, "storage commitment takes N-ACTION only", request)
        if request.sop_instance != COMMITMENT_INSTANCE:
            return failure(INVALID_OBJECT_INSTANCE, "not the storage commitment instance", request)
        if request.type_id != 1:
            return failure(NO_SUCH_ACTION, f"no action type {request.type_id}", request)
        ds = request.dataset or Dataset()
        transaction = str(ds.get("TransactionUID", "") or "").strip()
        refs = ds.get("ReferencedSOPSequence") or []
        if not transaction or not refs:
            return failure(MISSING_ATTRIBUTE, "Transaction UID and Referenced SOP Sequence are required", request)
        if len(refs) > MAX_REFERENCES:
            return failure(0x0213, f"more than {MAX_REFERENCES} instances in one request", request)
        report = self.report(transaction, refs)
        event_type = 1 if "FailedSOPSequence" not in report else 2
        failed = len(report.get("FailedSOPSequence", []))
        self.logs.operator.printf(f"Storage commitment {transaction} from {request.calling_ae}: "
                                  f"{len(refs) - failed} committed, {failed} failed\n")
        event = EventReport(STORAGE_COMMITMENT, COMMITMENT_INSTANCE, event_type, report, request.calling_ae)
        return NResponse(SUCCESS, None, STORAGE_COMMITMENT, COMMITMENT_INSTANCE, type_id=1, events=[event])

    def report(self, transaction: str, refs) -> Dataset:
        """The Event Information of the N-EVENT-REPORT for these references."""
        done, failed = [], []
        try:
            db = self.database()
        except DatabaseError as exc:
            self.logs.operator.printf(f"***Storage commitment: database not available: {exc}\n")
            db = None
        try:
            for item in refs:
                sop_class = str(item.get("ReferencedSOPClassUID", "") or "")
                sop_uid = str(item.get("ReferencedSOPInstanceUID", "") or "")
                reason = self._check(db, sop_class, sop_uid) if db is not None else PROCESSING_FAILURE
                if reason == SUCCESS:
                    done.append(_ref(sop_class, sop_uid))
                else:
                    failed.append(_ref(sop_class, sop_uid, reason))
        finally:
            if db is not None:
                db.close()
        ds = Dataset()
        ds.TransactionUID = transaction
        if self.own_ae:
            ds.RetrieveAETitle = self.own_ae
        if done:
            ds.ReferencedSOPSequence = Sequence(done)
        if failed:
            ds.FailedSOPSequence = Sequence(failed)
        return ds

    def _check(self, db: Database, sop_class: str, sop_uid: str) -> int:
        if not sop_uid:
            return NO_SUCH_INSTANCE
        image = db.schema.image
        class_entry = image.by_tag(0x00080016)
        try:
            stored = db.get_file(sop_uid)
            rows = db.sql(f"SELECT {class_entry.column} FROM {image.name} WHERE {image.key.column} = "
                          f"{db.driver.text_param}", [sop_uid]) if class_entry is not None else []
        except DatabaseError:
            return PROCESSING_FAILURE
        if stored is None:
            return NO_SUCH_INSTANCE
        stored_class = (rows[0][0] or "").rstrip("\0 ") if rows else ""
        if sop_class and stored_class and stored_class != sop_class:
            return CLASS_INSTANCE_CONFLICT
        path = locate(self.settings, stored.device, stored.object_file)
        if path is None:
            return PROCESSING_FAILURE
        try:
            header = read_file(path).header()
        except (OSError, BadObject, ValueError):
            return PROCESSING_FAILURE
        if str(header.get("SOPInstanceUID", "")).rstrip("\0 ") != sop_uid:
            return PROCESSING_FAILURE
        return SUCCESS


class CommitmentResults:
    """Storage commitment results other archives report to us, by Transaction UID (in the hub)."""

    def __init__(self) -> None:
        self._results: OrderedDict[str, tuple[int, bytes]] = OrderedDict()
        self._cond = threading.Condition()

    def receive(self, request: NRequest) -> NResponse:
        """An incoming N-EVENT-REPORT (Event Type 1 or 2) for a commitment we asked for."""
        if request.command != N_EVENT_REPORT or request.type_id not in (1, 2):
            return failure(0x0113, "no such event type", request)
        ds = request.dataset or Dataset()
        transaction = str(ds.get("TransactionUID", "") or "").strip()
        if not transaction:
            return failure(MISSING_ATTRIBUTE, "no Transaction UID", request)
        try:
            call("commitment.report", transaction, request.type_id, Encoded.from_dataset(ds, EXPLICIT).raw)
        except ServiceError as exc:
            return failure(PROCESSING_FAILURE, f"report not taken: {exc}", request)
        return NResponse(SUCCESS, None, STORAGE_COMMITMENT, COMMITMENT_INSTANCE, type_id=request.type_id)

    def put(self, transaction: str, event_type: int, raw: bytes) -> None:
        """Hub side of :meth:`receive`."""
        with self._cond:
            self._results[transaction] = (event_type, raw)
            while len(self._results) > MAX_UNCLAIMED:
                self._results.popitem(last=False)
            self._cond.notify_all()

    def take(self, transaction: str, timeout: float) -> tuple[int, bytes] | None:
        """Hub side of :meth:`wait`: the report's event type and data set bytes."""
        with self._cond:
            self._cond.wait_for(lambda: transaction in self._results, timeout)
            return self._results.pop(transaction, None)

    def wait(self, transaction: str, timeout: float) -> tuple[int, Dataset] | None:
        """The report for ``transaction`` (None after ``timeout`` seconds), from any process."""
        got = call("commitment.wait", transaction, timeout)
        if got is None:
            return None
        return got[0], Encoded(got[1], EXPLICIT).dataset()


EXPLICIT = str(ExplicitVRLittleEndian)
results = CommitmentResults()    # the hub's copy is the one that holds reports
register_service("commitment.report", results.put)
register_service("commitment.wait", results.take)
