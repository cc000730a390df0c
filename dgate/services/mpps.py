"""Modality Performed Procedure Step SCP (PS3.4 F.7), and its Retrieve SOP class (N-GET).
Beyond the original, which has no MPPS.

Steps are kept as Part 10 files ``<MAG0>mpps/<SOP Instance UID>.dcm`` (written through a
temporary name, locked while updated, so every worker process sees the same steps) and
linked to the worklist through the Accession Numbers in their Scheduled Step Attributes
Sequence (0040,0270): :meth:`MPPSService.worklist_rows` returns the matching worklist
rows, and the operator log names them (or says that none matches).

Rules (PS3.4 F.7.2): N-CREATE needs Performed Procedure Step Status ``IN PROGRESS``
(else 0x0106) and a Scheduled Step Attributes Sequence (else 0x0120); a UID that exists
already gives 0x0111. N-SET on an unknown step gives 0x0112, on a step that is COMPLETED
or DISCONTINUED 0x0110 ("may no longer be updated"), to a status other than IN PROGRESS,
COMPLETED or DISCONTINUED 0x0106. Sequences given in an N-SET replace the stored ones.
"""
from __future__ import annotations

import fcntl
import os
import re
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian

from ..db import Database, DatabaseError
from ..log import Logs
from ..log import logs as process_logs
from ..uids import gen_uid
from .nmessages import (
    DUPLICATE_INSTANCE,
    INVALID_ATTRIBUTE_VALUE,
    MISSING_ATTRIBUTE,
    N_CREATE,
    N_GET,
    N_SET,
    NO_SUCH_INSTANCE,
    PROCESSING_FAILURE,
    SUCCESS,
    UNRECOGNISED_OPERATION,
    NRequest,
    NResponse,
    failure,
)

MPPS = "1.2.840.10008.3.1.2.3.3"
MPPS_RETRIEVE = "1.2.840.10008.3.1.2.3.5"
STATUSES = ("IN PROGRESS", "COMPLETED", "DISCONTINUED")
FINAL = ("COMPLETED", "DISCONTINUED")
_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
_lock = threading.Lock()


def _status(ds: Dataset) -> str:
    return str(ds.get("PerformedProcedureStepStatus", "") or "").strip().upper()


class MPPSService:
    """Performed procedure steps in ``folder`` (``<MAG0>mpps``)."""

    def __init__(self, folder: Path | str, database: Callable[[], Database] | None = None, logs: Logs | None = None,
                 uid_prefix: str = "1.2.826.0.1.3680043.2.135.1066"):
        self.folder = Path(folder)
        self.database = database
        self.logs = logs or process_logs
        self.uid_prefix = uid_prefix

    def handle(self, request: NRequest) -> NResponse:
        if request.command == N_CREATE and request.sop_class == MPPS:
            return self.create(request)
        if request.command == N_SET and request.sop_class == MPPS:
            return self.set(request)
        if request.command == N_GET and request.sop_class in (MPPS, MPPS_RETRIEVE):
            return self.get(request)
        return failure(UNRECOGNISED_OPERATION, "operation not supported for MPPS", request)

    # -- storage ------------------------------------------------------------------------
    def path(self, uid: str) -> Path | None:
        """The file of a step; None for a UID that could not be one (never a path outside)."""
        uid = uid.rstrip("\0 ")
        if not uid or len(uid) > 64 or not _UID.fullmatch(uid):
            return None
        return self.folder / f"{uid}.dcm"

    @contextmanager
    def _locked(self, uid: str) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with _lock, open(self.folder / ".lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def load(self, uid: str) -> Dataset | None:
        path = self.path(uid)
        if path is None or not path.is_file():
            return None
        return pydicom.dcmread(path)

    def _write(self, uid: str, ds: Dataset) -> None:
        path = self.path(uid)
        assert path is not None
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = UID(MPPS)
        meta.MediaStorageSOPInstanceUID = UID(uid)
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta = meta
        ds.SOPClassUID = MPPS
        ds.SOPInstanceUID = uid
        tmp = path.with_name(path.name + ".partial")
        ds.save_as(tmp, enforce_file_format=True)
        os.replace(tmp, path)

    # -- worklist link ------------------------------------------------------------------
    def accession_numbers(self, ds: Dataset) -> list[str]:
        found = []
        for item in ds.get("ScheduledStepAttributesSequence") or []:
            acc = str(item.get("AccessionNumber", "") or "").strip()
            if acc and acc not in found:
                found.append(acc)
        return found

    def worklist_rows(self, ds: Dataset) -> list[tuple]:
        """The worklist rows this step was performed for (by Accession Number)."""
        if self.database is None:
            return []
        accessions = self.accession_numbers(ds)
        if not accessions:
            return []
        db = self.database()
        try:
            table = db.schema.worklist
            p = db.driver.text_param
            return db.sql(f"SELECT {', '.join(table.columns)} FROM {table.name} WHERE {table.key.column} IN "
                          f"({', '.join([p] * len(accessions))})", accessions)
        finally:
            db.close()

    def _link_text(self, ds: Dataset) -> str:
        try:
            rows = self.worklist_rows(ds)
        except DatabaseError as exc:
            return f"worklist not available ({exc})"
        accessions = self.accession_numbers(ds)
        if rows:
            return "for worklist entr" + ("y " if len(rows) == 1 else "ies ") + ", ".join(str(r[0]) for r in rows)
        return f"no worklist entry for accession {', '.join(accessions)}" if accessions else "no accession number"

    # -- operations ---------------------------------------------------------------------
    def create(self, request: NRequest) -> NResponse:
        ds = request.dataset or Dataset()
        uid = (request.sop_instance or gen_uid(self.uid_prefix)).rstrip("\0 ")
        if self.path(uid) is None:
            return failure(INVALID_ATTRIBUTE_VALUE, "invalid SOP Instance UID", request)
        if _status(ds) != "IN PROGRESS":
            return failure(INVALID_ATTRIBUTE_VALUE, "a new step must be IN PROGRESS", request)
        if "ScheduledStepAttributesSequence" not in ds:
            return failure(MISSING_ATTRIBUTE, "Scheduled Step Attributes Sequence missing", request)
        with self._locked(uid):
            if self.load(uid) is not None:
                return failure(DUPLICATE_INSTANCE, "step exists", request)
            stored = Dataset()
            for elem in ds:
                stored.add(elem)
            refused = self._save(uid, stored, request, "stored")
            if refused is not None:
                return refused
        self.logs.operator.printf(f"MPPS {uid} IN PROGRESS from {request.calling_ae}, {self._link_text(ds)}\n")
        return NResponse(SUCCESS, None, MPPS, uid)

    def _save(self, uid: str, stored: Dataset, request: NRequest, what: str) -> NResponse | None:
        """Write the step; the 0x0110 response (and a log line) when the file cannot be written."""
        try:
            self._write(uid, stored)
        except OSError as exc:
            self.logs.operator.printf(f"***MPPS {uid} not {what}: {exc}\n")
            return failure(PROCESSING_FAILURE, "step could not be stored", request)
        return None

    def set(self, request: NRequest) -> NResponse:
        uid = request.sop_instance.rstrip("\0 ")
        ds = request.dataset or Dataset()
        new_status = _status(ds)
        if new_status and new_status not in STATUSES:
            return failure(INVALID_ATTRIBUTE_VALUE, f"status {new_status!r} is not allowed", request)
        if self.path(uid) is None:
            return failure(NO_SUCH_INSTANCE, "no such performed procedure step", request)
        with self._locked(uid):
            stored = self.load(uid)
            if stored is None:
                return failure(NO_SUCH_INSTANCE, "no such performed procedure step", request)
            if _status(stored) in FINAL:
                return NResponse(PROCESSING_FAILURE, None, MPPS, uid,
                                 error_comment=f"Performed Procedure Step is {_status(stored)}")
            for elem in ds:
                stored[elem.tag] = elem
            refused = self._save(uid, stored, request, "updated")
            if refused is not None:
                return refused
        self.logs.operator.printf(f"MPPS {uid} {_status(stored)}, {self._link_text(stored)}\n")
        return NResponse(SUCCESS, None, MPPS, uid)

    def get(self, request: NRequest) -> NResponse:
        stored = self.load(request.sop_instance)
        if stored is None:
            return failure(NO_SUCH_INSTANCE, "no such performed procedure step", request)
        out = Dataset()
        for elem in stored:
            if not request.attributes or int(elem.tag) in request.attributes:
                out.add(elem)
        return NResponse(SUCCESS, out, request.sop_class, request.sop_instance)
