"""Issue 9: what a peer must not be able to do to the server (raw PDUs, floods, huge
lengths, aborts mid-store, malformed objects, forged log text, wildcard C-MOVE)."""
import socket
import sqlite3
import struct
import subprocess
import threading
import time

import pydicom
import pytest
import rawdicom as raw
from conftest import run_dgate
from netpeers import StoreSCP, dcmtk, free_port, have_dcmtk, start_server
from pydicom.data import get_testdata_file

pytestmark = pytest.mark.skipif(not have_dcmtk(), reason="dcmtk is installed by .ci/run")
CT_FILE = get_testdata_file("CT_small.dcm")


def db_rows(folder, sql="SELECT SOPInstanc, ImagePat, ObjectFile FROM DICOMImages"):
    con = sqlite3.connect(folder / "data" / "dbase" / "conquest.db3")
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def echo_ok(port: int) -> bool:
    return dcmtk("echoscu", "-to", "5", "127.0.0.1", str(port)).returncode == 0


def open_count(proc) -> int:
    import re
    out = run_dgate([f"-p{proc.port}", "--display_status:"], proc.folder).stdout
    found = re.search(r"Threads=\d+ \((\d+) open\)", out)
    return int(found.group(1)) if found else -1


@pytest.fixture
def limited(tmp_path):
    proc = start_server(tmp_path, MaxAssociations="10", AssociationRequestTimeOut="1", ServerWorkers="2")
    yield proc
    proc.stop()


def test_connect_close_flood_frees_slots_at_once(limited):
    for _ in range(60):
        socket.create_connection(("127.0.0.1", limited.port)).close()
    assert raw.wait_for(lambda: open_count(limited) == 1, 5)     # the display_status association itself
    assert echo_ok(limited.port)
    assert "refused" not in limited.output()


def test_idle_connections_time_out_and_limit_refusal_is_logged(limited):
    idle = [socket.create_connection(("127.0.0.1", limited.port)) for _ in range(10)]
    # all 10 slots are taken now: an eleventh association is refused with A-ASSOCIATE-RJ
    time.sleep(0.3)
    extra = socket.create_connection(("127.0.0.1", limited.port), timeout=5)
    extra.sendall(raw.associate_rq([(1, raw.VERIFICATION, [raw.IMPLICIT])]))
    kind, body = raw.read_pdu(extra)
    assert kind == 3 and body[1:4] == bytes([2, 3, 2])        # transient, presentation, local limit exceeded
    extra.close()
    assert raw.wait_for(lambda: "10 associations are open (MaxAssociations)" in limited.output(), 5)
    # the idle ones are closed by the server after AssociationRequestTimeOut (1 s)
    for sock in idle:
        sock.settimeout(5)
        assert sock.recv(10) == b""
        sock.close()
    assert "no association request within 1 s" in limited.output()
    assert echo_ok(limited.port)


@pytest.mark.parametrize("when", ["before", "after"])
def test_huge_pdu_length_is_refused_without_buffering(limited, when):
    for _ in range(2):
        assert echo_ok(limited.port)           # both workers have started and served once
    workers = raw.children(limited.proc.pid)
    before = max(raw.vm_hwm_mb(pid) for pid in workers)
    if when == "before":
        sock = socket.create_connection(("127.0.0.1", limited.port), timeout=10)
        sock.sendall(struct.pack(">BBI", 1, 0, 0xFFFFFFF0))
    else:
        sock, _ = raw.connect(limited.port)
        sock.sendall(struct.pack(">BBI", 4, 0, 0xFFFFFFF0))
    junk = b"\0" * (1 << 20)
    try:
        for _ in range(64):
            sock.sendall(junk)
    except OSError:
        pass                      # the server closed the connection: exactly what we want
    try:
        kind, body = raw.read_pdu(sock)
        assert kind == 7          # A-ABORT
    except (ConnectionError, OSError):
        pass
    sock.close()
    assert raw.wait_for(lambda: "exceeds" in limited.output(), 5)
    after = max(raw.vm_hwm_mb(pid) for pid in raw.children(limited.proc.pid))
    assert after - before < 20, (before, after)
    assert echo_ok(limited.port)


def test_garbage_and_unknown_pdus_are_aborted_and_logged(limited):
    for payload in (b"\x09\x00\x00\x00\x00\x04abcd", b"\x04\x00\x00\x00\x00\x04abcd", b"GET / HTTP/1.0\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", limited.port), timeout=5) as s:
            s.sendall(payload)
            try:
                s.recv(100)
            except OSError:
                pass
    assert raw.wait_for(lambda: limited.output().count("***Connection from 127.0.0.1") >= 3, 5)
    assert echo_ok(limited.port)


def test_peer_abort_or_drop_during_store_is_logged_and_leaves_nothing(tmp_path):
    proc = start_server(tmp_path, ServerWorkers="1")
    try:
        data = raw.body_of(pydicom.dcmread(CT_FILE))
        for how in ("abort", "drop"):
            sock, _ = raw.connect(proc.port)
            sock.sendall(raw.pdv(3, 0x03, raw.store_command(f"1.2.3.{how}")))
            sock.sendall(raw.pdv(3, 0x00, data[:20000]))
            if how == "abort":
                sock.sendall(struct.pack(">BBI", 7, 0, 4) + b"\0\0\0\0")
            sock.close()
        assert raw.wait_for(lambda: proc.output().count("broken off after 20000 bytes, nothing stored") == 2, 5)
        assert "A-ABORT" in proc.output() and "closed without release" in proc.output()
        assert echo_ok(proc.port)
        assert db_rows(tmp_path) == []
        assert not list((tmp_path / "data").rglob("*.tmp"))
        assert raw.children(proc.proc.pid)          # the worker is still the same, alive
    finally:
        proc.stop()


def test_bad_objects_get_failure_status_and_a_log_line(tmp_path):
    proc = start_server(tmp_path, ServerWorkers="1")
    try:
        good = pydicom.dcmread(CT_FILE)
        sock, _ = raw.connect(proc.port)
        assert raw.c_store(sock, good.SOPInstanceUID, raw.body_of(good)) == 0
        cases = []
        other = pydicom.dcmread(CT_FILE)
        other.PatientID = "SOMEONEELSE"
        cases.append(("same SOP, other patient", good.SOPInstanceUID, raw.body_of(other), "already stored for"))
        data = raw.body_of(good)
        cases.append(("truncated", "1.2.3.4", data[:-100], "declares"))
        pixel_header = data.index(b"\xe0\x7f\x10\x00OW")
        cases.append(("cut in header", "1.2.3.5", data[:pixel_header + 5], "cut inside"))
        ut = struct.pack("<HH2s2xI", 0x0008, 0x0005, b"UT", 9000) + b"x" * 100
        cases.append(("UT past the end", "1.2.3.6", ut, "declares 9000 bytes"))
        for keyword, value, message in (("SOPInstanceUID", "1.2.3\x007", "NUL"),
                                        ("SOPInstanceUID", "1.2." + "9" * 70, "at most 64"),
                                        ("StudyInstanceUID", "1.2." + "8" * 70, "at most 64")):
            ds = pydicom.dcmread(CT_FILE)
            setattr(ds, keyword, value)
            cases.append((keyword, "1.2.3.8", raw.body_of(ds), message))
        for name, uid, body, message in cases:
            status = raw.c_store(sock, uid, body)
            assert status != 0, name
            assert message in proc.output(), name
        raw.release(sock)
        rows = db_rows(tmp_path)
        assert rows == [(good.SOPInstanceUID, good.PatientID, rows[0][2])]
        assert len(list((tmp_path / "data").rglob("*.dcm"))) == 1
    finally:
        proc.stop()


def test_odd_length_object_is_repaired_and_retrievable(tmp_path):
    proc = start_server(tmp_path, ServerWorkers="1")
    try:
        ds = pydicom.dcmread(CT_FILE)
        data = bytearray(raw.body_of(ds))
        at = data.index(b"CompressedSamples^CT1")
        struct.pack_into("<H", data, at - 2, 21)
        del data[at + 21]
        sock, _ = raw.connect(proc.port)
        assert raw.c_store(sock, ds.SOPInstanceUID, bytes(data)) == 0
        raw.release(sock)
        (obj,) = [r[2] for r in db_rows(tmp_path)]
        back = pydicom.dcmread(tmp_path / "data" / obj)
        assert back.PatientName == "CompressedSamples^CT1" and back.pixel_array.shape == (128, 128)
        assert "odd-length value(s) padded" in proc.output()
    finally:
        proc.stop()


def test_concurrent_same_sop_stores_give_one_file_and_one_row_each(tmp_path):
    """6 senders × the same 100 images: exactly 100 files and 100 rows."""
    src = tmp_path / "src"
    src.mkdir()
    ds = pydicom.dcmread(CT_FILE)
    for i in range(100):
        ds.SOPInstanceUID = f"1.2.826.0.1.3680043.9.1143.{i}"
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.save_as(src / f"{i}.dcm")
    folder = tmp_path / "server"
    folder.mkdir()
    proc = start_server(folder, ServerWorkers="2")
    try:
        senders = [subprocess.Popen(["/usr/bin/storescu", "+sd", "127.0.0.1", str(proc.port), str(src)],
                                    env={"TCP_NODELAY": "1"}, stderr=subprocess.PIPE) for _ in range(6)]
        for s in senders:
            _, err = s.communicate(timeout=120)
            assert s.returncode == 0, err.decode() + "".join(
                line for line in proc.output().splitlines(True) if "***" in line)[-3000:]
        rows = db_rows(folder)
        assert len(rows) == 100
        assert len(list((folder / "data").rglob("*.dcm"))) == 100
        assert not list((folder / "data").rglob("*.tmp"))
        # each row has its own file, holding its object (two workers once named two objects alike)
        assert len({name for _sop, _pat, name in rows}) == 100
        for sop, _pat, name in rows:
            assert pydicom.dcmread(folder / "data" / name, stop_before_pixels=True).SOPInstanceUID == sop
    finally:
        proc.stop()


def test_console_text_of_refused_peers_is_not_logged_and_never_breaks_lines(tmp_path):
    from dgate.net.control import encode_command_set
    proc = start_server(tmp_path, ServerCommandAddresses="10.9.9.9")
    try:
        forged = b"forged line\nUPACS THREAD 99: STARTED AT: never"
        elements = {0x00000002: b"1.2.840.10008.1.1", 0x00000100: b"\x30\x00", 0x00000110: b"\x01\x00",
                    0x00000800: b"\x01\x01", 0x99990300: forged, 0x99990400: b"display_status:"}
        sock, _ = raw.connect(proc.port)
        sock.sendall(raw.pdv(1, 0x03, encode_command_set(elements)))
        raw.response(sock)
        raw.release(sock)
        assert raw.wait_for(lambda: "server command refused from 127.0.0.1" in proc.output(), 5)
        assert "forged" not in proc.output()
    finally:
        proc.stop()
    proc = start_server(tmp_path / "allowed" if (tmp_path / "allowed").mkdir() is None else tmp_path)
    try:
        sock, _ = raw.connect(proc.port)
        sock.sendall(raw.pdv(1, 0x03, encode_command_set(elements)))
        raw.response(sock)
        raw.release(sock)
        assert raw.wait_for(lambda: "forged line\\x0aUPACS THREAD 99" in proc.output(), 5)
        assert "\nUPACS THREAD 99" not in proc.output()
    finally:
        proc.stop()


def test_wildcard_move_destination_refused_unless_allowed(tmp_path):
    dest_port = free_port()
    received = tmp_path / "received"
    received.mkdir()
    folder = tmp_path / "server"
    folder.mkdir()
    start_server(folder, start=False)
    amap = folder / "acrnema.map"
    amap.write_text(amap.read_text() + f"S*  127.0.0.1  {dest_port}  un\n")
    from netpeers import DgateProcess
    proc = DgateProcess(folder)
    try:
        with StoreSCP(received, "STORESCP", port=dest_port):
            assert dcmtk("storescu", "127.0.0.1", str(proc.port), CT_FILE).returncode == 0
            study = pydicom.dcmread(CT_FILE).StudyInstanceUID
            move = dcmtk("movescu", "-S", "-aem", "STORESCP", "-k", "QueryRetrieveLevel=STUDY",
                         "-k", f"StudyInstanceUID={study}", "127.0.0.1", str(proc.port))
            assert "MoveDestinationUnknown" in move.stderr
            assert "matches only the wildcard row 'S*'" in proc.output()
            assert not list(received.iterdir())
            run_dgate([f"-p{proc.port}", "--put_param:AllowWildcardMoveDestinations,1"], folder)
            move = dcmtk("movescu", "-S", "-aem", "STORESCP", "-k", "QueryRetrieveLevel=STUDY",
                         "-k", f"StudyInstanceUID={study}", "127.0.0.1", str(proc.port))
            assert move.returncode == 0, move.stderr
            assert len(list(received.iterdir())) == 1
    finally:
        proc.stop()


def test_shipped_acrnema_map_has_no_wildcard_rows():
    from conftest import REPO

    from dgate.config.acrnema import ACRNemaMap
    amap = ACRNemaMap.load(REPO / "conf" / "acrnema.map")
    assert amap.entries and not [e for e in amap.entries if "*" in e.ae + e.host + e.port]


def test_pdu_fuzz_ends_with_the_server_up(tmp_path):
    """Bounded fuzz (fixed seed, 300 connections, 8 at a time): mutated association
    requests and P-DATA; afterwards the server answers and no worker has died."""
    import random
    proc = start_server(tmp_path, AssociationRequestTimeOut="1", TCPIPTimeOut="2", ServerWorkers="2")
    good_rq = raw.associate_rq([(1, raw.VERIFICATION, [raw.IMPLICIT]), (3, raw.CT, [raw.EXPLICIT])])
    echo = raw.pdv(1, 0x03, raw.command_set({0x00000002: raw.VERIFICATION, 0x00000100: 0x0030,
                                             0x00000110: 1, 0x00000800: 0x0101}))
    store = raw.pdv(3, 0x03, raw.store_command("1.2.3.4")) + raw.pdv(3, 0x02, raw.body_of(
        pydicom.dcmread(CT_FILE))[:3000])
    rng = random.Random(20261201)
    cases = []
    for _ in range(300):
        rq, follow = bytearray(good_rq), bytearray(rng.choice([echo, store]))
        target = rq if rng.random() < 0.5 else follow
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(len(target))
            choice = rng.random()
            if choice < 0.5:
                target[pos] = rng.randrange(256)
            elif choice < 0.75:
                del target[pos:pos + rng.randint(1, 8)]
            else:
                struct.pack_into(">H", target, min(pos, len(target) - 2), rng.choice([0, 1, 0xFFFF, 0x7FFF]))
        cases.append((bytes(rq), bytes(follow), target is follow))
    workers = raw.children(proc.proc.pid)

    def run(part):
        for rq, follow, send_follow in part:
            try:
                with socket.create_connection(("127.0.0.1", proc.port), timeout=1.5) as s:
                    s.sendall(rq)
                    if send_follow:
                        s.recv(65536)
                        s.sendall(follow)
                    s.recv(65536)
            except OSError:
                pass
    try:
        threads = [threading.Thread(target=run, args=(cases[i::8],)) for i in range(8)]
        began = time.monotonic()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert time.monotonic() - began < 60
        assert echo_ok(proc.port)
        assert raw.children(proc.proc.pid) == workers
        assert "ended with" not in proc.output() and "Internal error" not in proc.output()
    finally:
        proc.stop()
