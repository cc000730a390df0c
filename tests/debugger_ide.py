"""The IDE side of the MobDebug wire protocol (what ZeroBrane Studio speaks on port 8172),
written for dgate's tests: it listens, accepts the script's connection and sends
commands, reading the line replies (``200 OK``, ``202 Paused <file> <line>``,
``200 OK <n>`` followed by n bytes for EXEC, ``401 Error in Execution <n>``)."""
from __future__ import annotations

import socket


class DebuggerIDE:
    def __init__(self, timeout: float = 30.0):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.listener.settimeout(timeout)
        self.port = self.listener.getsockname()[1]
        self.conn: socket.socket | None = None
        self.buffer = b""
        self.timeout = timeout

    def accept(self) -> None:
        self.conn, _ = self.listener.accept()
        self.conn.settimeout(self.timeout)
        self.conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def line(self) -> str:
        assert self.conn is not None
        while b"\n" not in self.buffer:
            chunk = self.conn.recv(65536)
            if not chunk:
                raise ConnectionError("debuggee closed the connection")
            self.buffer += chunk
        text, _, self.buffer = self.buffer.partition(b"\n")
        return text.decode("latin-1").rstrip("\r")

    def read(self, count: int) -> str:
        assert self.conn is not None
        while len(self.buffer) < count:
            chunk = self.conn.recv(65536)
            if not chunk:
                raise ConnectionError("debuggee closed the connection")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data.decode("latin-1")

    def send(self, command: str) -> None:
        assert self.conn is not None
        self.conn.sendall(command.encode("latin-1") + b"\n")

    def setb(self, file: str, line: int) -> str:
        self.send(f"SETB {file} {line}")
        return self.line()

    def resume(self, command: str = "RUN") -> tuple[str, int] | None:
        """RUN/STEP/OVER/OUT: the (file, line) where it paused, None when it finished."""
        self.send(command)
        assert self.line().startswith("200 OK")
        try:
            reply = self.line()
        except ConnectionError:
            return None
        if reply.startswith("202 Paused"):
            _, _, file, line = reply.split(" ", 3)
            return file, int(line)
        if reply.startswith("203 Paused"):
            parts = reply.split(" ")
            return parts[2], int(parts[3])
        return None

    def exec(self, chunk: str) -> tuple[str, str]:
        """EXEC: (status line, payload)."""
        self.send(f"EXEC {chunk}")
        status = self.line()
        parts = status.split(" ")
        payload = ""
        if len(parts) >= 3 and parts[-1].isdigit():
            payload = self.read(int(parts[-1]))
        return status, payload

    def close(self) -> None:
        for sock in (self.conn, self.listener):
            if sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass
