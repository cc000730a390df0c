"""``globallua:`` served by a worker runs in the server's one global Lua state (the hub's,
through the hub service ``lua.global``; conquest-lua-web.md §1.3: globalPDU under
``dolua_critical``), with ``Command`` the C-ECHO request; each worker's association state
stays its own."""
from __future__ import annotations

import struct

import pytest
import rawdicom as raw
from netpeers import have_dcmtk, start_server

pytestmark = pytest.mark.skipif(not have_dcmtk(), reason="dcmtk is installed by .ci/run")

PID = "return io.open('/proc/self/stat'):read('*l'):match('^(%d+)')"


def _command(sock, text: str, message_id: int) -> str:
    from dgate.net.control import encode_command_set
    elements = {0x00000002: b"1.2.840.10008.1.1\0", 0x00000100: b"\x30\x00",
                0x00000110: struct.pack("<H", message_id), 0x00000800: b"\x01\x01",
                0x99990400: text.encode() + (b"\0" if len(text) % 2 else b"")}
    sock.sendall(raw.pdv(1, 0x03, encode_command_set(elements)))
    reply = raw.response(sock)
    return reply.get(0x99990401, b"").rstrip(b"\0").decode()


def test_globallua_from_two_workers_sees_one_global_state(tmp_path):
    proc = start_server(tmp_path, ServerWorkers="2")
    try:
        first, _ = raw.connect(proc.port, calling="FIRST")
        second, _ = raw.connect(proc.port, calling="SECOND")        # held open together: the other worker
        pids = _command(first, "lua:" + PID, 1), _command(second, "lua:" + PID, 1)
        assert pids[0] and pids[1] and pids[0] != pids[1], pids
        chunk = ("shared = (shared or 0) + 1 return shared .. ' ' .. Association.Calling .. ' ' "
                 ".. Command.MessageID .. ' ' .. " + PID.replace("return ", "", 1))
        one = _command(first, "globallua:" + chunk, 7).split()
        two = _command(second, "globallua:" + chunk, 9).split()
        assert one[:3] == ["1", "FIRST", "7"] and two[:3] == ["2", "SECOND", "9"]
        assert one[3] == two[3] and one[3] not in pids                # both ran in the hub
        assert _command(first, "lua:return tostring(shared)", 3) == "nil"   # the association state is apart
        raw.release(first)
        raw.release(second)
    finally:
        proc.stop()
