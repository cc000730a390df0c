"""One DICOM association over a TCP socket: the upper-layer protocol (PS3.8 §7, §9)
and DIMSE message assembly (PS3.7 §9.1, PS3.8 Annex E).

Both roles use :class:`Association`: the server wraps an accepted socket and negotiates
with :mod:`.negotiation`; :meth:`Association.connect` makes a requestor (the C-STORE SCU
of C-MOVE sub-operations, forwarding).

Reading is buffered and bounded: a PDU header announcing more than the limit of its
type (P-DATA-TF: the maximum length we advertised) is refused at once, before its body
is read (:class:`ProtocolError`, answered with A-ABORT by the caller). Each data set is
handed fragment by fragment to a *sink* (for C-STORE the store's spool, which streams
big objects to a file), so memory does not grow with the object. Sending splits
commands and data sets into PDUs of at most the peer's maximum length and writes them
with ``sendmsg`` (one system call for a response and its identifier).
"""
from __future__ import annotations

import select
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol

from ..runtime.sockets import close_socket
from . import pdu
from .dimse import C_CANCEL_RQ, Command, CommandError, encode_command

DEFAULT_MAX_LENGTH = 131072
MAX_ASSOCIATE = 1 << 20          # A-ASSOCIATE-RQ/AC limit (128 contexts, user identity, ...)
MAX_SMALL_PDU = 1024             # A-RELEASE, A-ABORT, A-ASSOCIATE-RJ
MAX_COMMAND = 1 << 20
MAX_IN_MEMORY_DATA = 256 << 20   # data sets of messages other than C-STORE
SEND_UNLIMITED = 1 << 20         # PDV size when the peer has no maximum


class Aborted(Exception):
    """The peer sent A-ABORT."""


class Closed(Exception):
    """The connection ended without A-RELEASE or A-ABORT (or a network error broke it)."""


class ProtocolError(Exception):
    """The peer broke PS3.8/PS3.7; ``reason`` is the A-ABORT reason to send."""

    def __init__(self, message: str, reason: int = pdu.REASON_INVALID_PARAMETER):
        super().__init__(message)
        self.reason = reason


class Rejected(Exception):
    """Our association request was rejected (or not answered with A-ASSOCIATE-AC)."""


class Sink(Protocol):
    def write(self, chunk: memoryview) -> None: ...

    def finish(self) -> Any: ...

    def discard(self) -> None: ...


class MemorySink:
    """Collects a (small) data set in memory."""

    def __init__(self, limit: int = MAX_IN_MEMORY_DATA):
        self.buffer = bytearray()
        self.limit = limit

    def write(self, chunk: memoryview) -> None:
        self.buffer += chunk
        if len(self.buffer) > self.limit:
            raise ProtocolError(f"data set larger than {self.limit} bytes")

    def finish(self) -> bytes:
        return bytes(self.buffer)

    def discard(self) -> None:
        self.buffer = bytearray()


@dataclass
class Message:
    """A complete DIMSE message: its command and (when it has one) its data set."""

    context_id: int
    command: Command
    data: Any = None                     # bytes, or what the sink's finish() returned
    transfer_syntax: str = ""
    abstract_syntax: str = ""


@dataclass
class Partial:
    """What had arrived of a message when the association broke (for the log line)."""

    command: Command | None = None
    received: int = 0


@dataclass
class Limits:
    max_length: int = DEFAULT_MAX_LENGTH     # advertised: largest P-DATA-TF we accept
    request_timeout: float = 5.0             # ARTIM: time for the A-ASSOCIATE-RQ
    idle_timeout: float | None = 300.0       # TCPIPTimeOut: between and within PDUs


SinkFactory = Callable[[Command, pdu.AcceptedContext], Sink]


@dataclass
class Association:
    sock: socket.socket
    peer: tuple[str, int]
    limits: Limits = field(default_factory=Limits)
    request: pdu.Associate | None = None
    accept: pdu.Associate | None = None
    contexts: dict[int, pdu.AcceptedContext] = field(default_factory=dict)
    peer_max: int = 0
    released: bool = False
    partial: Partial = field(default_factory=Partial)
    next_message_id: int = 1

    def __post_init__(self) -> None:
        size = max(self.limits.max_length, 16384) + 6 + 65536
        self._buf = bytearray(size)
        self._view = memoryview(self._buf)
        self._start = 0
        self._end = 0
        self._pending: deque[Message] = deque()
        self._timeout: float | None | str = "unset"
        try:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def _set_timeout(self, timeout: float | None) -> None:
        """``settimeout`` only when it changes (each call costs an ioctl)."""
        if timeout != self._timeout:
            self.sock.settimeout(timeout)
            self._timeout = timeout

    # -- reading ---------------------------------------------------------------------
    def _fill(self, need: int) -> None:
        """Make ``need`` bytes available from ``_start`` (the buffer is large enough)."""
        if self._end - self._start >= need:
            return
        if self._start + need > len(self._buf):
            left = self._end - self._start
            self._buf[0:left] = self._buf[self._start:self._end]
            self._start, self._end = 0, left
        while self._end - self._start < need:
            try:
                n = self.sock.recv_into(self._view[self._end:])
            except TimeoutError:
                raise
            except OSError as exc:
                raise Closed(f"network error: {exc}") from exc
            if n == 0:
                raise Closed("connection closed by the peer")
            self._end += n

    def _read_exact(self, n: int) -> bytes:
        """A body larger than the buffer (only A-ASSOCIATE PDUs up to MAX_ASSOCIATE)."""
        out = bytearray(self._buf[self._start:self._end])
        self._start = self._end = 0
        while len(out) < n:
            try:
                chunk = self.sock.recv(min(n - len(out), 1 << 20))
            except TimeoutError:
                raise
            except OSError as exc:
                raise Closed(f"network error: {exc}") from exc
            if not chunk:
                raise Closed("connection closed by the peer")
            out += chunk
        extra = out[n:]
        self._buf[0:len(extra)] = extra
        self._end = len(extra)
        return bytes(out[:n])

    def read_pdu(self, timeout: float | None = -1.0) -> tuple[int, memoryview]:
        """The next PDU (type, body); the body view is valid until the next read."""
        self._set_timeout(self.limits.idle_timeout if timeout == -1.0 else timeout)
        self._fill(6)
        kind, _, length = struct.unpack_from(">BBI", self._buf, self._start)
        if kind == pdu.P_DATA:
            if length > self.limits.max_length:
                raise ProtocolError(f"P-DATA-TF of {length} bytes exceeds the maximum {self.limits.max_length} "
                                    "we offered")
        elif kind in (pdu.ASSOCIATE_RQ, pdu.ASSOCIATE_AC):
            if length > MAX_ASSOCIATE:
                raise ProtocolError(f"{pdu.PDU_NAMES[kind]} of {length} bytes exceeds {MAX_ASSOCIATE}")
        elif kind in (pdu.ASSOCIATE_RJ, pdu.RELEASE_RQ, pdu.RELEASE_RP, pdu.ABORT):
            if length > MAX_SMALL_PDU:
                raise ProtocolError(f"{pdu.PDU_NAMES[kind]} of {length} bytes")
        else:
            raise ProtocolError(f"unknown PDU type 0x{kind:02x}", pdu.REASON_UNRECOGNIZED_PDU)
        if 6 + length > len(self._buf):
            self._start += 6
            return kind, memoryview(self._read_exact(length))
        self._fill(6 + length)
        start = self._start + 6
        self._start = start + length
        return kind, self._view[start:start + length]

    def data_waiting(self, wait: float = 0.0) -> bool:
        if self._end > self._start:
            return True
        try:
            ready, _, _ = select.select([self.sock], [], [], wait)
        except (OSError, ValueError):
            return False
        return bool(ready)

    def release_requested(self, wait: float = 0.0) -> bool:
        """Whether the next PDU from the peer (waiting for one at most ``wait`` seconds) is an
        A-RELEASE-RQ (left for :meth:`receive` to answer), or the connection is closed."""
        if self._pending:
            return False
        if self._end == self._start:
            if not self.data_waiting(wait):
                return False
            try:
                self._fill(1)
            except (Closed, TimeoutError):
                return True
        return self._buf[self._start] == pdu.RELEASE_RQ

    def receive(self, sink_factory: SinkFactory | None = None, timeout: float | None = -1.0) -> Message | None:
        """The next message; None after the peer released (A-RELEASE-RP is sent here).

        Raises :class:`Aborted`, :class:`Closed`, ``TimeoutError`` or
        :class:`ProtocolError`; ``self.partial`` then tells what had arrived.
        """
        if self._pending:
            return self._pending.popleft()
        self.partial = Partial()
        command_buf = bytearray()
        command: Command | None = None
        sink: Sink | None = None
        context_id = -1
        try:
            while True:
                kind, body = self.read_pdu(timeout)
                if kind == pdu.P_DATA:
                    try:
                        pdvs = list(pdu.iter_pdvs(body))
                    except pdu.PduError as exc:
                        raise ProtocolError(str(exc), exc.reason) from exc
                    for pc_id, control, fragment in pdvs:
                        accepted = self.contexts.get(pc_id)
                        if accepted is None:
                            raise ProtocolError(f"data for presentation context {pc_id}, which was not accepted",
                                                pdu.REASON_UNEXPECTED_PARAMETER)
                        if context_id not in (-1, pc_id):
                            raise ProtocolError("fragments of one message on two presentation contexts",
                                                pdu.REASON_UNEXPECTED_PARAMETER)
                        context_id = pc_id
                        if control & 1:
                            if command is not None:
                                raise ProtocolError("command fragment where the data set was expected",
                                                    pdu.REASON_UNEXPECTED_PARAMETER)
                            command_buf += fragment
                            if len(command_buf) > MAX_COMMAND:
                                raise ProtocolError("command set larger than 1 MB")
                            if not control & 2:
                                continue
                            try:
                                command = Command.decode(command_buf)
                            except CommandError as exc:
                                raise ProtocolError(f"bad command set: {exc}") from exc
                            self.partial.command = command
                            if not command.has_data_set:
                                return Message(pc_id, command, None, accepted.transfer_syntax,
                                               accepted.abstract_syntax)
                            sink = sink_factory(command, accepted) if sink_factory else MemorySink()
                        else:
                            if command is None or sink is None:
                                raise ProtocolError("data set fragment before its command",
                                                    pdu.REASON_UNEXPECTED_PARAMETER)
                            sink.write(fragment)
                            self.partial.received += len(fragment)
                            if control & 2:
                                data = sink.finish()
                                sink = None
                                return Message(pc_id, command, data, accepted.transfer_syntax,
                                               accepted.abstract_syntax)
                elif kind == pdu.RELEASE_RQ:
                    if command is not None or command_buf:
                        raise ProtocolError("A-RELEASE-RQ in the middle of a message", pdu.REASON_UNEXPECTED_PDU)
                    self.send_raw([pdu.encode_release_rp()])
                    self.released = True
                    return None
                elif kind == pdu.ABORT:
                    raise Aborted(f"A-ABORT (source {body[2] if len(body) > 2 else 0}, "
                                  f"reason {body[3] if len(body) > 3 else 0})")
                else:
                    raise ProtocolError(f"unexpected {pdu.PDU_NAMES.get(kind, hex(kind))}", pdu.REASON_UNEXPECTED_PDU)
        except BaseException:
            if sink is not None:
                sink.discard()
            raise

    def cancelled(self, message_id: int) -> bool:
        """Poll (without waiting) for a C-CANCEL-RQ of ``message_id``; other messages that
        arrive meanwhile are kept for :meth:`receive`."""
        for queued in list(self._pending):
            if queued.command.field == C_CANCEL_RQ and queued.command.responded_id == message_id:
                self._pending.remove(queued)
                return True
        while self.data_waiting():
            message = self.receive(timeout=self.limits.idle_timeout)
            if message is None:
                return True
            if message.command.field == C_CANCEL_RQ and message.command.responded_id == message_id:
                return True
            self._pending.append(message)
        return False

    # -- sending ---------------------------------------------------------------------
    def send_raw(self, buffers: list) -> None:
        """Write every buffer, with as few system calls as possible."""
        self._set_timeout(self.limits.idle_timeout)
        views = [memoryview(b).cast("B") for b in buffers if len(b)]
        while views:
            batch = views[:256]
            try:
                sent = self.sock.sendmsg(batch)
            except TimeoutError:
                raise
            except OSError as exc:
                raise Closed(f"network error: {exc}") from exc
            while sent:
                first = views[0]
                if sent >= len(first):
                    sent -= len(first)
                    views.pop(0)
                else:
                    views[0] = first[sent:]
                    sent = 0

    def _pdv_size(self) -> int:
        return (self.peer_max - 6) if self.peer_max > 6 else SEND_UNLIMITED

    def send_message(self, context_id: int, fields: dict[int, Any] | bytes, data: Any = None) -> None:
        """Send a command (elements or an encoded command set) and optionally its data
        set: bytes, or an iterable of chunks (streamed)."""
        command = fields if isinstance(fields, (bytes, bytearray)) else encode_command(fields)
        size = self._pdv_size()
        buffers: list = []
        view = memoryview(command)
        for start in range(0, len(command), size):
            piece = view[start:start + size]
            last = start + size >= len(command)
            buffers += [pdu.pdv_header(len(piece), context_id, 0x03 if last else 0x01), piece]
        if data is None:
            self.send_raw(buffers)
            return
        chunks = [data] if isinstance(data, (bytes, bytearray, memoryview)) else data
        pending = 0
        for piece, last in _fragments(chunks, size):
            buffers += [pdu.pdv_header(len(piece), context_id, 0x02 if last else 0x00), piece]
            pending += len(piece)
            if pending >= 4 * size or len(buffers) >= 128:
                self.send_raw(buffers)
                buffers, pending = [], 0
        self.send_raw(buffers)

    def message_id(self) -> int:
        value = self.next_message_id
        self.next_message_id = value % 0xFFFF + 1
        return value

    # -- ending ----------------------------------------------------------------------
    def abort(self, reason: int = pdu.REASON_NOT_SPECIFIED, source: int = 2) -> None:
        try:
            self.send_raw([pdu.encode_abort(source, reason)])
        except (OSError, Closed):
            pass
        self.close()

    def close(self) -> None:
        close_socket(self.sock)

    # -- requestor ---------------------------------------------------------------------
    @classmethod
    def connect(cls, host: str, port: int, request: pdu.Associate, timeout: float = 30.0,
                limits: Limits | None = None) -> "Association":
        """Open a connection and negotiate; raises :class:`Rejected` or ``OSError``."""
        limits = limits or Limits(idle_timeout=timeout)
        sock = socket.create_connection((host, port), timeout=timeout)
        assoc = cls(sock, (host, port), limits, request=request)
        request.max_length = limits.max_length
        try:
            assoc.send_raw([pdu.encode_associate_rq(request)])
            kind, body = assoc.read_pdu(timeout)
            if kind == pdu.ASSOCIATE_RJ:
                rj = pdu.decode_rejection(body)
                raise Rejected(f"association rejected by {request.called_ae} at {host}:{port} "
                               f"(result {rj.result}, source {rj.source}, reason {rj.reason})")
            if kind != pdu.ASSOCIATE_AC:
                raise Rejected(f"{request.called_ae} at {host}:{port} answered with "
                               f"{pdu.PDU_NAMES.get(kind, hex(kind))}")
            ac = pdu.decode_associate(kind, body)
        except (pdu.PduError, ProtocolError, Closed, OSError) as exc:
            assoc.close()
            if isinstance(exc, OSError):
                raise
            raise Rejected(f"association with {request.called_ae} at {host}:{port} failed: {exc}") from exc
        except Rejected:
            assoc.close()
            raise
        assoc.accept = ac
        assoc.peer_max = ac.max_length
        proposed = {pc.id: pc for pc in request.contexts}
        for accepted in ac.accepted:
            if accepted.result == pdu.ACCEPTANCE and accepted.id in proposed:
                accepted.abstract_syntax = proposed[accepted.id].abstract_syntax
                assoc.contexts[accepted.id] = accepted
        return assoc

    def release(self, timeout: float = 10.0) -> None:
        """A-RELEASE-RQ, wait for the A-RELEASE-RP (briefly), close."""
        try:
            self.send_raw([pdu.encode_release_rq()])
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                kind, _ = self.read_pdu(timeout)
                if kind in (pdu.RELEASE_RP, pdu.ABORT):
                    break
                if kind == pdu.RELEASE_RQ:          # release collision
                    self.send_raw([pdu.encode_release_rp()])
                    break
        except (OSError, Closed, ProtocolError, TimeoutError):
            pass
        finally:
            self.close()

    def wait_response(self, message_id: int, timeout: float | None = -1.0) -> Message:
        """The response to our request ``message_id`` (other messages are queued)."""
        for queued in list(self._pending):
            if queued.command.responded_id == message_id and queued.command.field & 0x8000:
                self._pending.remove(queued)
                return queued
        while True:
            message = self.receive(timeout=timeout)
            if message is None:
                raise Closed("the peer released the association while a response was awaited")
            if message.command.field & 0x8000 and message.command.responded_id == message_id:
                return message
            self._pending.append(message)


def _fragments(chunks: Iterable, size: int):
    """Split a stream of chunks into PDV data pieces of ``size`` (the last may be shorter),
    telling which piece is last; large chunks are sliced, small ones gathered."""
    pending = bytearray()
    previous = None
    for chunk in chunks:
        view = memoryview(chunk).cast("B")
        while len(view):
            if not pending and len(view) >= size:
                piece, view = view[:size], view[size:]
            else:
                room = size - len(pending)
                pending += view[:room]
                view = view[room:]
                if len(pending) < size:
                    continue
                piece, pending = memoryview(bytes(pending)), bytearray()
            if previous is not None:
                yield previous, False
            previous = piece
    if pending:
        if previous is not None:
            yield previous, False
        previous = memoryview(bytes(pending))
    if previous is None:
        previous = memoryview(b"")
    yield previous, True
