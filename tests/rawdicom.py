"""A raw-socket DICOM peer for robustness tests: exact PDUs, broken ones, half messages."""
from __future__ import annotations

import os
import socket
import struct
import time
from pathlib import Path

IMPLICIT = "1.2.840.10008.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"
VERIFICATION = "1.2.840.10008.1.1"
CT = "1.2.840.10008.5.1.4.1.1.2"


def item(kind: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", kind, 0, len(payload)) + payload


def associate_rq(contexts, calling="RAWSCU", called="CONQUESTSRV1", max_pdu=16384) -> bytes:
    pcs = b"".join(item(0x20, bytes([cid, 0, 0, 0]) + item(0x30, sop.encode())
                        + b"".join(item(0x40, ts.encode()) for ts in tss)) for cid, sop, tss in contexts)
    user = item(0x51, struct.pack(">I", max_pdu)) + item(0x52, b"1.2.3.4")
    body = (struct.pack(">HH", 1, 0) + called.encode().ljust(16) + calling.encode().ljust(16) + b"\0" * 32
            + item(0x10, b"1.2.840.10008.3.1.1.1") + pcs + item(0x50, user))
    return struct.pack(">BBI", 1, 0, len(body)) + body


def read_pdu(sock: socket.socket) -> tuple[int, bytes]:
    head = recv_exact(sock, 6)
    kind, _, length = struct.unpack(">BBI", head)
    return kind, recv_exact(sock, length)


def recv_exact(sock: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError("closed")
        out += chunk
    return out


def connect(port: int, contexts=None, timeout: float = 10, **kw) -> tuple[socket.socket, bytes]:
    """An established association (A-ASSOCIATE-AC body returned)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(associate_rq(contexts or [(1, VERIFICATION, [IMPLICIT]), (3, CT, [EXPLICIT])], **kw))
    kind, body = read_pdu(sock)
    assert kind == 2, f"association not accepted (PDU type {kind})"
    return sock, body


def pdv(context_id: int, control: int, data: bytes) -> bytes:
    return struct.pack(">BBI", 4, 0, len(data) + 6) + struct.pack(">IBB", len(data) + 2, context_id, control) + data


def command_set(elements: dict) -> bytes:
    from dgate.net.dimse import encode_command
    return encode_command(elements)


def store_command(sop_instance: str, message_id: int = 1, sop_class: str = CT) -> bytes:
    return command_set({0x00000002: sop_class, 0x00000100: 0x0001, 0x00000110: message_id, 0x00000700: 0,
                        0x00000800: 0x0000, 0x00001000: sop_instance})


def response(sock: socket.socket) -> dict[int, bytes]:
    """Read one response command set (command PDVs only) as {tag: raw value}."""
    from dgate.net.control import decode_command_set
    data = b""
    while True:
        kind, body = read_pdu(sock)
        assert kind == 4, f"expected P-DATA, got PDU type {kind}"
        pos = 0
        done = False
        while pos < len(body):
            length = struct.unpack_from(">I", body, pos)[0]
            control = body[pos + 5]
            if control & 1:
                data += body[pos + 6:pos + 4 + length]
                done = bool(control & 2)
            pos += 4 + length
        if done:
            return dict(decode_command_set(data))


def status_of(reply: dict[int, bytes]) -> int:
    return struct.unpack("<H", reply[0x00000900])[0]


def c_store(sock: socket.socket, sop_instance: str, data: bytes, context_id: int = 3, chunk: int = 16000) -> int:
    sock.sendall(pdv(context_id, 0x03, store_command(sop_instance)))
    for start in range(0, len(data), chunk):
        last = start + chunk >= len(data)
        sock.sendall(pdv(context_id, 0x02 if last else 0x00, data[start:start + chunk]))
    return status_of(response(sock))


def release(sock: socket.socket) -> None:
    sock.sendall(struct.pack(">BBI", 5, 0, 4) + b"\0" * 4)
    try:
        read_pdu(sock)
    except (ConnectionError, OSError):
        pass
    sock.close()


def body_of(ds) -> bytes:
    """The Explicit VR LE data set bytes of a pydicom Dataset (no meta)."""
    import pydicom
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = False
    write_dataset(fp, pydicom.Dataset({t: e for t, e in ds.items() if t.group != 2}))
    return fp.getvalue()


def children(pid: int) -> list[int]:
    """Child process IDs of ``pid`` (the workers of a dgate hub)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(entry))
    return sorted(out)


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_for(predicate, timeout: float = 10, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
