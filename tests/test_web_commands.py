"""``wadoparse:`` / ``wadorequest:`` server commands and CGI WADO, against a running dgate.

Expected bytes were taken from Conquest 1.5.0e answering the same requests for the same
CT_small object (header blocks, dump lines of private and binary elements)."""
from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from conftest import REPO, run_dgate
from netpeers import dcmtk, have_dcmtk, start_server
from pydicom import dcmread
from pydicom.data import get_testdata_file
from webhelpers import need

CT = get_testdata_file("CT_small.dcm")
ST = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
SE = "1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322"
SOP = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"
Q = f"studyUID={ST}&seriesUID={SE}&objectUID={SOP}"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    need(have_dcmtk(), "dcmtk is not installed")
    folder = tmp_path_factory.mktemp("wadocmd")
    proc = start_server(folder)
    r = dcmtk("storescu", "-aec", "CONQUESTSRV1", "127.0.0.1", str(proc.port), CT)
    assert r.returncode == 0, r.stderr
    yield proc
    proc.stop()


def ask(server, command: str) -> bytes:
    env = dict(os.environ, PYTHONPATH=str(REPO), TCP_NODELAY="1")
    return subprocess.run([sys.executable, "-m", "dgate", f"-p{server.port}", f"--{command}"], cwd=server.folder,
                          env=env, capture_output=True, timeout=60).stdout


def test_text_plain_dump_like_the_original(server):
    out = ask(server, f"wadoparse:{Q}&contentType=text/plain")
    assert out.startswith(b"Content-type: text/plain\nAccess-Control-Allow-Origin: *\n\n0002,0001      2 OB ")
    assert len(out) % 2 == 0
    text = out.decode("latin-1")
    for line in ['0002,0002     26 UI MediaStorageSOPClass   "1.2.840.10008.5.1.4.1.1.2" \n',
                 "0009,1002      4 UN                        [825250883|31305443]\n",
                 '0009,1001     14 UN                        "GE_GENESIS_FF "\n',
                 "0019,1057      2 UN                        (65441|ffa1)\n",
                 "0023,1070      8 UN                        d6 37(7) 8e 88 96 b3 c9 41(A) \n",
                 '0043,1028     80 UN                        "CT01"\n',
                 "0028,0120      2 US PixelPaddingValue      63536 \n",
                 "7fe0,0010  32768 OW PixelData              00af 00b4 00a6 008f 008b 0098 00a7 00bb 00d4 00ec "
                 "00e5 \n"]:
        assert line in text
    assert ask(server, f"wadorequest:{ST}\\{SE}\\{SOP},0/0/0/0,0/0,,text/plain,,,,") == out


def test_text_html_and_dicom(server):
    html = ask(server, f"wadoparse:{Q}&contentType=text/html")
    assert html.startswith(b"Content-type: text/html\nAccess-Control-Allow-Origin:*\n\n0002,0001")
    out = ask(server, f"wadoparse:{Q}&contentType=application/dicom")
    head, _, body = out.partition(b"\n\n")
    assert head == (b'Content-type: application/dicom\nContent-Disposition: attachment; filename="file.dcm"\n'
                    b"Content-length: " + str(len(body)).encode() + b"\nAccess-Control-Allow-Origin: * ")
    ds = dcmread(io.BytesIO(body))
    assert ds.SOPInstanceUID == SOP and ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"


def test_no_reply_cases(server):
    assert ask(server, f"wadoparse:{Q}") == b""                       # no contentType
    assert ask(server, f"wadoparse:{Q}&contentType=text/csv") == b""
    assert ask(server, f"wadoparse:studyUID={ST}&seriesUID={SE}&objectUID=1.2.3&contentType=text/plain") == b""


def test_cgi_mode_wado_goes_through_the_server(server):
    env = dict(os.environ, PYTHONPATH=str(REPO), TCP_NODELAY="1")
    r = subprocess.run([sys.executable, "-m", "dgate", f"-p{server.port}", "-q127.0.0.1",
                        f"-yrequestType=WADO&{Q}&contentType=text/plain"], cwd=server.folder, env=env,
                       capture_output=True, timeout=60)
    assert r.stdout == ask(server, f"wadoparse:requestType=WADO&{Q}&contentType=text/plain")
    env["QUERY_STRING"] = f"requestType=WADO&{Q}&contentType=text/html"
    from dgate.config.ini import put_param
    put_param(server.folder / "dicom.ini", "TCPPort", str(server.port))     # no -p: dicom.ini's TCPPort
    r = subprocess.run([sys.executable, "-m", "dgate"], cwd=server.folder, env=env, capture_output=True, timeout=60)
    assert r.stdout.startswith(b"Content-type: text/html\nAccess-Control-Allow-Origin:*\n\n0002,0001")
    r = run_dgate(["-p" + str(server.port), "-ymode=listpatients"], server.folder)
    assert r.stdout.startswith("Status: 501") and "Lua" in r.stdout
