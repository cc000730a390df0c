"""Converters at the life-cycle points outside a DICOM request, in dgate as a user runs it:
RejectedImageConverter0 (store refused by the index), RegenConverter0/RegenFailConverter0
(regeneration), ArchiveConverter0/MoveDeviceConverter0 (archival commands through the
control channel of a running server), and automatic space making (MAGDeviceThreshHold)
(conquest-lua-web.md §1.5/§8.1/§8.7, conquest-storage.md §6.1/§6.3/§6.6)."""
from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

import pydicom
import pytest
from convhelpers import ct, mr
from netpeers import DgateProcess, free_port, have_dcmtk, start_server
from pydicom.data import get_testdata_file

from conftest import run_dgate
from dgate.config.defaults import create_default_config
from dgate.config.ini import put_param

needs_dcmtk = pytest.mark.skipif(not have_dcmtk(), reason="dcmtk not installed")


def db_rows(folder: Path, sql: str) -> list:
    return sqlite3.connect(folder / "data" / "dbase" / "conquest.db3").execute(sql).fetchall()


def _lua(folder: Path, text: str) -> None:
    with open(folder / "dicom.ini", "a") as f:
        f.write(f"\n[lua]\n{text}\n")


def _server(folder: Path, port: int, **params: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    start_server(folder, start=False, MyACRNema="SRVA", **params)


def _assoc(port: int):
    from pynetdicom import AE
    from pynetdicom.sop_class import CTImageStorage, MRImageStorage  # type: ignore[attr-defined]
    ae = AE(ae_title="SENDER")
    ae.add_requested_context(CTImageStorage)
    ae.add_requested_context(MRImageStorage)
    assoc = ae.associate("127.0.0.1", port, ae_title="CONQUESTSRV1")
    assert assoc.is_established
    return assoc


# -- RejectedImageConverter0 ----------------------------------------------------------------------
@pytest.mark.parametrize("line, status", [('set 0010,0020 to "1CT1"; retry', 0x0000),
                                          ("mkdir rejected_seen", 0x0110)])
def test_rejected_image_converter_sees_the_refusal_and_may_retry(tmp_path, line, status):
    """An object whose SOP instance is stored for another patient is refused by the index; the
    RejectedImageConverter0 runs on it: ``retry`` after fixing the patient ID stores it (a
    rewrite), without retry the refusal stands (StorageFailedErrorCode)."""
    port = free_port()
    _server(tmp_path / "a", port, RejectedImageConverter0=line)
    server = DgateProcess(tmp_path / "a", port)
    try:
        assoc = _assoc(port)
        first = ct()
        assert str(first.PatientID) == "1CT1"
        assert assoc.send_c_store(first).Status == 0x0000
        other = ct()
        other.PatientID = "SOMEONE ELSE"
        assert assoc.send_c_store(other).Status == status
        assoc.release()
        out = server.output()
        assert "already stored for patient '1CT1'" in out
        rows = db_rows(tmp_path / "a", "SELECT ImagePat FROM DICOMImages")
        assert rows == [("1CT1",)]
        if status:
            assert (tmp_path / "a" / "rejected_seen").is_dir(), out
        else:
            assert "retried (RejectedImageConverter)" in out and "Rewritten file:" in out, out
    finally:
        server.stop()


# -- RegenConverter0 / RegenFailConverter0 ------------------------------------------------------------
def test_regen_converters_veto_and_see_failures(tmp_path):
    """``dgate -r``: RegenConverter0 ``destroy`` keeps a file out of the index;
    RegenFailConverter0 runs for a file regen cannot read (here: makes a folder by its name)."""
    create_default_config(tmp_path)
    put_param(tmp_path / "dicom.ini", "RegenConverter0", 'ifequal "%V0010,0020","4MR1"; destroy')
    put_param(tmp_path / "dicom.ini", "RegenFailConverter0", "mkdir %f.failed")
    data = tmp_path / "data" / "PAT1"
    data.mkdir(parents=True)
    shutil.copy(get_testdata_file("CT_small.dcm"), data / "ct.dcm")
    shutil.copy(get_testdata_file("MR_small.dcm"), data / "mr.dcm")
    (data / "broken.dcm").write_bytes(b"\0" * 10)
    result = run_dgate(["-v", "-r"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(db_rows(tmp_path, "SELECT ObjectFile FROM DICOMImages")) == [("PAT1/ct.dcm",)], result.stdout
    assert "mr.dcm -SKIPPED by RegenConverter0" in result.stdout
    assert (data / "broken.dcm.failed").is_dir(), result.stdout
    assert not (data / "ct.dcm.failed").exists()
