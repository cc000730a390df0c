"""Socket helpers shared by every layer (the runtime imports nothing else of dgate)."""
from __future__ import annotations

import socket


def close_socket(sock: socket.socket) -> None:
    """Shut both directions down, then close: the peer sees the end at once, even while
    another descriptor of the socket stays open (a copy passed to another process), and a
    thread of ours blocked reading it wakes up; a bare ``close`` does neither. A socket the
    peer already dropped (shutdown fails) is closed all the same."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
