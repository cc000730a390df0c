"""Conquest's logging channels and line format (conquest-protocol.md §9).

Channels: ``OperatorConsole`` (normal log), ``SystemDebug`` (debug log), ``Progress``
(``-x``), all off until a logging option or command switches them on; ``TroubleLog``
and ``UserLog`` are files that are always on.

A line is ``[prefix][timestamp]text`` written in one go:

* prefix ``[<PACSName>] `` once the channel was ever sent to UDP, TCP or a named pipe;
* timestamp ``ctime() `` (``Sun Nov 22 19:55:45 2026 ``) only for file sinks opened
  with timestamps (``-^``, ``-#``, ``log_on:file``, TroubleLog, UserLog).

Every line containing ``***`` printed on an *on* channel is also appended to TroubleLog.
Files are opened in append mode and closed for every line, as the original does, so
logs can be rotated under a running server.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path


def printable(text: str) -> str:
    """Text from a peer made safe for one log line: newlines and other control characters
    are shown as ``\\xNN``, so a peer cannot forge or break log lines."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)


def ctime_stamp(now: float | None = None) -> str:
    return time.ctime(now if now is not None else time.time()) + " "


class Sink:
    """Where a channel's lines go."""

    network = False

    def write(self, text: str) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        pass


class StdoutSink(Sink):
    def write(self, text: str) -> None:
        stream = sys.stdout
        stream.write(text)
        stream.flush()


class FileSink(Sink):
    def __init__(self, path: str | os.PathLike, timestamps: bool):
        self.path = Path(path)
        self.timestamps = timestamps

    def write(self, text: str) -> None:
        stamp = ctime_stamp() if self.timestamps else ""
        try:
            # opened and closed for every line (logs can be rotated), one append write
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError:
            return  # a log that cannot be written must not stop the server
        try:
            os.write(fd, (stamp + text).encode("latin-1", "replace"))
        except OSError:
            pass
        finally:
            os.close(fd)


class UdpSink(Sink):
    network = True

    def __init__(self, host: str, port: int):
        self.address = (host, port)
        import socket
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def write(self, text: str) -> None:
        try:
            self.sock.sendto(text.encode("latin-1", "replace"), self.address)
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()


class PipeSink(Sink):
    """A named pipe (FIFO): the message including its terminating NUL."""

    network = True

    def __init__(self, path: str):
        self.path = path

    def write(self, text: str) -> None:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            return
        try:
            os.write(fd, text.encode("latin-1", "replace") + b"\0")
        except OSError:
            pass
        finally:
            os.close(fd)


class Channel:
    """One Conquest log channel (``Debug`` object in dprintf.cpp)."""

    def __init__(self, name: str, trouble: "Channel | None" = None, prefix: str = "MicroPACS"):
        self.name = name
        self.sink: Sink | None = None
        self.trouble = trouble
        self.pacs_name = prefix
        self.prefixed = False
        self._lock = threading.Lock()

    @property
    def on(self) -> bool:
        return self.sink is not None

    def send_to(self, sink: Sink | None) -> None:
        with self._lock:
            if self.sink is not None and self.sink is not sink:
                self.sink.close()
            self.sink = sink
            if sink is not None and sink.network:
                self.prefixed = True

    def off(self) -> None:
        self.send_to(None)

    def printf(self, text: str) -> None:
        """Print one message (already formatted, newline included by the caller)."""
        sink = self.sink
        if sink is None:
            return
        prefix = f"[{self.pacs_name}] " if self.prefixed else ""
        with self._lock:
            sink.write(prefix + text)
        if self.trouble is not None and "***" in text:
            self.trouble.printf(text)

    __call__ = printf


class Logs:
    """The process-wide set of channels."""

    def __init__(self) -> None:
        self.trouble = Channel("TroubleLog")
        self.user = Channel("UserLog")
        self.operator = Channel("OperatorConsole", self.trouble)
        self.debug = Channel("SystemDebug", self.trouble)
        self.progress = Channel("Progress")

    def set_pacs_name(self, name: str) -> None:
        for channel in (self.operator, self.debug, self.progress):
            channel.pacs_name = name

    def open_files(self, trouble_log: str | os.PathLike, user_log: str | os.PathLike) -> None:
        self.trouble.send_to(FileSink(trouble_log, timestamps=True))
        self.user.send_to(FileSink(user_log, timestamps=True))

    def log_user(self, operation: str, calling_ae: str) -> None:
        """UserLog line per C-STORE/C-MOVE/C-GET (``LogUser``): ``"C-Store","AE  ..."``."""
        self.user.printf(f'"{operation}","{calling_ae:<16}"\n')


logs = Logs()
"""The channels of this process; configured by the command line and server commands."""
