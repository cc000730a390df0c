"""Schema and driver selection (conquest-storage.md §3.1, §3.2)."""
import sqlite3

import pytest

from dgate.config import Configuration
from dgate.db import DatabaseError, open_database
from dgate.db.driver import driver_kind

from conftest import run_dgate
from dbhelpers import make_db, make_ds

# The DDL dgate 1.5.0e sends for the shipped dicom.sql (verified in the spec, §3.2).
ORIGINAL_DDL = """\
CREATE TABLE DICOMWorkList (AccessionN  varchar(16), PatientID  varchar(64), PatientNam  varchar(64), PatientBir char(8) , PatientSex  varchar(16), MedicalAle  varchar(64), ContrastAl  varchar(64), StudyInsta  varchar(64), ReqPhysici  varchar(64), ReqProcDes  varchar(64), Modality  varchar(16), ReqContras  varchar(64), ScheduledA  varchar(16), StartDate char(8) , StartTime  varchar(16), PerfPhysic  varchar(64), SchedPSDes  varchar(64), SchedPSID  varchar(16), SchedStati  varchar(16), SchedPSLoc  varchar(16), PreMedicat  varchar(64), SchedPSCom  varchar(64), ReqProcID  varchar(16), ReqProcPri  varchar(16), AccessTime  int, qTimeStamp   int, qFlags       int, qSpare       varchar(64))
CREATE TABLE DICOMPatients (PatientID  varchar(64) PRIMARY KEY not null, PatientNam  varchar(64), PatientBir char(8) , PatientSex  varchar(16), AccessTime  int, qTimeStamp   int, qFlags       int, qSpare       varchar(64))
CREATE TABLE DICOMStudies (StudyInsta  varchar(64) PRIMARY KEY not null, StudyDate char(8) , StudyTime  varchar(16), StudyID  varchar(16), StudyDescr  varchar(64), AccessionN  varchar(16), ReferPhysi  varchar(64), PatientsAg  varchar(16), PatientsWe  varchar(16), StudyModal  varchar(64), PatientNam  varchar(64), PatientBir char(8) , PatientSex  varchar(16), PatientID  varchar(64), AccessTime  int, qTimeStamp   int, qFlags       int, qSpare       varchar(64))
CREATE INDEX study_lnk ON DICOMStudies (PatientID)
CREATE INDEX idx_patientid ON DICOMStudies (PatientSex)
CREATE INDEX idx_patientid_studyinsta ON DICOMStudies (PatientID, StudyInsta)
CREATE TABLE DICOMSeries (SeriesInst  varchar(64) PRIMARY KEY not null, SeriesNumb  varchar(12), SeriesDate char(8) , SeriesTime  varchar(16), SeriesDesc  varchar(64), Modality  varchar(16), PatientPos  varchar(16), ContrastBo  varchar(64), Manufactur  varchar(64), ModelName  varchar(64), BodyPartEx  varchar(64), ProtocolNa  varchar(64), StationNam  varchar(16), Institutio  varchar(64), FrameOfRef  varchar(64), SeriesPat  varchar(64), StudyInsta  varchar(64), AccessTime  int, qTimeStamp   int, qFlags       int, qSpare       varchar(64))
CREATE INDEX series_lnk ON DICOMSeries (StudyInsta)
CREATE INDEX series_pat ON DICOMSeries (SeriesPat)
CREATE INDEX idx_studyinsta_seriesinst ON DICOMSeries (StudyInsta, SeriesInst)
CREATE TABLE DICOMImages (SOPInstanc  varchar(64) PRIMARY KEY not null, SOPClassUI  varchar(64), ImageNumbe  varchar(12), ImageDate char(8) , ImageTime  varchar(16), EchoNumber  varchar(64), NumberOfFr  varchar(12), AcqDate char(8) , AcqTime  varchar(16), ReceivingC  varchar(16), AcqNumber  varchar(12), SliceLocat  varchar(16), SamplesPer  varchar(5), PhotoMetri  varchar(16), QRows  varchar(5), QColumns  varchar(5), BitsStored  varchar(5), ImageType  varchar(128), ImageID  varchar(16), ImagePat  varchar(64), SeriesInst  varchar(64), AccessTime  int, qTimeStamp   int, qFlags       int, qSpare       varchar(64), ObjectFile  varchar(255), DeviceName  varchar(32))
CREATE INDEX images_lnk ON DICOMImages (SeriesInst)
CREATE INDEX images_pat ON DICOMImages (ImagePat)
CREATE INDEX idx_seriesinst_sopinstanc ON DICOMImages (SeriesInst, SOPInstanc)
CREATE TABLE UIDMODS (MODTime int, OldUID varchar(64), MODType varchar(32), NewUID varchar(64), Stage varchar(32), Annotation varchar(64))
CREATE INDEX mods_old ON UIDMODS (OldUID)
CREATE INDEX mods_stage ON UIDMODS (Stage)
CREATE INDEX mods_joint ON UIDMODS (OldUID,Stage)
CREATE INDEX mods_back ON UIDMODS (NewUID,Stage)
""".splitlines()


def test_ddl_is_the_originals(tmp_path):
    db = make_db(tmp_path)
    assert db.schema.ddl(0) == ORIGINAL_DDL
    stored = sqlite3.connect(tmp_path / "data" / "dbase" / "conquest.db3").execute(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid").fetchall()
    assert [row[0] for row in stored] == ORIGINAL_DDL


def test_mode_1_has_no_keys_or_indices(tmp_path):
    db = make_db(tmp_path)
    ddl = db.schema.ddl(1)
    assert not any("INDEX" in s or "PRIMARY KEY" in s for s in ddl)
    assert len(ddl) == 6


def test_database_made_by_the_original_is_used_unchanged(tmp_path):
    db = make_db(tmp_path)
    path = tmp_path / "data" / "dbase" / "conquest.db3"
    db.close()
    path.unlink()
    raw = sqlite3.connect(path)
    for statement in ORIGINAL_DDL:
        raw.execute(statement)
    # rows as dgate 1.5.0e writes them: raw Latin-1 bytes in TEXT columns
    name = "M\xfcller^Hans".encode("latin-1")
    raw.execute("INSERT INTO DICOMPatients (PatientID, PatientNam, AccessTime) VALUES ('P9', CAST(? AS TEXT), 0)", [name])
    raw.execute("INSERT INTO DICOMStudies (StudyInsta, PatientNam, PatientID, StudyDate, StudyModal) "
                "VALUES ('1.9', CAST(? AS TEXT), 'P9', '20010203', 'MR\\CT')", [name])
    raw.execute("INSERT INTO DICOMSeries (SeriesInst, SeriesPat, StudyInsta, Modality) VALUES ('1.9.1', 'P9', '1.9', 'CT')")
    raw.execute("INSERT INTO DICOMImages (SOPInstanc, ImagePat, SeriesInst, ObjectFile, DeviceName) "
                "VALUES ('1.9.1.1', 'P9', '1.9.1', 'P9\\1.9.1_0001.dcm', 'MAG0')")
    raw.commit()
    raw.close()
    db = open_database(Configuration.open(tmp_path))
    from pydicom.dataset import Dataset
    q = Dataset()
    q.PatientName = "M\xfcller*"
    q.StudyInstanceUID = ""
    q.ModalitiesInStudy = "CT"
    results = db.find("STUDY", q)
    assert len(results) == 1
    assert results[0].get_item(0x00100010).value == name + b" "   # padded to even length
    assert db.get_file("1.9.1.1").object_file == "P9\\1.9.1_0001.dcm"
    # and what we add lands in the same bytes
    db.add(make_ds(sop="1.9.1.2", series="1.9.1", study="1.9", patid="P9", name="M\xfcller^Hans"), "x.dcm")
    check = sqlite3.connect(path)
    check.text_factory = bytes
    assert check.execute("SELECT DISTINCT ImagePat FROM DICOMImages").fetchall() == [(b"P9",)]
    assert check.execute("SELECT PatientNam FROM DICOMPatients").fetchall() == [(name,)]


def test_driver_selection(tmp_path):
    cases = [("SQLServer = \nSQLite = 1", "null"), ("SQLServer = x.db\nSQLite = 1\nMySQL = 1", "sqlite"),
             ("SQLServer = x\nSQLite = 0\nPostGres = 1\nMySQL = 1", "mysql"),
             ("SQLServer = x\nSQLite = 0\nPostGres = 1", "postgres"),
             ("SQLServer = /data/dbase/\nSQLite = 0", "dbase"), ("SQLServer = mydsn\nSQLite = 0", "odbc")]
    for body, kind in cases:
        (tmp_path / "dicom.ini").write_text("[sscscp]\nMicroPACS = sscscp\n" + body + "\n")
        assert driver_kind(Configuration.open(tmp_path).settings) == kind, body


def test_null_driver_accepts_and_answers_nothing(tmp_path):
    db = make_db(tmp_path, "SQLServer =")
    (tmp_path / "dicom.ini").write_text((tmp_path / "dicom.ini").read_text().replace(
        f"SQLServer                = {tmp_path.resolve()}/data/dbase/conquest.db3\n", ""))
    db = open_database(Configuration.open(tmp_path))
    assert db.label == "NULL driver (black hole)"
    db.add(make_ds(), "a.dcm")
    from pydicom.dataset import Dataset
    q = Dataset()
    q.PatientID = ""
    assert db.find("PATIENT", q) == [] and db.get_file("1.2.3.1.1.1") is None


def test_sqlite_refuses_double_backslash(tmp_path):
    make_db(tmp_path)
    ini = tmp_path / "dicom.ini"
    ini.write_text(ini.read_text().replace("DoubleBackSlashToDB      = 0", "DoubleBackSlashToDB      = 1"))
    with pytest.raises(DatabaseError, match="cannot use DoubleBackSlashToDB=1 with sqlite"):
        open_database(Configuration.open(tmp_path))
    result = run_dgate(["-i"], tmp_path)
    assert result.returncode == 1 and "DoubleBackSlashToDB" in result.stderr


def test_initialize_keeps_a_filled_worklist(tmp_path):
    db = make_db(tmp_path)
    db.driver.execute("INSERT INTO DICOMWorkList (AccessionN, PatientID) VALUES ('A1', 'P1')")
    db.add(make_ds(), "a.dcm")
    db.initialize_tables(0, echo=lambda t: None)
    assert db.driver.query("SELECT AccessionN FROM DICOMWorkList") == [("A1",)]
    assert db.driver.query("SELECT * FROM DICOMImages") == []
    db.add(make_ds(), "a.dcm")
    db.initialize_tables(2, echo=lambda t: None)
    assert db.driver.query("SELECT AccessionN FROM DICOMWorkList") == []
    assert len(db.driver.query("SELECT * FROM DICOMImages")) == 1


def test_dgate_i_and_o(tmp_path):
    from conftest import run_dgate as run
    from dgate.config.defaults import create_default_config
    create_default_config(tmp_path)
    result = run(["-v", "-i"], tmp_path)
    assert result.returncode == 0
    assert "Initializing Tables" in result.stdout and "Image Database" in result.stderr
    test = run(["-v", "-o"], tmp_path)
    assert test.returncode == 0
    assert "Attempting to open database; test #10 of 10" in test.stdout
    assert test.stdout.endswith(" ---------- Succesful end of test -----------\n")
