"""Messages between the hub and its workers: pickled Python values over a Unix stream
socket, each framed by a 4-byte length, with file descriptors (accepted connections)
passed as ``SCM_RIGHTS`` ancillary data on a message's first bytes.

Only our own processes are on either end (a socket pair made by the hub), so pickle is
safe here; nothing from the network is unpickled.
"""
from __future__ import annotations

import array
import pickle
import socket
import struct
import threading
from typing import Any

from ..runtime.sockets import close_socket

_LENGTH = struct.Struct(">I")
MAX_FDS = 4


class Link:
    """One end of a hub–worker socket pair; ``send`` may be called from any thread."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self._send_lock = threading.Lock()
        self._recv_lock = threading.Lock()

    def send(self, message: Any, fds: tuple[int, ...] = ()) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        frame = _LENGTH.pack(len(data)) + data
        with self._send_lock:
            if fds:
                sent = self.sock.sendmsg([frame], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
                if sent < len(frame):
                    self.sock.sendall(frame[sent:])
            else:
                self.sock.sendall(frame)

    def recv(self) -> tuple[Any, list[int]]:
        """The next message and the descriptors that came with it; EOFError at the end."""
        with self._recv_lock:
            fds: list[int] = []
            head = b""
            while len(head) < 4:
                data, ancdata, _flags, _addr = self.sock.recvmsg(4 - len(head), socket.CMSG_SPACE(MAX_FDS * 4))
                for level, kind, payload in ancdata:
                    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                        received = array.array("i")
                        received.frombytes(payload[:len(payload) - len(payload) % 4])
                        fds.extend(received)
                if not data:
                    raise EOFError("the other process closed the link")
                head += data
            (length,) = _LENGTH.unpack(head)
            body = bytearray()
            while len(body) < length:
                chunk = self.sock.recv(min(length - len(body), 1 << 20))
                if not chunk:
                    raise EOFError("the other process closed the link")
                body += chunk
            return pickle.loads(body), fds

    def close(self) -> None:
        close_socket(self.sock)
