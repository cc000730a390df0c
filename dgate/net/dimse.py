"""DIMSE command sets and messages (PS3.7 §9–§10, Annex E).

A command set is always Implicit VR Little Endian; :func:`encode_command` writes the
elements sorted, odd values padded with NUL (UIDs) or space (AE, LO), and (0000,0000)
counting group 0000 only (as dgate 1.5.0e). :class:`Command` keeps every received
element raw (private 9999,xxxx elements of the server-command channel included) with
typed accessors.

Command fields of every DIMSE service are defined here, so N-services can be served by
registering handlers in :mod:`.services`.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataelem import RawDataElement
from pydicom.tag import BaseTag

from ..store.lazyset import dataset_of

C_STORE_RQ, C_STORE_RSP = 0x0001, 0x8001
C_GET_RQ, C_GET_RSP = 0x0010, 0x8010
C_FIND_RQ, C_FIND_RSP = 0x0020, 0x8020
C_MOVE_RQ, C_MOVE_RSP = 0x0021, 0x8021
C_ECHO_RQ, C_ECHO_RSP = 0x0030, 0x8030
N_EVENT_REPORT_RQ, N_EVENT_REPORT_RSP = 0x0100, 0x8100
N_GET_RQ, N_GET_RSP = 0x0110, 0x8110
N_SET_RQ, N_SET_RSP = 0x0120, 0x8120
N_ACTION_RQ, N_ACTION_RSP = 0x0130, 0x8130
N_CREATE_RQ, N_CREATE_RSP = 0x0140, 0x8140
N_DELETE_RQ, N_DELETE_RSP = 0x0150, 0x8150
C_CANCEL_RQ = 0x0FFF
COMMAND_NAMES = {
    C_STORE_RQ: "C-STORE-RQ", C_STORE_RSP: "C-STORE-RSP", C_GET_RQ: "C-GET-RQ", C_GET_RSP: "C-GET-RSP",
    C_FIND_RQ: "C-FIND-RQ", C_FIND_RSP: "C-FIND-RSP", C_MOVE_RQ: "C-MOVE-RQ", C_MOVE_RSP: "C-MOVE-RSP",
    C_ECHO_RQ: "C-ECHO-RQ", C_ECHO_RSP: "C-ECHO-RSP", N_EVENT_REPORT_RQ: "N-EVENT-REPORT-RQ",
    N_EVENT_REPORT_RSP: "N-EVENT-REPORT-RSP", N_GET_RQ: "N-GET-RQ", N_GET_RSP: "N-GET-RSP",
    N_SET_RQ: "N-SET-RQ", N_SET_RSP: "N-SET-RSP", N_ACTION_RQ: "N-ACTION-RQ", N_ACTION_RSP: "N-ACTION-RSP",
    N_CREATE_RQ: "N-CREATE-RQ", N_CREATE_RSP: "N-CREATE-RSP", N_DELETE_RQ: "N-DELETE-RQ",
    N_DELETE_RSP: "N-DELETE-RSP", C_CANCEL_RQ: "C-CANCEL-RQ",
}
NO_DATA_SET = 0x0101
DATA_SET = 0x0000

# command elements (group 0000)
AFFECTED_SOP_CLASS = 0x00000002
REQUESTED_SOP_CLASS = 0x00000003
COMMAND_FIELD = 0x00000100
MESSAGE_ID = 0x00000110
RESPONDED_ID = 0x00000120
MOVE_DESTINATION = 0x00000600
PRIORITY = 0x00000700
DATA_SET_TYPE = 0x00000800
STATUS = 0x00000900
OFFENDING_ELEMENT = 0x00000901
ERROR_COMMENT = 0x00000902
ERROR_ID = 0x00000903
AFFECTED_SOP_INSTANCE = 0x00001000
REQUESTED_SOP_INSTANCE = 0x00001001
EVENT_TYPE = 0x00001002
ATTRIBUTE_LIST = 0x00001005
ACTION_TYPE = 0x00001008
REMAINING = 0x00001020
COMPLETED = 0x00001021
FAILED = 0x00001022
WARNING = 0x00001023
MOVE_ORIGINATOR_AE = 0x00001030
MOVE_ORIGINATOR_ID = 0x00001031

KINDS: dict[int, str] = {
    AFFECTED_SOP_CLASS: "UI", REQUESTED_SOP_CLASS: "UI", COMMAND_FIELD: "US", MESSAGE_ID: "US",
    RESPONDED_ID: "US", MOVE_DESTINATION: "AE", PRIORITY: "US", DATA_SET_TYPE: "US", STATUS: "US",
    OFFENDING_ELEMENT: "AT", ERROR_COMMENT: "LO", ERROR_ID: "US", AFFECTED_SOP_INSTANCE: "UI",
    REQUESTED_SOP_INSTANCE: "UI", EVENT_TYPE: "US", ATTRIBUTE_LIST: "AT", ACTION_TYPE: "US", REMAINING: "US",
    COMPLETED: "US", FAILED: "US", WARNING: "US", MOVE_ORIGINATOR_AE: "AE", MOVE_ORIGINATOR_ID: "US",
}

_ELEMENT = struct.Struct("<HHI")


class CommandError(ValueError):
    """A command set that cannot be decoded or misses a required element."""


def encode_value(tag: int, value: Any) -> bytes:
    """Value bytes of a command element (raw bytes pass through, then get padded)."""
    kind = KINDS.get(tag)
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
    elif kind == "US":
        raw = struct.pack("<H", int(value) & 0xFFFF)
    elif kind == "UL":
        raw = struct.pack("<I", int(value))
    elif kind == "AT":
        tags = [value] if isinstance(value, int) else list(value)
        raw = b"".join(struct.pack("<HH", t >> 16, t & 0xFFFF) for t in tags)
    else:
        raw = str(value).encode("latin-1", "replace")
        if kind == "AE":
            raw = raw[:16]
    if len(raw) % 2:
        raw += b"\0" if kind in ("UI", None) else b" "
    return raw


def encode_command(elements: dict[int, Any]) -> bytes:
    """An Implicit VR LE command set; (0000,0000) is computed and counts group 0000 only."""
    group0: list[bytes] = []
    others: list[bytes] = []
    for tag in sorted(elements):
        if tag == 0:
            continue
        value = encode_value(tag, elements[tag])
        (group0 if tag >> 16 == 0 else others).append(_ELEMENT.pack(tag >> 16, tag & 0xFFFF, len(value)) + value)
    body = b"".join(group0)
    return _ELEMENT.pack(0, 0, 4) + struct.pack("<I", len(body)) + body + b"".join(others)


@dataclass
class Command:
    """A decoded command set: every element raw, in order."""

    elements: dict[int, bytes] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> "Command":
        cmd = cls()
        pos = 0
        end = len(data)
        while pos < end:
            if pos + 8 > end:
                raise CommandError(f"command set cut at offset {pos}")
            group, element, length = _ELEMENT.unpack_from(data, pos)
            pos += 8
            tag = (group << 16) | element
            if length == 0xFFFFFFFF:
                raise CommandError(f"undefined length in command element ({group:04x},{element:04x})")
            if pos + length > end:
                raise CommandError(f"command element ({group:04x},{element:04x}) runs past the command set")
            if tag not in cmd.elements:
                cmd.elements[tag] = bytes(data[pos:pos + length])
                cmd.order.append(tag)
            pos += length
        if COMMAND_FIELD not in cmd.elements:
            raise CommandError("command set without (0000,0100) Command Field")
        return cmd

    def raw(self, tag: int) -> bytes | None:
        return self.elements.get(tag)

    def us(self, tag: int, default: int = 0) -> int:
        value = self.elements.get(tag)
        if not value or len(value) < 2:
            return default
        return struct.unpack_from("<H", value)[0]

    def uid(self, tag: int) -> str:
        value = self.elements.get(tag)
        return value.split(b"\0", 1)[0].decode("ascii", "replace").strip() if value else ""

    def text(self, tag: int) -> str:
        value = self.elements.get(tag)
        return value.decode("latin-1").strip(" \0") if value else ""

    @property
    def field(self) -> int:
        return self.us(COMMAND_FIELD)

    @property
    def name(self) -> str:
        return COMMAND_NAMES.get(self.field, f"command 0x{self.field:04x}")

    @property
    def message_id(self) -> int:
        return self.us(MESSAGE_ID)

    @property
    def responded_id(self) -> int:
        return self.us(RESPONDED_ID)

    @property
    def has_data_set(self) -> bool:
        return self.us(DATA_SET_TYPE, NO_DATA_SET) != NO_DATA_SET

    @property
    def sop_class(self) -> str:
        """Affected SOP Class UID, or Requested SOP Class UID for N-GET/SET/ACTION/DELETE."""
        return self.uid(AFFECTED_SOP_CLASS) or self.uid(REQUESTED_SOP_CLASS)

    @property
    def sop_instance(self) -> str:
        return self.uid(AFFECTED_SOP_INSTANCE) or self.uid(REQUESTED_SOP_INSTANCE)

    @property
    def status(self) -> int:
        return self.us(STATUS, 0xFFFF)

    def as_dataset(self, dictionary: Any = None) -> Any:
        """The command set as a pydicom Dataset of raw elements (Lua's ``Command``, the
        converters' view of the request): each element's bytes as received, VR from the
        command dictionary (PS3.7 E.1), else ``dictionary.by_tag`` (dgate.dic), else
        ``UL`` for a group length and ``UN``; sequences (9999,0403 …) as ``OB`` bytes."""
        elements: dict = {}
        make = tuple.__new__
        for tag, value in self.elements.items():
            vr = KINDS.get(tag)
            if vr is None:
                entry = dictionary.by_tag(tag) if dictionary is not None else None
                vr = entry.vr if entry is not None and entry.vr and entry.vr not in ("??", "UN") else \
                    ("UL" if tag & 0xFFFF == 0 else "UN")
            if vr == "SQ":
                vr = "OB"
            if len(value) % 2:
                value += b"\0" if vr in ("UI", "OB", "UN") else b" "
            key = BaseTag(tag)
            elements[key] = make(RawDataElement, (key, vr, len(value), value, 0, False, True, True, False))
        return dataset_of(elements)

    def private(self) -> dict[int, bytes]:
        """Elements of group 9999 (the server-command channel)."""
        return {tag: value for tag, value in self.elements.items() if tag >> 16 == 0x9999}


def response_fields(request: Command, field: int, status: int, extra: dict[int, Any] | None = None,
                    with_data: bool = False) -> dict[int, Any]:
    """The elements of a response to ``request`` (PS3.7 Annex E: SOP class/instance copied)."""
    out: dict[int, Any] = {COMMAND_FIELD: field, RESPONDED_ID: request.message_id,
                           DATA_SET_TYPE: DATA_SET if with_data else NO_DATA_SET, STATUS: status}
    sop_class = request.uid(AFFECTED_SOP_CLASS) or request.uid(REQUESTED_SOP_CLASS)
    if sop_class:
        out[AFFECTED_SOP_CLASS] = sop_class
    instance = request.uid(AFFECTED_SOP_INSTANCE) or request.uid(REQUESTED_SOP_INSTANCE)
    if instance and field not in (C_FIND_RSP, C_MOVE_RSP, C_GET_RSP, C_ECHO_RSP):
        out[AFFECTED_SOP_INSTANCE] = instance
    if extra:
        out.update(extra)
    return out


def request_fields(field: int, message_id: int, sop_class: str, with_data: bool,
                   extra: dict[int, Any] | None = None, instance: str = "") -> dict[int, Any]:
    out: dict[int, Any] = {COMMAND_FIELD: field, MESSAGE_ID: message_id,
                           DATA_SET_TYPE: DATA_SET if with_data else NO_DATA_SET}
    if sop_class:
        out[REQUESTED_SOP_CLASS if field in (N_GET_RQ, N_SET_RQ, N_ACTION_RQ, N_DELETE_RQ)
            else AFFECTED_SOP_CLASS] = sop_class
    if instance:
        out[REQUESTED_SOP_INSTANCE if field in (N_GET_RQ, N_SET_RQ, N_ACTION_RQ, N_DELETE_RQ)
            else AFFECTED_SOP_INSTANCE] = instance
    if extra:
        out.update(extra)
    return out


def status_counts(remaining: int | None, completed: int, failed: int, warning: int) -> dict[int, int]:
    counts = {COMPLETED: completed, FAILED: failed, WARNING: warning}
    if remaining is not None:
        counts[REMAINING] = remaining
    return counts

