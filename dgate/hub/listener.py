"""The listening socket of the DICOM server (the hub owns it).

``SO_REUSEADDR`` so a restart right after a stop binds at once (old connections in
TIME_WAIT no longer block the port, as they do for 1.5.0e), a backlog of 128 (the
original: 5), and TCP_NODELAY on every accepted socket.
"""
from __future__ import annotations

import socket

BACKLOG = 128


def bind(address: str, port: int) -> socket.socket:
    """A TCP socket bound to ``address:port``, not yet listening (raises OSError)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def listen(address: str, port: int, backlog: int = BACKLOG) -> socket.socket:
    """A listening TCP socket on ``address:port`` (raises OSError when it cannot bind)."""
    sock = bind(address, port)
    sock.listen(backlog)
    return sock


def accept(listener: socket.socket) -> tuple[socket.socket, tuple] | None:
    """One waiting connection (blocking, TCP_NODELAY set), or None when there is none."""
    try:
        sock, address = listener.accept()
    except (BlockingIOError, InterruptedError):
        return None
    sock.setblocking(True)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass
    return sock, address
