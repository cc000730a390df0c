"""The DICOM server of one process: serves associations on sockets it is given.

:meth:`DicomServer.serve` runs one association to its end in the calling thread (the
hub's or a worker's; :mod:`dgate.hub` decides which). Order (PS3.8 §9.2):

1. wait for the A-ASSOCIATE-RQ at most ``AssociationRequestTimeOut`` seconds (ARTIM,
   default 5); a connection that closes, sends something else or an oversized PDU is
   logged with the peer and dropped (A-ABORT where a PDU arrived);
2. negotiate from dgatesop.lst (:mod:`.negotiation`), answer AC or RJ, log refused
   contexts and rejections;
3. read messages (a data set goes fragment by fragment into its sink: for C-STORE the
   store's spool) and hand each to its handler in the service table (:mod:`.services`);
   ``TCPIPTimeOut`` (default 300 s) bounds the wait for each PDU;
4. on release, abort, timeout or a protocol error: one log line naming the peer and what
   was in progress; the association's database connection goes back to the pool from
   this same thread (never closed under another thread's feet).

Server commands arriving on C-ECHO are passed to ``command_runner(text, upload, peer,
calling_ae) -> bytes | None``; by default that is the hub service ``server_command``
(:func:`dgate.runtime.call`), so it runs in the hub whichever process serves the
association.
"""
from __future__ import annotations

import socket
import threading
from typing import Callable

from ..config import Configuration
from ..log import Logs, printable
from ..runtime import call
from ..store.ingest import Ingest
from . import hooks, pdu
from .association import Aborted, Association, Closed, Limits, MemorySink, Message, ProtocolError
from .dimse import C_STORE_RQ, Command
from .negotiation import SopListWatcher, negotiate
from .services import SERVICES, UNRECOGNIZED_OPERATION
from .session import AssociationInfo, DatabasePool

CommandRunner = Callable[[str, "bytes | None", str, str], "bytes | None"]
MAX_PDU_LENGTH = 4 << 20


def hub_command(text: str, upload: bytes | None, peer: str, calling: str) -> bytes | None:
    """Run a server command in the hub (directly when this process is the hub)."""
    return call("server_command", text, upload, peer, calling)


class DicomServer:
    """Serves associations for one configuration (one instance per process)."""

    def __init__(self, config: Configuration, logs: Logs, ae_title: str | None = None,
                 port: int | None = None, command_runner: CommandRunner | None = None):
        self.config = config
        self.settings = config.settings
        self.logs = logs
        self.ae_title = (ae_title or self.settings.str("MyACRNema"))[:16]
        self.port = port if port is not None else int(self.settings.str("TCPPort") or 104)
        self.ingest = Ingest(config, logs)
        self.soplist = SopListWatcher(config.soplist, str(self.settings.path("SOPClassList")))
        self.pool = DatabasePool(config, logs, self.ae_title)
        self.command_runner: CommandRunner = command_runner or hub_command
        self.debug_level = self.settings.int("DebugLevel")
        self.active: dict[int, AssociationInfo] = {}
        self._lock = threading.Lock()

    # -- settings ----------------------------------------------------------------------
    def limits(self) -> Limits:
        pdu_size = self.settings.int("PDUSize")
        max_length = min(max(pdu_size, 4096), MAX_PDU_LENGTH) if pdu_size > 0 else 131072
        timeout = self.settings.int("TCPIPTimeOut")
        request = self.settings.int("AssociationRequestTimeOut")
        return Limits(max_length, float(request if request > 0 else 5), float(timeout) if timeout > 0 else None)

    def network_timeout(self) -> float:
        timeout = self.settings.int("TCPIPTimeOut")
        return float(timeout) if timeout > 0 else 300.0

    def open_count(self) -> int:
        with self._lock:
            return len(self.active)

    # -- one association ---------------------------------------------------------------
    def serve(self, sock: socket.socket, peer: tuple[str, int], number: int) -> None:
        """Run one association on ``sock`` to its end."""
        limits = self.limits()
        assoc = Association(sock, (str(peer[0]), int(peer[1])), limits)
        info = AssociationInfo(self, assoc, number)
        with self._lock:
            self.active[number] = info
        try:
            if self._associate(info, limits):
                self._messages(info)
        finally:
            info.end()
            if assoc.accept is not None:
                hooks.ASSOCIATION_END.run(self.logs, info)
            info.release_database()
            assoc.close()
            with self._lock:
                self.active.pop(number, None)

    def _peer(self, info: AssociationInfo) -> str:
        return f"{info.assoc.peer[0]}:{info.assoc.peer[1]}"

    def _associate(self, info: AssociationInfo, limits: Limits) -> bool:
        assoc = info.assoc
        op = self.logs.operator
        try:
            kind, body = assoc.read_pdu(timeout=limits.request_timeout)
        except TimeoutError:
            op.printf(f"***Connection from {self._peer(info)}: no association request within "
                      f"{limits.request_timeout:g} s; closed\n")
            return False
        except Closed:
            self.logs.debug.printf(f"Connection from {self._peer(info)} closed before an association request\n")
            return False
        except ProtocolError as exc:
            op.printf(f"***Connection from {self._peer(info)}: {exc}; aborted\n")
            assoc.abort(exc.reason)
            return False
        except OSError as exc:
            op.printf(f"***Connection from {self._peer(info)}: {exc}\n")
            return False
        if kind != pdu.ASSOCIATE_RQ:
            op.printf(f"***Connection from {self._peer(info)}: {pdu.PDU_NAMES.get(kind, hex(kind))} instead of an "
                      "association request; aborted\n")
            assoc.abort(pdu.REASON_UNEXPECTED_PDU)
            return False
        try:
            rq = pdu.decode_associate(kind, body)
        except pdu.PduError as exc:
            op.printf(f"***Association request from {self._peer(info)} is malformed: {exc}; aborted\n")
            assoc.abort(exc.reason)
            return False
        assoc.request = rq
        info.calling, info.called = rq.calling_ae, rq.called_ae
        outcome = negotiate(rq, self.soplist.refresh(), limits.max_length)
        info.compression = outcome.compression
        try:
            if outcome.reject is not None:
                assoc.send_raw([pdu.encode_rejection(outcome.reject)])
                op.printf(f"***Association from {printable(rq.calling_ae)} ({self._peer(info)}) to "
                          f"{printable(rq.called_ae)} rejected: {printable(outcome.why)}\n")
                return False
            assert outcome.accept is not None
            assoc.send_raw([pdu.encode_associate_ac(outcome.accept)])
        except (OSError, Closed) as exc:
            op.printf(f"***Association from {self._peer(info)}: {exc}\n")
            return False
        assoc.accept = outcome.accept
        assoc.peer_max = rq.max_length
        assoc.contexts = {pc.id: pc for pc in outcome.accept.accepted if pc.result == pdu.ACCEPTANCE}
        for line in outcome.refused:
            op.printf(line)
        if not hooks.ASSOCIATION_START.run(self.logs, info):
            return False
        return True

    def _sink(self, command: Command, context: pdu.AcceptedContext):
        if command.field == C_STORE_RQ:
            return self.ingest.open_spool(context.transfer_syntax, command.sop_class, command.sop_instance)
        return MemorySink()

    def _messages(self, info: AssociationInfo) -> None:
        assoc = info.assoc
        op = self.logs.operator
        try:
            while True:
                msg = assoc.receive(self._sink)
                if msg is None:
                    return
                if hooks.COMMAND and not hooks.COMMAND.run(self.logs, info, msg.command):
                    self._close_data(msg)
                    return
                self._dispatch(info, msg)
                if assoc.released:          # the peer released while a handler waited for it
                    return
        except Aborted as exc:
            op.printf(f"***Association {info.number} from {info.who()}: {exc} by the peer{self._partial(info)}\n")
        except Closed as exc:
            what = "connection closed without release" if "closed by the peer" in str(exc) else str(exc)
            op.printf(f"***Association {info.number} from {info.who()}: {what}{self._partial(info)}\n")
        except TimeoutError:
            op.printf(f"***Association {info.number} from {info.who()}: nothing received for "
                      f"{assoc.limits.idle_timeout:g} s (TCPIPTimeOut); aborted{self._partial(info)}\n")
            assoc.abort()
        except ProtocolError as exc:
            op.printf(f"***Association {info.number} from {info.who()}: {exc}; aborted{self._partial(info)}\n")
            assoc.abort(exc.reason)

    @staticmethod
    def _partial(info: AssociationInfo) -> str:
        """What was in progress when the association broke."""
        partial = info.assoc.partial
        command = partial.command
        if command is None:
            return ""
        what = f"{command.name} of {printable(command.sop_instance)}" if command.sop_instance else command.name
        if command.field == C_STORE_RQ:
            return f"; {what} broken off after {partial.received} bytes, nothing stored"
        return f"; during {what}"

    @staticmethod
    def _close_data(msg: Message) -> None:
        if msg.data is not None and hasattr(msg.data, "close"):
            msg.data.close()

    def _dispatch(self, info: AssociationInfo, msg: Message) -> None:
        info.assoc.partial.command = None
        handler = SERVICES.lookup(msg.command.field, msg.command.sop_class)
        if handler is None:
            self._close_data(msg)
            self.logs.operator.printf(f"\n***Client Error: command {msg.command.field:04x} failed ** "
                                      f"({msg.command.name} is not supported)\n")
            hooks.CLIENT_ERROR.run(self.logs, info, msg.command)
            if not msg.command.field & 0x8000:
                info.respond(msg, UNRECOGNIZED_OPERATION)
            return
        try:
            handler(info, msg)
        except (Aborted, Closed, ProtocolError, TimeoutError):
            raise
        except Exception as exc:  # a bug in a handler must not end the server
            self.logs.operator.printf(f"***Internal error in {msg.command.name} from {info.who()}: "
                                      f"{type(exc).__name__}: {exc}\n")
            self._close_data(msg)
            if not msg.command.field & 0x8000:
                info.respond(msg, 0xA700 if msg.command.field == C_STORE_RQ else 0xC000)
