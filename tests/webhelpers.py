"""A real web server over a real dgate folder for the web tests, and the sample objects."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file

SAMPLE_NAMES = ["CT_small.dcm", "MR_small.dcm", "emri_small.dcm", "JPEG2000.dcm", "SC_rgb.dcm", "SC_rgb_rle.dcm"]


def need(tool_present: bool, message: str) -> None:
    """Skip when a tool is absent on a developer machine; fail in CI (``CI`` set)."""
    if tool_present:
        return
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def sample_paths() -> list[Path]:
    """Sample files with distinct SOP instance UIDs."""
    seen, out = set(), []
    for name in SAMPLE_NAMES:
        path = get_testdata_file(name)
        if not path:
            continue
        sop = str(dcmread(path, stop_before_pixels=True).SOPInstanceUID)
        if sop not in seen:
            seen.add(sop)
            out.append(Path(path))
    return out


def make_folder(folder: Path, **params: str) -> None:
    from netpeers import start_server
    start_server(folder, start=False, **params)


class WebServer:
    """``start_web`` in this process on a free port, for one dgate folder."""

    def __init__(self, folder: Path, **params: str):
        from netpeers import free_port

        from dgate.config import Configuration
        from dgate.db.store import clear_update_cache
        from dgate.log import Logs
        clear_update_cache()            # process-wide; another test folder's rows are not in this database
        from dgate.web.server import start_web
        make_folder(folder, **params)
        self.folder = folder
        self.config = Configuration.open(folder)
        self.logs = Logs()
        self.port = free_port()
        self.handle = start_web(self.config, self.logs, port=self.port,
                                dicom_port=int(params.get("TCPPort", "0")) or None or 0)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        from dgate.db.store import clear_update_cache
        self.handle.stop()
        clear_update_cache()

    def count_images(self) -> int:
        from dgate.db import open_database
        with open_database(self.config) as db:
            return int(db.sql(f"SELECT COUNT(1) FROM {db.schema.image.name}")[0][0])


def copy_samples(target: Path) -> list[Path]:
    target.mkdir(parents=True, exist_ok=True)
    out = []
    for p in sample_paths():
        dst = target / p.name
        shutil.copy(p, dst)
        out.append(dst)
    return out


ORTHANC = Path("/usr/sbin/Orthanc")
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


class Orthanc:
    """Debian's Orthanc with its DICOMweb plugin on free loopback ports (the oracle)."""

    def __init__(self, folder: Path):
        import json
        import subprocess
        import time

        import requests
        from netpeers import free_port
        folder.mkdir(parents=True, exist_ok=True)
        self.http_port, self.dicom_port = free_port(), free_port()
        config = {"Name": "oracle", "HttpPort": self.http_port, "DicomPort": self.dicom_port,
                  "StorageDirectory": str(folder / "storage"), "IndexDirectory": str(folder / "index"),
                  "RemoteAccessAllowed": False, "AuthenticationEnabled": False, "HttpServerEnabled": True,
                  "Plugins": [str(DICOMWEB_PLUGIN)], "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
                  "HttpBindAddress": "127.0.0.1", "DicomAet": "ORACLE", "StableAge": 1,
                  "LimitFindResults": 0, "LimitFindInstances": 0}
        (folder / "orthanc.json").write_text(json.dumps(config))
        self.log = open(folder / "orthanc.log", "w")
        self.proc = subprocess.Popen([str(ORTHANC), str(folder / "orthanc.json")], stdout=self.log,
                                     stderr=subprocess.STDOUT, cwd=folder)
        self.url = f"http://127.0.0.1:{self.http_port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/system", timeout=1).ok:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        raise AssertionError("Orthanc did not start: " + (folder / "orthanc.log").read_text()[-2000:])

    def upload(self, path: Path) -> None:
        import requests
        r = requests.post(self.url + "/instances", data=path.read_bytes(), timeout=60)
        assert r.ok, r.text

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except Exception:
                self.proc.kill()
        self.log.close()


def have_orthanc() -> bool:
    return ORTHANC.is_file() and DICOMWEB_PLUGIN.is_file()
