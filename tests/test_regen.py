"""Regeneration and the database options of ``dgate`` (conquest-storage.md §6.6,
conquest-protocol.md §2.2), run as real processes on real files."""
import shutil
import sqlite3

import pydicom
from pydicom.data import get_testdata_file
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from dgate.config.defaults import create_default_config

from conftest import run_dgate


def write_v2(ds, path):
    """A Conquest .v2 file: implicit VR little endian, no preamble, no meta header."""
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = True
    body = pydicom.Dataset({t: e for t, e in ds.items() if t.group != 2})
    write_dataset(fp, body)
    path.write_bytes(fp.getvalue())


def db_rows(folder, sql):
    return sqlite3.connect(folder / "data" / "dbase" / "conquest.db3").execute(sql).fetchall()


def archive(tmp_path):
    create_default_config(tmp_path)
    data = tmp_path / "data"
    (data / "PAT1").mkdir()
    shutil.copy(get_testdata_file("CT_small.dcm"), data / "PAT1" / "ct.dcm")
    write_v2(pydicom.dcmread(get_testdata_file("MR_small.dcm")), data / "PAT1" / "mr.v2")
    (data / "PAT1" / "broken.dcm").write_bytes(b"\0" * 10)
    (data / "PAT1" / "notes.txt").write_text("not an image")
    for skipped in ("incoming", "Printer_Files"):
        (data / skipped).mkdir()
        shutil.copy(get_testdata_file("CT_small.dcm"), data / skipped / "x.dcm")
    return data


def test_dgate_r_regenerates_from_the_archive(tmp_path):
    archive(tmp_path)
    result = run_dgate(["-v", "-r"], tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Step 1: Re-intialize SQL Tables" in out and "Step 2: Load / Add DICOM Object files" in out
    assert "Regen Device 'MAG0'" in out
    assert f"[Regen] {tmp_path.resolve()}/data/PAT1/ct.dcm -SUCCESS" in out
    assert f"***[Regen] {tmp_path.resolve()}/data/PAT1/broken.dcm -FAILED:" in out
    assert "Regen summary: 2 files entered, 1 failed" in out and out.rstrip().endswith("Regeneration Complete")
    assert sorted(db_rows(tmp_path, "SELECT ObjectFile, DeviceName FROM DICOMImages")) == [
        ("PAT1/ct.dcm", "MAG0"), ("PAT1/mr.v2", "MAG0")]
    assert sorted(db_rows(tmp_path, "SELECT PatientID FROM DICOMPatients")) == [("1CT1",), ("4MR1",)]
    trouble = (tmp_path / "PacsTrouble.log").read_text()
    assert "***[Regen]" in trouble and "broken.dcm" in trouble


def test_regen_of_one_folder_and_single_files(tmp_path):
    data = archive(tmp_path)
    assert run_dgate(["-i"], tmp_path).returncode == 0
    result = run_dgate(["-v", "-arMAG0,PAT1"], tmp_path)
    assert result.returncode == 0 and "Regeneration folders Complete" in result.stdout
    assert len(db_rows(tmp_path, "SELECT * FROM DICOMImages")) == 2

    assert run_dgate([f"-fd{data}/PAT1/ct.dcm"], tmp_path).returncode == 0
    assert db_rows(tmp_path, "SELECT ObjectFile FROM DICOMImages") == [("PAT1/mr.v2",)]
    assert (data / "PAT1" / "ct.dcm").exists()
    assert run_dgate([f"-fe{data}/PAT1/ct.dcm"], tmp_path).returncode == 0
    assert len(db_rows(tmp_path, "SELECT * FROM DICOMImages")) == 2
    outside = tmp_path / "elsewhere.dcm"
    shutil.copy(get_testdata_file("CT_small.dcm"), outside)
    bad = run_dgate(["-v", f"-fe{outside}"], tmp_path)
    assert bad.returncode == 1 and "not on a MAG device" in bad.stdout

    assert run_dgate([f"-fz{data}/PAT1/ct.dcm"], tmp_path).returncode == 0
    assert not (data / "PAT1" / "ct.dcm").exists()
    assert db_rows(tmp_path, "SELECT ObjectFile FROM DICOMImages") == [("PAT1/mr.v2",)]


def test_delete_options(tmp_path):
    data = archive(tmp_path)
    (data / "PAT1" / "broken.dcm").unlink()
    (data / "PAT1" / "notes.txt").unlink()
    assert run_dgate(["-r"], tmp_path).returncode == 0
    study = pydicom.dcmread(get_testdata_file("MR_small.dcm")).StudyInstanceUID
    result = run_dgate(["-v", f"-ft4MR1:{study}"], tmp_path)
    assert result.returncode == 0 and f"Deleting database entries for study: 4MR1:{study}" in result.stdout
    assert db_rows(tmp_path, "SELECT PatientID FROM DICOMPatients") == [("1CT1",)]
    assert (data / "PAT1" / "mr.v2").exists()
    result = run_dgate(["-v", "-z1CT1"], tmp_path)
    assert "Deleting patient: 1CT1" in result.stdout
    assert db_rows(tmp_path, "SELECT count(*) FROM DICOMImages") == [(0,)]
    assert not (data / "PAT1" / "ct.dcm").exists() and (data / "PAT1" / "mr.v2").exists()
