"""The built-in dBase III driver (conquest-storage.md §3.4): file layout checked byte by byte
and with an independent dBase reader, store/query/delete/regen on denormalised dicom.sql."""
import os
import shutil
import struct

import dbf
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

from dgate.config import Configuration
from dgate.db import DatabaseError, open_database

from conftest import run_dgate
from dbhelpers import dbase_folder


@pytest.fixture
def db(tmp_path):
    dbase_folder(tmp_path)
    database = open_database(Configuration.open(tmp_path))
    database.initialize_tables(0, echo=lambda t: None)
    return database


def test_file_layout(db, tmp_path):
    folder = tmp_path / "data" / "dbase"
    assert sorted(os.listdir(folder)) == ["DICOMImages.DBF", "DICOMPatients.DBF", "DICOMSeries.DBF",
                                          "DICOMStudies.DBF", "DICOMWorkList.DBF", "UIDMODS.DBF"]
    db.add(pydicom.dcmread(get_testdata_file("CT_small.dcm"), stop_before_pixels=True), "a.dcm")
    data = (folder / "DICOMPatients.DBF").read_bytes()
    count, header_len, record_len = struct.unpack_from("<IHH", data, 4)
    assert data[0] == 0x03 and count == 1
    assert header_len == 9 * 32 + 1 and record_len == 1 + 64 + 64 + 8 + 16 + 10 * 3 + 64
    assert data[32:43] == b"PATIENTID\0\0" and data[43:44] == b"C" and data[48] == 64
    assert data[header_len - 1] == 0x0D and data[-1] == 0x1A
    record = data[header_len:header_len + record_len]
    assert record[:1] == b" " and record[1:65].rstrip() == b"1CT1"
    fields = [f.split()[0] for f in dbf.Table(str(folder / "DICOMImages.DBF")).structure()]
    assert fields[:2] == ["SOPINSTANC", "SOPCLASSUI"] and fields[-2:] == ["OBJECTFILE", "DEVICENAME"]


def test_independent_reader_and_writer(db, tmp_path):
    folder = tmp_path / "data" / "dbase"
    db.add(pydicom.dcmread(get_testdata_file("MR_small.dcm"), stop_before_pixels=True), "mr.dcm")
    with dbf.Table(str(folder / "DICOMStudies.DBF")).open() as table:
        rows = [(r.PATIENTID.strip(), r.STUDYMODAL.strip()) for r in table]
    assert rows == [("4MR1", "MR")]
    # a table written by another dBase III program is read and queried
    other = tmp_path / "other"
    other.mkdir()
    t = dbf.Table(str(other / "DICOMPatients.dbf"), "PATIENTID C(64); PATIENTNAM C(64); PATIENTBIR C(8); "
                  "PATIENTSEX C(16); ACCESSTIME C(10); QTIMESTAMP C(10); QFLAGS C(10); QSPARE C(64)",
                  dbf_type="db3")
    with t.open(dbf.READ_WRITE):
        t.append(("P77", "Other^Writer", "19700101", "F", "", "", "", ""))
    shutil.copy(other / "DICOMPatients.dbf", folder / "DICOMPatients.DBF")
    from dgate.db import dbf as ours
    ours._tables.clear()
    q = Dataset()
    q.PatientID = ""
    q.PatientName = "other*"
    assert [r.PatientID for r in db.find("PATIENT", q)] == ["P77"]


def test_store_query_delete_pack(db, tmp_path):
    for name in ("CT_small.dcm", "MR_small.dcm"):
        db.add(pydicom.dcmread(get_testdata_file(name), stop_before_pixels=True), name)
    q = Dataset()
    q.StudyInstanceUID = ""
    q.PatientName = "Compressed*"
    q.ModalitiesInStudy = "CT"
    q.StudyDate = "20040101-20041231"
    assert [str(r.PatientName) for r in db.find("STUDY", q)] == ["CompressedSamples^CT1"]
    q = Dataset()
    q.SOPInstanceUID = ""
    q.PatientID = "4mr1"                  # dBase compares case-insensitively, as the original
    assert len(db.find("IMAGE", q)) == 1
    removed = db.delete(patient_id="4MR1")
    assert [r.object_file for r in removed] == ["MR_small.dcm"]
    assert db.driver.query("SELECT PatientID FROM DICOMPatients") == [("1CT1",)]
    images = tmp_path / "data" / "dbase" / "DICOMImages.DBF"
    before = images.stat().st_size
    db.driver.pack()
    assert images.stat().st_size < before
    with pytest.raises(DatabaseError, match="dBase"):
        db.driver.query("SELECT a FROM DICOMPatients WHERE PatientID ~ 'x'")


def test_regen_and_commands_on_dbase(tmp_path):
    dbase_folder(tmp_path)
    shutil.copy(get_testdata_file("CT_small.dcm"), tmp_path / "data" / "ct.dcm")
    result = run_dgate(["-v", "-r"], tmp_path)
    assert result.returncode == 0 and "1 files entered" in result.stdout
    assert run_dgate(["-v", "-o"], tmp_path).returncode == 0
    with dbf.Table(str(tmp_path / "data" / "dbase" / "DICOMImages.DBF")).open() as table:
        assert [r.OBJECTFILE.strip() for r in table] == ["ct.dcm"]
