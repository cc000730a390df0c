"""Data sets shared by the DIMSE-N tests (test_nservices.py, test_nservices_net.py)."""
from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence


def mpps_create(status: str = "IN PROGRESS", accession: str = "ACCM") -> Dataset:
    """An MPPS N-CREATE data set (PS3.4 F.7.2.1) for accession ``accession``."""
    ds = Dataset()
    step = Dataset()
    step.AccessionNumber = accession
    step.ScheduledProcedureStepID = "SPS1"
    ds.ScheduledStepAttributesSequence = Sequence([step])
    ds.PatientID = "PM"
    ds.PerformedProcedureStepStatus = status
    ds.PerformedProcedureStepStartDate = "20240101"
    return ds


def status_set(status: str) -> Dataset:
    """An MPPS N-SET data set changing the status (with an end date)."""
    ds = Dataset()
    ds.PerformedProcedureStepStatus = status
    ds.PerformedProcedureStepEndDate = "20240101"
    return ds
