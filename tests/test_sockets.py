"""Closing our sockets (:func:`dgate.runtime.sockets.close_socket`, used by the hub–worker
link and by DICOM associations): the peer sees the end at once even while another
descriptor of the socket stays open, and a thread of ours blocked reading it wakes."""
from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from dgate.hub.wire import Link
from dgate.net.association import Association
from dgate.runtime.sockets import close_socket

CLOSERS = {
    "close_socket": close_socket,
    "hub link": lambda sock: Link(sock).close(),
    "association": lambda sock: Association(sock, ("127.0.0.1", 0)).close(),
}


@pytest.mark.parametrize("name", sorted(CLOSERS))
def test_closing_ends_the_connection_for_the_peer_and_a_blocked_reader(name):
    ours, peer = socket.socketpair()
    copy = os.dup(ours.fileno())          # another descriptor (as a copy passed to a worker)
    peer.settimeout(5)

    def read() -> None:
        try:
            ours.recv(1)
        except OSError:
            pass
    reader = threading.Thread(target=read, daemon=True)
    try:
        reader.start()
        time.sleep(0.2)                   # the reader is blocked in recv
        CLOSERS[name](ours)
        reader.join(5)
        assert not reader.is_alive(), "the blocked reader did not wake"
        assert peer.recv(1) == b""        # the end, although `copy` still holds the socket
        with pytest.raises(OSError):
            ours.send(b"x")               # and ours is closed
    finally:
        os.close(copy)
        peer.close()
