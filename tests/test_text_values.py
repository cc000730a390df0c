"""Text values are stored without trailing NULs and spaces, on store and on regen, on every
driver (conquest-storage.md §3.6; issue 17): the original pads some values with a NUL
(PhotometricInterpretation ``RGB\\0`` after it decompresses JPEG) and stores ``RGB``, so an
exact match finds the row."""
from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from dgate.config import Configuration
from dgate.db import open_database
from dgate.db.query import raw_element
from dgate.store.regen import regen_one_file

from dbhelpers import dbase_folder, make_db, make_ds

PADDED = {0x00280004: (b"RGB\0", "CS"), 0x00081030: (b"HEAD \0", "LO"), 0x0008103E: (b"AX\0\0", "LO"),
          0x00100010: (b"DOE^JOHN\0 ", "PN")}


def padded_object(sop: str = "1.2.3.1.1.1") -> Dataset:
    ds = make_ds(sop=sop)
    for tag, (raw, vr) in PADDED.items():
        ds[tag] = raw_element(tag, raw, vr)
    return ds


def check(db) -> None:
    q = db.driver.query
    p = db.driver.text_param
    assert q("SELECT PhotoMetri FROM DICOMImages") == [("RGB",)]
    assert q(f"SELECT COUNT(*) FROM DICOMImages WHERE PhotoMetri = {p}", ["RGB"])[0][0] in (1, "1")
    assert q("SELECT StudyDescr FROM DICOMStudies") == [("HEAD",)]
    assert q("SELECT SeriesDesc FROM DICOMSeries") == [("AX",)]
    assert q("SELECT PatientNam FROM DICOMPatients") == [("DOE^JOHN",)]


def write_part10(ds: Dataset, path) -> None:
    ds.save_as(path, enforce_file_format=True)


def test_store_and_regen_strip_nul_and_space(tmp_path, driver):
    db = make_db(tmp_path, driver=driver)
    db.add(padded_object(), "PAT1/a.dcm", "MAG0")
    check(db)
    db.initialize_tables(0, echo=lambda text: None)
    target = tmp_path / "data" / "PAT1"
    target.mkdir(parents=True, exist_ok=True)
    write_part10(padded_object(), target / "a.dcm")
    assert regen_one_file(db, target / "a.dcm")
    check(db)


@pytest.fixture
def dbase(tmp_path):
    dbase_folder(tmp_path)
    db = open_database(Configuration.open(tmp_path))
    db.initialize_tables(0, echo=lambda text: None)
    return db


def test_dbase_strips_nul_and_space(dbase):
    dbase.add(padded_object(), "PAT1/a.dcm", "MAG0")
    q = dbase.driver.query
    assert q("SELECT PhotoMetri FROM DICOMImages") == [("RGB",)]
    assert q("SELECT SOPInstanc FROM DICOMImages WHERE PhotoMetri = 'RGB'") == [("1.2.3.1.1.1",)]
    assert q("SELECT StudyDescr FROM DICOMStudies") == [("HEAD",)]
    assert q("SELECT PatientNam FROM DICOMPatients") == [("DOE^JOHN",)]
