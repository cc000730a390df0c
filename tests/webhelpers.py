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
        from dgate.log import Logs
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
        self.handle.stop()

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
