"""HL7 v2 import into the worklist (conquest-storage.md §7) and the MLLP listener.

Expected item streams and rows were produced by the original 1.5.0e (``--loadhl7:`` with
``debuglevel:4``, its ``HL7 item:`` lines and its DICOMWorkList rows).
"""
from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from dbhelpers import make_db

from dgate.hl7 import HL7Error, import_file, import_text, parse
from dgate.hl7.mllp import MLLPListener, frame, send

TWO_MESSAGES = (b"MSH|^~\\&|A|B|C|D|2024||ORM^O01|1|P|2.3|\nPID|1||P2||Two^Pat||19800101|M|\n"
                b"OBR|1||ACC2|66^MR|||20240103||||||||||||||||MR|\r\nMSH|^~\\&|A|B|C|D|2024||ORM^O01|2|P|2.3|\n"
                b"PID|1||P3||Three||19800101|M|\nOBR|1||ACC3|77|||2024010312||||||||||||||||US|").decode("latin-1")
# the original's non-empty items for TWO_MESSAGES, in order
ORIGINAL_ITEMS = """MSH.0 MSH|MSH.1 ^~\\&|MSH.1.2 \\&|MSH.2 A|MSH.3 B|MSH.4 C|MSH.5 D|MSH.6 2024|MSH.6.DATE 2024|
MSH.8 ORM^O01|MSH.8.0 ORM|MSH.8.1 O01|MSH.9 1|MSH.10 P|MSH.11 2.3|PID.0 PID|PID.1 1|PID.3 P2|PID.5 Two^Pat|
PID.5.0 Two|PID.5.1 Pat|PID.7 19800101|PID.7.DATE 19800101|PID.8 M|OBR.0 OBR|OBR.1 1|OBR.3 ACC2|OBR.4 66^MR|
OBR.4.0 66|OBR.4.1 MR|OBR.7 20240103|OBR.7.DATE 20240103|OBR.23 MR|MSH.0 MSH|MSH.1 ^~\\&|MSH.1.2 \\&|MSH.2 A|
MSH.3 B|MSH.4 C|MSH.5 D|MSH.6 2024|MSH.6.DATE 2024|MSH.8 ORM^O01|MSH.8.0 ORM|MSH.8.1 O01|MSH.9 2|MSH.10 P|
MSH.11 2.3|PID.0 PID|PID.1 1|PID.3 P3|PID.5 Three|PID.7 19800101|PID.7.DATE 19800101|PID.8 M|OBR.0 OBR|OBR.1 1|
OBR.3 ACC3|OBR.4 77|OBR.7 2024010312|OBR.7.DATE 20240103|OBR.7.TIME 12|OBR.23 US"""
COLUMNS = ("AccessionN, PatientID, PatientNam, PatientBir, PatientSex, MedicalAle, ReqProcDes, Modality, "
           "StartDate, StartTime, SchedPSID, ReqProcID, ReqPhysici")
# the original's rows for TWO_MESSAGES (None = NULL)
ORIGINAL_ROWS = [("ACC2", "", "Two^Pat", "19800101", "M", None, "MR", "", "20240103", "", "66^MR", "66", ""),
                 ("ACC3", "", "Three", "19800101", "M", None, None, "", "20240103", "12", "77", None, "")]
ORDER = ("MSH|^~\\&|HIS|H|DGATE|D|20240101120000||ORM^O01|MSG7|P|2.3|\r"
         "PID|1||x|{patid}|O'Brien^Pat||19700101|F\r"
         "OBR|1||{acc}|55^CT HEAD|||20240102083000|||||||||Dr^Who|||||CT\r")


def rows(db, where: str = "") -> list[tuple]:
    return db.sql(f"SELECT {COLUMNS} FROM DICOMWorkList {where} ORDER BY AccessionN")


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def wldb(request, tmp_path: Path):
    db = make_db(tmp_path, driver=request.param)
    yield db
    db.close()


def test_item_stream_is_the_originals():
    mine = [f"{i.tag} {i.value}" for m in parse(TWO_MESSAGES) for i in m.items if i.value]
    assert mine == ORIGINAL_ITEMS.replace("\n", "").split("|"), mine


def test_component_numbering_and_date_split():
    items = [(i.tag, i.value) for i in parse("MSH|^~\\&|a\rPID|1|2|3|4|Zijp^Lambert^^Dr|6|195912061230\r")[0].items]
    assert ("MSH.1.0", "") in items and ("MSH.1.1", "") in items and ("MSH.1.2", "\\&") in items
    assert ("PID.5.0", "Zijp") in items and ("PID.5.1", "Lambert") in items and ("PID.5.3", "Dr") in items
    assert ("PID.5.END", "") in items
    assert ("PID.7.DATE", "19591206") in items and ("PID.7.TIME", "1230") in items


def test_rows_are_the_originals(wldb):
    result = import_text(wldb, TWO_MESSAGES)
    assert len(result.rows) == 2
    assert rows(wldb) == ORIGINAL_ROWS


def test_segment_without_trailing_separator_is_not_swallowed(wldb):
    # the original reads "F\rOBR" as one field and loses the whole order
    import_text(wldb, ORDER.format(patid="P1", acc="ACC1"))
    got = rows(wldb)
    assert got == [("ACC1", "P1", "O'Brien^Pat", "19700101", "F", None, "CT HEAD", "CT", "20240102", "083000",
                    "55^CT HEAD", "55", "Dr^Who")]


def test_nested_separators_end(wldb):
    # "a~b^c" made the original loop for ever
    text = "MSH|^~\\&|A\rPID|1||P4||x|||M|\rOBR|1||ACC4|1^a~b^c\r"
    start = time.monotonic()
    import_text(wldb, text)
    assert time.monotonic() - start < 5
    assert rows(wldb)[0][0] == "ACC4"


def test_truncated_to_column_length(wldb):
    import_text(wldb, ORDER.format(patid="P" * 100, acc="A" * 40))
    got = rows(wldb)[0]
    assert got[0] == "A" * 16 and got[1] == "P" * 64


def test_malformed_message_writes_nothing(wldb):
    good = ORDER.format(patid="P1", acc="ACC1")
    with pytest.raises(HL7Error) as err:
        import_text(wldb, good + "MSH|^^\rPID|1||P9\r")
    assert err.value.line == 4 and "separators" in err.value.reason
    with pytest.raises(HL7Error) as err:
        import_text(wldb, good + "PID|1||P\0\r")
    assert err.value.line == 4
    assert rows(wldb) == []


def test_generated_accession_and_uid(tmp_path: Path):
    from dgate.config.defaults import create_default_config
    (tmp_path / "x").mkdir()
    (tmp_path / "cfg").mkdir()
    create_default_config(tmp_path / "x")
    sql = (tmp_path / "x" / "dicom.sql").read_text()
    sql = sql.replace('DT_STR, "OBR.3"', 'DT_STR, "*AN"')
    sql = sql.replace('64, SQL_C_CHAR, DT_UI, "---"', '64, SQL_C_CHAR, DT_UI, "*UI"')
    db = make_db(tmp_path / "cfg", sql=sql)
    import_text(db, ORDER.format(patid="P1", acc="ignored") * 2)
    got = db.sql("SELECT AccessionN, StudyInsta FROM DICOMWorkList")
    assert len(got) == 2 and got[0][0] != got[1][0] and got[0][1] != got[1][1]
    prefix = db.settings.str("UIDPrefix")
    for acc, uid in got:
        assert len(acc) == 16 and uid.startswith(prefix + ".")
    db.close()


def test_import_file_reports_file_and_line(tmp_path: Path):
    db = make_db(tmp_path)
    bad = tmp_path / "bad.hl7"
    bad.write_bytes(b"MSH|^~\\&|A\rPID|1\rMSH|\r")
    with pytest.raises(HL7Error) as err:
        import_file(bad, db)
    assert str(bad) in str(err.value) and err.value.line == 3
    good = tmp_path / "good.hl7"
    good.write_text(ORDER.format(patid="P5", acc="ACC5"))
    assert len(import_file(good, db).rows) == 1
    from dgate.hl7 import add_hl7_file
    assert len(add_hl7_file(good, db).rows) == 1
    empty = tmp_path / "empty.hl7"
    empty.write_bytes(b"")
    with pytest.raises(HL7Error):
        add_hl7_file(empty, db)
    assert len(rows(db)) == 2
    db.close()


def test_mllp_listener_acks(wldb):
    with MLLPListener(0, lambda: wldb.__class__(wldb.config)) as listener:
        reply = send("127.0.0.1", listener.port, ORDER.format(patid="P6", acc="ACC6"))
        assert "\rMSA|AA|MSG7" in reply and reply.startswith("MSH|^~\\&|DGATE|D|HIS|H|")
        bad = send("127.0.0.1", listener.port, "MSH|^^\rPID|1\r")
        assert "MSA|AE|" in bad and "line 1" in bad
        # two frames on one connection, with noise between them
        with socket.create_connection(("127.0.0.1", listener.port)) as sock:
            sock.sendall(b"noise" + frame(ORDER.format(patid="P7", acc="ACC7")) + b"\n" +
                         frame(ORDER.format(patid="P8", acc="ACC8")))
            got = b""
            while got.count(b"\x1c\r") < 2:
                chunk = sock.recv(4096)
                assert chunk
                got += chunk
        assert got.count(b"MSA|AA|") == 2
    assert [r[0] for r in rows(wldb)] == ["ACC6", "ACC7", "ACC8"]


def test_dbase_worklist_import_query_and_extract(tmp_path: Path):
    from pydicom.dataset import Dataset
    from test_dbase import dbase_folder

    from dgate.commands import dispatch
    from dgate.commands.context import CommandContext
    from dgate.config import Configuration
    from dgate.db import open_database
    from dgate.db.dbf import DbfTable
    from dgate.log import Logs
    folder = dbase_folder(tmp_path)
    db = open_database(Configuration.open(tmp_path))
    db.initialize_tables(0, echo=lambda t: None)
    import_text(db, TWO_MESSAGES)
    q = Dataset()
    q.AccessionNumber = "ACC3"
    q.PatientName = ""
    found = db.find_worklist(q)
    assert [str(d.PatientName) for d in found] == ["Three"]
    ctx = CommandContext(db.config, Logs(), "DGATE", 0, _db=db)
    assert dispatch(ctx, "todbf:" + str(tmp_path / "out") + "|DICOMWorkList|AccessionN = 'ACC2'||") == b"0"
    assert [r[0] for r in DbfTable(tmp_path / "out" / "DICOMWorkList.DBF").records] == ["ACC2"]
    assert dispatch(ctx, "extract:PatientID = 'nobody'") == b"0"
    assert (folder / "XDICOMPatients.DBF").is_file() and not (folder / "XADICOMPatients.DBF").exists()
    db.close()


def test_listener_from_dicom_ini(tmp_path: Path):
    from netpeers import free_port

    from dgate.config import Configuration
    from dgate.config.ini import put_param
    from dgate.hl7.mllp import listener_from_config
    db = make_db(tmp_path)
    assert listener_from_config(db.config) is None          # off by default
    port = free_port()
    put_param(tmp_path / "dicom.ini", "HL7Port", str(port))
    listener = listener_from_config(Configuration.open(tmp_path))
    assert listener is not None
    with listener:
        assert listener.port == port
        assert "MSA|AA|" in send("127.0.0.1", port, ORDER.format(patid="P9", acc="ACC9"))
    assert [r[0] for r in rows(db)] == ["ACC9"]
    db.close()


def test_mllp_refuses_oversized_frames_and_extra_clients(tmp_path: Path):
    db = make_db(tmp_path)
    with MLLPListener(0, lambda: db.__class__(db.config), max_clients=1, idle_timeout=5) as listener:
        first = socket.create_connection(("127.0.0.1", listener.port))
        time.sleep(0.2)
        second = socket.create_connection(("127.0.0.1", listener.port))
        second.settimeout(5)
        assert second.recv(10) == b""                       # closed at once
        second.close()
        import dgate.hl7.mllp as mllp
        first.settimeout(10)
        try:
            first.sendall(b"\x0b" + b"A" * (mllp.MAX_FRAME + 70000))
        except OSError:
            pass
        try:
            assert first.recv(10) == b""
        except ConnectionResetError:
            pass
        first.close()
        assert "MSA|AA|" in send("127.0.0.1", listener.port, ORDER.format(patid="P1", acc="ACC1"))
    assert [r[0] for r in rows(db)] == ["ACC1"]
    db.close()


def test_dgate_fa_of_an_hl7_file_fills_the_worklist_and_sets_a_bad_one_aside(tmp_path: Path):
    """``dgate -faFILE.hl7`` (no server running) goes through the HL7 plug-in's entry of
    :data:`dgate.store.dropped.FILE_HANDLERS`, as AddImageFile does inside the server; a
    malformed file writes nothing and fails."""
    import sqlite3

    from conftest import run_dgate
    from netpeers import start_server

    from dgate.store.dropped import FILE_HANDLERS
    start_server(tmp_path, start=False)
    good, bad = tmp_path / "o.hl7", tmp_path / "bad.hl7"
    good.write_text("MSH|^~\\&|HIS|H|DGATE|D|20240101120000||ORM^O01|MSG7|P|2.3|\r"
                    "PID|1||PAT7||Doe^Jane||19700101|F|\rOBR|1||ACC7|CT1^CT HEAD|||20240102||||||||||||||||CT|\r")
    bad.write_text("this is no HL7\r")
    assert run_dgate([f"-fa{good}"], tmp_path).returncode == 0
    failed = run_dgate(["-v", f"-fa{bad}"], tmp_path)
    assert failed.returncode == 1 and "HL7 file -FAILED" in failed.stdout + failed.stderr
    rows = sqlite3.connect(tmp_path / "data" / "dbase" / "conquest.db3").execute(
        "SELECT AccessionN FROM DICOMWorkList").fetchall()
    assert rows == [("ACC7",)]
    import dgate.hl7.plugin  # noqa: F401
    assert ".hl7" in FILE_HANDLERS
