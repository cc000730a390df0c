"""The upper layer and DIMSE codecs (PS3.8, PS3.7) and the server's behaviour for
C-CANCEL, unsupported requests, role selection and rejections."""
import struct

import pydicom
import pytest
import rawdicom as raw
from netpeers import dcmtk, have_dcmtk, start_server
from pydicom.data import get_testdata_file

from dgate.net import pdu
from dgate.net.association import _fragments
from dgate.net.dimse import C_STORE_RQ, Command, encode_command

CT_FILE = get_testdata_file("CT_small.dcm")


def test_associate_rq_round_trip_with_every_user_item():
    rq = pdu.Associate("CALLED~j2", "CALLING", contexts=[pdu.ProposedContext(1, "1.2.3", ["1.2.840.10008.1.2"]),
                                                         pdu.ProposedContext(3, "1.2.4", ["a.b.c.d.e.f.g.h.i", "x"])],
                       max_length=65536, implementation_class_uid="1.2.826.0.1",
                       implementation_version_name="VER", async_ops=(2, 3),
                       roles=[pdu.RoleSelection("1.2.4", 0, 1)], sop_extended=[("1.2.4", b"\x01\x00")],
                       user_identity=pdu.UserIdentity(2, 1, b"user", b"secret"))
    data = pdu.encode_associate_rq(rq)
    assert data[0] == pdu.ASSOCIATE_RQ and struct.unpack(">I", data[2:6])[0] == len(data) - 6
    back = pdu.decode_associate(pdu.ASSOCIATE_RQ, memoryview(data)[6:])
    assert back.called_ae == "CALLED~j2" and back.calling_ae == "CALLING"
    assert [(c.id, c.abstract_syntax, c.transfer_syntaxes) for c in back.contexts] == \
        [(1, "1.2.3", ["1.2.840.10008.1.2"]), (3, "1.2.4", ["a.b.c.d.e.f.g.h.i", "x"])]
    assert back.max_length == 65536 and back.async_ops == (2, 3) and back.implementation_version_name == "VER"
    assert back.roles == [pdu.RoleSelection("1.2.4", 0, 1)] and back.sop_extended == [("1.2.4", b"\x01\x00")]
    assert back.user_identity == pdu.UserIdentity(2, 1, b"user", b"secret")


@pytest.mark.parametrize("cut", [10, 70, 80, 100])
def test_broken_associate_requests_are_pdu_errors(cut):
    data = pdu.encode_associate_rq(pdu.Associate("A", "B", contexts=[pdu.ProposedContext(1, "1.2.3", ["1.2"])]))
    body = bytearray(data[6:])
    struct.pack_into(">H", body, 68 + 2, 0xFFFF)        # application context item claims 65535 bytes
    with pytest.raises(pdu.PduError):
        pdu.decode_associate(pdu.ASSOCIATE_RQ, bytes(body))
    with pytest.raises(pdu.PduError):
        pdu.decode_associate(pdu.ASSOCIATE_RQ, data[6:cut])


def test_command_sets_encode_sorted_with_group_length_and_padding():
    data = encode_command({0x00000100: C_STORE_RQ, 0x00000002: "1.2.3", 0x00000110: 7, 0x00000800: 0,
                           0x00001000: "1.2.34", 0x00000600: "ODD", 0x99990400: b"x"})
    cmd = Command.decode(data)
    assert cmd.order == [0x00000000, 0x00000002, 0x00000100, 0x00000110, 0x00000600, 0x00000800, 0x00001000,
                         0x99990400]
    assert cmd.raw(0x00000002) == b"1.2.3\0" and cmd.raw(0x00000600) == b"ODD "
    assert struct.unpack("<I", cmd.raw(0)) [0] == len(data) - 12 - 10
    assert cmd.field == C_STORE_RQ and cmd.message_id == 7 and cmd.has_data_set and cmd.sop_instance == "1.2.34"


def test_fragments_split_and_mark_the_last_piece():
    pieces = list(_fragments([b"a" * 10, memoryview(b"b" * 25), b"", b"c" * 3], 16))
    assert [len(p) for p, _ in pieces] == [16, 16, 6] and [last for _, last in pieces] == [False, False, True]
    assert b"".join(bytes(p) for p, _ in pieces) == b"a" * 10 + b"b" * 25 + b"c" * 3
    assert [last for _, last in _fragments([], 16)] == [True]


pytestmark = pytest.mark.skipif(not have_dcmtk(), reason="dcmtk is installed by .ci/run")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dimse")
    proc = start_server(folder, ServerWorkers="1")
    src = pydicom.dcmread(CT_FILE)
    sock, _ = raw.connect(proc.port)
    for i in range(120):
        src.SOPInstanceUID = f"1.2.826.0.1.3680043.9.55.{i}"
        src.InstanceNumber = i + 1
        assert raw.c_store(sock, src.SOPInstanceUID, raw.body_of(src)) == 0
    raw.release(sock)
    yield proc
    proc.stop()


FIND = "1.2.840.10008.5.1.4.1.2.2.1"


def test_c_cancel_stops_a_c_find(server):
    sock, _ = raw.connect(server.port, [(1, FIND, [raw.IMPLICIT])])
    from dgate.net.session import encode_dataset
    q = pydicom.Dataset()
    q.QueryRetrieveLevel = "IMAGE"
    q.SOPInstanceUID = ""
    q.StudyInstanceUID = pydicom.dcmread(CT_FILE).StudyInstanceUID
    identifier = encode_dataset(q, raw.IMPLICIT)
    request = raw.command_set({0x00000002: FIND, 0x00000100: 0x0020, 0x00000110: 5, 0x00000700: 0,
                               0x00000800: 0x0000})
    cancel = raw.command_set({0x00000100: 0x0FFF, 0x00000120: 5, 0x00000800: 0x0101})
    sock.sendall(raw.pdv(1, 0x03, request) + raw.pdv(1, 0x02, identifier) + raw.pdv(1, 0x03, cancel))
    statuses = []
    while True:
        reply = raw.response(sock)
        statuses.append(raw.status_of(reply))
        if statuses[-1] != 0xFF00:
            break
    assert statuses[-1] == 0xFE00 and len(statuses) < 120
    raw.release(sock)
    assert "Cancel request" in server.output()


def test_unsupported_request_gets_a_failure_and_the_association_goes_on(server):
    sock, _ = raw.connect(server.port, [(1, raw.VERIFICATION, [raw.IMPLICIT])])
    n_get = raw.command_set({0x00000003: raw.VERIFICATION, 0x00000100: 0x0110, 0x00000110: 9, 0x00000800: 0x0101,
                             0x00001001: "1.2.3"})
    sock.sendall(raw.pdv(1, 0x03, n_get))
    reply = raw.response(sock)
    assert raw.status_of(reply) == 0x0211 and reply[0x00000100] == b"\x10\x81"
    echo = raw.command_set({0x00000002: raw.VERIFICATION, 0x00000100: 0x0030, 0x00000110: 10, 0x00000800: 0x0101})
    sock.sendall(raw.pdv(1, 0x03, echo))
    assert raw.status_of(raw.response(sock)) == 0
    raw.release(sock)
    assert "***Client Error: command 0110 failed" in server.output()


def test_acceptor_answers_role_selection_and_refuses_unknown_contexts(server):
    rq = raw.associate_rq([(1, raw.CT, [raw.EXPLICIT]), (3, "1.2.3.4.5.6", [raw.IMPLICIT]),
                           (5, raw.VERIFICATION, ["9.9"])])
    role = raw.item(0x54, struct.pack(">H", len(raw.CT)) + raw.CT.encode() + b"\x00\x01")
    body = bytearray(rq[6:])
    user_at = body.rindex(b"\x50\x00")
    struct.pack_into(">H", body, user_at + 2, struct.unpack_from(">H", body, user_at + 2)[0] + len(role))
    body += role
    import socket
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(struct.pack(">BBI", 1, 0, len(body)) + bytes(body))
        kind, ac = raw.read_pdu(sock)
        assert kind == 2
        parsed = pdu.decode_associate(pdu.ASSOCIATE_AC, ac)
        results = {pc.id: (pc.result, pc.transfer_syntax) for pc in parsed.accepted}
        assert results[1] == (0, raw.EXPLICIT) and results[3][0] == 3 and results[5][0] == 4
        assert parsed.roles == [pdu.RoleSelection(raw.CT, 0, 1)]
        assert parsed.implementation_version_name == "1.5.0/OTHER" and parsed.max_length == 131072
        raw.release(sock)
    assert "*** Presentation context refused: 1.2.3.4.5.6 (PrivateSOPClass) is not in dgatesop.lst" in \
        server.output()


def test_rejections_follow_dgatesop_lst(tmp_path):
    proc = start_server(tmp_path, ServerWorkers="1")
    try:
        lst = tmp_path / "dgatesop.lst"
        lst.write_text(lst.read_text() + "Allowed GOODSCU RemoteAE\nMe CONQUESTSRV1 LocalAE\n")
        import os
        import time
        os.utime(lst, (time.time() + 5, time.time() + 5))
        import socket
        for calling, called, reason in (("BADSCU", "CONQUESTSRV1", 3), ("GOODSCU", "OTHER", 7)):
            with socket.create_connection(("127.0.0.1", proc.port), timeout=10) as sock:
                sock.sendall(raw.associate_rq([(1, raw.VERIFICATION, [raw.IMPLICIT])], calling=calling, called=called))
                kind, body = raw.read_pdu(sock)
                assert kind == 3 and body[1:4] == bytes([1, 1, reason])
        assert dcmtk("echoscu", "-aet", "GOODSCU", "-aec", "CONQUESTSRV1", "127.0.0.1", str(proc.port)).returncode == 0
        assert "calling AE 'BADSCU' is not a RemoteAE in dgatesop.lst" in proc.output()
    finally:
        proc.stop()


def test_idle_association_times_out_after_tcpiptimeout(tmp_path):
    proc = start_server(tmp_path, ServerWorkers="1", TCPIPTimeOut="1")
    try:
        sock, _ = raw.connect(proc.port)
        sock.settimeout(10)
        kind, body = raw.read_pdu(sock)          # nothing sent: the server aborts after 1 s
        assert kind == 7
        sock.close()
        assert "nothing received for 1 s (TCPIPTimeOut); aborted" in proc.output()
    finally:
        proc.stop()


def test_called_ae_suffix_asks_for_compression(tmp_path):
    proc = start_server(tmp_path, ServerWorkers="1", IncomingCompression="as")
    try:
        j2k = get_testdata_file("JPEG2000.dcm")
        for called in ("CONQUESTSRV1", "CONQUESTSRV1~un"):
            ds = pydicom.dcmread(j2k)
            ds.SOPInstanceUID = ds.SOPInstanceUID + (".9" if "~" in called else "")
            from pynetdicom import AE
            ae = AE("SUFFIX")
            ae.add_requested_context(ds.SOPClassUID, [ds.file_meta.TransferSyntaxUID])
            assoc = ae.associate("127.0.0.1", proc.port, ae_title=called)
            assert assoc.send_c_store(ds).Status == 0
            assoc.release()
        import sqlite3
        rows = sqlite3.connect(tmp_path / "data" / "dbase" / "conquest.db3").execute(
            "SELECT SOPInstanc, ObjectFile FROM DICOMImages").fetchall()
        syntaxes = {uid: str(pydicom.dcmread(tmp_path / "data" / obj).file_meta.TransferSyntaxUID)
                    for uid, obj in rows}
        original = pydicom.dcmread(j2k)
        assert syntaxes[original.SOPInstanceUID] == original.file_meta.TransferSyntaxUID      # as is
        assert syntaxes[original.SOPInstanceUID + ".9"] == "1.2.840.10008.1.2.1"            # ~un: decompressed
    finally:
        proc.stop()
