"""Converters and routing in a running dgate (hub + workers) with real peers: dcmtk storescp,
storescu, findscu, movescu and a second dgate (conquest-lua-web.md §8.7–§8.10)."""
from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from convhelpers import ct, mr
from netpeers import DgateProcess, StoreSCP, dcmtk, free_port, have_dcmtk, start_server

pytestmark = pytest.mark.skipif(not have_dcmtk(), reason="dcmtk not installed")


def _amap(folder: Path, *rows: tuple[str, int]) -> None:
    lines = [f"{ae:<17} 127.0.0.1 {port:<10} un\n" for ae, port in rows]
    (folder / "acrnema.map").write_text("".join(lines))


def _objects(tmp: Path, n: int, make=ct, series: str | None = None) -> list[str]:
    out = []
    for i in range(n):
        ds = make()
        ds.SOPInstanceUID = f"{ds.SOPInstanceUID}.{i + 1}"
        if series:
            ds.SeriesInstanceUID = series
        path = tmp / f"{make.__name__}{i}.dcm"
        ds.save_as(path, enforce_file_format=True)
        out.append(str(path))
    return out


def _server(folder: Path, port: int, ae: str, peers: tuple[tuple[str, int], ...] = (), **params: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    start_server(folder, start=False, MyACRNema=ae, **params)
    _amap(folder, *peers)


def _store(port: int, files: list[str], called: str = "CONQUESTSRV1") -> subprocess.CompletedProcess:
    return dcmtk("storescu", "-aet", "SENDER", "-aec", called, "127.0.0.1", str(port), *files)


def _stored_sops(folder: Path) -> set[str]:
    import pydicom
    found = set()
    for path in (folder / "data").rglob("*.dcm"):
        found.add(str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID))
    return found


@pytest.mark.parametrize("workers", ["2", "0"])
def test_import_converter_forwards_and_verdicts_set_the_status(tmp_path, workers):
    """ImportConverter0 forwards each incoming object to storescp (one association per
    study); reject answers a failure status and stores nothing, destroy answers success.
    With workers and in a single-process server (ServerWorkers = 0)."""
    from pynetdicom import AE
    from pynetdicom.sop_class import CTImageStorage, MRImageStorage  # type: ignore[attr-defined]
    dest = StoreSCP(tmp_path / "dest", "DEST", "-uf")
    port = free_port()
    _server(tmp_path / "a", port, "SRVA", (("DEST", dest.port),),
            ImportConverters="3", ImportConverter0="forward to DEST",
            ImportConverter1='ifequal "%V0010,0010","REJECT ME"; reject',
            ImportConverter2='ifequal "%V0010,0010","DESTROY ME"; destroy', ServerWorkers=workers)
    server = DgateProcess(tmp_path / "a", port)
    try:
        files = _objects(tmp_path, 3)
        r = _store(port, files)
        assert r.returncode == 0, r.stderr
        received = dest.wait_for(3)
        assert len(received) == 3
        assert len(_stored_sops(tmp_path / "a")) == 3
        out = server.output()
        assert "Importconverter0.0" in out or "ImportConverter0.0" in out
        ae = AE(ae_title="SENDER")
        ae.add_requested_context(CTImageStorage)
        ae.add_requested_context(MRImageStorage)
        assoc = ae.associate("127.0.0.1", port, ae_title="CONQUESTSRV1")
        assert assoc.is_established
        rejected, destroyed = mr(), mr()
        rejected.PatientName, rejected.SOPInstanceUID = "REJECT ME", rejected.SOPInstanceUID + ".91"
        destroyed.PatientName, destroyed.SOPInstanceUID = "DESTROY ME", destroyed.SOPInstanceUID + ".92"
        assert assoc.send_c_store(rejected).Status == 0x0110        # StorageFailedErrorCode
        assert assoc.send_c_store(destroyed).Status == 0x0000
        assoc.release()
        sops = _stored_sops(tmp_path / "a")
        assert rejected.SOPInstanceUID not in sops and destroyed.SOPInstanceUID not in sops
        assert len(dest.wait_for(5)) == 5                          # forwarded before the verdicts
    finally:
        server.stop()
        dest.stop()


def test_forward_chain_a_b_c(tmp_path):
    """A (ImportConverter0 forward to B) → B, a second dgate (forward to C) → C, storescp."""
    c = StoreSCP(tmp_path / "c", "SRVC", "-uf")
    port_a, port_b = free_port(), free_port()
    _server(tmp_path / "b", port_b, "SRVB", (("SRVC", c.port),), ImportConverter0="forward to SRVC")
    _server(tmp_path / "a", port_a, "SRVA", (("SRVB", port_b),), ImportConverter0="forward to SRVB")
    b = DgateProcess(tmp_path / "b", port_b)
    a = DgateProcess(tmp_path / "a", port_a)
    try:
        files = _objects(tmp_path, 4)
        assert _store(port_a, files).returncode == 0
        assert len(c.wait_for(4)) == 4
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(_stored_sops(tmp_path / "b")) < 4:
            time.sleep(0.1)
        assert len(_stored_sops(tmp_path / "b")) == 4
        assert len(_stored_sops(tmp_path / "a")) == 4
    finally:
        a.stop()
        b.stop()
        c.stop()


def _kill_server(server: DgateProcess) -> None:
    """kill -9 of the hub and its workers."""
    import psutil
    try:
        children = psutil.Process(server.proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    server.proc.send_signal(signal.SIGKILL)
    for child in children:
        try:
            child.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    server.proc.wait(10)


def test_export_queue_survives_kill_9_and_sends_nothing_twice(tmp_path):
    """ExportConverter0 to a destination that is down; the server is killed with -9; after
    both are back every object arrives once; a clean restart sends nothing again."""
    dest_port, port = free_port(), free_port()
    _server(tmp_path / "a", port, "SRVA", (("DEST", dest_port),), ExportConverters="1",
            ExportConverter0="forward to DEST", FailHoldOff="1", RetryDelay="1")
    server = DgateProcess(tmp_path / "a", port)
    try:
        files = _objects(tmp_path, 5)
        assert _store(port, files).returncode == 0
        time.sleep(2.0)                          # tries fail (destination down), entries kept
        assert "Forward failed to connect" in server.output()
    finally:
        _kill_server(server)
    journals = list((tmp_path / "a").glob("ExportQueue*_0.jsonl"))
    assert journals, "no export queue journal"
    dest = StoreSCP(tmp_path / "dest", "DEST", "-uf", port=dest_port)
    try:
        server = DgateProcess(tmp_path / "a", port)
        try:
            assert len(dest.wait_for(5, 30)) == 5
            time.sleep(1.0)
        finally:
            server.stop()
        assert server.proc.returncode is not None
        server = DgateProcess(tmp_path / "a", port)
        try:
            time.sleep(3.0)
            assert len(dest.files()) == 5, server.output()       # nothing sent twice
        finally:
            server.stop()
    finally:
        dest.stop()


def _findscu(port: int, *keys: str, level: str = "STUDY") -> subprocess.CompletedProcess:
    args = ["-S", "-aet", "FINDER", "-aec", "CONQUESTSRV1", "-k", f"QueryRetrieveLevel={level}"]
    for key in keys:
        args += [key] if key.startswith("-") else ["-k", key]
    return dcmtk("findscu", *args, "127.0.0.1", str(port))


def test_query_converters_change_and_refuse_answers(tmp_path):
    port = free_port()
    _server(tmp_path / "a", port, "SRVA", QueryResultConverter0='set 0010,0010 to "CHANGED^NAME"',
            QueryConverter0='ifequal "%V0010,0020","FORBIDDEN"; destroy')
    server = DgateProcess(tmp_path / "a", port)
    try:
        assert _store(port, _objects(tmp_path, 1)).returncode == 0
        r = _findscu(port, "PatientName", "PatientID", "StudyInstanceUID")
        out = r.stdout + r.stderr
        assert "CHANGED^NAME" in out, out
        r = _findscu(port, "-v", "PatientName", "PatientID=FORBIDDEN")
        out = r.stdout + r.stderr
        assert "Failed: UnableToProcess" in out, out            # 0xC011 (dcmtk names Cxxx so)
        assert "Pending" not in out
    finally:
        server.stop()


def test_virtual_server_answers_and_caches_in_the_running_server(tmp_path):
    """A (empty, VirtualServerFor0 = SRVB) answers a C-FIND with B's study and serves a
    C-MOVE of it by fetching it from B first; afterwards A holds it."""
    dest = StoreSCP(tmp_path / "dest", "DEST", "-uf")
    port_a, port_b = free_port(), free_port()
    _server(tmp_path / "b", port_b, "SRVB", (("SRVA", port_a),))
    _server(tmp_path / "a", port_a, "SRVA", (("SRVB", port_b), ("DEST", dest.port)), VirtualServerFor0="SRVB")
    b = DgateProcess(tmp_path / "b", port_b)
    a = DgateProcess(tmp_path / "a", port_a)
    try:
        files = _objects(tmp_path, 2)
        assert _store(port_b, files).returncode == 0
        study = str(ct().StudyInstanceUID)
        r = _findscu(port_a, "PatientID", "StudyInstanceUID")
        assert study in r.stdout + r.stderr, r.stdout + r.stderr
        assert _stored_sops(tmp_path / "a") == set()
        r = dcmtk("movescu", "-S", "-aet", "MOVER", "-aec", "CONQUESTSRV1", "-aem", "DEST",
                  "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}", "127.0.0.1", str(port_a))
        assert r.returncode == 0, r.stderr
        assert len(dest.wait_for(2)) == 2
        assert len(_stored_sops(tmp_path / "a")) == 2                    # cached
        r = _findscu(port_a, "PatientID", "StudyInstanceUID")
        assert (r.stdout + r.stderr).count(study) == 1, r.stdout + r.stderr   # local and remote: one answer
    finally:
        a.stop()
        b.stop()
        dest.stop()


def test_clonedb_and_modifypatid_as_server_commands(tmp_path):
    """``clonedb:SRVB`` copies B's patients into A; ``modifypatid:NEW,file`` then moves the
    two images of a study to another patient, into one new study (old rows and files gone)."""
    from conftest import run_dgate

    from dgate.config import Configuration
    from dgate.db import open_database
    from dgate.log import Logs
    port_a, port_b = free_port(), free_port()
    _server(tmp_path / "b", port_b, "SRVB", (("SRVA", port_a),))
    _server(tmp_path / "a", port_a, "SRVA", (("SRVB", port_b),))
    b = DgateProcess(tmp_path / "b", port_b)
    a = DgateProcess(tmp_path / "a", port_a)
    try:
        assert _store(port_b, _objects(tmp_path, 2) + _objects(tmp_path, 1, make=mr)).returncode == 0
        r = run_dgate([f"-p{port_a}", "--clonedb:SRVB"], tmp_path / "a")
        assert r.returncode == 0, r.stderr
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(_stored_sops(tmp_path / "a")) < 3:
            time.sleep(0.1)
        assert _stored_sops(tmp_path / "a") == _stored_sops(tmp_path / "b")
        assert "Cloned 2 patient(s) from SRVB" in a.output()
        db = open_database(Configuration.open(tmp_path / "a"), Logs())
        study = str(ct().StudyInstanceUID)
        rows = [db.get_file(str(ct().SOPInstanceUID) + f".{i}") for i in (1, 2)]
        assert all(r is not None and r.patient_id == str(ct().PatientID) for r in rows)
        for row in rows:                  # both images of the study, one by one
            path = tmp_path / "a" / "data" / row.object_file
            r = run_dgate([f"-p{port_a}", f"--modifypatid:NEWPAT,{path}"], tmp_path / "a")
            assert r.returncode == 0, r.stderr
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and db.get_file(row.sop_uid) is not None:
                time.sleep(0.1)
            assert db.get_file(row.sop_uid) is None and not path.exists()
        import pydicom
        moved = [pydicom.dcmread(p, stop_before_pixels=True) for p in (tmp_path / "a" / "data" / "NEWPAT").glob("*")]
        assert len(moved) == 2 and {str(d.PatientID) for d in moved} == {"NEWPAT"}
        assert len({str(d.StudyInstanceUID) for d in moved}) == 1           # one new study for the old one
        assert str(moved[0].StudyInstanceUID) != study
        assert len(_stored_sops(tmp_path / "a")) == 3
        db.close()
    finally:
        a.stop()
        b.stop()


def _lua_section(folder: Path, text: str) -> None:
    with open(folder / "dicom.ini", "a") as f:
        f.write("\n[lua]\n" + text + "\n")


def test_lua_import_converter_keeps_its_state_for_the_association(tmp_path):
    """A ``[lua] ImportConverter0`` runs in one Lua state per association: a global counts
    the images of each association (the Lua plug-in's state when it made one, else ours)."""
    import pydicom
    port = free_port()
    _server(tmp_path / "a", port, "SRVA")
    _lua_section(tmp_path / "a", "ImportConverter0 = n = (n or 0) + 1; Data.PatientName = 'IMAGE' .. n")
    server = DgateProcess(tmp_path / "a", port)
    try:
        assert _store(port, _objects(tmp_path, 3)).returncode == 0
        assert _store(port, _objects(tmp_path, 1, make=mr)).returncode == 0       # a new association
        names = sorted(str(pydicom.dcmread(p, stop_before_pixels=True).PatientName)
                       for p in (tmp_path / "a" / "data").rglob("*.dcm"))
        assert names == ["IMAGE1", "IMAGE1", "IMAGE2", "IMAGE3"], server.output()
    finally:
        server.stop()


def test_retrieve_converters_refuse_a_move_and_change_what_is_sent(tmp_path):
    """RetrieveConverter0 (``%s`` = destination) refuses a C-MOVE with 0xC013;
    RetrieveResultConverter0 changes each object sent, not the stored one."""
    import pydicom
    dest = StoreSCP(tmp_path / "dest", "DEST", "-uf")
    port = free_port()
    _server(tmp_path / "a", port, "SRVA", (("DEST", dest.port), ("OTHER", dest.port)),
            RetrieveConverter0='ifequal "%s","OTHER"; destroy',
            RetrieveResultConverter0='set 0010,0010 to "AS^SENT"')
    server = DgateProcess(tmp_path / "a", port)
    try:
        assert _store(port, _objects(tmp_path, 2)).returncode == 0
        study = str(ct().StudyInstanceUID)

        def move(to: str) -> subprocess.CompletedProcess:
            return dcmtk("movescu", "-v", "-S", "-aet", "MOVER", "-aec", "CONQUESTSRV1", "-aem", to, "-k",
                         "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}", "127.0.0.1", str(port))
        r = move("OTHER")
        assert "c013" in (r.stdout + r.stderr).lower() or "UnableToProcess" in r.stdout + r.stderr, r.stdout + r.stderr
        assert dest.files() == []
        r = move("DEST")
        assert r.returncode == 0, r.stderr
        sent = dest.wait_for(2)
        assert len(sent) == 2
        assert {str(pydicom.dcmread(p, stop_before_pixels=True).PatientName) for p in sent} == {"AS^SENT"}
        stored = [pydicom.dcmread(p, stop_before_pixels=True) for p in (tmp_path / "a" / "data").rglob("*.dcm")]
        assert {str(d.PatientName) for d in stored} == {str(ct().PatientName)}
    finally:
        server.stop()
        dest.stop()


def test_delayed_forward_from_a_worker_and_export_filters(tmp_path):
    """``forward study to DEST after 1`` in an import converter (run in a worker) is queued in
    the hub and sends the study once; ExportModality1 = MR lets only the MR through."""
    dest, mr_dest = StoreSCP(tmp_path / "dest", "DEST", "-uf"), StoreSCP(tmp_path / "mrdest", "MRDEST", "-uf")
    port = free_port()
    _server(tmp_path / "a", port, "SRVA", (("DEST", dest.port), ("MRDEST", mr_dest.port)),
            ImportConverter0='ifequal "%m","CT"; forward study to DEST after 1',
            ExportConverters="2", ExportConverter1="forward to MRDEST", ExportModality1="MR")
    server = DgateProcess(tmp_path / "a", port)
    try:
        assert _store(port, _objects(tmp_path, 3) + _objects(tmp_path, 1, make=mr)).returncode == 0
        assert len(dest.wait_for(3)) == 3
        assert len(mr_dest.wait_for(1)) == 1
        time.sleep(2.0)
        assert len(dest.files()) == 3 and len(mr_dest.files()) == 1, server.output()
        assert "queued forward study" in server.output()
        from conftest import run_dgate
        r = run_dgate([f"-p{port}", "--queue_status:"], tmp_path / "a")
        assert "ExportConverter1 queue: 0 queued" in r.stdout and "1 done" in r.stdout, r.stdout + r.stderr
    finally:
        server.stop()
        dest.stop()
        mr_dest.stop()


def test_worklist_converters_in_the_running_server(tmp_path):
    """ModalityWorkListQueryResultConverter0 changes each worklist answer (HL7 orders loaded
    with --loadhl7:); WorkListQueryConverter0 destroy refuses a query (0xC011)."""
    import pydicom
    from conftest import run_dgate
    port = free_port()
    _server(tmp_path / "a", port, "SRVA",
            ModalityWorkListQueryResultConverter0='set 0010,0010 to "WORK^LISTED"',
            WorkListQueryConverter0='ifequal "%V0008,0050","NOPE"; destroy')
    server = DgateProcess(tmp_path / "a", port)
    try:
        hl7 = tmp_path / "a" / "orders.hl7"
        hl7.write_text("MSH|^~\\&|HIS|H|DGATE|D|20240101120000||ORM^O01|WL1|P|2.3|\r"
                       "PID|1||x|P1|Order^Pat||19700101|F|\r"
                       "OBR|1||WL1|55^CT HEAD|||20240102083000|||||||||Dr^Who|||||CT|\r")
        assert run_dgate([f"-p{port}", f"--loadhl7:{hl7}"], tmp_path / "a").returncode == 0
        out = tmp_path / "rsp"
        out.mkdir()
        r = dcmtk("findscu", "-W", "-aec", "CONQUESTSRV1", "-k", "PatientName=", "-k", "AccessionNumber=WL*",
                  "-X", "-od", str(out), "127.0.0.1", str(port))
        assert r.returncode == 0, r.stderr
        files = sorted(out.iterdir())
        assert len(files) == 1, r.stdout + r.stderr
        ds = pydicom.dcmread(files[0])
        assert ds.AccessionNumber == "WL1" and ds.PatientName == "WORK^LISTED"
        r = dcmtk("findscu", "-v", "-W", "-aec", "CONQUESTSRV1", "-k", "PatientName=", "-k", "AccessionNumber=NOPE",
                  "127.0.0.1", str(port))
        assert "Failed: UnableToProcess" in r.stdout + r.stderr, r.stdout + r.stderr
    finally:
        server.stop()


def test_export_forward_uses_the_destination_compression_of_acrnema_map(tmp_path):
    """ExportConverter0 = forward to PEER, PEER's acrnema.map column ``jk``: the peer gets
    JPEG 2000 lossless, the stored file stays as received."""
    import numpy as np
    import pydicom
    received = tmp_path / "received"
    received.mkdir()
    peer_port, port = free_port(), free_port()
    with StoreSCP(received, "PEER", "+xv", port=peer_port):
        _server(tmp_path / "a", port, "SRVA", ExportConverters="1", ExportConverter0="forward to PEER")
        (tmp_path / "a" / "acrnema.map").write_text(f"PEER              127.0.0.1 {peer_port:<10} jk\n")
        server = DgateProcess(tmp_path / "a", port)
        try:
            assert _store(port, _objects(tmp_path, 1)).returncode == 0
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not list(received.iterdir()):
                time.sleep(0.1)
            files = sorted(received.iterdir())
            assert len(files) == 1, server.output()
            got = pydicom.dcmread(files[0])
            assert got.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.90"
            assert np.array_equal(got.pixel_array, ct().pixel_array)
            stored = next((tmp_path / "a" / "data").rglob("*.dcm"))
            assert pydicom.dcmread(stored).file_meta.TransferSyntaxUID == ct().file_meta.TransferSyntaxUID
        finally:
            server.stop()


def test_incoming_folder_objects_go_through_import_and_export_converters(tmp_path):
    """Files dropped into <MAG0>/incoming are stored by the hub: ImportConverter0 and the
    export queue run there as for C-STORE."""
    import shutil
    imp, exp = StoreSCP(tmp_path / "imp", "IMP", "-uf"), StoreSCP(tmp_path / "exp", "EXP", "-uf")
    port = free_port()
    _server(tmp_path / "a", port, "SRVA", (("IMP", imp.port), ("EXP", exp.port)),
            ImportConverter0="forward to IMP", ExportConverters="1", ExportConverter0="forward to EXP")
    (tmp_path / "a" / "data" / "incoming").mkdir(parents=True, exist_ok=True)
    server = DgateProcess(tmp_path / "a", port)
    try:
        for path in _objects(tmp_path, 2):
            shutil.copy(path, tmp_path / "a" / "data" / "incoming" / Path(path).name)
        assert len(imp.wait_for(2)) == 2, server.output()
        assert len(exp.wait_for(2)) == 2, server.output()
        assert len(_stored_sops(tmp_path / "a")) == 2
    finally:
        server.stop()
        imp.stop()
        exp.stop()


def test_lua_export_converter_runs_in_the_hub(tmp_path):
    """A ``[lua] ExportConverter0`` runs for every stored object, on the object read back from
    its file, in the hub (here: appends the SOP UID to a file in the server folder)."""
    port = free_port()
    _server(tmp_path / "a", port, "SRVA", ExportConverters="1")
    _lua_section(tmp_path / "a", "ExportConverter0 = local f = io.open('exported.txt', 'a'); "
                                 "f:write(Data.SOPInstanceUID .. '\\n'); f:close()")
    server = DgateProcess(tmp_path / "a", port)
    try:
        assert _store(port, _objects(tmp_path, 3)).returncode == 0
        out = tmp_path / "a" / "exported.txt"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (not out.exists() or len(out.read_text().split()) < 3):
            time.sleep(0.1)
        assert sorted(out.read_text().split()) == sorted(f"{ct().SOPInstanceUID}.{i}" for i in (1, 2, 3)), \
            server.output()
    finally:
        server.stop()


def test_fc_and_fk_change_the_patient_id_of_a_file(tmp_path):
    """``dgate -fcPATID,file`` moves a stored file to another patient (original gone);
    ``-fk`` makes a copy for the other patient and keeps the original."""
    from conftest import run_dgate

    from dgate.config import Configuration
    from dgate.db import open_database
    from dgate.log import Logs
    folder = tmp_path / "a"
    _server(folder, free_port(), "SRVA")
    ct_file, mr_file = _objects(tmp_path, 1)[0], _objects(tmp_path, 1, make=mr)[0]
    for path in (ct_file, mr_file):
        assert run_dgate([f"-fa{path}"], folder).returncode == 0
    db = open_database(Configuration.open(folder), Logs())
    ct_row, mr_row = db.get_file(str(ct().SOPInstanceUID) + ".1"), db.get_file(str(mr().SOPInstanceUID) + ".1")
    r = run_dgate([f"-fcNEWPAT,{folder / 'data' / ct_row.object_file}"], folder)
    assert r.returncode == 0, r.stdout + r.stderr
    assert db.get_file(ct_row.sop_uid) is None and not (folder / "data" / ct_row.object_file).exists()
    time.sleep(1.1)        # new UIDs are <prefix>.7.<second>.<process counter>, as 1.5.0e makes them
    r = run_dgate([f"-fkCOPYPAT,{folder / 'data' / mr_row.object_file}"], folder)
    assert r.returncode == 0, r.stdout + r.stderr
    assert db.get_file(mr_row.sop_uid) is not None and (folder / "data" / mr_row.object_file).exists()
    assert len(list((folder / "data" / "NEWPAT").glob("*.dcm"))) == 1
    assert len(list((folder / "data" / "COPYPAT").glob("*.dcm"))) == 1
    db.close()


@pytest.mark.parametrize("driver", ["sqlite", "postgres"])
def test_export_filter_sql_in_the_running_server(tmp_path, driver):
    """ExportFilter0 (an SQL condition on the index, bound to the object's SOP UID) lets only
    the MR through, on SQLite and on PostgreSQL (names are cut to TruncateFieldNames, 10, as in
    1.5.0e: a table-qualified name would break the condition)."""
    from dbdrivers import ensure_database
    extra = {}
    if driver != "sqlite":
        for line in ensure_database(driver).splitlines():
            key, _, value = line.partition("=")
            extra[key.strip()] = value.strip()
    dest = StoreSCP(tmp_path / "dest", "DEST", "-uf")
    port = free_port()
    _server(tmp_path / "a", port, "SRVA", (("DEST", dest.port),), ExportConverters="1",
            ExportConverter0="forward to DEST", ExportFilter0="Modality = 'MR'", **extra)
    server = DgateProcess(tmp_path / "a", port)
    try:
        assert _store(port, _objects(tmp_path, 2) + _objects(tmp_path, 1, make=mr)).returncode == 0
        received = dest.wait_for(1)
        time.sleep(1.5)
        import pydicom
        assert [str(pydicom.dcmread(p, stop_before_pixels=True).Modality) for p in dest.files()] == ["MR"], \
            server.output()
    finally:
        server.stop()
        dest.stop()
    assert received
