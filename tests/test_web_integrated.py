"""The web server inside a running ``dgate -v`` (hub task ``web-server``): one process
serves DICOM and HTTP. dcmtk stores and finds over DICOM, dicomweb-client and plain HTTP
use the web side; STOW goes through the same ingest pipeline (compression, mirror copy,
per-instance refusals with their reasons); hostile requests get 4xx and lose nothing; a
slow HTTP client does not hold up the DICOM side; the port is released at stop."""
from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from netpeers import DgateProcess, dcmtk, free_port, have_dcmtk, start_server, wait_for_port
from pydicom import dcmread
from pydicom.data import get_testdata_file
from test_web_dicomweb import multipart
from webhelpers import need

CT = Path(get_testdata_file("CT_small.dcm"))
MR = Path(get_testdata_file("MR_small.dcm"))
J2K = Path(get_testdata_file("JPEG2000.dcm"))


class Integrated:
    """A dgate folder and its running server with ``WebPort`` set."""

    def __init__(self, folder: Path, **params: str):
        self.folder = folder
        self.web_port = free_port()
        start_server(folder, start=False, WebPort=str(self.web_port), MIRRORDevice0=str(folder / "mirror"),
                     **params)
        self.proc = DgateProcess(folder)
        self.port = self.proc.port
        wait_for_port(self.web_port)
        self.url = f"http://127.0.0.1:{self.web_port}"
        self.client = DICOMwebClient(self.url + "/dicom-web")

    def count_images(self) -> int:
        from dgate.config import Configuration
        from dgate.db import open_database
        with open_database(Configuration.open(self.folder)) as db:
            return int(db.sql(f"SELECT COUNT(1) FROM {db.schema.image.name}")[0][0])

    def stored_files(self) -> list[Path]:
        return sorted((self.folder / "data").rglob("*.dcm"))

    def echo(self) -> float:
        started = time.monotonic()
        r = dcmtk("echoscu", "-to", "5", "127.0.0.1", str(self.port), timeout=20)
        assert r.returncode == 0, r.stderr
        return time.monotonic() - started

    def stop(self) -> None:
        self.proc.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    need(have_dcmtk(), "dcmtk is not installed")
    s = Integrated(tmp_path_factory.mktemp("integrated"), IncomingCompression="un", WebMaxUpload="2")
    r = dcmtk("storescu", "-aec", "CONQUESTSRV1", "127.0.0.1", str(s.port), str(CT))
    assert r.returncode == 0, r.stderr
    yield s
    s.stop()


def test_dgate_serves_http_with_dicom(server):
    assert "Web server listening on 127.0.0.1:%d" % server.web_port in server.proc.output()
    assert requests.get(server.url + "/api/dicom", timeout=10).text.startswith("Conquest DICOM api")
    ct = dcmread(CT, stop_before_pixels=True)
    found = server.client.search_for_studies(search_filters={"PatientID": ct.PatientID})
    assert [f["0020000D"]["Value"][0] for f in found] == [ct.StudyInstanceUID]
    back = server.client.retrieve_instance(ct.StudyInstanceUID, ct.SeriesInstanceUID, ct.SOPInstanceUID)
    assert back.SOPInstanceUID == ct.SOPInstanceUID
    # the status page asks the DICOM side (display_status:) of the same server
    status = requests.get(server.url + "/api/dgate/status", timeout=20).json()
    assert status["dicom_server_running"], status


def test_stow_goes_through_the_ingest_pipeline(server):
    j2k = dcmread(J2K)
    assert j2k.file_meta.TransferSyntaxUID.is_compressed
    server.client.store_instances([j2k])
    # C-FIND on the DICOM side sees what STOW stored
    r = dcmtk("findscu", "-S", "-aec", "CONQUESTSRV1", "-k", "QueryRetrieveLevel=IMAGE",
              "-k", f"StudyInstanceUID={j2k.StudyInstanceUID}", "-k", "SOPInstanceUID",
              "127.0.0.1", str(server.port))
    assert j2k.SOPInstanceUID in r.stdout + r.stderr, r.stderr
    # IncomingCompression=un applied to the STOW object as to a C-STORE one
    stored = [p for p in server.stored_files() if dcmread(p, stop_before_pixels=True).SOPInstanceUID
              == j2k.SOPInstanceUID]
    assert len(stored) == 1
    assert dcmread(stored[0], stop_before_pixels=True).file_meta.TransferSyntaxUID in (
        "1.2.840.10008.1.2", "1.2.840.10008.1.2.1")
    # and the after-store hooks ran: the hub's mirror queue copied it
    mirror = server.folder / "mirror" / stored[0].relative_to(server.folder / "data")
    deadline = time.monotonic() + 10
    while not mirror.is_file() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert mirror.is_file()
    assert f"Written file: {stored[0]}" in server.proc.output()


def test_stow_reports_each_refusal_with_its_reason(server):
    before = server.count_images()
    ct = dcmread(CT)
    ct.PatientID = "SOMEONE-ELSE"           # the same SOP instance for another patient: refused
    import io
    clash = io.BytesIO()
    ct.save_as(clash, enforce_file_format=True)
    mr = MR.read_bytes()
    body, boundary = multipart([("application/dicom", clash.getvalue()), ("application/dicom", mr),
                                ("application/dicom", b"DICM but not really" * 20)])
    r = requests.post(server.url + "/dicom-web/studies", data=body, timeout=30,
                      headers={"Content-Type": f"multipart/related; type=application/dicom; boundary={boundary}"})
    assert r.status_code == 202, r.text
    answer = r.json()
    failed = answer["00081198"]["Value"]
    assert len(failed) == 2 and len(answer["00081199"]["Value"]) == 1
    assert failed[0]["00081155"]["Value"] == [ct.SOPInstanceUID]
    assert failed[0]["00090010"]["Value"] == ["DGATE STOW"]
    assert "already stored for patient" in failed[0]["00091001"]["Value"][0]
    assert failed[1]["00081197"]["Value"] == [0xC000] and failed[1]["00091001"]["Value"][0]
    assert "already stored" in r.headers["Warning"]
    assert server.count_images() == before + 1


@pytest.mark.parametrize("path", ["/ui/../dicom.ini", "/ui/%2e%2e/dicom.ini", "/ui/..%2fdicom.ini",
                                  "/ui/%2e%2e%2f%2e%2e%2fetc/passwd", "/app/ohif/../../dicom.ini",
                                  "/ui//etc/passwd", "/ui/%00", "/api/dicom/rs/studies/..%2F..%2F/metadata"])
def test_path_traversal_gets_4xx(server, path):
    with socket.create_connection(("127.0.0.1", server.web_port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    status = int(reply.split(b" ", 2)[1])
    assert 400 <= status < 500, reply[:300]
    assert b"[sscscp]" not in reply and b"root:" not in reply


def test_hostile_bodies_get_4xx_and_lose_nothing(server):
    before, files = server.count_images(), server.stored_files()
    url = server.url + "/dicom-web/studies"
    data = CT.read_bytes()
    cases = [
        (b"--xyz\r\nContent-Type: application/dicom\r\n\r\n" + data, "multipart/related; boundary=xyz", 400),
        (data, "multipart/related; type=application/dicom", 400),                       # no boundary
        (data, "application/dicom", 415),
        (b"--b\r\nno header end" + data, "multipart/related; boundary=b", 400),
        (b"x" * 100, "multipart/related; boundary=" + "b" * 300, 400),
        (b"", "multipart/related; boundary=b", 400),
        (multipart([("application/dicom", b"\0" * (3 << 20))])[0],
         "multipart/related; boundary=b0undary42", 413),                               # WebMaxUpload=2
    ]
    for body, ctype, status in cases:
        r = requests.post(url, data=body, headers={"Content-Type": ctype}, timeout=30)
        assert r.status_code == status, (ctype, r.status_code, r.text)
        assert r.headers["content-type"].startswith(("application/json", "text/plain")), r.headers

    def endless():
        for _ in range(60):
            yield b"\0" * 100000
    r = requests.post(url, data=endless(), headers={"Content-Type": "multipart/related; boundary=a"}, timeout=30)
    assert r.status_code == 413
    # a request line that is not HTTP
    with socket.create_connection(("127.0.0.1", server.web_port), timeout=10) as sock:
        sock.sendall(b"GARBAGE\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 400")
    assert server.count_images() == before and server.stored_files() == files
    assert server.echo() < 5


def test_a_slow_http_client_does_not_hold_up_dicom(server):
    socks = []
    try:
        for _ in range(20):            # clients that send half a request and wait
            s = socket.create_connection(("127.0.0.1", server.web_port), timeout=10)
            s.sendall(b"POST /dicom-web/studies HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n"
                      b"Content-Type: multipart/related; boundary=b\r\n\r\n--b\r\n")
            socks.append(s)
        assert server.echo() < 3
        r = dcmtk("storescu", "-aec", "CONQUESTSRV1", "127.0.0.1", str(server.port), str(MR))
        assert r.returncode == 0, r.stderr
        assert requests.get(server.url + "/dicom-web/studies", timeout=10).status_code == 200
    finally:
        for s in socks:
            s.close()


def test_port_taken_dicom_runs_on_and_stop_releases_the_port(tmp_path):
    need(have_dcmtk(), "dcmtk is not installed")
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    taken = holder.getsockname()[1]
    try:
        folder = tmp_path / "taken"
        folder.mkdir()
        start_server(folder, start=False, WebPort=str(taken))
        proc = DgateProcess(folder)
        try:
            r = dcmtk("echoscu", "127.0.0.1", str(proc.port))
            assert r.returncode == 0
            deadline = time.monotonic() + 10
            while "web-server did not start" not in proc.output() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert f"web-server did not start: the web server cannot listen on 127.0.0.1:{taken}" in proc.output()
        finally:
            proc.stop()
    finally:
        holder.close()
    # a stopped server frees its HTTP port at once: a new one binds it again (SO_REUSEADDR)
    folder = tmp_path / "again"
    folder.mkdir()
    web = free_port()
    start_server(folder, start=False, WebPort=str(web))
    for _ in range(2):
        proc = DgateProcess(folder)
        try:
            wait_for_port(web)
            assert requests.get(f"http://127.0.0.1:{web}/dicom-web/studies", timeout=10).status_code == 200
            # a keep-alive connection left open does not stop the server from stopping
            keep = socket.create_connection(("127.0.0.1", web))
            keep.sendall(b"GET /api/dicom HTTP/1.1\r\nHost: x\r\n\r\n")
            keep.recv(1000)
        finally:
            started = time.monotonic()
            proc.stop()
            assert proc.proc.returncode is not None and time.monotonic() - started < 9
            keep.close()
        assert "Web server stopped" in proc.output()


def test_no_web_server_when_webport_is_0(tmp_path):
    need(have_dcmtk(), "dcmtk is not installed")
    start_server(tmp_path, start=False)          # the tests' default: WebPort = 0
    proc = DgateProcess(tmp_path)
    try:
        assert dcmtk("echoscu", "127.0.0.1", str(proc.port)).returncode == 0
        assert "Web server" not in proc.output()
    finally:
        proc.stop()


def test_our_ui_lists_a_cstored_study_and_opens_its_image(server):
    from browser import CANVAS_STATS, open_browser, wait_for
    from selenium.webdriver.common.by import By
    ct = dcmread(CT)
    driver = open_browser()
    try:
        driver.get(server.url + "/")                   # / redirects to our UI
        row = f'#study-table tr[data-study="{ct.StudyInstanceUID}"]'
        wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, row), what="the C-STOREd study in the list")
        assert ct.PatientID in driver.find_element(By.CSS_SELECTOR, row).text
        driver.find_element(By.CSS_SELECTOR, row).click()
        wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#series-table tbody tr"), what="series")
        driver.find_element(By.CSS_SELECTOR, "#series-table tbody tr").click()
        stats = wait_for(lambda: (s := driver.execute_script(CANVAS_STATS, "#v-canvas"))["lit"] > 1000 and s,
                         what="rendered image")
        assert (stats["width"], stats["height"]) == (ct.Columns, ct.Rows) and stats["distinct"] > 50
    finally:
        driver.quit()


def test_ohif_on_the_integrated_server(server):
    """OHIF installed into the running server's folder (``python3 -m dgate.web.ohif``) shows
    the C-STOREd study and renders it; skipped when the @ohif/app tarball cannot be had."""
    import os
    import subprocess
    import sys

    from browser import CANVAS_STATS, open_browser, wait_for
    from conftest import REPO
    from selenium.webdriver.common.by import By
    from test_web_ohif import ohif_tarball
    tarball = ohif_tarball()
    r = subprocess.run([sys.executable, "-m", "dgate.web.ohif", "-w", str(server.folder), "--tarball", str(tarball)],
                       env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    ct = dcmread(CT, stop_before_pixels=True)
    driver = open_browser()
    try:
        driver.get(server.url + "/app/ohif/")
        wait_for(lambda: "CompressedSamples, CT1" in driver.find_element("tag name", "body").text, timeout=60,
                 what="OHIF study list")
        driver.find_element(By.XPATH, "//*[text()='CompressedSamples, CT1']").click()
        wait_for(lambda: [b for b in driver.find_elements(By.TAG_NAME, "button") if b.text == "Basic Viewer"],
                 what="mode button")[0].click()
        wait_for(lambda: ct.StudyInstanceUID in driver.current_url, what="viewer of the study")
        stats = wait_for(lambda: (s := driver.execute_script(CANVAS_STATS, "canvas"))["lit"] > 20000
                         and s["distinct"] > 50 and s, timeout=90, what="rendered image in OHIF")
        assert stats["width"] > 100
    finally:
        driver.quit()


def test_lua_pages_and_newweb_in_the_running_server(server):
    """A page of webserver/htdocs talks to its own server (servercommand, dicomquery), and
    newweb's requestType=WADO without a WADO.lua is our WADO-URI."""
    root = server.folder / "webserver" / "htdocs" / "app" / "newweb"
    root.mkdir(parents=True, exist_ok=True)
    (root / "countstudies.lua").write_text(
        'HTML("Content-type: text/plain")\nHTML("")\n'
        'print(servercommand("get_param:MyACRNema"))\n'
        'local q = DicomObject:new(); q.QueryRetrieveLevel = "STUDY"; q.StudyInstanceUID = ""; q.PatientID = ""\n'
        'local r = dicomquery(servercommand("get_param:MyACRNema"), "STUDY", q)\n'
        'for i = 0, #r - 1 do print(r[i].PatientID) end\n')
    r = requests.get(server.url + "/app/newweb/dgate.exe?mode=countstudies", timeout=30)
    assert r.status_code == 200, r.text
    lines = r.text.split("\r\n")
    assert lines[0] == "CONQUESTSRV1"
    assert dcmread(CT, stop_before_pixels=True).PatientID in lines[1:]
    ct = dcmread(CT, stop_before_pixels=True)
    r = requests.get(server.url + "/app/newweb/dgate.exe", timeout=30, params={
        "requestType": "WADO", "contentType": "image/jpeg", "studyUID": ct.StudyInstanceUID,
        "seriesUID": ct.SeriesInstanceUID, "objectUID": ct.SOPInstanceUID})
    assert r.status_code == 200 and r.content[:2] == b"\xff\xd8", r.content[:200]


def test_hostile_headers_and_page_uploads(server):
    root = server.folder / "webserver" / "htdocs"
    root.mkdir(parents=True, exist_ok=True)
    (root / "echo.lua").write_text('write("Content-type: text/plain\\n\\n", #(request.query._upload_ or ""))\n')
    with socket.create_connection(("127.0.0.1", server.web_port), timeout=10) as sock:   # a 100 kB header
        sock.sendall(b"GET /dicom-web/studies HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000)
        reply = sock.recv(200)
    assert reply.startswith(b"HTTP/1.1 431"), reply
    headers = {f"X-H{i}": "v" * 100 for i in range(200)}                       # 20 kB of headers: fine
    assert requests.get(server.url + "/dicom-web/studies", headers=headers, timeout=10).status_code == 200
    r = requests.post(server.url + "/echo.lua", data=b"x" * (3 << 20), timeout=30,
                      headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 413                                    # WebMaxUpload = 2 MB
    r = requests.post(server.url + "/echo.lua", data=b"--zz\r\nbroken", timeout=30,
                      headers={"Content-Type": "multipart/form-data; boundary=zz"})
    assert r.status_code == 400 and "malformed form upload" in r.text
    r = requests.post(server.url + "/echo.lua", data=b"12345", timeout=30,
                      headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200 and r.text == "5"
    assert server.echo() < 5


def test_php_pages_through_php_cgi_and_servertask(server):
    """A PHP page as Conquest's api/dicom PHP runs: php-cgi, and servertask --dolua: talking to
    the server; a newweb-style dgate.php calling dgate -y (page mode)."""
    import shutil
    import sys
    need(shutil.which("php-cgi") is not None, "php-cgi is not installed")
    root = server.folder / "webserver" / "htdocs" / "php"
    root.mkdir(parents=True, exist_ok=True)
    (root / "api.php").write_text(
        "<?php\nheader('X-Php: yes');\n"
        "if (isset($_GET['missing'])) { http_response_code(404); echo 'Item not found!'; exit; }\n"
        "echo 'q=' . $_GET['x'] . ' body=' . strlen(file_get_contents('php://input')) . \"\\n\";\n"
        f"passthru('{sys.executable} -m servertask -p{server.port} -q127.0.0.1 "
        "\"--dolua:print(servercommand([[get_param:MyACRNema]]))\"');\n")
    (root / "dicom.ini").write_text(f"[sscscp]\nTCPPort = {server.port}\n\n[DefaultPage]\nsource = *.lua\n")
    (root / "hello.lua").write_text('print("Content-type: text/plain\\n")\nprint("hello " .. CGI("who"))\n')
    (root / "dgate.php").write_text(
        "<?php\n$q = http_build_query($_GET);\n"
        f"$out = shell_exec('{sys.executable} -m dgate -p{server.port} -q127.0.0.1 \"-y' . $q . '\"');\n"
        "list($head, $body) = explode(\"\\n\\n\", $out, 2);\n"
        "foreach (explode(\"\\n\", $head) as $h) header($h);\necho $body;\n")
    r = requests.post(server.url + "/php/api.php?x=7", data=b"12345", timeout=60)
    assert r.status_code == 200 and r.headers["x-php"] == "yes", r.text
    assert r.text.startswith("q=7 body=5\n") and "CONQUESTSRV1" in r.text, r.text
    r = requests.get(server.url + "/php/api.php?missing=1", timeout=60)
    assert r.status_code == 404 and r.text == "Item not found!"
    r = requests.get(server.url + "/php/dgate.php?mode=hello&who=world", timeout=60)
    assert r.status_code == 200 and r.text.strip() == "hello world", r.text
    assert r.headers["content-type"].startswith("text/plain")


def test_stow_of_an_object_beyond_the_spool_threshold(tmp_path):
    """An object larger than the in-memory spool threshold (4 MB) goes through a spool file
    and is stored byte for byte (data set as sent)."""
    import io

    import numpy as np
    from pydicom.uid import generate_uid
    from webhelpers import WebServer

    from dgate.store.received import SPOOL_THRESHOLD
    web = WebServer(tmp_path, WebMaxUpload="64")
    try:
        ds = dcmread(CT)
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.Rows = ds.Columns = 1600
        ds.PixelData = (np.arange(1600 * 1600, dtype=np.uint16) % 4000).astype(np.int16).tobytes()
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=True)
        assert len(out.getvalue()) > SPOOL_THRESHOLD
        body, boundary = multipart([("application/dicom", out.getvalue())])
        r = requests.post(web.url + "/dicom-web/studies", data=body, timeout=60,
                          headers={"Content-Type": f"multipart/related; type=application/dicom; boundary={boundary}"})
        assert r.status_code == 200, r.text
        stored = [p for p in (web.folder / "data").rglob("*.dcm")
                  if dcmread(p, stop_before_pixels=True).SOPInstanceUID == ds.SOPInstanceUID]
        assert len(stored) == 1
        assert dcmread(stored[0]).PixelData == ds.PixelData
        assert not list((web.folder / "data").rglob("*.tmp"))          # no spool file left behind
    finally:
        web.stop()


def test_stow_runs_the_import_steps_with_their_verdicts(tmp_path):
    """Import steps (converters) see STOW objects with source 'web' and the client's address;
    a change they make is stored, a rejection is a failed instance with its reason."""
    from webhelpers import WebServer

    from dgate.store.ingest import IMPORT_STEPS, Verdict
    seen = []

    def step(ds, ctx):
        seen.append((ctx.source, ctx.calling, ctx.peer))
        if ds.Modality == "MR":
            return Verdict.REJECT
        ds.InstitutionName = "SET BY A STEP"
        ctx.mark_changed()
        return None

    IMPORT_STEPS.register("test-stow", step)
    web = WebServer(tmp_path)
    try:
        body, boundary = multipart([("application/dicom", CT.read_bytes()), ("application/dicom", MR.read_bytes())])
        r = requests.post(web.url + "/dicom-web/studies", data=body, timeout=60,
                          headers={"Content-Type": f"multipart/related; type=application/dicom; boundary={boundary}"})
        assert r.status_code == 202, r.text
        failed = r.json()["00081198"]["Value"]
        assert failed[0]["00081155"]["Value"] == [dcmread(MR, stop_before_pixels=True).SOPInstanceUID]
        assert "Rejected by an import step" in failed[0]["00091001"]["Value"][0]
        assert seen == [("web", "WEB", "127.0.0.1")] * 2
        (stored,) = (web.folder / "data").rglob("*.dcm")
        assert dcmread(stored).InstitutionName == "SET BY A STEP"
    finally:
        IMPORT_STEPS.unregister("test-stow")
        web.stop()


def test_queues_panel_shows_the_server_queues(tmp_path):
    """``/api/dgate/queues`` (the UI's queues panel) gives the running server's export,
    delayed and forward queues from its ``queue_status:`` reply, as numbers per queue. Once
    the converter plug-in runs ExportConverters in the server (branch wconvert), an export
    to a closed port shows up as a failure or retry of ExportConverter0."""
    need(have_dcmtk(), "dcmtk is not installed")
    s = Integrated(tmp_path, ExportConverters="1", ExportConverter0=f"forward to 127.0.0.1:{free_port()}")
    try:
        r = dcmtk("storescu", "-aec", "CONQUESTSRV1", "127.0.0.1", str(s.port), str(CT))
        assert r.returncode == 0, r.stderr
        deadline = time.monotonic() + 15
        while True:
            got = requests.get(s.url + "/api/dgate/queues", timeout=20).json()
            export = next((q for q in got["queues"] if q["name"] == "ExportConverter0"), None)
            tried = export and export["failures"] + export["waiting_for_retry"] + export["given_up"]
            if export is None or tried or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        delayed = next(q for q in got["queues"] if q["name"] == "Delayed operations")
        assert set(delayed) >= {"queued", "busy", "waiting_for_retry", "done", "failures"}, got
        assert all(isinstance(delayed[k], int) for k in delayed if k != "name")
        assert any(q["name"] == "Forward associations" and q["open"] >= 0 for q in got["queues"]), got
        assert "Delayed operations queue:" in got["text"]
        if export is not None:
            assert tried and export["done"] == 0, got
    finally:
        s.stop()
    # the DICOM server gone: the panel says so, with no queues
    from dgate.config import Configuration
    from dgate.log import Logs
    from dgate.web.server import make_context
    from dgate.web.ui_api import queue_state
    ctx = make_context(Configuration.open(tmp_path), Logs(), dicom_port=s.port)
    state = queue_state(ctx)
    assert state["queues"] == [] and "does not answer" in state["note"]
    ctx.close()


def test_queue_status_lines_are_parsed():
    from dgate.web.ui_api import parse_queue_status
    text = ("ExportConverter0 queue: 2 queued, 1 busy, 3 waiting for retry, 4 done, 5 failures, 6 given up\n"
            "Delayed operations queue: 0 queued, 0 busy, 0 waiting for retry, 7 done, 0 failures\n"
            "Forward associations open: 2\nsomething else\n")
    assert parse_queue_status(text) == [
        {"name": "ExportConverter0", "queued": 2, "busy": 1, "waiting_for_retry": 3, "done": 4, "failures": 5,
         "given_up": 6},
        {"name": "Delayed operations", "queued": 0, "busy": 0, "waiting_for_retry": 0, "done": 7, "failures": 0},
        {"name": "Forward associations", "open": 2}]


def test_standalone_web_server_loads_the_plug_ins(tmp_path):
    """``python3 -m dgate.web`` on its own applies IncomingCompression to STOW as the server does
    (the plug-ins of dgate.hub.plugins are loaded there too)."""
    import os
    import subprocess
    import sys

    from conftest import REPO
    folder = tmp_path / "web"
    folder.mkdir()
    start_server(folder, start=False, IncomingCompression="j2")
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "dgate.web", f"-w{folder}", "--port", str(port)],
                            cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port)
        body, boundary = multipart([("application/dicom", Path(get_testdata_file("CT_small.dcm")).read_bytes())])
        kind = f"multipart/related; type=application/dicom; boundary={boundary}"
        reply = requests.post(f"http://127.0.0.1:{port}/dicom-web/studies", data=body, timeout=30,
                              headers={"Content-Type": kind})
        assert reply.status_code == 200, reply.text
        stored = [p for p in (folder / "data").rglob("*.dcm")]
        assert len(stored) == 1
        assert str(dcmread(stored[0], stop_before_pixels=True).file_meta.TransferSyntaxUID) == "1.2.840.10008.1.2.4.57"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
