"""dBase III files as the original's built-in driver keeps them (conquest-storage.md §3.4;
issue 17), on files made by hand to the layout the spec describes: deleted records keep their
content, the update counter at offset 16 counts every write, new files are 0600, and rows
come back in file order when no sort is asked."""
from __future__ import annotations

import os
import stat
import struct
import time

from pydicom.dataset import Dataset

from dgate.config import Configuration
from dgate.config.ini import put_param
from dgate.db import open_database

from dbhelpers import dbase_folder

PATIENT_FIELDS = [("PATIENTID", 64), ("PATIENTNAM", 64), ("PATIENTBIR", 8), ("PATIENTSEX", 16),
                  ("ACCESSTIME", 10), ("QTIMESTAMP", 10), ("QFLAGS", 10), ("QSPARE", 64)]


def dbf_bytes(fields, records, counter=5, old_counter=0) -> bytes:
    """A dBase III file byte by byte: 32-byte header, descriptors, 0x0D, records, 0x1A."""
    record_len = 1 + sum(length for _, length in fields)
    header_len = (len(fields) + 1) * 32 + 1
    head = struct.pack("<BBBBIHH", 0x03, 124, 1, 31, len(records), header_len, record_len) + b"\0" * 4 + \
        struct.pack("<I", counter) + b"\0" * 8 + struct.pack("<I", old_counter)
    for name, length in fields:
        head += name.encode().ljust(11, b"\0") + b"C" + b"\0" * 4 + bytes([length, 0]) + b"\0" * 14
    body = b""
    for flag, values in records:
        body += flag + b"".join(v.encode().ljust(length, b" ") for v, (_, length) in zip(values, fields))
    return head + b"\x0d" + body + b"\x1a"


def record_at(data: bytes, index: int) -> bytes:
    header_len, record_len = struct.unpack_from("<HH", data, 8)
    return data[header_len + index * record_len:header_len + (index + 1) * record_len]


def person(patid: str, name: str) -> list[str]:
    return [patid, name, "19700101", "M", "1700000000", "", "", ""]


def test_deleted_records_keep_their_content_and_writes_are_counted(tmp_path):
    folder = dbase_folder(tmp_path)
    path = folder / "DICOMPatients.DBF"
    path.write_bytes(dbf_bytes(PATIENT_FIELDS, [(b" ", person("ZED", "ZED^Z")), (b"*", person("OLD", "GONE^G")),
                                                (b" ", person("ALPHA", "ALPHA^A"))]))
    db = open_database(Configuration.open(tmp_path))
    q = db.driver.query
    assert q("SELECT PatientID FROM DICOMPatients") == [("ZED",), ("ALPHA",)]          # file order, '*' skipped

    q("INSERT INTO DICOMPatients (PatientID, PatientNam) VALUES ('NEW', 'NEW^N')")
    data = path.read_bytes()
    assert struct.unpack_from("<I", data, 4)[0] == 4 and struct.unpack_from("<I", data, 16)[0] == 6
    assert record_at(data, 1)[:1] == b"*" and record_at(data, 1)[1:65].rstrip() == b"OLD"   # still there
    assert data[1:4] == bytes([time.localtime().tm_year % 100, time.localtime().tm_mon, time.localtime().tm_mday])

    q("DELETE FROM DICOMPatients WHERE PatientID = 'ZED'")
    data = path.read_bytes()
    assert record_at(data, 0)[:1] == b"*" and record_at(data, 0)[1:65].rstrip() == b"ZED"   # content kept
    assert record_at(data, 0)[65:129].rstrip() == b"ZED^Z"
    assert struct.unpack_from("<I", data, 16)[0] == 7
    p = db.driver.text_param
    q(f"UPDATE DICOMPatients SET PatientSex = {p} WHERE PatientID = {p}", ["F", "ALPHA"])
    assert struct.unpack_from("<I", path.read_bytes(), 16)[0] == 8

    db.driver.pack()
    data = path.read_bytes()
    assert struct.unpack_from("<I", data, 4)[0] == 2 and struct.unpack_from("<I", data, 16)[0] == 10
    assert q("SELECT PatientID, PatientSex FROM DICOMPatients") == [("ALPHA", "F"), ("NEW", "")]


def test_old_update_counter_moves_to_offset_16(tmp_path):
    folder = dbase_folder(tmp_path)
    path = folder / "DICOMPatients.DBF"
    path.write_bytes(dbf_bytes(PATIENT_FIELDS, [(b" ", person("P1", "A^B"))], counter=0, old_counter=9))
    db = open_database(Configuration.open(tmp_path))
    p = db.driver.text_param
    db.driver.query(f"UPDATE DICOMPatients SET PatientSex = {p} WHERE PatientID = {p}", ["F", "P1"])
    data = path.read_bytes()
    assert struct.unpack_from("<I", data, 16)[0] == 10 and struct.unpack_from("<I", data, 28)[0] == 0


def test_new_files_are_private_and_start_at_zero(tmp_path):
    folder = dbase_folder(tmp_path)
    db = open_database(Configuration.open(tmp_path))
    db.initialize_tables(0, echo=lambda text: None)
    for name in os.listdir(folder):
        mode = stat.S_IMODE(os.stat(folder / name).st_mode)
        assert mode == 0o600, f"{name}: {oct(mode)}"
        assert struct.unpack_from("<I", (folder / name).read_bytes(), 16)[0] == 0


def names_found(db) -> list[str]:
    ident = Dataset()
    ident.QueryRetrieveLevel = "PATIENT"
    ident.PatientName = ""
    ident.PatientID = ""
    return [str(ds.PatientID) for ds in db.find("PATIENT", ident)]


def test_file_order_where_no_sort_is_asked(tmp_path):
    folder = dbase_folder(tmp_path)
    (folder / "DICOMPatients.DBF").write_bytes(
        dbf_bytes(PATIENT_FIELDS, [(b" ", person("P2", "ZED^Z")), (b" ", person("P1", "ALPHA^A"))]))
    dbase = open_database(Configuration.open(tmp_path))
    assert names_found(dbase) == ["P2", "P1"]                  # the original's dBase driver: file order
    put_param(tmp_path / "dicom.ini", "StudyQuerySortOrder", "DICOMPatients.PatientNam")
    sorted_db = open_database(Configuration.open(tmp_path))
    assert names_found(sorted_db) == ["P1", "P2"]               # a sort that is asked for is applied


def test_display_status_lists_the_dbase_files(tmp_path):
    from dgate.commands.context import CommandContext
    from dgate.commands.status_cmds import status_text
    from dgate.log import Logs
    folder = dbase_folder(tmp_path)
    (folder / "DICOMPatients.DBF").write_bytes(
        dbf_bytes(PATIENT_FIELDS, [(b" ", person("P1", "A^B")), (b"*", person("P2", "C^D"))]))
    (folder / "XDICOMPatients.DBF").write_bytes(dbf_bytes(PATIENT_FIELDS, []))      # extracts are skipped
    ctx = CommandContext(Configuration.open(tmp_path), Logs(), "CONQUESTSRV1", 5678)
    text = status_text(ctx)
    assert "Database type: built-in Dbase driver\n" in text
    assert text.endswith(f"Database {folder}/DICOMPatients.DBF has 2 records\n")   # deleted ones counted
