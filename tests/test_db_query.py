"""C-FIND → SQL matching, one row per rule of conquest-storage.md §4."""
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dgate.config import Configuration
from dgate.db import open_database

from dbhelpers import make_db, make_ds

OBJECTS = [
    dict(sop="1.1.1.1", series="1.1.1", study="1.1", patid="PAT1", name="DOE^JOHN", modality="CT",
         date="20200101", SeriesTime="170000", StudyDescription="HEAD", AccessionNumber="ACC1", PatientSex="M"),
    dict(sop="1.1.1.2", series="1.1.1", study="1.1", patid="PAT1", name="DOE^JOHN", modality="CT",
         date="20200101", SeriesTime="170000", StudyDescription="HEAD", AccessionNumber="ACC1", PatientSex="M",
         number=2),
    dict(sop="1.1.2.1", series="1.1.2", study="1.1", patid="PAT1", name="DOE^JOHN", modality="MR",
         date="20200101", SeriesTime="180000.5", StudyDescription="HEAD", AccessionNumber="ACC1", PatientSex="M"),
    dict(sop="2.1.1.1", series="2.1.1", study="2.1", patid="PAT2", name="doe^jane", modality="CT",
         date="20200315", SeriesTime="090000", StudyDescription="100%_sure", PatientSex="F"),
    dict(sop="3.1.1.1", series="3.1.1", study="3.1", patid="PA_3", name="SMITH^ANNA", modality="US",
         date="20191231", SeriesTime="120000", AccessionNumber="ACC3"),
]


@pytest.fixture(scope="module", params=["sqlite", "postgres", "mysql", "odbc"])
def db(tmp_path_factory, request):
    folder = tmp_path_factory.mktemp("query")
    database = make_db(folder, "EnableComputedFields = 1", driver=request.param)
    for obj in OBJECTS:
        database.add(make_ds(**obj), f"{obj['sop']}.dcm")
    return database


def ident(**keys) -> Dataset:
    ds = Dataset()
    for keyword, value in keys.items():
        if keyword.startswith("x"):
            ds.add_new(int(keyword[1:], 16), "LO", value)
        else:
            setattr(ds, keyword, value)
    return ds


def values(results, keyword):
    return [str(r[keyword].value).rstrip(" \0") for r in results]


# (level, identifier keys, returned key, expected values in order or as a set)
TABLE = [
    ("universal match", "PATIENT", dict(PatientID=""), "PatientID", {"PAT1", "PAT2", "PA_3"}),
    ("* wildcard, LIKE case-insensitive", "PATIENT", dict(PatientID="", PatientName="DOE*"), "PatientID", {"PAT1", "PAT2"}),
    ("= is case-sensitive", "PATIENT", dict(PatientID="", PatientName="doe^john"), "PatientID", set()),
    ("exact", "PATIENT", dict(PatientID="", PatientName="DOE^JOHN"), "PatientID", {"PAT1"}),
    ("? wildcard", "PATIENT", dict(PatientID="PA?1"), "PatientID", {"PAT1"}),
    ("_ literal without wildcard", "PATIENT", dict(PatientID="PA_3"), "PatientID", {"PA_3"}),
    ("_ escaped inside LIKE", "PATIENT", dict(PatientID="PA_*"), "PatientID", {"PA_3"}),
    ("** reads as *", "PATIENT", dict(PatientID="", PatientName="DOE**"), "PatientID", {"PAT1", "PAT2"}),
    ("' *' reads as *", "PATIENT", dict(PatientID="", PatientName="DOE *"), "PatientID", {"PAT1", "PAT2"}),
    ("date range inclusive", "STUDY", dict(StudyInstanceUID="", StudyDate="20200101-20200315"), "StudyInstanceUID", {"1.1", "2.1"}),
    ("open-ended date from", "STUDY", dict(StudyInstanceUID="", StudyDate="20200102-"), "StudyInstanceUID", {"2.1"}),
    ("open-ended date to", "STUDY", dict(StudyInstanceUID="", StudyDate="-20200101"), "StudyInstanceUID", {"1.1", "3.1"}),
    ("date wildcard", "STUDY", dict(StudyInstanceUID="", StudyDate="2020*"), "StudyInstanceUID", {"1.1", "2.1"}),
    ("time range is a string comparison", "SERIES", dict(SeriesInstanceUID="", SeriesTime="170000-180000"), "SeriesInstanceUID", {"1.1.1"}),
    ("UID list", "STUDY", dict(StudyInstanceUID="1.1\\3.1"), "StudyInstanceUID", {"1.1", "3.1"}),
    ("UID exact", "SERIES", dict(SeriesInstanceUID="1.1.2"), "SeriesInstanceUID", {"1.1.2"}),
    ("MSTR matches one of several values", "STUDY", dict(StudyInstanceUID="", ModalitiesInStudy="CT"), "StudyInstanceUID", {"1.1", "2.1"}),
    ("MSTR second value", "STUDY", dict(StudyInstanceUID="", ModalitiesInStudy="MR"), "StudyInstanceUID", {"1.1"}),
    ("MSTR with wildcard is a plain LIKE", "STUDY", dict(StudyInstanceUID="", ModalitiesInStudy="C*"), "StudyInstanceUID", {"2.1"}),
    ("% is literal with =", "STUDY", dict(StudyInstanceUID="", StudyDescription="100%_sure"), "StudyInstanceUID", {"2.1"}),
    ("% escaped inside LIKE", "STUDY", dict(StudyInstanceUID="", StudyDescription="100%*"), "StudyInstanceUID", {"2.1"}),
    ("* does not match an absent value", "STUDY", dict(StudyInstanceUID="", StudyDescription="*"), "StudyInstanceUID", {"1.1", "2.1"}),
    ("patient key at image level joins up", "IMAGE", dict(SOPInstanceUID="", PatientName="SMITH*"), "SOPInstanceUID", {"3.1.1.1"}),
    ("series key at image level", "IMAGE", dict(SOPInstanceUID="", SeriesInstanceUID="1.1.1"), "SOPInstanceUID", {"1.1.1.1", "1.1.1.2"}),
    ("patient ID at series level goes to the study table", "SERIES", dict(SeriesInstanceUID="", PatientID="PAT1"), "SeriesInstanceUID", {"1.1.1", "1.1.2"}),
    ("study key at series level", "SERIES", dict(SeriesInstanceUID="", AccessionNumber="ACC3"), "SeriesInstanceUID", {"3.1.1"}),
    ("modality at image level", "IMAGE", dict(SOPInstanceUID="", Modality="MR"), "SOPInstanceUID", {"1.1.2.1"}),
    ("sorted by patient name when it is a key", "STUDY", dict(StudyInstanceUID="", PatientName=""), "StudyInstanceUID", ["1.1", "3.1", "2.1"]),
    ("9999,0c00 sort with limit", "STUDY", dict(StudyInstanceUID="", StudyDate="", x99990c00="StudyDate", x99990c01="2"), "StudyInstanceUID", ["3.1", "1.1"]),
    ("limit and offset", "STUDY", dict(StudyInstanceUID="", StudyDate="", x99990c00="StudyDate", x99990c01="2", x99990c02="1"), "StudyInstanceUID", ["1.1", "2.1"]),
    ("numeric sort of Number columns", "IMAGE", dict(SOPInstanceUID="", SeriesInstanceUID="1.1.1", x99990c00="ImageNumber"), "SOPInstanceUID", ["1.1.1.1", "1.1.1.2"]),
    ("a sort field that is not a column is ignored", "STUDY", dict(StudyInstanceUID="", x99990c00="1;DROP TABLE DICOMPatients"), "StudyInstanceUID", {"1.1", "2.1", "3.1"}),
]


@pytest.mark.parametrize("rule,level,keys,returned,expected", TABLE, ids=[row[0] for row in TABLE])
def test_matching(db, rule, level, keys, returned, expected):
    results = db.find(level, ident(**keys))
    got = values(results, returned)
    if isinstance(expected, set):
        assert set(got) == expected and len(got) == len(expected)
    else:
        assert got == expected
    assert db.driver.query("SELECT count(*) FROM DICOMPatients") == [(3,)]


def test_only_mapped_keys_are_returned_with_conquest_padding(db):
    results = db.find("PATIENT", ident(PatientID="PAT2", PatientName="", ReferringPhysicianName="", StudyDate=""))
    assert len(results) == 1
    r = results[0]
    assert set(int(t) for t in r.keys()) == {0x00100010, 0x00100020}
    assert r.get_item(0x00100010).value == b"doe^jane"
    assert r.get_item(0x00100020).value == b"PAT2"
    uid = db.find("SERIES", ident(SeriesInstanceUID="1.1.1"))[0].get_item(0x0020000E).value
    assert uid == b"1.1.1\0"                                       # UIDs padded with NUL


def test_computed_fields(db):
    study = db.find("STUDY", ident(StudyInstanceUID="1.1", NumberOfStudyRelatedInstances="",
                                   NumberOfStudyRelatedSeries=""))[0]
    assert study.NumberOfStudyRelatedInstances == 3 and study.NumberOfStudyRelatedSeries == 2
    patient = db.find("PATIENT", ident(PatientID="PAT1", NumberOfPatientRelatedStudies="",
                                       NumberOfPatientRelatedSeries="", NumberOfPatientRelatedInstances=""))[0]
    assert (patient.NumberOfPatientRelatedStudies, patient.NumberOfPatientRelatedSeries,
            patient.NumberOfPatientRelatedInstances) == (1, 2, 3)
    series = db.find("SERIES", ident(SeriesInstanceUID="1.1.1", NumberOfSeriesRelatedInstances=""))[0]
    assert series.NumberOfSeriesRelatedInstances == 2


def test_retrieve_ae_and_charset(tmp_path, driver):
    database = make_db(tmp_path, "QueriesReturnISO_IR = 100", driver=driver)
    database.add(make_ds(), "a.dcm")
    r = database.find("STUDY", ident(StudyInstanceUID="", RetrieveAETitle=""))[0]
    assert r.RetrieveAETitle == "CONQUESTSRV1" and r.SpecificCharacterSet == "ISO_IR 100"


def test_istr_matches_case_insensitively(tmp_path, driver):
    from dgate.config.defaults import conf_dir
    sql = (conf_dir() / "dicom.sql").read_text().replace(
        '{ 0x0010, 0x0010, "PatientName", 64, SQL_C_CHAR, DT_STR },\n\t{ 0x0010, 0x0030, "PatientBirthDate", 8, SQL_C_DATE, DT_DATE },\n\t{ 0x0010, 0x0040, "PatientSex", 16, SQL_C_CHAR, DT_STR }\n\t{',
        '{ 0x0010, 0x0010, "PatientName", 64, SQL_C_CHAR, DT_ISTR },\n\t{ 0x0010, 0x0030, "PatientBirthDate", 8, SQL_C_DATE, DT_DATE },\n\t{ 0x0010, 0x0040, "PatientSex", 16, SQL_C_CHAR, DT_STR }\n\t{')
    assert "DT_ISTR" in sql
    database = make_db(tmp_path, sql=sql, driver=driver)
    database.add(make_ds(name="DOE^JOHN"), "a.dcm")
    assert len(database.find("STUDY", ident(StudyInstanceUID="", PatientName="doe^john"))) == 1
    assert len(database.find("STUDY", ident(StudyInstanceUID="", PatientName="doe*"))) == 1


def test_modality_worklist(tmp_path, driver):
    database = make_db(tmp_path, driver=driver)
    marks = ", ".join([database.driver.text_param] * 7)
    insert = ("INSERT INTO DICOMWorkList (AccessionN, PatientID, PatientNam, Modality, StartDate, ScheduledA, "
              f"ReqProcID) VALUES ({marks})")
    database.driver.execute(insert, ["A1", "P1", "Zijp^Lambert", "CT", "20050601", "CT1", "R1"])
    database.driver.execute(insert, ["A2", "P2", "Zijp^Other", "MR", "20050601", "MR1", "R2"])
    database.driver.execute(insert, ["A3", "P3", "Jansen^Piet", "CT", "20070101", "CT1", "R3"])
    sps = Dataset()
    sps.Modality = "CT"
    sps.ScheduledProcedureStepStartDate = "20050101-20061231"
    sps.ScheduledStationAETitle = ""
    q = Dataset()
    q.PatientName = "Zijp*"
    q.PatientID = ""
    q.AccessionNumber = ""
    q.ScheduledProcedureStepSequence = Sequence([sps])
    q.RequestedProcedureID = ""
    q.ReferencedStudySequence = Sequence([])
    results = database.find_worklist(q)
    assert len(results) == 1
    r = results[0]
    assert r.AccessionNumber == "A1" and r.PatientID == "P1"
    item = r.ScheduledProcedureStepSequence[0]
    assert item.Modality == "CT" and item.ScheduledStationAETitle == "CT1"
    assert item.ScheduledProcedureStepStartDate == "20050601"
    assert r.RequestedProcedureID == "R1"
    assert r.ReferencedStudySequence == [] and r.ReferencedPatientSequence == []
    assert r.SpecificCharacterSet == "ISO_IR 100"
