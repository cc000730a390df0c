"""The server-command channel: a C-ECHO carrying private group 9999 elements
(conquest-protocol.md §4).

Client: :mod:`.control_client` (re-exported here).

Server: pynetdicom gives handlers a primitive without private elements, so
:func:`install_hooks` attaches the decoded command set to every received primitive
(``primitive.dgate_command_set``) and lets a C-ECHO handler put reply elements on the
association (``assoc.dgate_reply``), which are added to the C-ECHO-RSP command set.
"""
from __future__ import annotations

import struct

from .control_client import (  # noqa: F401  (the client wire code, standard library only; re-exported)
    COMMAND,
    CONSOLE_TEXT,
    DEFAULT_TEXT,
    ODD,
    RESPONSE,
    UPLOAD,
    ControlError,
    Reply,
    decode_command_set,
    encode_command_set,
    process_html,
    send_command,
    server_command,
)


# -- server hooks ------------------------------------------------------------------------
def install_hooks() -> None:
    """Patch pynetdicom so handlers see private command elements and can reply with them."""
    from pydicom.filebase import DicomBytesIO
    from pynetdicom import dimse, dimse_messages

    if getattr(dimse_messages.DIMSEMessage, "_dgate_hooked", False):
        return
    original_to_primitive = dimse_messages.DIMSEMessage.message_to_primitive

    def message_to_primitive(self):
        primitive = original_to_primitive(self)
        try:
            primitive.dgate_command = decode_command_set(self.encoded_command_set.getvalue())
        except Exception:
            primitive.dgate_command = []
        return primitive

    original_send = dimse.DIMSEServiceProvider.send_msg

    def send_msg(self, primitive, context_id):
        extra = getattr(self.assoc, "dgate_reply", None)
        if extra is None or primitive.__class__.__name__ != "C_ECHO" or primitive.MessageIDBeingRespondedTo is None:
            return original_send(self, primitive, context_id)
        self.assoc.dgate_reply = None
        msg = dimse_messages.C_ECHO_RSP()
        msg.primitive_to_message(primitive)
        msg.context_id = context_id
        raw = encode_command_set({**{int(e.tag): _raw(e) for e in msg.command_set if e.tag.group == 0},
                                  **dict(extra)})
        for pdata in _encode_raw(raw, context_id, self.maximum_pdu_size):
            self.dul.send_pdu(pdata)

    def _raw(elem) -> bytes:
        fp = DicomBytesIO()
        fp.is_little_endian = True
        fp.is_implicit_VR = True
        from pydicom.filewriter import write_data_element
        write_data_element(fp, elem)
        return fp.getvalue()[8:]

    def _encode_raw(raw: bytes, context_id: int, max_pdu: int):
        from pynetdicom.pdu_primitives import P_DATA
        size = (max_pdu - 6) if max_pdu else len(raw)
        for start in range(0, len(raw), size):
            pdata = P_DATA()
            last = start + size >= len(raw)
            pdata.presentation_data_value_list.append(
                (context_id, (b"\x03" if last else b"\x01") + raw[start:start + size]))
            yield pdata

    dimse_messages.DIMSEMessage.message_to_primitive = message_to_primitive
    dimse_messages.DIMSEMessage._dgate_hooked = True
    dimse.DIMSEServiceProvider.send_msg = send_msg


def command_of(primitive) -> dict[int, bytes]:
    """The private elements of a received message as {tag: value} (first occurrence)."""
    found: dict[int, bytes] = {}
    for tag, value in getattr(primitive, "dgate_command", []) or []:
        if tag >> 16 == 0x9999:
            found.setdefault(tag, value)
    return found


def reply_elements(payload: bytes | None) -> list[tuple[int, bytes]]:
    """(9999,0401) with NUL padding and (9999,0404)=1 when the payload is odd."""
    if not payload:
        return []
    elements = [(RESPONSE, payload)]
    if len(payload) % 2:
        elements.append((ODD, struct.pack("<H", 1)))
    return elements
