"""What the DIMSE layer hands a DIMSE-N service and what it gets back (PS3.7 §10).

Command fields (PS3.7 Table E.1-1) and the status codes used by the services here
(PS3.7 Annex C, PS3.4 F/H/J).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pydicom.dataset import Dataset

N_EVENT_REPORT, N_GET, N_SET, N_ACTION, N_CREATE, N_DELETE = 0x0100, 0x0110, 0x0120, 0x0130, 0x0140, 0x0150
COMMAND_NAMES = {N_EVENT_REPORT: "N-EVENT-REPORT", N_GET: "N-GET", N_SET: "N-SET", N_ACTION: "N-ACTION",
                 N_CREATE: "N-CREATE", N_DELETE: "N-DELETE"}

SUCCESS = 0x0000
INVALID_ATTRIBUTE_VALUE = 0x0106
PROCESSING_FAILURE = 0x0110      # for MPPS N-SET: "may no longer be updated" (PS3.4 F.7.2.2.4)
DUPLICATE_INSTANCE = 0x0111
NO_SUCH_INSTANCE = 0x0112
INVALID_OBJECT_INSTANCE = 0x0117
NO_SUCH_SOP_CLASS = 0x0118
CLASS_INSTANCE_CONFLICT = 0x0119
MISSING_ATTRIBUTE = 0x0120
MISSING_ATTRIBUTE_VALUE = 0x0121
SOP_CLASS_NOT_SUPPORTED = 0x0122
NO_SUCH_ACTION = 0x0123
UNRECOGNISED_OPERATION = 0x0211
RESOURCE_LIMITATION = 0x0213


@dataclass
class NRequest:
    """A decoded DIMSE-N request.

    ``sop_class``/``sop_instance`` are the Affected (N-CREATE, N-EVENT-REPORT) or Requested
    (N-GET, N-SET, N-ACTION, N-DELETE) SOP Class/Instance UIDs; ``type_id`` the Action or
    Event Type ID; ``attributes`` the N-GET Attribute Identifier List; ``context_class`` the
    abstract syntax of the presentation context it came on (a print meta SOP class).
    """

    command: int
    sop_class: str
    sop_instance: str = ""
    dataset: Dataset | None = None
    type_id: int = 0
    attributes: list[int] = field(default_factory=list)
    message_id: int = 0
    calling_ae: str = ""
    called_ae: str = ""
    context_class: str = ""


@dataclass
class EventReport:
    """An N-EVENT-REPORT the service wants sent (storage commitment results, PS3.4 J.3.3).

    The DIMSE layer sends it on the requesting association while that is still
    established, else on a new association to ``destination_ae`` (acrnema.map) on which we
    propose the SOP class with SCP/SCU role selection SCU-role 0, SCP-role 1.
    """

    sop_class: str
    sop_instance: str
    event_type: int
    dataset: Dataset
    destination_ae: str


@dataclass
class NResponse:
    """The response: status, optional data set, the UIDs for the response command."""

    status: int
    dataset: Dataset | None = None
    sop_class: str = ""
    sop_instance: str = ""
    type_id: int = 0
    error_comment: str = ""
    events: list[EventReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in (0x0000, 0x0001) or self.status >> 12 == 0xB


def failure(status: int, comment: str, request: NRequest | None = None) -> NResponse:
    """A failed response carrying an Error Comment (0000,0902; at most 64 characters)."""
    return NResponse(status, None, request.sop_class if request else "",
                     request.sop_instance if request else "", error_comment=comment[:64])
