"""The ingest pipeline on its own (no network): order, refusals, repairs, concurrency,
temporary files, hooks."""
import os
import sqlite3
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pydicom
import pytest
from conftest import REPO
from pydicom.data import get_testdata_file
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from dgate.config import Configuration
from dgate.db import open_database
from dgate.log import Logs
from dgate.store import ingest as I
from dgate.store.formats import EXPLICIT_LE
from dgate.store.received import Received, Spool
from dgate.store.tempfiles import TEMP_DIR, TempFile, clean_stale


@pytest.fixture
def setup(workdir):
    config = Configuration.open(workdir)
    logs = Logs()
    lines = []

    class Capture:
        network = False

        def write(self, text):
            lines.append(text)

        def close(self):
            pass
    logs.operator.send_to(Capture())
    with open_database(config, logs) as db:
        db.initialize_tables(0, echo=lambda text: None)
    return config, logs, lines


def body(ds) -> bytes:
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = False
    write_dataset(fp, pydicom.Dataset({t: e for t, e in ds.items() if t.group != 2}))
    return fp.getvalue()


def ct(**changes):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    for key, value in changes.items():
        setattr(ds, key, value)
    return ds


def rows(workdir, sql="SELECT SOPInstanc, ImagePat, ObjectFile FROM DICOMImages"):
    return sqlite3.connect(workdir / "data" / "dbase" / "conquest.db3").execute(sql).fetchall()


def store(config, logs, data, calling="TEST"):
    ingest = I.Ingest(config, logs)
    with open_database(config, logs) as db:
        return ingest.store(Received(EXPLICIT_LE, data), db, calling, "CONQUESTSRV1")


def test_store_writes_file_then_row_with_conquest_meta(setup, workdir):
    config, logs, lines = setup
    stored = store(config, logs, body(ct()))
    raw = stored.path.read_bytes()
    assert raw[128:132] == b"DICM" and b"1.5.0/OTHER\0" in raw[:400]
    assert pydicom.dcmread(stored.path).PatientID == "1CT1"
    assert rows(workdir)[0][2] == stored.relative
    assert any(line.startswith("Written file:") for line in lines)
    assert not list((workdir / "data" / TEMP_DIR).glob("*.tmp"))


def test_malformed_and_uid_refusals_are_failures_with_a_log_line(setup, workdir):
    config, logs, lines = setup
    good = body(ct())
    cases = {
        "cut": (good[:-40], "declares"),
        "nul": (body(ct(SOPInstanceUID="1.2.3\x004.5")), "contains a NUL"),
        "long": (body(ct(SOPInstanceUID="1.2." + "3" * 70)), "at most 64"),
        "no sop": (body(ct(SOPInstanceUID="")), "no SOPInstanceUID"),
    }
    for name, (data, message) in cases.items():
        with pytest.raises(I.StoreFailed, match=message) as info:
            store(config, logs, data)
        assert info.value.status == I.CANNOT_UNDERSTAND, name
        assert any(message in line for line in lines), name
    assert rows(workdir) == []
    assert not list((workdir / "data").rglob("*.dcm"))


def test_long_uids_sharing_a_prefix_are_not_merged(setup, workdir):
    config, logs, _ = setup
    base = "1.2." + "4" * 60
    with pytest.raises(I.StoreFailed):
        store(config, logs, body(ct(SOPInstanceUID=base + ".1")))
    store(config, logs, body(ct(SOPInstanceUID=base[:64])))
    assert len(rows(workdir)) == 1


def test_same_sop_for_another_patient_is_refused(setup, workdir):
    config, logs, lines = setup
    store(config, logs, body(ct()))
    with pytest.raises(I.StoreFailed, match="already stored for patient '1CT1'"):
        store(config, logs, body(ct(PatientID="OTHER")))
    assert rows(workdir, "SELECT ImagePat FROM DICOMImages") == [("1CT1",)]
    assert len(list((workdir / "data").rglob("*.dcm"))) == 1


def test_odd_length_value_is_repaired(setup, workdir):
    config, logs, lines = setup
    data = bytearray(body(ct()))
    at = data.index(b"CompressedSamples^CT1")
    # PatientName: 21 chars + pad; declare 21 and drop the pad byte
    assert struct.unpack_from("<H", data, at - 2)[0] == 22
    struct.pack_into("<H", data, at - 2, 21)
    del data[at + 21]
    stored = store(config, logs, bytes(data))
    assert pydicom.dcmread(stored.path).PatientName == "CompressedSamples^CT1"
    assert any("odd-length value(s) padded" in line for line in lines)


def test_fix_image_patches_raw_bytes(setup, workdir):
    config, logs, _ = setup
    ds = ct()
    del ds.PatientID
    del ds.PatientName
    stored = store(config, logs, body(ds))
    back = pydicom.dcmread(stored.path)
    assert back.PatientID == "00000000" and back.PatientName == "NO NAME"
    assert back.pixel_array.tolist() == ct().pixel_array.tolist()


def test_concurrent_stores_of_the_same_sop_give_one_file_and_one_row(setup, workdir):
    config, logs, _ = setup
    objects = [body(ct(SOPInstanceUID=f"1.2.826.0.1.3680043.2.1143.{i}")) for i in range(30)]
    errors = []

    def sender():
        ingest = I.Ingest(config, logs)
        with open_database(config, logs) as db:
            for data in objects:
                try:
                    ingest.store(Received(EXPLICIT_LE, data), db, "T", "C")
                except I.StoreFailed as exc:
                    errors.append(exc)
    threads = [threading.Thread(target=sender) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(rows(workdir)) == 30
    assert len(list((workdir / "data").rglob("*.dcm"))) == 30


def test_concurrent_processes_same_sop(setup, workdir):
    """Three processes store the same 20 objects at once: 20 files, 20 rows."""
    script = f"""
import sys, pydicom
sys.path.insert(0, {str(REPO)!r})
from pydicom.data import get_testdata_file
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from dgate.config import Configuration
from dgate.db import open_database
from dgate.log import Logs
from dgate.store.ingest import Ingest
from dgate.store.received import Received
config = Configuration.open({str(workdir)!r})
ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
ingest = Ingest(config, Logs())
with open_database(config) as db:
    for i in range(20):
        ds.SOPInstanceUID = "1.2.826.0.1.3680043.2.1143.77." + str(i)
        fp = DicomBytesIO(); fp.is_little_endian = True; fp.is_implicit_VR = False
        write_dataset(fp, pydicom.Dataset({{t: e for t, e in ds.items() if t.group != 2}}))
        ingest.store(Received("1.2.840.10008.1.2.1", fp.getvalue()), db, "P", "C")
"""
    procs = [subprocess.Popen([sys.executable, "-c", script]) for _ in range(3)]
    assert all(p.wait(120) == 0 for p in procs)
    assert len(rows(workdir)) == 20
    assert len(list((workdir / "data").rglob("*.dcm"))) == 20


def test_import_steps_and_after_store_hooks(setup, workdir):
    config, logs, _ = setup
    seen = []

    def rename(ds, ctx):
        ds.PatientName = "Changed^Name"
        ctx.mark_changed()

    def destroy(ds, ctx):
        return I.Verdict.DESTROY if ds.SOPInstanceUID.endswith(".99") else None

    I.IMPORT_STEPS.register("test-rename", rename)
    I.IMPORT_STEPS.register("test-destroy", destroy, order=60)
    I.AFTER_STORE.register("test-seen", lambda stored, ctx: seen.append((stored.sop_instance, ctx.calling)))
    try:
        stored = store(config, logs, body(ct()))
        assert pydicom.dcmread(stored.path).PatientName == "Changed^Name"
        gone = store(config, logs, body(ct(SOPInstanceUID="1.2.3.99")))
        assert gone.path is None
        assert seen == [(ct().SOPInstanceUID, "TEST")]
        assert len(rows(workdir)) == 1
    finally:
        for name in ("test-rename", "test-destroy"):
            I.IMPORT_STEPS.unregister(name)
        I.AFTER_STORE.unregister("test-seen")


def test_spooled_object_is_renamed_into_place(setup, workdir):
    config, logs, _ = setup
    ds = ct()
    ingest = I.Ingest(config, logs)
    data = body(ds)
    spool = ingest.open_spool(EXPLICIT_LE, ds.SOPClassUID, ds.SOPInstanceUID)
    spool.threshold = 1000
    for i in range(0, len(data), 4096):
        spool.write(memoryview(data)[i:i + 4096])
    received = spool.finish()
    assert received.spool is not None
    spool_inode = os.fstat(received.spool.fd).st_ino
    with open_database(config, logs) as db:
        stored = ingest.store(received, db, "T", "C")
    assert stored.path.stat().st_ino == spool_inode
    assert pydicom.dcmread(stored.path).pixel_array.tolist() == ds.pixel_array.tolist()


def test_stale_temporaries_are_cleaned_but_held_ones_kept(tmp_path):
    held = TempFile(tmp_path)
    held.write(b"x")
    stale = tmp_path / TEMP_DIR / "dead-1-1-1.tmp"
    stale.write_bytes(b"partial")
    removed = clean_stale([tmp_path])
    assert removed == [stale] and os.path.exists(held.path)
    held.close()
    assert not os.path.exists(held.path)


def test_spool_discard_leaves_nothing(tmp_path):
    spool = Spool(EXPLICIT_LE, tmp_path, b"P" * 10, threshold=4)
    spool.write(b"123456789")
    assert spool.file is not None
    path = spool.file.path
    spool.discard()
    assert not Path(path).exists()


def test_a_name_taken_by_another_process_is_never_overwritten(setup, workdir, monkeypatch):
    """Mode 4 names are <time><counter>: two processes counting alike in one second get
    the same name for two objects. The second must get the next name, not overwrite."""
    import itertools

    from dgate.store import filenames
    config, logs, _ = setup
    monkeypatch.setattr(filenames.time, "time", lambda: 1796179510.0)
    monkeypatch.setattr(filenames, "_counter", itertools.count())
    first = store(config, logs, body(ct(SOPInstanceUID="1.2.826.0.1.3680043.2.1143.91")))
    monkeypatch.setattr(filenames, "_counter", itertools.count())     # another process's counter
    second = store(config, logs, body(ct(SOPInstanceUID="1.2.826.0.1.3680043.2.1143.92")))
    assert first.relative != second.relative
    for sop, _pat, name in rows(workdir):
        assert pydicom.dcmread(workdir / "data" / name).SOPInstanceUID == sop
    assert len(list((workdir / "data").rglob("*.dcm"))) == 2
    assert not list((workdir / "data" / TEMP_DIR).glob("*.tmp"))


def test_file_name_counter_is_shared_through_the_segment():
    from dgate.runtime.shm import FILE_COUNTER_AT, SharedSegment
    from dgate.store import filenames
    segment = SharedSegment.create()
    other = SharedSegment(segment.fd)            # as a worker maps it
    try:
        filenames.attach(segment)
        a = filenames.next_counter()
        filenames.attach(other)
        b = filenames.next_counter()
        assert (a, b) == (0, 1) and segment.read(FILE_COUNTER_AT) == 2
    finally:
        filenames.attach(None)
        os.close(segment.fd)


def _rename_setup(workdir, config, logs):
    """One CT stored as .dcm (FileNameSyntax 4); the configuration then names it .v2 (3)."""
    from dgate.config.ini import put_param
    first = store(config, logs, body(ct()))
    put_param(workdir / "dicom.ini", "FileNameSyntax", "3")
    return first, Configuration.open(workdir)


def test_rewrite_with_another_extension_moves_row_then_removes_old_file(setup, workdir):
    config, logs, lines = setup
    first, config = _rename_setup(workdir, config, logs)
    second = store(config, logs, body(ct()))
    assert second.relative.endswith(".v2") and second.path.exists() and not first.path.exists()
    assert rows(workdir) == [(ct().SOPInstanceUID, "1CT1", second.relative)]


def test_refused_rewrite_with_another_extension_keeps_the_old_file_and_row(setup, workdir):
    """The index refuses the new copy (inconsistent study link): the old state stays."""
    config, logs, lines = setup
    first, config = _rename_setup(workdir, config, logs)
    with pytest.raises(I.StoreFailed):
        store(config, logs, body(ct(StudyInstanceUID="1.2.3.4.5.6")))
    assert rows(workdir) == [(ct().SOPInstanceUID, "1CT1", first.relative)]
    assert first.path.exists() and not list((workdir / "data").rglob("*.v2"))


@pytest.mark.parametrize("when", ["before_row", "after_row"])
def test_kill_during_rewrite_with_another_extension_leaves_one_state(setup, workdir, when):
    """kill -9 between writing the new file and committing its row, or between the commit
    and removing the old file: the row points at a file holding the object."""
    config, logs, _ = setup
    first, config = _rename_setup(workdir, config, logs)
    script = f"""
import os, signal, sys
sys.path.insert(0, {str(REPO)!r})
import pydicom
from pydicom.data import get_testdata_file
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from dgate.config import Configuration
from dgate.db import Database, open_database
from dgate.store.ingest import Ingest
from dgate.store.received import Received
from dgate.log import Logs
add = Database.add
def dying(self, *args, **kw):
    if {when!r} == "before_row":
        os.kill(os.getpid(), signal.SIGKILL)
    add(self, *args, **kw)
    os.kill(os.getpid(), signal.SIGKILL)
Database.add = dying
config = Configuration.open({str(workdir)!r})
ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
fp = DicomBytesIO(); fp.is_little_endian = True; fp.is_implicit_VR = False
write_dataset(fp, pydicom.Dataset({{t: e for t, e in ds.items() if t.group != 2}}))
with open_database(config) as db:
    Ingest(config, Logs()).store(Received("1.2.840.10008.1.2.1", fp.getvalue()), db, "P", "C")
"""
    assert subprocess.run([sys.executable, "-c", script]).returncode == -9
    ((sop, _pat, name),) = rows(workdir)
    assert pydicom.dcmread(workdir / "data" / name, force=True).SOPInstanceUID == sop
    assert name == (first.relative if when == "before_row" else name) and name.endswith(
        ".dcm" if when == "before_row" else ".v2")
    clean_stale([workdir / "data"])
    assert not list((workdir / "data" / TEMP_DIR).glob("*.tmp"))
    again = store(config, logs, body(ct()))           # and the next store tidies up
    assert rows(workdir) == [(sop, "1CT1", again.relative)]


def test_refused_rewrite_in_place_puts_the_old_file_back(setup, workdir):
    config, logs, _ = setup
    first = store(config, logs, body(ct()))
    with pytest.raises(I.StoreFailed):
        store(config, logs, body(ct(StudyInstanceUID="1.2.3.4.5.6")))     # inconsistent study link
    assert rows(workdir) == [(ct().SOPInstanceUID, "1CT1", first.relative)]
    assert pydicom.dcmread(first.path).StudyInstanceUID == ct().StudyInstanceUID
    assert not list((workdir / "data" / TEMP_DIR).glob("*.tmp"))


def test_compression_hook_answers_whether_it_keeps_the_object():
    from dgate.store.formats import Encoded
    hook = I._Compression()
    plain, jpeg = Encoded(body(ct()), EXPLICIT_LE), Encoded(b"", "1.2.840.10008.1.2.4.70")
    assert hook.keeps(plain, "un") and hook.keeps(jpeg, "j2") and not hook.keeps(jpeg, "un")
    hook.set(lambda obj, code, ctx: obj)              # a compressor without an answer: always asked
    assert not hook.keeps(plain, "un")
    hook.set(lambda obj, code, ctx: obj, lambda obj, code: code == "un")
    assert hook.keeps(plain, "un") and not hook.keeps(plain, "j2")
    hook.set(lambda obj, code, ctx: obj, lambda obj, code: 1 // 0)    # a broken answer: ask the compressor
    assert not hook.keeps(plain, "un")
    hook.set(None)
    assert hook.keeps(plain, "un") and not hook.keeps(jpeg, "un")


def test_the_pipeline_asks_keeps_before_the_compressor(setup, workdir, monkeypatch):
    config, logs, lines = setup
    asked = []

    def compress(obj, code, ctx):
        asked.append(("compress", code))
        return obj

    def keeps(obj, code):
        asked.append(("keeps", code))
        return code == "un"
    monkeypatch.setattr(I.COMPRESSION, "fn", compress)
    monkeypatch.setattr(I.COMPRESSION, "keeps_fn", keeps)
    ingest = I.Ingest(config, logs)
    with open_database(config, logs) as db:
        for number, code in enumerate(("un", "j2", "as", "", "v2")):
            ingest.store(Received(EXPLICIT_LE, body(ct(SOPInstanceUID=f"1.2.3.{number}"))), db, "TEST",
                         "CONQUESTSRV1", compression=code)
    assert asked == [("keeps", "un"), ("keeps", "j2"), ("compress", "j2")]      # as-is codes ask neither
    assert len(rows(workdir)) == 5
