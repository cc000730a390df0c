"""C-ECHO, and the server-command channel carried by C-ECHO (conquest-protocol.md §4).

A request holding (9999,0400) is *silent*: no association header, not counted. Its
command is run only for a peer allowed by ``ServerCommandAddresses`` and
``ServerCommandAEs``; the check comes first, so the console text (9999,0300) of a refused
peer is never logged, and every peer text is logged on one line (control characters
shown as ``\\xNN``). The command itself runs where the server's ``command_runner`` sends
it (in the hub), unless a :data:`~.hooks.LOCAL_COMMAND` function runs it here (``lua:``
in the association's Lua state). The reply is a C-ECHO-RSP built as 1.5.0e builds it:
(0000,0002) and (0000,0800) copied, (0000,0110) returned as (0000,0120), status 0, the payload in
(9999,0401) NUL-padded with (9999,0404)=1 when its length is odd. Unlike the original,
the request's own (9999,0404) is not echoed (it made clients drop a byte of even replies).
"""
from __future__ import annotations

import struct

from ..log import printable
from ..runtime import HubGone, counters
from . import hooks
from .association import Closed, Message
from .control import COMMAND, CONSOLE_TEXT, ODD, UPLOAD, encode_command_set, reply_elements
from .dimse import AFFECTED_SOP_CLASS, C_ECHO_RSP, DATA_SET_TYPE, MESSAGE_ID
from .session import AssociationInfo


def echo(session: AssociationInfo, msg: Message) -> None:
    private = msg.command.private()
    if COMMAND in private:
        server_command(session, msg, private)
        return
    session.announce(msg)
    session.logs.operator.printf("C-Echo\n")
    counters.add("echo")
    session.respond(msg, 0x0000)


def command_allowed(session: AssociationInfo) -> bool:
    """Commands only from the addresses in ``ServerCommandAddresses`` and AEs in
    ``ServerCommandAEs`` (ours; the original accepts anyone)."""
    settings = session.server.settings
    address = session.address
    allowed = {a.strip() for a in settings.str("ServerCommandAddresses").split(",") if a.strip()}
    aes = {a.strip() for a in settings.str("ServerCommandAEs").split(",") if a.strip()}
    address_ok = "*" in allowed or address in allowed or \
        (address.startswith("::ffff:") and address[7:] in allowed)
    ae_ok = not aes or "*" in aes or session.calling.strip() in aes
    return address_ok and ae_ok


def server_command(session: AssociationInfo, msg: Message, private: dict[int, bytes]) -> None:
    logs = session.logs
    text = private[COMMAND].split(b"\0", 1)[0].decode("latin-1")
    if text.endswith(" "):
        text = text[:-1]
    payload: bytes | None = None
    if not command_allowed(session):
        logs.operator.printf(f"*** server command refused from {printable(session.address)} "
                             f"({printable(session.calling.strip())}): not in ServerCommandAddresses/"
                             f"ServerCommandAEs ({printable(text.split(':', 1)[0][:40])})\n")
    else:
        console = private.get(CONSOLE_TEXT)
        if console:
            logs.operator.printf(printable(console.split(b"\0", 1)[0].decode("latin-1")[:1023]) + "\n")
        logs.debug.printf(f"Server Command := {printable(text[:200])}\n")
        upload = private.get(UPLOAD)
        if upload is not None and private.get(ODD, b"")[:1] == b"\x01":
            upload = upload[:-1]
        try:
            local = hooks.LOCAL_COMMAND(session, text, upload, msg.command)
            payload = local[0] if local is not None else \
                session.server.command_runner(text, upload, session.address, session.calling.strip())
        except HubGone:
            # the hub stopped while running the command (quit:): no reply, as the original
            session.assoc.close()
            raise Closed("the server stopped") from None
        except Exception as exc:  # a failing command must not take the association down
            logs.operator.printf(f"***server command {printable(text.split(':', 1)[0][:40])}: failed: "
                                 f"{printable(str(exc))}\n")
    command = msg.command
    elements: dict[int, bytes] = {0x00000100: struct.pack("<H", C_ECHO_RSP), 0x00000900: b"\0\0",
                                  0x00000120: command.raw(MESSAGE_ID) or b"\0\0"}
    for tag in (AFFECTED_SOP_CLASS, DATA_SET_TYPE):
        value = command.raw(tag)
        if value is not None:
            elements[tag] = value
    elements.update(dict(reply_elements(payload)))
    session.assoc.send_message(msg.context_id, encode_command_set(elements))
