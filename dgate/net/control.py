"""The server-command channel: a C-ECHO carrying private group 9999 elements
(conquest-protocol.md §4).

Client: :mod:`.control_client` (re-exported here).

Server: our DIMSE layer keeps every command element, so :mod:`.verification` reads the
9999 elements directly and builds the reply with :func:`encode_command_set` and
:func:`reply_elements`.
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
    CommandSession,
    ControlError,
    Reply,
    decode_command_set,
    encode_command_set,
    process_html,
    send_command,
    server_command,
)


# -- server side (used by net/verification.py) --------------------------------------
def reply_elements(payload: bytes | None) -> list[tuple[int, bytes]]:
    """(9999,0401) with NUL padding and (9999,0404)=1 when the payload is odd."""
    if not payload:
        return []
    elements = [(RESPONSE, payload)]
    if len(payload) % 2:
        elements.append((ODD, struct.pack("<H", 1)))
    return elements
