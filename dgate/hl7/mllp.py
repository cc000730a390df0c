"""An HL7 listener: MLLP over TCP feeding the worklist import, answering ACK/NAK.

Beyond the original (which reads HL7 only from files). Each frame ``<VT> message(s)
<FS><CR>`` is imported with :func:`~dgate.hl7.importer.import_text` in one transaction and
answered with an ACK whose MSA-1 is ``AA`` (stored), ``AE`` (malformed: the text says which
line and why; nothing stored) or ``AR`` (the database refused or is down; nothing stored,
the sender may retry). Bytes outside a frame are ignored; a frame larger than
:data:`MAX_FRAME`, a connection idle for ``idle_timeout`` seconds and connections beyond
``max_clients`` are closed.

:class:`MLLPListener` is a background task with ``start``/``stop``; the hub runs it (hub task
``hl7-listener``, registered here) when ``HL7Port`` in dicom.ini is set (0, the default,
leaves it off).
"""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

from ..config import Configuration
from ..db import Database, DatabaseError, open_database
from ..log import Logs
from ..log import logs as process_logs
from ..runtime import TaskContext, register_task
from .importer import import_text
from .parser import HL7Error

START, END = b"\x0b", b"\x1c\x0d"
MAX_FRAME = 4 * 1024 * 1024


def frame(message: str | bytes) -> bytes:
    """One MLLP frame around an HL7 message."""
    data = message.encode("latin-1") if isinstance(message, str) else message
    return START + data + END


def _fields(text: str) -> tuple[list[str], str]:
    msh = next((s for s in text.replace("\n", "\r").split("\r") if s.startswith("MSH") and len(s) > 3), "")
    if not msh:
        return [], "|"
    fs = msh[3]
    return msh.split(fs), fs


def ack(text: str, code: str, error: str = "") -> str:
    """An ACK for the (first) message of ``text`` with MSA-1 ``code``."""
    msh, fs = _fields(text)
    msh += [""] * (13 - len(msh))
    enc = msh[1] if msh[1] else "^~\\&"
    sub = enc[0] if enc else "^"
    trigger = msh[8].split(sub)[1] if sub in msh[8] else ""
    stamp = time.strftime("%Y%m%d%H%M%S")
    header = fs.join(["MSH", enc, msh[4], msh[5], msh[2], msh[3], stamp, "",
                      f"ACK{sub}{trigger}" if trigger else "ACK", f"ACK{msh[9]}"[:20], msh[10] or "P",
                      msh[11] or "2.3"])
    msa = fs.join(["MSA", code, msh[9]] + ([error.replace(fs, " ").replace("\r", " ")[:80]] if error else []))
    return header + "\r" + msa + "\r"


class MLLPListener:
    """Accepts MLLP connections on ``port`` and imports every frame received."""

    def __init__(self, port: int, database: Callable[[], Database], logs: Logs | None = None,
                 host: str = "", idle_timeout: float = 60.0, max_clients: int = 32):
        self.requested = (host, port)
        self.database = database
        self.logs = logs or process_logs
        self.idle_timeout = idle_timeout
        self.max_clients = max_clients
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._clients: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.received = 0

    @property
    def port(self) -> int:
        return self._sock.getsockname()[1] if self._sock else self.requested[1]

    def start(self) -> None:
        """Bind and accept in a background thread (port 0 picks a free port)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(self.requested)
        sock.listen(16)
        sock.settimeout(0.5)
        self._sock = sock
        self._stopping.clear()
        self._thread = threading.Thread(target=self._accept, name="hl7-mllp", daemon=True)
        self._thread.start()
        self.logs.operator.printf(f"HL7 listener on port {self.port}\n")

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        with self._lock:
            for client in list(self._clients):
                try:
                    client.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def __enter__(self) -> MLLPListener:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _accept(self) -> None:
        assert self._sock is not None
        while not self._stopping.is_set():
            try:
                client, peer = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            with self._lock:
                busy = len(self._clients) >= self.max_clients
            if busy:
                self.logs.operator.printf(f"***HL7 listener: more than {self.max_clients} connections, "
                                          f"{peer[0]} refused\n")
                client.close()
                continue
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._clients.add(client)
            threading.Thread(target=self._serve, args=(client, peer), name="hl7-client", daemon=True).start()

    def _serve(self, client: socket.socket, peer) -> None:
        db: Database | None = None
        buffer = b""
        try:
            client.settimeout(self.idle_timeout)
            while not self._stopping.is_set():
                try:
                    data = client.recv(65536)
                except TimeoutError:
                    break
                if not data:
                    break
                buffer += data
                while True:
                    start = buffer.find(START)
                    if start < 0:
                        buffer = b""
                        break
                    end = buffer.find(b"\x1c", start)
                    if end < 0:
                        buffer = buffer[start:]
                        break
                    message = buffer[start + 1:end].decode("latin-1")
                    buffer = buffer[end + 1:]
                    if buffer.startswith(b"\r"):
                        buffer = buffer[1:]
                    if db is None:
                        db = self._open()
                    client.sendall(frame(self.handle(message, db)))
                if len(buffer) > MAX_FRAME:
                    self.logs.operator.printf(f"***HL7 listener: frame from {peer[0]} larger than {MAX_FRAME} bytes\n")
                    break
        except OSError:
            pass
        finally:
            with self._lock:
                self._clients.discard(client)
            client.close()
            if db is not None:
                db.close()

    def _open(self) -> Database | None:
        try:
            return self.database()
        except DatabaseError as exc:
            self.logs.operator.printf(f"***HL7 listener: cannot open database: {exc}\n")
            return None

    def handle(self, text: str, db: Database | None) -> str:
        """Import one frame; the ACK text to send back."""
        self.received += 1
        if db is None:
            return ack(text, "AR", "database not available")
        try:
            result = import_text(db, text, self.logs, "MLLP")
        except HL7Error as exc:
            self.logs.operator.printf(f"***HL7 listener: message refused: {exc}\n")
            return ack(text, "AE", str(exc))
        except DatabaseError as exc:
            self.logs.operator.printf(f"***HL7 listener: worklist insert failed: {exc}\n")
            return ack(text, "AR", "database error")
        self.logs.operator.printf(f"HL7 listener: {len(result.rows)} worklist entr"
                                  f"{'y' if len(result.rows) == 1 else 'ies'} added\n")
        return ack(text, "AA")


def listener_from_config(config: Configuration, logs: Logs | None = None) -> MLLPListener | None:
    """The listener ``HL7Port`` asks for (not started), or None when it is 0 / absent."""
    port = config.settings.int("HL7Port")
    if port <= 0:
        return None
    return MLLPListener(port, lambda: open_database(config, logs), logs)


def _listener_task(ctx: TaskContext) -> MLLPListener | None:
    """Hub task: the one HL7 listener of the server."""
    return listener_from_config(ctx.config, ctx.logs)


register_task("hl7-listener", _listener_task)


def send(host: str, port: int, message: str, timeout: float = 10.0) -> str:
    """Send one message over MLLP and return the reply (a small MLLP client)."""
    with socket.create_connection((host, port), timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(frame(message))
        reply = b""
        while END not in reply:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    return reply.strip(b"\x0b\x1c\r").decode("latin-1")
