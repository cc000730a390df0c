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
    assert r.stdout.startswith("Status: 404") and "[DefaultPage]" in r.stdout


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
    assert r.stdout == ("Content-type: text/plain\n\nmode=DefaultPage x=7 patid=PAT studyuid=1.2.3\n"
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


# -- the built-in pages of CGI mode (dgate -y), behind a real CGI web server -----------------------
class CgiSite:
    """Python's CGI web server with ``cgi-bin/dgate`` (running ``python -m dgate`` in its
    folder, as Apache runs the original's cgi-bin/dgate) and the web dicom.ini there."""

    def __init__(self, folder, dicom_port: int, **ini: str):
        import functools
        import http.server
        import threading

        from netpeers import free_port
        bin_dir = folder / "cgi-bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        script = bin_dir / "dgate"
        script.write_text(f'#!/bin/sh\ncd "$(dirname "$0")" && exec {sys.executable} -m dgate\n')
        script.chmod(0o755)
        keys = {"MicroPACS": "sscscp", "TCPPort": str(dicom_port), "WebServerFor": "127.0.0.1"}
        keys.update({k: v for k, v in ini.items() if not k.startswith("_")})
        text = "[sscscp]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items()) + ini.get("_sections", "")
        (bin_dir / "dicom.ini").write_text(text)
        os.environ.setdefault("TCP_NODELAY", "1")
        os.environ["PYTHONPATH"] = str(REPO)          # the CGI child gets this process's environment
        class Handler(http.server.CGIHTTPRequestHandler):
            have_fork = False                         # a plain child process (no setuid to nobody)
        handler = functools.partial(Handler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/cgi-bin/dgate"

    def get(self, query: str = "", **kw):
        import requests
        return requests.get(self.url + ("?" + query if query else ""), timeout=120, **kw)

    def follow(self, href: str):
        import html

        import requests
        return requests.get(f"{self.url.rsplit('/', 1)[0]}/{html.unescape(href)}", timeout=120)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def links(page: str) -> list[tuple[str, str]]:
    """(href, text) of every link of a page."""
    import re
    return [(m.group(1), m.group(2)) for m in re.finditer(r'<a href="([^"]*)">(.*?)</a>', page)]


def link_to(page: str, text: str, mode: str = "") -> str:
    for href, label in links(page):
        if label == text and (not mode or f"mode={mode}&" in href + "&"):
            return href
    raise AssertionError(f"no link {text!r} ({mode}) in the page:\n{page[:3000]}")


@pytest.fixture(scope="module")
def cgi_site(server, tmp_path_factory):
    site = CgiSite(tmp_path_factory.mktemp("cgisite"), server.port, WEBReadOnly="0")
    yield site
    site.stop()


def test_legacy_top_page_and_configuration(server, cgi_site):
    r = cgi_site.get()                                    # no mode, no [DefaultPage]: the start page
    assert r.status_code == 200 and r.headers["content-type"] == "text/html", r.text
    page = r.text
    assert "DICOM server 'CONQUESTSRV1'" in page and "conquest.jpg" in page
    for mode in ("querypatients", "querystudies", "queryworklist", "addlocalfile"):
        assert f'name=mode value="{mode}"' in page
    for field in ("patientidmatch", "patientnamematch", "studydatematch", "startdatematch", "filetoupload"):
        assert f"name={field} " in page
    assert "<option value=patientfinder>" in page and '<option value="CONQUESTSRV1">' in page
    assert cgi_site.get("mode=top").text.count("<form") == page.count("<form") == 5
    config = cgi_site.follow(link_to(page, "Server configuration", "showconfig")).text
    assert "<td>dicom.ini<td>MyACRNema<td>CONQUESTSRV1<td>" in config
    assert "<td>dicom.ini<td>TCPPort<td>" in config and "<td>MAGDevice0<td>" in config
    assert "<td>acrnema.map<td>0<td>CONQUESTSRV1 " in config
    sops = cgi_site.follow(link_to(page, "Accepted SOP classes", "showsops")).text
    assert "<td>dgatesop.lst<td>0<td>1.2.840.10008.1.1 " in sops and "Accepted transfer syntax" in sops
    db = cgi_site.follow(link_to(page, "Database layout", "showdb")).text
    assert "<td>dicom.sql<td>PATIENT,0<td>0x0010, 0x0020" in db and "<td>WORKLIST,0<td>" in db
    dic = cgi_site.follow(link_to(page, "DICOM dictionary (long)", "showdictionary")).text
    assert dic.count("<tr><td>dgate.dic<td>") > 3000 and "PatientName" in dic


def test_legacy_browsing_from_patients_to_pixels(cgi_site):
    ct = dcmread(CT, stop_before_pixels=True)
    patients = cgi_site.get("mode=querypatients").text
    assert "List of all patients on the local server" in patients
    studies = cgi_site.follow(link_to(patients, ct.PatientID, "querystudies")).text
    assert "List of selected studies" in studies and ct.StudyDate in studies and "<th>Study modality" in studies
    assert link_to(studies, "push", "studymover") and link_to(studies, "delete", "studydeleter")
    series = cgi_site.follow(link_to(studies, ct.PatientID, "queryseries")).text
    assert "<th>Series description" in series and series.count("<tr><td>") == 1
    assert f"series={ct.PatientID}:{ct.SeriesInstanceUID}" in link_to(series, "view", "seriesviewer")
    thumbs = cgi_site.follow(link_to(series, "thumbs", "queryimages")).text
    import re
    icon = re.search(r'<img src="([^"]*mode=slice[^"]*)"', thumbs).group(1)
    assert "size=48" in icon and "graphic=bmp" in icon
    r = cgi_site.follow(icon)
    assert r.headers["content-type"] == "image/bmp" and r.content[:2] == b"BM"
    dump = cgi_site.follow(link_to(thumbs, f'<img src="{icon}" alt="{ct.InstanceNumber}">', "headerdump")).text
    assert "Header dump" in dump and f"{ct.SOPInstanceUID}" in dump and "0008,0018" in dump
    viewer = cgi_site.follow(link_to(thumbs, ct.PatientID, "sliceviewer")).text
    img = re.search(r'<img src="([^"]*)"', viewer).group(1)
    assert "mode=slice" in img and "lw=0/0" in img
    allimages = cgi_site.follow(link_to(series, ct.PatientID, "queryallimages")).text
    assert link_to(allimages, "*", "headerdump")
    slice_ = f"{ct.PatientID}:{ct.SOPInstanceUID}"
    r = cgi_site.get(f"mode=slice&slice={slice_}&graphic=jpg&size=64&lw=40/400")
    assert r.headers["content-type"] == "image/jpeg" and r.content[:2] == b"\xff\xd8"
    r = cgi_site.get(f"mode=dicom&slice={slice_}&compress=un")
    assert dcmread(io.BytesIO(r.content)).SOPInstanceUID == ct.SOPInstanceUID
    urls = cgi_site.get(f"mode=imagelisturls&series={ct.PatientID}:{ct.SeriesInstanceUID}").text
    assert f"mode=dicom&slice={slice_}&dsize=0&compress=n4&dum=.dcm" in urls
    files = cgi_site.get(f"mode=imagelistfiles&series={ct.PatientID}:{ct.SeriesInstanceUID}").text
    assert files.strip().endswith(".dcm") and os.path.isfile(files.strip())
    import zipfile
    r = cgi_site.get(f"mode=zipstudy&study={ct.PatientID}:{ct.StudyInstanceUID}&dum=.zip")
    assert r.headers["content-type"] == "application/zip" and zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    viewer = cgi_site.get(f"mode=serversideviewer&series={ct.PatientID}:{ct.SeriesInstanceUID}").text
    assert f'<option value="{slice_}">' in viewer and "frames = [0]" in viewer      # no NumberOfFrames


def test_legacy_finders_movers_and_upload(server, cgi_site, tmp_path):
    from netpeers import StoreSCP
    ct = dcmread(CT, stop_before_pixels=True)
    scp = StoreSCP(tmp_path / "received", "LEGACYDEST", "+uf")      # unique names: the CT arrives twice
    try:
        assert ask(server, f"put_amap:1,LEGACYDEST,127.0.0.1,{scp.port},un") == b""
        found = cgi_site.get("mode=patientfinder&dest=CONQUESTSRV1&query=CT1").text
        assert "List of selected patients on CONQUESTSRV1" in found
        studies = cgi_site.follow(link_to(found, ct.PatientID, "studyfinder")).text
        series = cgi_site.follow(link_to(studies, ct.StudyDate, "seriesfinder")).text
        assert ct.SeriesInstanceUID in series
        images = cgi_site.follow(link_to(series, ct.StudyDate, "imagefinder")).text
        wado = cgi_site.follow(link_to(images, "view (WADO)"))
        assert wado.headers["content-type"] == "image/gif" and wado.content[:6] == b"GIF89a"
        mover = cgi_site.follow(link_to(studies, "push", "studymover")).text
        assert f"Send study: {ct.PatientID}:{ct.StudyInstanceUID}" in mover
        assert "Zip file" not in mover and ">CONQUESTSRV1</a>" not in mover      # the source is no destination
        local = cgi_site.get(f"mode=studymover&study={ct.PatientID}:{ct.StudyInstanceUID}").text
        assert "<td>(local)<td>" in local and link_to(local, "Zip file", "zipstudy")
        done = cgi_site.follow(link_to(mover, "LEGACYDEST", "movestudy")).text
        assert "Done " in done
        assert [dcmread(p).SOPInstanceUID for p in scp.wait_for(1)] == [ct.SOPInstanceUID]
        mover = cgi_site.follow(link_to(series, "push", "seriesmover")).text
        done = cgi_site.follow(link_to(mover, "LEGACYDEST", "moveseries")).text
        assert "Done " in done, done
        assert len(scp.wait_for(2)) == 2, done
    finally:
        scp.stop()
    # the start page's upload form: a multipart POST on the CGI's stdin
    import requests
    mr = dcmread(get_testdata_file("MR_small.dcm"), stop_before_pixels=True)
    with open(get_testdata_file("MR_small.dcm"), "rb") as f:
        r = requests.post(cgi_site.url, data={"mode": "addlocalfile", "port": str(server.port)},
                          files={"filetoupload": ("mr.dcm", f)}, timeout=120)
    assert "Uploaded and processed file" in r.text, r.text
    assert f">{mr.PatientID}</a>" in cgi_site.get("mode=querypatients").text
    import re
    import tempfile
    name = re.search(r"file: (dgatecgi\S+\.dcm)", r.text).group(1)         # the upload, kept with its extension
    assert not os.path.exists(os.path.join(tempfile.gettempdir(), name))      # and deleted at the end


def test_legacy_worklist_editing_and_read_only(server, cgi_site, tmp_path):
    r = cgi_site.get("mode=addrecord&db=DICOMWorkList")
    assert 'name=mode value="saverecord"' in r.text and '<input name="AccessionN" type=text value="">' in r.text
    r = cgi_site.get("mode=saverecord&db=DICOMWorkList&AccessionN=LEG1&PatientID=WL7&PatientNam=Doe%5EJane"
                     "&Modality=MR")
    assert "Added a new record in DICOMWorkList" in r.text
    wl = cgi_site.get("mode=queryworklist").text
    edit = link_to(wl, "LEG1", "editrecord")
    assert "<td>WL7<td>Doe^Jane<td>" in wl
    form = cgi_site.follow(edit).text
    assert '<input name="PatientNam" type=text value="Doe^Jane">' in form
    cgi_site.get("mode=saverecord&db=DICOMWorkList&query=AccessionN+%3D+%27LEG1%27&AccessionN=LEG1&PatientID=WL8")
    assert "<td>WL8<td><td>" in cgi_site.get("mode=queryworklist").text
    assert "read-only" in cgi_site.get("mode=saverecord&db=DICOMPatients&PatientID=x").text
    cgi_site.follow(link_to(cgi_site.get("mode=queryworklist").text, "Delete", "deleterecord"))
    assert "LEG1" not in cgi_site.get("mode=queryworklist").text
    # WEBReadOnly = 1 (the default): no delete links, no deleters, no record writes
    ro = CgiSite(tmp_path, server.port)
    try:
        ct = dcmread(CT, stop_before_pixels=True)
        studies = ro.get(f"mode=querystudies&query=patientid+%3D+%27{ct.PatientID}%27").text
        assert "push" in studies and "delete" not in studies
        r = ro.get(f"mode=studydeleter&study={ct.PatientID}:{ct.StudyInstanceUID}")
        assert r.text.startswith("Status: 404") or "no built-in page" in r.text
        assert "read-only" in ro.get("mode=saverecord&db=DICOMWorkList&AccessionN=X").text
        assert 'name=mode value="saverecord"' not in ro.get("mode=addrecord&db=DICOMWorkList").text
    finally:
        ro.stop()


def test_legacy_delete_series_through_the_deleter_form(server, cgi_site):
    import re
    rgb = dcmread(RGB, stop_before_pixels=True)
    cond = f"patientid+%3D+%27{rgb.PatientID}%27"
    studies = cgi_site.get(f"mode=querystudies&query={cond}").text
    series = cgi_site.follow(link_to(studies, rgb.PatientID, "queryseries")).text
    deleter = cgi_site.follow(link_to(series, "delete", "seriesdeleter")).text
    assert 'name=mode value="deleteseries"' in deleter
    value = re.search(r'name=series value="([^"]*)"', deleter).group(1)
    assert value == f"{rgb.PatientID}:{rgb.SeriesInstanceUID}"
    done = cgi_site.get(f"mode=deleteseries&series={value}").text
    assert f"deleteseries:{value}" in done
    assert rgb.SeriesInstanceUID not in cgi_site.follow(link_to(studies, rgb.PatientID, "queryseries")).text


def test_cgi_page_order_as_the_original(server, tmp_path):
    """[AnyPage] first (its exceptions go on), then the built-in pages (before a [<mode>]
    section; ``top`` even with a [DefaultPage]), then the mode's section, then [DefaultPage];
    an [AnyPage]/[DefaultPage] page's ``mode`` is the section name, ``CGI('mode')`` the request's."""
    web = tmp_path / "web"
    web.mkdir()
    (web / "dicom.ini").write_text(
        f"[sscscp]\nTCPPort = {server.port}\n\n[DefaultPage]\nsource = *.lua\n\n"
        "[querystudies]\nline0 = never shown\n\n[own]\nline0 = own page %mode%\n")
    (web / "thing.lua").write_text('print("Content-type: text/plain\\n")\nprint(mode .. " " .. CGI("mode"))\n')
    ask_page = lambda q: run_dgate(["-p" + str(server.port), "-y" + q], web).stdout    # noqa: E731
    assert ask_page("mode=thing") == "Content-type: text/plain\n\nDefaultPage thing\n"
    assert "List of all studies" in ask_page("mode=querystudies") and "never shown" not in ask_page("mode=querystudies")
    assert "own page own" in ask_page("mode=own")
    assert "name=mode value=\"querypatients\"" in ask_page("mode=top")
    assert "no page .lua" in ask_page("")                  # no mode with a [DefaultPage]: that page
    with open(web / "dicom.ini", "a") as f:
        f.write("\n[AnyPage]\nsource = thing.lua\nexceptions = querystudies,own\n")
    assert ask_page("mode=top") == "Content-type: text/plain\n\nAnyPage top\n"
    assert "List of all studies" in ask_page("mode=querystudies") and "own page own" in ask_page("mode=own")


def test_legacy_server_side_viewer_in_a_browser(cgi_site):
    """``serversideviewer``: its script loads ``mode=slice`` images for the chosen slice, frame,
    level/window and colour (a real browser runs it)."""
    from browser import open_browser, wait_for
    mr = dcmread(EMRI, stop_before_pixels=True)
    frames = int(mr.NumberOfFrames)
    driver = open_browser()
    try:
        driver.get(f"{cgi_site.url}?mode=serversideviewer&series={mr.PatientID}:{mr.SeriesInstanceUID}&graphic=jpg")
        loaded = "const i = document.getElementById('view'); return i.complete && i.naturalWidth > 0 ? i.src : ''"
        src = wait_for(lambda: driver.execute_script(loaded), what="the first image")
        assert "mode=slice" in src and "graphic=jpg" in src and src.endswith("lw=0/0/0"), src
        visible = driver.execute_script("return getComputedStyle(document.forms[0].nframe).visibility")
        assert visible == ("visible" if frames > 1 else "hidden")
        driver.execute_script("const f = document.forms[0]; f.level.value = 40; f.window.value = 400;"
                              " f.graphic.value = 'gif'; f.nframe.click();")
        src = wait_for(lambda: (s := driver.execute_script(loaded)) and "lw=40/400/" in s and s, what="a new image")
        assert "graphic=gif" in src and src.endswith("/1" if frames > 1 else "/0"), src
    finally:
        driver.quit()
