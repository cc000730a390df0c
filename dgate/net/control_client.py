"""Client side of the server-command channel: a C-ECHO carrying private group 9999
elements (conquest-protocol.md §4). Standard library only, so ``dgate --cmd:`` and
``servertask`` start fast.

One association per command, as dgate 1.5.0e builds it: calling AE = called AE, one
presentation context Verification / Implicit VR LE, max PDU 16384, a command set with
(0000,0002/0100/0110/0800), optional (9999,0300) console text, (9999,0400) the command,
optional upload (9999,0402) with (9999,0404)=1 when its length was odd; NUL padding; group
length for group 0000 only. The reply payload is every (9999,0401), minus one byte when the
first (9999,0404) is set.
"""
from __future__ import annotations

import _socket
import struct
from contextlib import contextmanager
from typing import Iterator

VERIFICATION = "1.2.840.10008.1.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
APP_CONTEXT = "1.2.840.10008.3.1.1.1"
IMPLEMENTATION_UID = "1.2.826.0.1.3680043.2.135.1066.101"
IMPLEMENTATION_VERSION = "1.5.0/OTHER"
CONSOLE_TEXT = 0x99990300
COMMAND = 0x99990400
RESPONSE = 0x99990401
UPLOAD = 0x99990402
ODD = 0x99990404
DEFAULT_TEXT = "Server command sent using DGATE -- option"


class ControlError(Exception):
    """The server could not be reached, refused the association or sent no reply."""


def _pad(value: bytes) -> bytes:
    return value + b"\0" if len(value) % 2 else value


def _element(tag: int, value: bytes) -> bytes:
    value = _pad(value)
    return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, len(value)) + value


def encode_command_set(elements: dict[int, bytes]) -> bytes:
    """Implicit VR LE, sorted, NUL-padded, (0000,0000) counting group 0000 only."""
    body = b"".join(_element(tag, elements[tag]) for tag in sorted(elements) if tag >> 16 == 0 and tag != 0)
    rest = b"".join(_element(tag, elements[tag]) for tag in sorted(elements) if tag >> 16 != 0)
    return _element(0x00000000, struct.pack("<I", len(body))) + body + rest


def decode_command_set(data: bytes) -> list[tuple[int, bytes]]:
    """(tag, value) pairs of an implicit VR LE command set, in order; sequences skipped."""
    out = []
    pos = 0
    while pos + 8 <= len(data):
        group, element, length = struct.unpack_from("<HHI", data, pos)
        pos += 8
        tag = (group << 16) | element
        if length == 0xFFFFFFFF:
            pos = _skip_undefined(data, pos)
            out.append((tag, b""))
            continue
        out.append((tag, data[pos:pos + length]))
        pos += length
    return out


def _skip_undefined(data: bytes, pos: int) -> int:
    depth = 1
    while pos + 8 <= len(data) and depth:
        group, element, length = struct.unpack_from("<HHI", data, pos)
        pos += 8
        if (group, element) == (0xFFFE, 0xE0DD):
            depth -= 1
        elif length == 0xFFFFFFFF and (group, element) != (0xFFFE, 0xE000):
            depth += 1
        elif length != 0xFFFFFFFF and (group, element) not in ((0xFFFE, 0xE00D),):
            pos += length
    return pos


# -- PDUs ---------------------------------------------------------------------------------
def _item(kind: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", kind, 0, len(payload)) + payload


def _ae(title: str) -> bytes:
    return title.encode("latin-1")[:16].ljust(16, b" ")


def associate_rq(calling: str, called: str, max_pdu: int = 16384, context_id: int = 1) -> bytes:
    pc = struct.pack(">BBBB", context_id, 0, 0, 0) + _item(0x30, VERIFICATION.encode()) + \
        _item(0x40, IMPLICIT_LE.encode())
    user = _item(0x51, struct.pack(">I", max_pdu)) + _item(0x52, IMPLEMENTATION_UID.encode()) + \
        _item(0x55, IMPLEMENTATION_VERSION.encode())
    body = struct.pack(">HH", 1, 0) + _ae(called) + _ae(calling) + b"\0" * 32 + \
        _item(0x10, APP_CONTEXT.encode()) + _item(0x20, pc) + _item(0x50, user)
    return struct.pack(">BBI", 0x01, 0, len(body)) + body


def connect(host: str, port: int, timeout: float) -> _socket.socket:
    """A TCP connection with TCP_NODELAY. The C socket module directly and an ASCII host
    as bytes keep the ``socket`` module and the IDNA codec out of the client's start-up."""
    name = host.encode("ascii") if host.isascii() else host
    error: OSError | None = None
    for family, kind, proto, _, address in _socket.getaddrinfo(name, port, 0, _socket.SOCK_STREAM):
        sock = _socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error or OSError(f"cannot resolve {host}")


def _recv_exact(sock: _socket.socket, n: int) -> bytes:
    chunks = []
    while n:
        chunk = sock.recv(n)
        if not chunk:
            raise ControlError("connection closed by the server")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_pdu(sock: _socket.socket) -> tuple[int, bytes]:
    head = _recv_exact(sock, 6)
    kind, _, length = struct.unpack(">BBI", head)
    return kind, _recv_exact(sock, length)


def _peer_max_pdu(ac: bytes) -> int:
    pos = 68
    while pos + 4 <= len(ac):
        kind, _, length = struct.unpack_from(">BBH", ac, pos)
        if kind == 0x50:
            sub = pos + 4
            while sub + 4 <= pos + 4 + length:
                skind, _, slen = struct.unpack_from(">BBH", ac, sub)
                if skind == 0x51 and slen == 4:
                    return int(struct.unpack_from(">I", ac, sub + 4)[0])
                sub += 4 + slen
        pos += 4 + length
    return 0


def _accepted_context(ac: bytes, context_id: int) -> bool:
    pos = 68
    while pos + 4 <= len(ac):
        kind, _, length = struct.unpack_from(">BBH", ac, pos)
        if kind == 0x21 and ac[pos + 4] == context_id:
            return ac[pos + 6] == 0
        pos += 4 + length
    return False


def p_data(context_id: int, command: bytes, max_pdu: int) -> list[bytes]:
    """P-DATA-TF PDUs carrying a command set, split to the peer's maximum."""
    size = max(max_pdu - 6, 64) if max_pdu else len(command)
    pdus = []
    for start in range(0, max(len(command), 1), size):
        chunk = command[start:start + size]
        last = start + size >= len(command)
        pdv = struct.pack(">IBB", len(chunk) + 2, context_id, 0x03 if last else 0x01) + chunk
        pdus.append(struct.pack(">BBI", 0x04, 0, len(pdv)) + pdv)
    return pdus


class Reply:
    """What came back: every (9999,0401) value and the odd-length flag."""

    __slots__ = ("elements",)

    def __init__(self, elements: list[tuple[int, bytes]] | None = None):
        self.elements: list[tuple[int, bytes]] = list(elements or [])

    def __repr__(self) -> str:
        return f"Reply({self.elements!r})"

    @property
    def odd(self) -> bool:
        for tag, value in self.elements:
            if tag == ODD:
                return value[:2] not in (b"", b"\0\0", b"0\0", b"0")
        return False

    @property
    def payloads(self) -> list[bytes]:
        return [value for tag, value in self.elements if tag == RESPONSE]

    @property
    def has_payload(self) -> bool:
        return bool(self.payloads)

    def data(self) -> bytes:
        """The payload as dgate writes it to stdout: minus one byte when flagged odd."""
        out = b"".join(self.payloads)
        return out[:-1] if self.odd and out else out


def send_command(command: str | bytes, host: str = "127.0.0.1", port: int = 5678, ae: str = "CONQUESTSRV1",
                 console_text: str | None = DEFAULT_TEXT, upload: bytes | None = None,
                 timeout: float = 300.0, message_id: int = 1) -> Reply:
    """Send one server command and return the reply (raises :class:`ControlError`)."""
    with CommandSession(host, port, ae, timeout) as session:
        return session.send(command, console_text, upload, message_id)


class CommandSession:
    """One association for several server commands (the CGI pages ask many ``get_…:``
    questions; the original opens an association for each). Raises :class:`ControlError`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 5678, ae: str = "CONQUESTSRV1", timeout: float = 300.0):
        self.host, self.port = host, int(port)
        try:
            self.sock: _socket.socket | None = connect(host, self.port, timeout)
        except OSError as exc:
            raise ControlError(f"cannot connect to {host}:{port}: {exc}") from exc
        with self._dropped_on_failure():
            self.sock.sendall(associate_rq(ae, ae))
            kind, ac = read_pdu(self.sock)
        if kind != 0x02 or not _accepted_context(ac, 1):
            self._drop()
            raise ControlError(f"association refused by {host}:{port}")
        self.max_pdu = _peer_max_pdu(ac)

    def __enter__(self) -> "CommandSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _dropped_on_failure(self) -> Iterator[None]:
        """A socket or protocol failure closes the association and raises ControlError."""
        try:
            yield
        except OSError as exc:
            self._drop()
            raise ControlError(str(exc)) from exc
        except ControlError:
            self._drop()
            raise

    def _drop(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def send(self, command: str | bytes, console_text: str | None = DEFAULT_TEXT, upload: bytes | None = None,
             message_id: int = 1) -> Reply:
        if self.sock is None:
            raise ControlError("the association is closed")
        text = command.encode("latin-1") if isinstance(command, str) else command
        elements = {0x00000002: VERIFICATION.encode(), 0x00000100: struct.pack("<H", 0x0030),
                    0x00000110: struct.pack("<H", message_id), 0x00000800: struct.pack("<H", 0x0101),
                    COMMAND: text}
        if console_text:
            elements[CONSOLE_TEXT] = console_text.encode("latin-1")
        if upload is not None:
            elements[UPLOAD] = upload
            if len(upload) % 2:
                elements[ODD] = struct.pack("<H", 1)
        with self._dropped_on_failure():
            self.sock.sendall(b"".join(p_data(1, encode_command_set(elements), self.max_pdu)))
            received = bytearray()
            while True:
                kind, body = read_pdu(self.sock)
                if kind != 0x04:
                    raise ControlError(f"unexpected PDU type {kind:#x} instead of a reply")
                pos, done = 0, False
                while pos + 6 <= len(body):
                    length = struct.unpack_from(">I", body, pos)[0]
                    header = body[pos + 5]
                    received += body[pos + 6:pos + 4 + length]
                    pos += 4 + length
                    if header & 0x02 and header & 0x01:
                        done = True
                if done:
                    break
            return Reply(decode_command_set(bytes(received)))

    def close(self) -> None:
        """A-RELEASE (the answer is not awaited for long) and the socket closed."""
        if self.sock is None:
            return
        try:
            self.sock.sendall(struct.pack(">BBI", 0x05, 0, 4) + b"\0" * 4)
            read_pdu(self.sock)
        except (OSError, ControlError):
            pass
        self._drop()


def process_html(data: bytes) -> bytes:
    """``processhtml``: after each ``<A `` every space up to the next ``>`` becomes ``%20``;
    an even-length result ending in NUL loses that NUL."""
    out = bytearray()
    i = 0
    inside = False
    while i < len(data):
        if not inside and data[i:i + 3] == b"<A ":
            out += b"<A "
            i += 3
            inside = True
            continue
        ch = data[i:i + 1]
        if inside and ch == b">":
            inside = False
        out += b"%20" if inside and ch == b" " else ch
        i += 1
    if len(out) % 2 == 0 and out.endswith(b"\0"):
        out = out[:-1]
    return bytes(out)


def server_command(command: str, mode: str = "", host: str = "127.0.0.1", port: int = 5678,
                   ae: str = "CONQUESTSRV1", stdout=None) -> bytes | None:
    """Lua ``servercommand(cmd [, mode])`` semantics (conquest-protocol.md §4.6, §7).

    * default (or unknown mode): the reply minus the odd pad, then one trailing space or NUL
      removed; None when there was no payload or no server;
    * ``binary``: the reply minus the odd pad only;
    * ``<path``: upload the file at path (9999,0402), reply as ``binary``;
    * ``>path``: write the reply to path, return None;
    * ``cgi`` / ``cgibinary``: write the reply raw to ``stdout``; ``cgihtml`` through
      :func:`process_html`; return None.
    """
    upload = None
    if mode.startswith("<"):
        with open(mode[1:], "rb") as handle:
            upload = handle.read()
    try:
        reply = send_command(command, host=host, port=port, ae=ae, console_text=None, upload=upload)
    except ControlError:
        return None
    if not reply.has_payload:
        return None
    data = reply.data()
    if mode.startswith(">"):
        with open(mode[1:], "wb") as handle:
            handle.write(data)
        return None
    if mode in ("cgi", "cgibinary", "cgihtml"):
        import sys
        stream = stdout or sys.stdout.buffer
        stream.write(process_html(data) if mode == "cgihtml" else data)
        stream.flush()
        return None
    if mode == "binary" or mode.startswith("<"):
        return data
    if len(data) > 1 and data[-1:] in (b" ", b"\0"):
        data = data[:-1]
    return data
