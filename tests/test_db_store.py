"""Store rules of SaveToDataBase (conquest-storage.md §3.3, §3.6, §3.7, §3.8)."""
import pytest

from dgate.db import StoreRefused
from dgate.db.query import raw_element
from dgate.db.store import access_time

from dbhelpers import make_db, make_ds


def rows(db, sql):
    return db.driver.query(sql)


def test_bottom_up_insert_and_values(tmp_path, driver):
    db = make_db(tmp_path, driver=driver)
    ds = make_ds(Rows=320, Columns=256, ImageType=["ORIGINAL", "PRIMARY"],
                 StudyDescription="   ", PatientBirthDate="1998.04.14", SliceLocation="-12.5 ")
    ds[0x00200011] = raw_element(0x00200011, b" 1", "IS")     # raw bytes as received
    db.add(ds, "PAT1/x.dcm", "MAG0")
    assert rows(db, "SELECT SeriesNumb FROM DICOMSeries") == [(" 1",)]          # leading space kept
    assert rows(db, "SELECT QRows, QColumns, ImageType, SliceLocat FROM DICOMImages") == [
        ("320", "256", "ORIGINAL\\PRIMARY", "-12.5")]
    assert rows(db, "SELECT StudyDescr, StudyModal FROM DICOMStudies") == [("", "CT")]  # spaces → ''
    assert rows(db, "SELECT PatientBir FROM DICOMPatients") == [("19980414",)]
    assert rows(db, "SELECT ObjectFile, DeviceName, ImagePat FROM DICOMImages") == [("PAT1/x.dcm", "MAG0", "PAT1")]
    (stamp,) = rows(db, "SELECT AccessTime FROM DICOMPatients")[0]
    assert stamp % 32 == 0 and abs(stamp - access_time()) <= 32
    assert rows(db, "SELECT qTimeStamp, qFlags, qSpare FROM DICOMStudies") == [(None, None, None)]


def test_study_modality_merge(tmp_path, driver):
    db = make_db(tmp_path, driver=driver)
    db.add(make_ds(sop="1.1", series="1.2.3.1.1", modality="CT"), "a")
    db.add(make_ds(sop="1.2", series="1.2.3.1.2", modality="MR"), "b")
    db.add(make_ds(sop="1.3", series="1.2.3.1.3", modality="CT"), "c")
    assert rows(db, "SELECT StudyModal FROM DICOMStudies") == [("MR\\CT",)]


def test_same_sop_different_patient_is_refused_and_nothing_changes(tmp_path, driver):
    db = make_db(tmp_path, driver=driver)
    db.add(make_ds(), "a.dcm")
    with pytest.raises(StoreRefused, match=r"Refused to enter inconsistent link PatientID into DICOMStudies"):
        db.add(make_ds(patid="OTHER"), "b.dcm")
    assert rows(db, "SELECT ObjectFile, ImagePat FROM DICOMImages") == [("a.dcm", "PAT1")]
    assert rows(db, "SELECT PatientID FROM DICOMPatients") == [("PAT1",)]
    assert rows(db, "SELECT SeriesPat FROM DICOMSeries") == [("PAT1",)]


def test_series_moved_to_other_study_is_refused_and_rolled_back(tmp_path, driver):
    db = make_db(tmp_path, driver=driver)
    db.add(make_ds(), "a.dcm")
    with pytest.raises(StoreRefused, match="inconsistent link StudyInsta into DICOMSeries"):
        db.add(make_ds(sop="1.2.3.1.1.2", study="9.9.9"), "b.dcm")
    assert rows(db, "SELECT SOPInstanc FROM DICOMImages") == [("1.2.3.1.1.1",)]
    assert rows(db, "SELECT count(*) FROM DICOMStudies") == [(1,)]


def test_changed_demographics_update_and_go_to_trouble_log(tmp_path, driver):
    db = make_db(tmp_path, driver=driver)
    from dgate.log import FileSink
    db.logs.trouble.send_to(FileSink(tmp_path / "trouble.log", timestamps=False))
    db.add(make_ds(name="DOE^JOHN", PatientSex="M"), "a.dcm")
    db.add(make_ds(sop="2.2", name="ROE^JANE", PatientSex="F"), "b.dcm")
    assert rows(db, "SELECT PatientNam, PatientSex FROM DICOMPatients") == [("ROE^JANE", "F")]
    assert rows(db, "SELECT PatientNam FROM DICOMStudies") == [("ROE^JANE",)]
    text = (tmp_path / "trouble.log").read_text()
    assert "Inconsistent PatientNam in DICOMStudies: PatientID = 'PAT1' StudyInsta = '1.2.3.1', " \
           "Old='DOE^JOHN', New='ROE^JANE'" in text
    # a longer value that starts with the stored one is not inconsistent
    db.add(make_ds(sop="2.3", name="ROE^JANE^MARIE", PatientSex="F"), "c.dcm")
    assert "ROE^JANE^MARIE" not in (tmp_path / "trouble.log").read_text()


def test_resend_updates_rows_and_file(tmp_path, driver):
    db = make_db(tmp_path, driver=driver)
    db.add(make_ds(), "a.dcm")
    db.add(make_ds(), "a2.dcm")
    assert rows(db, "SELECT ObjectFile FROM DICOMImages") == [("a2.dcm",)]
    db.add(make_ds(), "a3.dcm", just_add=True)            # duplicate key on the fast path = success
    assert rows(db, "SELECT ObjectFile FROM DICOMImages") == [("a2.dcm",)]


def test_missing_patient_id_is_synthesised(tmp_path, driver):
    db = make_db(tmp_path, driver=driver)
    db.add(make_ds(patid=None, name="NONAME", InstanceCreationDate="20200202"), "a.dcm")
    assert rows(db, "SELECT PatientID FROM DICOMPatients") == [("NONAME20200202",)]


def test_allow_empty_patient_id_borrows_from_study(tmp_path, driver):
    db = make_db(tmp_path, "AllowEmptyPatientID = 1", driver=driver)
    db.add(make_ds(), "a.dcm")
    db.add(make_ds(sop="1.2.3.1.1.9", patid=""), "b.dcm")
    assert rows(db, "SELECT ImagePat FROM DICOMImages ORDER BY SOPInstanc") == [("PAT1",), ("PAT1",)]


def test_truncation_is_logged(tmp_path, driver):
    db = make_db(tmp_path, driver=driver)
    from dgate.log import FileSink
    db.logs.operator.send_to(FileSink(tmp_path / "op.log", timestamps=False))
    db.add(make_ds(StationName="S" * 20), "a.dcm", filename_for_log="in.dcm")
    db.logs.operator.off()
    assert rows(db, "SELECT StationNam FROM DICOMSeries") == [("S" * 16,)]
    assert "***Truncated StationNam from 20 to 16 chars in file: in.dcm" in (tmp_path / "op.log").read_text()


def test_deletion_cascades_to_parents_and_worklist(tmp_path, driver):
    db = make_db(tmp_path, driver=driver)
    db.add(make_ds(sop="1.1"), "a")
    db.add(make_ds(sop="1.2"), "b")
    db.add(make_ds(sop="2.1", series="2.2", study="2.3", patid="PAT2"), "c")
    db.driver.execute("INSERT INTO DICOMWorkList (AccessionN, PatientID) VALUES ('A1', 'PAT1')")
    removed = db.delete(sop_uid="1.1")
    assert [r.object_file for r in removed] == ["a"]
    assert rows(db, "SELECT count(*) FROM DICOMSeries") == [(2,)]
    db.delete(patient_id="PAT1")
    assert rows(db, "SELECT PatientID FROM DICOMPatients") == [("PAT2",)]
    assert rows(db, "SELECT count(*) FROM DICOMStudies") == [(1,)]
    assert rows(db, "SELECT count(*) FROM DICOMWorkList") == [(0,)]
    removed = db.delete(study_date="20200101")
    assert [r.object_file for r in removed] == ["c"]
    assert rows(db, "SELECT count(*) FROM DICOMPatients") == [(0,)]


def test_change_uid_is_stable_and_reversible(tmp_path, driver):
    db = make_db(tmp_path, "UIDPrefix = 99999.99999", driver=driver)
    new = db.change_uid("1.2.3")
    assert new.startswith("99999.99999.7.")
    assert db.change_uid("1.2.3") == new
    assert db.change_uid_back(new) == "1.2.3"
    assert db.change_uid("1.2.3", stage="s1") != new
    hashed = db.change_uid("1.2.3", stage="#x")
    assert hashed == db.change_uid("1.2.3", stage="#x") and len(hashed) <= 64
    assert all(not part.startswith("0") or part == "0" for part in hashed.split(".")[3:])


def test_fix_image_rules(tmp_path):
    from dgate.config import Configuration
    from dgate.config.defaults import create_default_config
    from dgate.config.ini import put_param
    from dgate.store.fiximage import fix_image

    create_default_config(tmp_path)
    settings = Configuration.open(tmp_path).settings
    ds = make_ds(patid="   ")
    del ds.PatientName
    del ds.StudyInstanceUID
    ds.add_new(0x00211071, "UI", "9.8.7")
    del ds.SeriesInstanceUID
    assert fix_image(ds, settings) is True
    assert ds.PatientID == "00000000" and ds.PatientName == "NO NAME"
    assert ds.StudyInstanceUID == "undefined" and ds.SeriesInstanceUID == "9.8.7"
    put_param(tmp_path / "dicom.ini", "FixPhilips", "1")
    put_param(tmp_path / "dicom.ini", "FixKodak", "1")
    settings = Configuration.open(tmp_path).settings
    for before, after in (("0009703828", "9703828"), ("01234567", "1234567"), ("1234567890", "1234567890")):
        ds = make_ds(patid=before)
        assert fix_image(ds, settings) is (before != after)
        assert ds.PatientID == after
