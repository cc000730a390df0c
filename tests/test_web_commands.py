"""``wadoparse:`` / ``wadorequest:`` server commands and CGI WADO, against a running dgate.

Expected bytes were taken from Conquest 1.5.0e answering the same requests for the same
objects (header blocks, dump lines of private and binary elements; SHA-256 of its BMP
replies and of the pixels of its GIF and JPEG replies)."""
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
EMRI = get_testdata_file("emri_small.dcm")              # 10 frames
RGB = get_testdata_file("SC_rgb.dcm")
ST = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
SE = "1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322"
SOP = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"
Q = f"studyUID={ST}&seriesUID={SE}&objectUID={SOP}"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    need(have_dcmtk(), "dcmtk is not installed")
    folder = tmp_path_factory.mktemp("wadocmd")
    proc = start_server(folder)
    r = dcmtk("storescu", "-aec", "CONQUESTSRV1", "127.0.0.1", str(proc.port), CT, EMRI, RGB)
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
    r = subprocess.run([sys.executable, "-m", "dgate", f"-p{server.port}", "-q127.0.0.1",
                        f"-yrequestType=WADO&{Q}&contentType=image/jpeg&windowCenter=40&windowWidth=400"],
                       cwd=server.folder, env=env, capture_output=True, timeout=60)
    assert r.stdout.startswith(b"Content-type: image/jpeg\nAccess-Control-Allow-Origin:*\n\n\xff\xd8")
    env["QUERY_STRING"] = f"requestType=WADO&{Q}&contentType=text/html"
    from dgate.config.ini import put_param
    put_param(server.folder / "dicom.ini", "TCPPort", str(server.port))     # no -p: dicom.ini's TCPPort
    r = subprocess.run([sys.executable, "-m", "dgate"], cwd=server.folder, env=env, capture_output=True, timeout=60)
    assert r.stdout.startswith(b"Content-type: text/html\nAccess-Control-Allow-Origin:*\n\n0002,0001")
    r = run_dgate(["-p" + str(server.port), "-ymode=listpatients"], server.folder)
    assert r.stdout.startswith("Status: 501") and "[DefaultPage]" in r.stdout


def test_cgi_page_mode_lua_pages_and_templates(server, tmp_path):
    """``dgate -y`` page mode in a web folder (its own dicom.ini, as newweb's): ``[DefaultPage]
    source = *.lua`` runs ``<mode>.lua`` talking to the server; a ``lineN`` template section."""
    web = tmp_path / "newweb"
    web.mkdir()
    (web / "dicom.ini").write_text(
        "[sscscp]\nMicroPACS = sscscp\nTCPPort = %d\nWebServerFor = 127.0.0.1\n\n"
        "[DefaultPage]\nsource = *.lua\n\n"
        "[hello]\nline0 = mode %%mode%% x %%x%% greeting %%greeting%%\nline1 = # dropped\n"
        "line2 = two <%%= 1 + 1 %%>\nline3 = --get_param:MyACRNema\nline4 = <?lua print('from lua') ?>\n"
        "greeting = hi\n" % server.port)
    (web / "listpatients.lua").write_text(
        'print("Content-type: text/plain\\n")\n'
        'print("mode=" .. mode .. " x=" .. CGI("x") .. " patid=" .. patid .. " studyuid=" .. studyuid)\n'
        'print("ae=" .. servercommand("get_param:MyACRNema"))\n'
        'HTML("n=%s", series2)\n')
    r = run_dgate(["-p" + str(server.port), "-ymode=listpatients&x=7&study=PAT:1.2.3&series=a b"], web)
    assert r.stdout == ("Content-type: text/plain\n\nmode=listpatients x=7 patid=PAT studyuid=1.2.3\n"
                        "ae=CONQUESTSRV1\nn=a b\n"), r.stdout + r.stderr
    r = run_dgate(["-p" + str(server.port), "-ymode=hello&x=7"], web)
    assert r.stdout.startswith("Content-type: text/html\n\nmode hello x 7 greeting hi\ntwo 2\n"), r.stdout
    assert "# dropped" not in r.stdout and "CONQUESTSRV1" in r.stdout and "from lua" in r.stdout
    r = run_dgate(["-p" + str(server.port), "-ymode=nothing"], web)
    assert "no page nothing.lua" in r.stdout


def query_of(path) -> str:
    ds = dcmread(path, stop_before_pixels=True)
    return f"studyUID={ds.StudyInstanceUID}&seriesUID={ds.SeriesInstanceUID}&objectUID={ds.SOPInstanceUID}"


def pixels_sha(body: bytes) -> str:
    import hashlib

    import numpy as np
    from PIL import Image
    image = Image.open(io.BytesIO(body))
    frames = []
    for index in range(getattr(image, "n_frames", 1)):
        image.seek(index)
        frames.append(np.asarray(image.convert("L")))
    return hashlib.sha256(np.stack(frames).tobytes()).hexdigest()


# (object, query, header, SHA-256 of the whole reply or None, SHA-256 of the image's pixels), from 1.5.0e
ORIGINAL_IMAGES = [
    (CT, "contentType=image/bmp", b"Content-type: image/bmp\nAccess-Control-Allow-Origin: *",
     "de051ceb652a0394f8e9a0115647267a8f454a36e8809bda6e94bdff2560c71a", None),
    (CT, "contentType=image/bmp&region=0.25,0.75,0.1,0.6&windowCenter=40&windowWidth=400",
     b"Content-type: image/bmp\nAccess-Control-Allow-Origin: *",
     None, "f5312b106b17e80b6d9eb6c4d187a23cd142eebae4028bc07a584a406f019d54"),
    (CT, "contentType=image/gif&rows=64", b"Content-type: image/gif\nAccess-Control-Allow-Origin: *",
     None, "532df88d1ceb4617e402ee13b1dc554f586162051638c75ee638903d1bc30512"),
    (EMRI, "contentType=image/gif", b"Content-type: image/gif\nAccess-Control-Allow-Origin: *",
     None, "e3fc6bbfa64abdc17769feeba4d1a92e8f8c916ede9e3b230d758c92f2622390"),
    (RGB, "contentType=image/bmp&columns=50", b"Content-type: image/bmp\nAccess-Control-Allow-Origin: *",
     None, "4de1ef75866174e55edac44294d6b5879559bdca8f4cc8491994f946a1509491"),
    (EMRI, "contentType=image/jpeg&frameNumber=-3", b"Content-type: image/jpeg\nAccess-Control-Allow-Origin: *",
     None, "505529cacb93183ee71f73402e6eb701f8daa6699727d920cc5cb7d2d52eca5e"),
]


@pytest.mark.parametrize("obj,query,head,raw_sha,pixel_sha", ORIGINAL_IMAGES)
def test_images_like_the_original(server, obj, query, head, raw_sha, pixel_sha):
    import hashlib
    out = ask(server, f"wadoparse:{query_of(obj)}&{query}")
    got_head, _, body = out.partition(b"\n\n")
    assert got_head == head
    if raw_sha:
        assert hashlib.sha256(out).hexdigest() == raw_sha
    if pixel_sha:
        assert pixels_sha(body) == pixel_sha


def test_jpeg_png_and_other_image_replies(server):
    from PIL import Image
    q = query_of(CT)
    jpeg = ask(server, f"wadoparse:{q}&contentType=image/jpeg")
    assert jpeg.startswith(b"Content-type: image/jpeg\nAccess-Control-Allow-Origin:*\n\n\xff\xd8")
    assert ask(server, f"wadoparse:{q}&contentType=image/png") == jpeg          # PNG and JP2 are JPEG there
    assert ask(server, f"wadoparse:{q}&contentType=image/jp2") == jpeg
    assert ask(server, f"wadoparse:{q}&contentType=image/jpeg&imageQuality=5") == jpeg   # quality is ignored
    cut = ask(server, f"wadoparse:{q}&contentType=image/jpeg&region=0.25,0.75,0.1,0.6").partition(b"\n\n")[2]
    assert Image.open(io.BytesIO(cut)).size == (65, 65)
    assert ask(server, f"wadorequest:{ST}\\{SE}\\{SOP},0/0/0/0,0/0,0.25/0.75/0.1/0.6,image/jpeg,,,,") == \
        b"Content-type: image/jpeg\nAccess-Control-Allow-Origin:*\n\n" + cut
    m = query_of(EMRI)
    assert ask(server, f"wadoparse:{m}&contentType=image/bmp") == b""              # BMP: single frame only
    assert ask(server, f"wadoparse:{m}&contentType=video/mpeg") == \
        b"Content-type: video/mpeg\nAccess-Control-Allow-Origin:*\n\n"
    assert ask(server, f"wadoparse:{q}&contentType=video/mpeg") == b""
    frame3 = ask(server, f"wadoparse:{m}&contentType=image/jpeg&frameNumber=3")
    assert frame3 != ask(server, f"wadoparse:{m}&contentType=image/jpeg")


def test_dicom_transfer_syntax_codes(server, tmp_path):
    q = query_of(CT)
    for syntax, expected in [("1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.70"),
                             ("1.2.840.10008.1.2.4.55", "1.2.840.10008.1.2.4.70"),    # Conquest: .55 → j1
                             ("1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.80"),
                             ("1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.90"),
                             ("1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.57")]:
        out = ask(server, f"wadoparse:{q}&contentType=application/dicom&transferSyntax={syntax}")
        head, _, body = out.partition(b"\n\n")
        assert f"Content-length: {len(body)}".encode() in head
        ds = dcmread(io.BytesIO(body))
        assert ds.file_meta.TransferSyntaxUID == expected
        assert (ds.pixel_array == dcmread(CT).pixel_array).all()
    out = ask(server, f"wadoparse:{q}&contentType=application/dicom&transferSyntax=n4")
    ds = dcmread(io.BytesIO(out.partition(b"\n\n")[2]))
    assert 0x7FDF0010 in ds and not [e for e in ds if e.VR == "SQ"]               # NKI, sequences gone
    from dgate import codec
    assert (codec.decode_frames(codec.readable(ds))[0] == dcmread(CT).pixel_array).all()
    out = ask(server, f"wadoparse:{q}&contentType=application/dicom&transferSyntax=n0")
    ds = dcmread(io.BytesIO(out.partition(b"\n\n")[2]))
    assert 0x7FDF0010 not in ds and not [e for e in ds if e.VR == "SQ"] and "PixelData" in ds
    target = tmp_path / "reply.bin"
    assert ask(server, f"wadorequest:{ST}\\{SE}\\{SOP},0/0/0/0,0/0,,image/gif,,,,,{target}") == b""
    assert target.read_bytes().startswith(b"Content-type: image/gif\n")
