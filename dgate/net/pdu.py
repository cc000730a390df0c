"""DICOM upper-layer PDUs and their items (PS3.8 §9.3, Annex D).

Encoders and strict decoders for A-ASSOCIATE-RQ/AC/RJ, P-DATA-TF, A-RELEASE-RQ/RP and
A-ABORT. A decoder refuses lengths that overrun their container and missing mandatory
items with :class:`PduError`, whose ``reason`` is the A-ABORT reason to send
(PS3.8 §9.3.8: 1 unrecognised PDU, 2 unexpected PDU, 4 unrecognised parameter,
5 unexpected parameter, 6 invalid parameter value). Unknown item types are skipped, as
PS3.8 asks. UIDs inside items are written without padding (as dgate 1.5.0e) and read
with trailing NUL/space padding removed.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Iterator

ASSOCIATE_RQ = 0x01
ASSOCIATE_AC = 0x02
ASSOCIATE_RJ = 0x03
P_DATA = 0x04
RELEASE_RQ = 0x05
RELEASE_RP = 0x06
ABORT = 0x07
PDU_NAMES = {ASSOCIATE_RQ: "A-ASSOCIATE-RQ", ASSOCIATE_AC: "A-ASSOCIATE-AC", ASSOCIATE_RJ: "A-ASSOCIATE-RJ",
             P_DATA: "P-DATA-TF", RELEASE_RQ: "A-RELEASE-RQ", RELEASE_RP: "A-RELEASE-RP", ABORT: "A-ABORT"}

APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"

# A-ABORT reasons (source 2, service provider)
REASON_NOT_SPECIFIED = 0
REASON_UNRECOGNIZED_PDU = 1
REASON_UNEXPECTED_PDU = 2
REASON_UNRECOGNIZED_PARAMETER = 4
REASON_UNEXPECTED_PARAMETER = 5
REASON_INVALID_PARAMETER = 6

# presentation context results
ACCEPTANCE = 0
USER_REJECTION = 1
NO_REASON = 2
ABSTRACT_SYNTAX_NOT_SUPPORTED = 3
TRANSFER_SYNTAXES_NOT_SUPPORTED = 4

_HEADER = struct.Struct(">BBI")
_ITEM = struct.Struct(">BBH")


class PduError(ValueError):
    """A PDU that breaks PS3.8; ``reason`` is the A-ABORT reason to answer with."""

    def __init__(self, message: str, reason: int = REASON_INVALID_PARAMETER):
        super().__init__(message)
        self.reason = reason


@dataclass
class ProposedContext:
    id: int
    abstract_syntax: str
    transfer_syntaxes: list[str]


@dataclass
class AcceptedContext:
    id: int
    result: int
    transfer_syntax: str
    abstract_syntax: str = ""          # filled in from the request by the acceptor


@dataclass
class RoleSelection:
    sop_class: str
    scu: int
    scp: int


@dataclass
class UserIdentity:
    type: int
    response_requested: int
    primary: bytes
    secondary: bytes = b""


@dataclass
class Associate:
    """An A-ASSOCIATE-RQ (``contexts`` proposed) or -AC (``accepted``)."""

    called_ae: str
    calling_ae: str
    raw_called: bytes = b""
    raw_calling: bytes = b""
    application_context: str = APPLICATION_CONTEXT
    contexts: list[ProposedContext] = field(default_factory=list)
    accepted: list[AcceptedContext] = field(default_factory=list)
    max_length: int = 0
    implementation_class_uid: str = ""
    implementation_version_name: str = ""
    async_ops: tuple[int, int] | None = None
    roles: list[RoleSelection] = field(default_factory=list)
    sop_extended: list[tuple[str, bytes]] = field(default_factory=list)
    common_extended: list[bytes] = field(default_factory=list)
    user_identity: UserIdentity | None = None
    identity_response: bytes | None = None
    protocol_version: int = 1


@dataclass
class Rejection:
    """A-ASSOCIATE-RJ: result 1 permanent / 2 transient; source 1 user, 2 ACSE, 3 presentation."""

    result: int
    source: int
    reason: int


def header(kind: int, length: int) -> bytes:
    return _HEADER.pack(kind, 0, length)


def _uid(raw: bytes) -> str:
    return raw.rstrip(b"\0 ").decode("ascii", "replace")


def _ae(raw: bytes) -> str:
    return raw.decode("latin-1").strip(" \0")


def _item(kind: int, payload: bytes) -> bytes:
    if len(payload) > 0xFFFF:
        raise PduError(f"item 0x{kind:02x} too long ({len(payload)} bytes)")
    return _ITEM.pack(kind, 0, len(payload)) + payload


def _items(data: bytes | memoryview, start: int, end: int, what: str) -> Iterator[tuple[int, bytes]]:
    pos = start
    while pos < end:
        if pos + 4 > end:
            raise PduError(f"{what}: item header cut at offset {pos}")
        kind, _, length = _ITEM.unpack_from(data, pos)
        if pos + 4 + length > end:
            raise PduError(f"{what}: item 0x{kind:02x} of {length} bytes runs past its container")
        yield kind, bytes(data[pos + 4:pos + 4 + length])
        pos += 4 + length


# -- decoding -------------------------------------------------------------------------
def decode_associate(kind: int, body: bytes | memoryview) -> Associate:
    """Decode the variable part of an A-ASSOCIATE-RQ or -AC (after the 6-byte header)."""
    what = PDU_NAMES[kind]
    if len(body) < 68:
        raise PduError(f"{what} too short ({len(body)} bytes)")
    version = struct.unpack_from(">H", body, 0)[0]
    raw_called, raw_calling = bytes(body[4:20]), bytes(body[20:36])
    assoc = Associate(_ae(raw_called), _ae(raw_calling), raw_called, raw_calling, protocol_version=version)
    if not version & 1:
        raise PduError(f"{what}: protocol version {version} not supported", REASON_INVALID_PARAMETER)
    seen_context = False
    for item_kind, payload in _items(body, 68, len(body), what):
        if item_kind == 0x10:
            assoc.application_context = _uid(payload)
            seen_context = True
        elif item_kind == 0x20 and kind == ASSOCIATE_RQ:
            assoc.contexts.append(_proposed(payload))
        elif item_kind == 0x21 and kind == ASSOCIATE_AC:
            assoc.accepted.append(_accepted(payload))
        elif item_kind == 0x50:
            _user_info(assoc, payload)
    if not seen_context:
        raise PduError(f"{what} without an application context item")
    if kind == ASSOCIATE_RQ and not assoc.contexts:
        raise PduError(f"{what} without presentation contexts")
    return assoc


def _proposed(payload: bytes) -> ProposedContext:
    if len(payload) < 4:
        raise PduError("presentation context item too short")
    context_id = payload[0]
    abstract = None
    syntaxes = []
    for kind, value in _items(payload, 4, len(payload), "presentation context"):
        if kind == 0x30:
            if abstract is not None:
                raise PduError("presentation context with two abstract syntaxes")
            abstract = _uid(value)
        elif kind == 0x40:
            syntaxes.append(_uid(value))
    if abstract is None or not syntaxes:
        raise PduError(f"presentation context {context_id} without abstract or transfer syntax")
    return ProposedContext(context_id, abstract, syntaxes)


def _accepted(payload: bytes) -> AcceptedContext:
    if len(payload) < 4:
        raise PduError("presentation context item too short")
    syntax = ""
    for kind, value in _items(payload, 4, len(payload), "presentation context"):
        if kind == 0x40:
            syntax = _uid(value)
    return AcceptedContext(payload[0], payload[2], syntax)


def _user_info(assoc: Associate, payload: bytes) -> None:
    for kind, value in _items(payload, 0, len(payload), "user information"):
        if kind == 0x51:
            if len(value) != 4:
                raise PduError("maximum length item is not 4 bytes")
            assoc.max_length = struct.unpack(">I", value)[0]
        elif kind == 0x52:
            assoc.implementation_class_uid = _uid(value)
        elif kind == 0x55:
            assoc.implementation_version_name = value.rstrip(b"\0 ").decode("latin-1")
        elif kind == 0x53 and len(value) == 4:
            assoc.async_ops = struct.unpack(">HH", value)
        elif kind == 0x54:
            if len(value) < 4:
                raise PduError("role selection item too short")
            n = struct.unpack_from(">H", value, 0)[0]
            if 2 + n + 2 > len(value):
                raise PduError("role selection item: UID length past its end")
            assoc.roles.append(RoleSelection(_uid(value[2:2 + n]), value[2 + n], value[3 + n]))
        elif kind == 0x56:
            if len(value) < 2:
                raise PduError("extended negotiation item too short")
            n = struct.unpack_from(">H", value, 0)[0]
            if 2 + n > len(value):
                raise PduError("extended negotiation item: UID length past its end")
            assoc.sop_extended.append((_uid(value[2:2 + n]), value[2 + n:]))
        elif kind == 0x57:
            assoc.common_extended.append(value)
        elif kind == 0x58:
            if len(value) < 6:
                raise PduError("user identity item too short")
            n = struct.unpack_from(">H", value, 2)[0]
            if 4 + n + 2 > len(value):
                raise PduError("user identity item: primary field past its end")
            m = struct.unpack_from(">H", value, 4 + n)[0]
            if 6 + n + m > len(value):
                raise PduError("user identity item: secondary field past its end")
            assoc.user_identity = UserIdentity(value[0], value[1], value[4:4 + n], value[6 + n:6 + n + m])
        elif kind == 0x59:
            assoc.identity_response = value


def decode_rejection(body: bytes | memoryview) -> Rejection:
    if len(body) < 4:
        raise PduError("A-ASSOCIATE-RJ too short")
    return Rejection(body[1], body[2], body[3])


def iter_pdvs(body: memoryview) -> Iterator[tuple[int, int, memoryview]]:
    """(presentation context ID, message control header, fragment) of each PDV."""
    pos = 0
    end = len(body)
    if end == 0:
        raise PduError("P-DATA-TF without a PDV")
    while pos < end:
        if pos + 6 > end:
            raise PduError("P-DATA-TF: PDV header cut")
        length = struct.unpack_from(">I", body, pos)[0]
        if length < 2 or pos + 4 + length > end:
            raise PduError(f"P-DATA-TF: PDV of {length} bytes does not fit the PDU")
        yield body[pos + 4], body[pos + 5], body[pos + 6:pos + 4 + length]
        pos += 4 + length


# -- encoding -------------------------------------------------------------------------
def _ae_field(text: str, raw: bytes = b"") -> bytes:
    if raw:
        return raw[:16].ljust(16, b" ")
    return text.encode("latin-1", "replace")[:16].ljust(16, b" ")


def _user_items(assoc: Associate, request: bool) -> bytes:
    parts = [_item(0x51, struct.pack(">I", assoc.max_length)),
             _item(0x52, assoc.implementation_class_uid.encode("ascii"))]
    if assoc.async_ops is not None:
        parts.append(_item(0x53, struct.pack(">HH", *assoc.async_ops)))
    for role in assoc.roles:
        uid = role.sop_class.encode("ascii")
        parts.append(_item(0x54, struct.pack(">H", len(uid)) + uid + bytes([role.scu, role.scp])))
    if assoc.implementation_version_name:
        parts.append(_item(0x55, assoc.implementation_version_name.encode("latin-1")[:16]))
    for uid_text, info in assoc.sop_extended:
        uid = uid_text.encode("ascii")
        parts.append(_item(0x56, struct.pack(">H", len(uid)) + uid + info))
    if request:
        for raw in assoc.common_extended:
            parts.append(_item(0x57, raw))
        if assoc.user_identity is not None:
            ui = assoc.user_identity
            parts.append(_item(0x58, bytes([ui.type, ui.response_requested]) + struct.pack(">H", len(ui.primary))
                               + ui.primary + struct.pack(">H", len(ui.secondary)) + ui.secondary))
    elif assoc.identity_response is not None:
        parts.append(_item(0x59, assoc.identity_response))
    return b"".join(parts)


def _associate_pdu(pdu_type: int, assoc: Associate, contexts: bytes) -> bytes:
    """A-ASSOCIATE-RQ/AC (PS3.8 9.3.2, 9.3.3): protocol version 1, called and calling AE,
    32 reserved bytes, application context, the presentation context items, user information."""
    body = (struct.pack(">HH", 1, 0) + _ae_field(assoc.called_ae, assoc.raw_called)
            + _ae_field(assoc.calling_ae, assoc.raw_calling) + b"\0" * 32
            + _item(0x10, assoc.application_context.encode("ascii")) + contexts
            + _item(0x50, _user_items(assoc, pdu_type == ASSOCIATE_RQ)))
    return header(pdu_type, len(body)) + body


def encode_associate_rq(assoc: Associate) -> bytes:
    contexts = b"".join(
        _item(0x20, bytes([pc.id, 0, 0, 0]) + _item(0x30, pc.abstract_syntax.encode("ascii"))
              + b"".join(_item(0x40, ts.encode("ascii")) for ts in pc.transfer_syntaxes))
        for pc in assoc.contexts)
    return _associate_pdu(ASSOCIATE_RQ, assoc, contexts)


def encode_associate_ac(assoc: Associate) -> bytes:
    contexts = b"".join(
        _item(0x21, bytes([pc.id, 0, pc.result, 0]) + _item(0x40, (pc.transfer_syntax or "1.2.840.10008.1.2")
                                                             .encode("ascii")))
        for pc in assoc.accepted)
    return _associate_pdu(ASSOCIATE_AC, assoc, contexts)


def encode_rejection(rejection: Rejection) -> bytes:
    return header(ASSOCIATE_RJ, 4) + bytes([0, rejection.result, rejection.source, rejection.reason])


def encode_release_rq() -> bytes:
    return header(RELEASE_RQ, 4) + b"\0\0\0\0"


def encode_release_rp() -> bytes:
    return header(RELEASE_RP, 4) + b"\0\0\0\0"


def encode_abort(source: int = 2, reason: int = REASON_NOT_SPECIFIED) -> bytes:
    return header(ABORT, 4) + bytes([0, 0, source, reason])


def pdv_header(length: int, context_id: int, control: int) -> bytes:
    """PDU header and PDV header for one PDV of ``length`` data bytes."""
    return _HEADER.pack(P_DATA, 0, length + 6) + struct.pack(">IBB", length + 2, context_id, control)
