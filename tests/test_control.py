"""The --command channel (conquest-protocol.md §4, §5): wire bytes, clients, command outputs."""
import re
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from dgate.config.defaults import create_default_config
from dgate.config.ini import put_param
from dgate.net.control import decode_command_set

from conftest import REPO, run_dgate
from netpeers import DgateProcess, StoreSCP, dcmtk, free_port, have_dcmtk, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("control")
    create_default_config(folder)
    put_param(folder / "dicom.ini", "UIDPrefix", "99999.99999")
    assert run_dgate(["-i"], folder).returncode == 0
    proc = DgateProcess(folder)
    yield proc
    proc.stop()


def cmd(server, *args, tool="dgate"):
    if tool == "dgate":
        return run_dgate([f"-p{server.port}", *args], server.folder)
    import os
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "servertask", f"-p{server.port}", *args], cwd=server.folder,
                          capture_output=True, text=True, env=env, timeout=60)


def raw_exchange(port: int, command_set: bytes, pc_id: int = 1) -> bytes:
    """Talk to the server with the exact bytes dgate 1.5.0e sends (spec §4.2–4.3)."""
    def item(kind, payload):
        return struct.pack(">BBH", kind, 0, len(payload)) + payload
    pc = bytes([pc_id, 0, 0, 0]) + item(0x30, b"1.2.840.10008.1.1") + item(0x40, b"1.2.840.10008.1.2")
    user = item(0x51, struct.pack(">I", 4096)) + item(0x52, b"1.2.826.0.1.3680043.2.135.1066.101") + \
        item(0x55, b"1.5.0/OTHER")
    body = struct.pack(">HH", 1, 0) + b"CONQUESTSRV1    " * 2 + b"\0" * 32 + \
        item(0x10, b"1.2.840.10008.3.1.1.1") + item(0x20, pc) + item(0x50, user)
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(struct.pack(">BBI", 1, 0, len(body)) + body)
        head = s.recv(6)
        assert head[0] == 0x02, "association accepted"
        s.recv(struct.unpack(">I", head[2:6])[0], socket.MSG_WAITALL)
        pdv = struct.pack(">IBB", len(command_set) + 2, pc_id, 0x03) + command_set
        s.sendall(struct.pack(">BBI", 4, 0, len(pdv)) + pdv)
        reply = b""
        while True:
            head = s.recv(6, socket.MSG_WAITALL)
            assert head[0] == 0x04
            data = s.recv(struct.unpack(">I", head[2:6])[0], socket.MSG_WAITALL)
            reply += data[6:]
            if data[5] & 0x02:
                break
        s.sendall(struct.pack(">BBI", 5, 0, 4) + b"\0" * 4)
        assert s.recv(6, socket.MSG_WAITALL)[0] == 0x06
    return reply


def test_original_request_bytes_are_understood(server):
    # the 92-byte command set of the spec's worked example, byte for byte
    command_set = (bytes.fromhex("0000000004000000") + struct.pack("<I", 56)
                   + bytes.fromhex("0000020012000000") + b"1.2.840.10008.1.1\0"
                   + bytes.fromhex("00000001020000003000")
                   + bytes.fromhex("00001001020000000100")
                   + bytes.fromhex("00000008020000000101")
                   + bytes.fromhex("9999000410000000") + b"display_status:\0")
    assert len(command_set) == 92
    reply = dict(decode_command_set(raw_exchange(server.port, command_set)))
    assert reply[0x00000100] == b"\x30\x80" and reply[0x00000900] == b"\0\0"
    assert reply[0x00000120] == b"\x01\x00" and reply[0x00000800] == b"\x01\x01"
    assert reply[0x99990401].startswith(b"DICOM server 'CONQUESTSRV1' (version 1.5.0e, port ")


def test_genuid_reply_structure(server):
    command_set = (bytes.fromhex("0000000004000000") + struct.pack("<I", 56)
                   + bytes.fromhex("0000020012000000") + b"1.2.840.10008.1.1\0"
                   + bytes.fromhex("00000001020000003000") + bytes.fromhex("00001001020000000100")
                   + bytes.fromhex("00000008020000000101")
                   + bytes.fromhex("9999000408000000") + b"genuid:\0")
    elements = decode_command_set(raw_exchange(server.port, command_set))
    tags = [t for t, _ in elements]
    assert tags == [0x00000000, 0x00000002, 0x00000100, 0x00000120, 0x00000800, 0x00000900, 0x99990401] \
        or tags == [0x00000000, 0x00000002, 0x00000100, 0x00000120, 0x00000800, 0x00000900, 0x99990401, 0x99990404]
    values = dict(elements)
    assert values[0x00000000] == struct.pack("<I", 66)
    uid = values[0x99990401].rstrip(b"\0").decode()
    assert re.fullmatch(r"99999\.99999\.6\.\d{10}\.\d+", uid)
    if len(uid) % 2:
        assert values[0x99990404] == b"\x01\x00"


OUTPUTS = [
    (["--get_param:MyACRNema,[%s]"], "[CONQUESTSRV1]", 255),
    (["--get_param:TCPPort"], None, 255),
    (["--get_param:NoSuchKey"], "", 0),
    (["--checksum:hello"], "4029829531", 255),
    (["--get_amap:0"], "CONQUESTSRV1      127.0.0.1                      5678       un              ", 255),
    (["--get_amap:99"], "", 0),
    (["--get_sop:0"], "1.2.840.10008.1.1 Verification", 255),
    (["--get_transfer:0,%s"], "1.2.840.10008.1.2", 255),
    (["--get_sqldef:patient,0"], "0x0010, 0x0020            PatientID   64 SQL_C_CHAR       DT_STR", 255),
    (["--get_sqldef:STUDY,1,0x%4.4x|0x%4.4x|%s|%d"], "0x0008|0x0020|StudyDate|8", 255),
    (["--get_freestore:MAG7"], "-1", 255),
    (["--unknowncommand:x"], "", 0),
    (["--deletepatient:nobody"], "", 0),
    (["--echo:CONQUESTSRV1"], "CONQUESTSRV1 is DOWN", 255),
    (["--lua:return 1"], "1", 255),
]


@pytest.mark.parametrize("args,expected,rc", OUTPUTS, ids=[o[0][0] for o in OUTPUTS])
def test_command_outputs_and_exit_codes(server, args, expected, rc):
    result = cmd(server, *args)
    assert result.returncode == rc, result.stderr
    if expected is not None:
        assert result.stdout == expected


def test_get_dic_and_amaps_and_display_status_cgi(server):
    assert cmd(server, "--get_dic:0").stdout.startswith("0000 0000 UL ")
    amaps = cmd(server, "--get_amaps:").stdout
    assert amaps.startswith("CONQUESTSRV1 ") and "V*" not in amaps and amaps.endswith("\n")
    cgi = cmd(server, "--display_status:cgi").stdout
    assert cgi.startswith("Content-type: text/html\n\n<pre>DICOM server 'CONQUESTSRV1'")
    status = cmd(server, "--display_status:").stdout
    assert "recieved=" in status and "Space on MAG0  : " in status and status.endswith("built-in SQLite driver\n")


def test_servertask_client(server):
    assert cmd(server, "--checksum:hello", tool="servertask").stdout == "4029829531"
    none = subprocess.run([sys.executable, "-m", "servertask"], capture_output=True, text=True,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert none.stdout == "Conquest server control client: -? provides help\n" and none.returncode == 0


def test_no_server_gives_exit_code_1(tmp_path):
    create_default_config(tmp_path)
    result = run_dgate([f"-p{free_port()}", "--display_status:"], tmp_path)
    assert result.returncode == 1 and result.stdout == ""


def test_config_commands_change_files(server):
    assert cmd(server, "--put_param:DebugLevel,3").returncode == 0
    assert cmd(server, "--get_param:DebugLevel").stdout == "3"
    assert cmd(server, "--delete_param:DebugLevel").returncode == 0
    assert cmd(server, "--get_param:DebugLevel").stdout == ""
    cmd(server, "--put_amap:99,NEWAE,10.0.0.9,104,j2")
    assert cmd(server, "--get_amap:1,%s %s").stdout == "NEWAE 10.0.0.9"     # appended after CONQUESTSRV1
    cmd(server, "--write_amap:")
    assert "NEWAE             10.0.0.9" in (server.folder / "acrnema.map").read_text()
    cmd(server, "--delete_amap:1")
    cmd(server, "--write_amap:")
    assert "NEWAE" not in (server.folder / "acrnema.map").read_text()
    # a RemoteAE list restricts calling AEs, so include the AE the client itself uses
    cmd(server, "--put_remoteae:0,CONQUESTSRV1,Self")
    assert "CONQUESTSRV1                                 RemoteAe" in (server.folder / "dgatesop.lst").read_text()
    assert cmd(server, "--get_remoteae:0").stdout == "CONQUESTSRV1 Self"
    cmd(server, "--delete_remoteae:0")
    assert "RemoteAe" not in (server.folder / "dgatesop.lst").read_text()
    new = cmd(server, "--changeuid:1.2.3").stdout
    assert new.startswith("99999.99999.7.") and cmd(server, "--changeuid:1.2.3").stdout == new
    assert cmd(server, f"--changeuidback:{new}").stdout == "1.2.3"


def test_upload_finders_listers_dump_and_deletes(server):
    ct = get_testdata_file("CT_small.dcm")
    result = cmd(server, f"--addlocalfile:{ct}")
    assert result.stdout == f"addimagefile:{ct}{ct}" and result.returncode == 255
    assert cmd(server, f"--addimagefile:{get_testdata_file('MR_small.dcm')}").stdout == "0"
    assert cmd(server, "--addimagefile:/no/such/file.dcm").stdout == "1"
    pat = cmd(server, "--patientfinder:local|CompressedSamples").stdout
    assert pat == "CompressedSamples^CT1 1CT1\nCompressedSamples^MR1 4MR1\n"
    study = cmd(server, "--studyfinder:local|=1CT1|%s;%s").stdout
    assert study == "20040119;CT\n"
    ds = pydicom.dcmread(ct)
    listed = cmd(server, f"--imagelister:local|1CT1|{ds.SeriesInstanceUID}|#%s %s %d %d").stdout
    assert re.fullmatch(r"MAG0 1CT1/\S+\.dcm 0 1\n", listed)
    assert cmd(server, f"--imagelister:local|1CT1|{ds.SeriesInstanceUID}|?%d images").stdout == "1 images\n"
    assert cmd(server, f"--serieslister:local|1CT1|{ds.StudyInstanceUID}").stdout == ds.SeriesInstanceUID + "*"
    header = cmd(server, f"--dump_header:1CT1|{ds.SOPInstanceUID}").stdout
    assert '0008,0020      8 DA StudyDate              "20040119" \n' in header
    assert cmd(server, f"--count_frames:{ct}").stdout == "0"
    assert cmd(server, "--deletepatient:1CT1").returncode == 0
    assert cmd(server, "--patientfinder:local|=1CT1").stdout == ""
    time.sleep(0.2)
    assert "Deleting patient: 1CT1" in server.output()
    assert "Server command sent using DGATE -- option" in server.output()


@pytest.mark.skipif(not have_dcmtk(), reason="dcmtk is installed by .ci/run")
def test_movestudy_scripts(server, tmp_path):
    dcmtk("storescu", "127.0.0.1", str(server.port), get_testdata_file("CT_small.dcm"))
    dest_port = free_port()
    amap = server.folder / "acrnema.map"
    original = amap.read_text()
    amap.write_text(original.replace("CONQUESTSRV1", f"ARCHIVE  127.0.0.1  {dest_port}  un\nCONQUESTSRV1", 1))
    cmd(server, "--read_amap:")
    received = tmp_path / "archive"
    received.mkdir()
    try:
        with StoreSCP(received, "ARCHIVE", port=dest_port):
            study = pydicom.dcmread(get_testdata_file("CT_small.dcm")).StudyInstanceUID
            result = cmd(server, f"--movestudy:(local),ARCHIVE,1CT1:{study}")
            assert (result.stdout, result.returncode) == ("0", 255)
            assert len(list(received.iterdir())) == 1
            assert cmd(server, "--movepatient:CONQUESTSRV1,ARCHIVE,1CT1").stdout == "0"
            failed = cmd(server, f"--movestudy:NOWHERE,ARCHIVE,{study}")
            assert failed.stdout == "1 Move failed from NOWHERE to ARCHIVE"
    finally:
        amap.write_text(original)
        cmd(server, "--read_amap:")


def test_commands_refused_from_other_addresses(tmp_path):
    proc = start_server(tmp_path, ServerCommandAddresses="10.9.9.9")
    try:
        result = run_dgate([f"-p{proc.port}", "--display_status:"], tmp_path)
        assert result.returncode == 0 and result.stdout == ""
        time.sleep(0.2)
        assert "*** server command refused from 127.0.0.1" in proc.output()
    finally:
        proc.stop()


def test_quit_stops_the_server(tmp_path):
    proc = start_server(tmp_path)
    result = run_dgate([f"-p{proc.port}", "--quit:"], tmp_path)
    assert result.returncode == 1
    assert result.stderr == ""           # the server closing without a reply is what quit: does
    proc.proc.wait(10)
    assert proc.proc.returncode == 0


def test_query_passthrough_binds_values_and_refuses_injection(server):
    ct = get_testdata_file("CT_small.dcm")
    cmd(server, f"--addimagefile:{ct}")
    out = cmd(server, "--query:DICOMPatients|PatientID,PatientNam|PatientID = '1CT1'|%s=%s")
    assert out.stdout == "1CT1=CompressedSamples^CT1\n"
    star = cmd(server, "--query:DICOMImages|SOPInstanc|ImagePat = '1CT1' or ImagePat = 'x'|%s*")
    assert star.stdout == pydicom.dcmread(ct).SOPInstanceUID
    quoted = cmd(server, "--query:DICOMPatients|PatientID|PatientNam = 'O''Brien'|%s")
    assert quoted.returncode == 0 and quoted.stdout == ""
    injected = cmd(server, "--query:DICOMPatients|PatientID|1=1; DROP TABLE DICOMPatients|%s")
    assert injected.stdout == ""
    assert cmd(server, "--query:DICOMPatients|PatientID|PatientID = '1CT1'|%s").stdout == "1CT1\n"
    assert cmd(server, "--query:sqlite_master|name||%s").stdout == ""
    time.sleep(0.2)
    assert "***query refused: unexpected text at ';" in server.output()
    assert "***query refused: unknown table 'sqlite_master'" in server.output()
    rows = cmd(server, "--query2:DICOMImages|SOPInstanc||%s|1").stdout
    assert rows.count("\n") == 1
    cmd(server, "--addrecord:DICOMWorkList|AccessionN,PatientID|'ACC9','P9'")
    assert cmd(server, "--query:DICOMWorkList|AccessionN|PatientID = 'P9'|%s").stdout == "ACC9\n"
    cmd(server, "--deleterecord:DICOMWorkList,AccessionN = 'ACC9'")
    assert cmd(server, "--query:DICOMWorkList|AccessionN|PatientID = 'P9'|%s").stdout == ""


def test_servercommand_modes(server, tmp_path):
    import io
    from dgate.net.control import process_html, server_command
    kw = dict(host="127.0.0.1", port=server.port, ae="CONQUESTSRV1")
    assert server_command("checksum:hello", **kw) == b"4029829531"
    assert server_command("get_param:MyACRNema,%s  ", **kw) == b"CONQUESTSRV1"  # server drops one blank, client one
    assert server_command("get_param:MyACRNema,%s  ", "binary", **kw) == b"CONQUESTSRV1 "
    assert server_command("unknown:", **kw) is None
    target = tmp_path / "out.txt"
    assert server_command("checksum:hello", f">{target}", **kw) is None
    assert target.read_bytes() == b"4029829531"
    stream = io.BytesIO()
    server_command("checksum:hello", "cgi", stdout=stream, **kw)
    assert stream.getvalue() == b"4029829531"
    odd = tmp_path / "odd.dcm"
    odd.write_bytes(open(get_testdata_file("CT_small.dcm"), "rb").read() + b"X")   # odd length upload
    assert server_command("addimagefile:x.dcm", f"<{odd}", **kw) in (b"0", b"1")
    assert process_html(b'<A HREF="a b">x</A>\0') == b'<A HREF="a%20b">x</A>'       # even: NUL dropped
    assert process_html(b'<A HREF="a b">xy</A>\0') == b'<A HREF="a%20b">xy</A>\0'   # odd: kept
    assert server_command("checksum:x", host="127.0.0.1", port=free_port()) is None


@pytest.mark.skipif(not have_dcmtk(), reason="dcmtk is installed by .ci/run")
def test_testmode_appends_to_file_names(server):
    assert cmd(server, "--testmode:RUN7").returncode == 0
    try:
        dcmtk("storescu", "127.0.0.1", str(server.port), get_testdata_file("rtplan.dcm"))
        names = [p.name for p in (server.folder / "data").rglob("*RUN7.dcm")]
        assert len(names) == 1
    finally:
        cmd(server, "--testmode:")
