"""Conquest's /api/dicom/rs extensions and our UI API against a real dgate server and a
real C-STORE destination: modalities, echo, remote QIDO (C-FIND), move (C-MOVE), zip;
and the access rules (remote clients, users and roles)."""
from __future__ import annotations

import asyncio
import base64

import httpx
import pytest
import requests
from netpeers import DgateProcess, dcmtk, free_port, have_dcmtk
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pynetdicom import AE, AllStoragePresentationContexts, evt
from webhelpers import WebServer, need

CT = get_testdata_file("CT_small.dcm")


class Destination:
    """A pynetdicom storage SCP that keeps what it receives."""

    def __init__(self):
        self.port = free_port()
        self.received: list[str] = []
        ae = AE(ae_title="WEBDEST")
        ae.supported_contexts = AllStoragePresentationContexts
        self.server = ae.start_server(("127.0.0.1", self.port), block=False,
                                      evt_handlers=[(evt.EVT_C_STORE, self.on_store)])

    def on_store(self, event):
        self.received.append(str(event.dataset.SOPInstanceUID))
        return 0x0000

    def stop(self):
        self.server.shutdown()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    need(have_dcmtk(), "dcmtk is not installed")
    folder = tmp_path_factory.mktemp("site")
    dest = Destination()
    dicom_port = free_port()
    web = WebServer(folder, TCPPort=str(dicom_port), WEBReadOnly="0")
    amap = folder / "acrnema.map"
    amap.write_text(amap.read_text().replace(
        "CONQUESTSRV1\t\t127.0.0.1\t5678\t\tun",
        f"CONQUESTSRV1\t\t127.0.0.1\t{dicom_port}\t\tun\nPEER\t\t127.0.0.1\t{dicom_port}\t\tun\n"
        f"WEBDEST\t\t127.0.0.1\t{dest.port}\t\tun\nGONE\t\t127.0.0.1\t{free_port()}\t\tun"))
    web.config.reload_amap()
    proc = DgateProcess(folder, dicom_port)
    r = dcmtk("storescu", "-aec", "CONQUESTSRV1", "127.0.0.1", str(dicom_port), CT)
    assert r.returncode == 0, r.stderr
    yield web, dest, proc
    proc.stop()
    web.stop()
    dest.stop()


def test_modalities_and_echo(site):
    web, dest, _ = site
    listed = requests.get(web.url + "/api/dicom/rs/modalities").json()
    assert {"ae": "WEBDEST", "ip": "127.0.0.1", "port": dest.port, "compression": "un"} in listed
    assert all("*" not in m["ae"] for m in listed)
    assert requests.get(web.url + "/api/dicom/rs/modalities/PEER").text == "1"
    assert requests.get(web.url + "/api/dicom/rs/modalities/GONE").text == "0"
    assert requests.get(web.url + "/api/dicom/rs/modalities/NOSUCH").status_code == 404


def test_require_lua_json_in_a_server_lua_command(site):
    """rquery.lua's modalities code runs ``JSON=require('lua/JSON')`` in a ``lua:`` command;
    with no such file in the server's folder the server's own JSON module answers
    (``JSON:encode`` and ``JSON.encode``); the list ends at the end of acrnema.map here (the
    stock rquery.lua stops only at a wildcard row)."""
    web, dest, _ = site
    page = web.folder / "webserver" / "htdocs" / "amaps.lua"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(
        "local code = [[local JSON = require('lua/JSON') local t = {} for j = 0, 1000 do "
        "local a, i, p, c = get_amap(j) if a == nil or string.find(a, '*') then break end "
        "table.insert(t, {ae = a, port = p}) end "
        "return JSON:encode(t) .. '|' .. require('json').encode(JSON:decode('[1,2]'))]]\n"
        "write('Content-type: text/plain\\n\\n', servercommand('lua:' .. code))\n")
    r = requests.get(web.url + "/amaps.lua", timeout=30)
    listed, _, rest = r.text.partition("|")
    import json
    assert r.status_code == 200 and rest == "[1,2]", r.text
    assert {"ae": "WEBDEST", "port": str(dest.port)} in json.loads(listed)


def test_remote_qido_through_c_find(site):
    web, _, _ = site
    ct = dcmread(CT, stop_before_pixels=True)
    studies = requests.get(web.url + "/api/dicom/rs/modalities/PEER/studies", params={"PatientID": "1CT1"}).json()
    assert [s["0020000D"]["Value"][0] for s in studies] == [ct.StudyInstanceUID]
    series = requests.get(f"{web.url}/api/dicom/rs/modalities/PEER/studies/{ct.StudyInstanceUID}/series").json()
    assert series[0]["0020000E"]["Value"] == [ct.SeriesInstanceUID]
    inst = requests.get(f"{web.url}/api/dicom/rs/modalities/PEER/studies/{ct.StudyInstanceUID}/series/"
                        f"{ct.SeriesInstanceUID}/instances").json()
    assert inst[0]["00080018"]["Value"] == [ct.SOPInstanceUID]
    r = requests.get(web.url + "/api/dicom/rs/modalities/GONE/studies")
    assert r.status_code == 502 and "GONE" in r.text


def test_move_conquest_route_and_ui(site):
    web, dest, _ = site
    ct = dcmread(CT, stop_before_pixels=True)
    r = requests.get(f"{web.url}/api/dicom/rs/studies/{ct.StudyInstanceUID}/move", params={"target": "WEBDEST"})
    assert r.status_code == 200 and r.json() == ""
    assert dest.received == [ct.SOPInstanceUID]
    r = requests.post(web.url + "/api/dgate/move", json={"destination": "WEBDEST", "study": ct.StudyInstanceUID,
                                                         "series": ct.SeriesInstanceUID})
    assert r.json() == {"ok": True, "message": "moved"}
    assert dest.received == [ct.SOPInstanceUID] * 2
    r = requests.post(web.url + "/api/dgate/move", json={"destination": "NOWHERE", "study": ct.StudyInstanceUID})
    assert r.status_code == 502 and not r.json()["ok"]
    r = requests.post(web.url + "/api/dgate/move", data="not json")
    assert r.status_code == 400


def test_ui_status_logs_queues(site):
    web, _, proc = site
    status = requests.get(web.url + "/api/dgate/status").json()
    assert status["dicom_server_running"] and "DICOM server 'CONQUESTSRV1'" in status["status_text"]
    assert status["counts"]["image"] == 1 and status["read_only"] is False
    logs = requests.get(web.url + "/api/dgate/logs/user", params={"lines": "5"}).json()
    assert any("C-Store" in line for line in logs["lines"])
    assert requests.get(web.url + "/api/dgate/logs/../../etc/passwd").status_code == 404
    assert "queues" in requests.get(web.url + "/api/dgate/queues").json()


def test_read_only_refuses_moves(tmp_path):
    web = WebServer(tmp_path)                       # default WEBReadOnly = 1
    try:
        r = requests.post(web.url + "/api/dgate/move", json={"destination": "X", "study": "1.2"})
        assert r.status_code == 403 and "WEBReadOnly" in r.text
    finally:
        web.stop()


def test_users_roles_and_remote_clients(tmp_path):
    import hashlib
    users = tmp_path / "webusers.txt"
    digest = hashlib.sha256(b"s3cret").hexdigest()
    users.write_text(f"# name role secret\nreader read pw1\nadmin full sha256:{digest}\n")
    web = WebServer(tmp_path, WebUsers=str(users))
    try:
        url = web.url + "/dicom-web/studies"
        assert requests.get(url).status_code == 401
        assert requests.get(url, auth=("reader", "wrong")).status_code == 401
        assert requests.get(url, auth=("reader", "pw1")).status_code == 200
        assert requests.get(url, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        r = requests.post(url, auth=("reader", "pw1"), data=b"x", headers={"Content-Type": "multipart/related"})
        assert r.status_code == 403 and "full" in r.text
        r = requests.post(url, auth=("admin", "s3cret"), data=b"x",
                          headers={"Content-Type": "multipart/related; boundary=q"})
        assert r.status_code == 400                           # past the guard, malformed body
        assert requests.options(url, headers={"Origin": "http://x", "Access-Control-Request-Method": "GET"}
                                ).status_code == 200          # CORS preflight needs no credentials
        app = web.handle.server.config.app

        async def remote(path, **headers):
            transport = httpx.ASGITransport(app=app, client=("192.0.2.7", 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://dgate") as client:
                return await client.get(path, headers=headers)
        auth = "Basic " + base64.b64encode(b"reader:pw1").decode()
        r = asyncio.run(remote("/dicom-web/studies", Authorization=auth))
        assert r.status_code == 403 and "WebRemoteAccess" in r.text
        web.handle.ctx.web.remote_access = True               # WebRemoteAccess = 1
        assert asyncio.run(remote("/dicom-web/studies", Authorization=auth)).status_code == 200
        assert asyncio.run(remote("/dicom-web/studies")).status_code == 401
    finally:
        web.stop()


def test_database_down_gives_503_and_recovers_nothing_broken(tmp_path):
    from dgate.config import Configuration
    from dgate.config.defaults import create_default_config
    from dgate.config.ini import put_param
    from dgate.log import Logs
    from dgate.web.server import start_web
    create_default_config(tmp_path)
    for key, value in {"SQLite": "0", "PostGres": "1", "SQLServer": "conquest", "Username": "postgres",
                       "SQLHost": f"127.0.0.1:{free_port()}"}.items():
        put_param(tmp_path / "dicom.ini", key, value)
    handle = start_web(Configuration.open(tmp_path), Logs(), port=free_port())
    try:
        url = f"http://127.0.0.1:{handle.port}"
        r = requests.get(url + "/dicom-web/studies")
        assert r.status_code == 503 and "database" in r.text
        r = requests.get(url + "/dicom-web/studies/1.2.3/metadata")
        assert r.status_code == 503
        assert requests.get(url + "/ui/").status_code == 200          # the rest keeps working
    finally:
        handle.stop()
