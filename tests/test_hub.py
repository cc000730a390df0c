"""The process model: hub and workers, one server view, restarts, kill -9 safety,
single-process mode, the first run, restart on the same port."""
import os
import re
import signal
import sqlite3
import subprocess
from pathlib import Path

import pydicom
import pytest
import rawdicom as raw
from conftest import REPO, run_dgate
from netpeers import DgateProcess, dcmtk, free_port, have_dcmtk, start_server, wait_for_port
from pydicom.data import get_testdata_file
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage

pytestmark = pytest.mark.skipif(not have_dcmtk(), reason="dcmtk is installed by .ci/run")
CT_FILE = get_testdata_file("CT_small.dcm")


def db_rows(folder):
    con = sqlite3.connect(folder / "data" / "dbase" / "conquest.db3")
    try:
        return con.execute("SELECT SOPInstanc, ObjectFile FROM DICOMImages").fetchall()
    finally:
        con.close()


def command(proc, text):
    return run_dgate([f"-p{proc.port}", f"--{text}"], proc.folder).stdout


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hub")
    proc = start_server(folder, ServerWorkers="2", UIDPrefix="99999.99999")
    yield proc
    proc.stop()


def test_first_uid_of_a_server_ends_in_0_and_the_counter_is_shared(two):
    first = command(two, "genuid:")
    second = command(two, "genuid:")
    assert first.endswith(".0") and second.endswith(".1"), (first, second)


def test_workers_are_children_and_status_is_one_view(two):
    assert len(raw.children(two.proc.pid)) == 2
    for _ in range(4):
        assert dcmtk("echoscu", "127.0.0.1", str(two.port)).returncode == 0
    status = command(two, "display_status:")
    assert "Echo:4," in status
    assert re.search(r"Threads=\d+ \(1 open\)", status)


def test_associations_are_balanced_over_workers(two):
    held = [raw.connect(two.port)[0] for _ in range(4)]
    try:
        import psutil
        per_worker = []
        for pid in raw.children(two.proc.pid):
            conns = [c for c in psutil.Process(pid).net_connections("tcp")
                     if c.status == "ESTABLISHED" and c.laddr.port == two.port]
            per_worker.append(len(conns))
        assert per_worker == [2, 2]
    finally:
        for sock in held:
            raw.release(sock)


def test_logging_and_settings_changes_reach_the_workers(two, tmp_path):
    log = tmp_path / "console.log"
    command(two, f"log_on:{log}")
    try:
        for _ in range(2):                      # both workers
            assert dcmtk("echoscu", "127.0.0.1", str(two.port)).returncode == 0
        assert raw.wait_for(lambda: log.exists() and log.read_text().count("C-Echo") == 2, 5)
    finally:
        command(two, "log_on:")
    # put_param reaches the workers at once: a refused store answers the new StorageFailedErrorCode
    assert dcmtk("storescu", "127.0.0.1", str(two.port), CT_FILE).returncode == 0
    command(two, "put_param:StorageFailedErrorCode,300")
    try:
        other = pydicom.dcmread(CT_FILE)
        other.PatientID = "SOMEONEELSE"
        for _ in range(2):                      # both workers
            sock, _ = raw.connect(two.port)
            assert raw.c_store(sock, other.SOPInstanceUID, raw.body_of(other)) == 300
            raw.release(sock)
    finally:
        command(two, "put_param:StorageFailedErrorCode,272")


def test_a_killed_worker_is_restarted_and_logged(tmp_path):
    proc = start_server(tmp_path, ServerWorkers="2")
    try:
        assert dcmtk("echoscu", "127.0.0.1", str(proc.port)).returncode == 0
        victim = raw.children(proc.proc.pid)[0]
        os.kill(victim, signal.SIGKILL)
        assert raw.wait_for(lambda: "ended with signal 9" in proc.output(), 10)
        assert raw.wait_for(lambda: len(raw.children(proc.proc.pid)) == 2 and victim not in
                            raw.children(proc.proc.pid), 10)
        for _ in range(3):
            assert dcmtk("echoscu", "127.0.0.1", str(proc.port)).returncode == 0
        assert "Echo:4," in command(proc, "display_status:")     # the dead worker's counts are kept
    finally:
        proc.stop()


def test_kill_9_of_a_worker_loses_no_acknowledged_image(tmp_path):
    proc = start_server(tmp_path, ServerWorkers="1")
    acked = []
    try:
        ds = pydicom.dcmread(CT_FILE)
        ae = AE("KILLTEST")
        ae.add_requested_context(CTImageStorage, [str(ds.file_meta.TransferSyntaxUID)])
        assoc = ae.associate("127.0.0.1", proc.port)
        assert assoc.is_established
        worker = raw.children(proc.proc.pid)[0]
        for i in range(400):
            ds.SOPInstanceUID = f"1.2.826.0.1.3680043.9.77.{i}"
            if i == 60:
                os.kill(worker, signal.SIGKILL)
            try:
                status = assoc.send_c_store(ds)
            except Exception:
                break
            if not status or status.Status != 0 or not assoc.is_established:
                break
            acked.append(ds.SOPInstanceUID)
        assoc.abort()
        assert 50 <= len(acked) < 400
        rows = dict(db_rows(tmp_path))
        for uid in acked:
            assert uid in rows and (tmp_path / "data" / rows[uid]).exists(), uid
        for uid, obj in rows.items():
            assert (tmp_path / "data" / obj).exists(), uid        # no row without its file
    finally:
        proc.stop()


def _big_ct(path: Path, megabytes: int) -> pydicom.Dataset:
    ds = pydicom.dcmread(CT_FILE)
    side = int((megabytes * 1024 * 1024 / 2) ** 0.5)
    ds.Rows = ds.Columns = side
    ds.PixelData = b"\x01\x02" * (side * side)
    ds.SOPInstanceUID = f"1.2.826.0.1.3680043.9.88.{megabytes}.{path.stem}"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path)
    return ds


def test_kill_9_of_the_server_during_a_large_store_then_restart(tmp_path):
    big = tmp_path / "big.dcm"
    _big_ct(big, 120)
    folder = tmp_path / "server"
    folder.mkdir()
    proc = start_server(folder, ServerWorkers="1")
    sender = subprocess.Popen(["/usr/bin/storescu", "--max-pdu", "16384", "127.0.0.1", str(proc.port), str(big)],
                              env={"TCP_NODELAY": "1"}, stderr=subprocess.DEVNULL)
    temp = folder / "data" / ".dgate-tmp"
    assert raw.wait_for(lambda: any(p.stat().st_size > 20 << 20 for p in temp.glob("*.tmp")), 30)
    for pid in raw.children(proc.proc.pid):
        os.kill(pid, signal.SIGKILL)
    os.kill(proc.proc.pid, signal.SIGKILL)
    proc.proc.wait(10)
    sender.wait(30)
    assert list(temp.glob("*.tmp"))                 # the half-received object was left behind
    again = DgateProcess(folder)
    try:
        assert "Removed 1 unfinished temporary file(s)" in again.output()
        assert not list(temp.glob("*.tmp"))
        for _, obj in db_rows(folder):
            assert (folder / "data" / obj).exists()
        assert dcmtk("storescu", "127.0.0.1", str(again.port), str(big)).returncode == 0
        assert len(db_rows(folder)) == 1
    finally:
        again.stop()


def test_single_process_mode(tmp_path):
    proc = start_server(tmp_path, ServerWorkers="0")
    try:
        assert raw.children(proc.proc.pid) == []
        assert dcmtk("storescu", "127.0.0.1", str(proc.port), CT_FILE).returncode == 0
        assert len(db_rows(tmp_path)) == 1
        assert "recieved=1" in command(proc, "display_status:")
    finally:
        proc.stop()
    folder = tmp_path / "b"
    folder.mkdir()
    start_server(folder, start=False)
    proc = DgateProcess(folder, args=["-b"])
    try:
        assert raw.children(proc.proc.pid) == []
        assert "runs in non-threaded debug mode" in proc.output()
        assert dcmtk("echoscu", "127.0.0.1", str(proc.port)).returncode == 0
    finally:
        proc.stop()


def test_restart_on_the_same_port_right_after_a_stop(tmp_path):
    proc = start_server(tmp_path, ServerWorkers="1")
    port = proc.port
    assert dcmtk("echoscu", "127.0.0.1", str(port)).returncode == 0     # leaves a TIME_WAIT socket
    proc.stop()
    again = DgateProcess(tmp_path, port=port)
    try:
        assert dcmtk("echoscu", "127.0.0.1", str(port)).returncode == 0
        assert "Address already in use" not in again.output()
    finally:
        again.stop()


def _readme_server_command() -> str:
    """The README's first command: install into a virtual environment and start the server."""
    text = (REPO / "README.md").read_text()
    block = text.split("```sh", 1)[1].split("```", 1)[0]
    return next(line for line in block.splitlines() if "dgate -v" in line).strip()


def test_first_run_from_the_readme_in_an_empty_home(tmp_path):
    """The README's install-and-start command, exactly as written (from the source folder, in
    an empty HOME), gives a server whose first C-STORE is stored and found."""
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    command_line = _readme_server_command()
    assert command_line.endswith("dgate -v") and "pip install" in command_line
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(HOME=str(home), TCP_NODELAY="1")
    log = tmp_path / "server.log"
    server = subprocess.Popen(["sh", "-c", f"{command_line} -p{port}"], cwd=REPO, env=env, stdout=open(log, "w"),
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_port(port, 180)
        assert "Database had no tables: created them" in log.read_text()
        store = dcmtk("storescu", "127.0.0.1", str(port), CT_FILE)
        assert store.returncode == 0, store.stderr + log.read_text()
        find = dcmtk("findscu", "-S", "-k", "QueryRetrieveLevel=STUDY", "-k", "PatientName=", "127.0.0.1", str(port))
        assert "CompressedSamples^CT1" in find.stderr
        assert "no such table" not in log.read_text()
        assert (home / "conquest" / "dicom.ini").exists() and (home / "dgate-env" / "bin" / "dgate").exists()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(15)


def test_deletion_in_the_hub_is_not_hidden_by_a_worker_update_cache(tmp_path):
    """A worker skips updates of series/study/patient rows it wrote a moment ago; after
    the hub deletes the patient, the next image of that series must re-create them."""
    proc = start_server(tmp_path, ServerWorkers="1")
    try:
        first = pydicom.dcmread(CT_FILE)
        sock, _ = raw.connect(proc.port)
        assert raw.c_store(sock, first.SOPInstanceUID, raw.body_of(first)) == 0
        raw.release(sock)
        command(proc, f"deletepatient:{first.PatientID}")
        con = sqlite3.connect(tmp_path / "data" / "dbase" / "conquest.db3")
        assert con.execute("SELECT count(*) FROM DICOMSeries").fetchone()[0] == 0
        second = pydicom.dcmread(CT_FILE)
        second.SOPInstanceUID = first.SOPInstanceUID + ".2"
        sock, _ = raw.connect(proc.port)
        assert raw.c_store(sock, second.SOPInstanceUID, raw.body_of(second)) == 0
        raw.release(sock)
        assert con.execute("SELECT count(*) FROM DICOMSeries").fetchone()[0] == 1
        assert con.execute("SELECT count(*) FROM DICOMPatients").fetchone()[0] == 1
        con.close()
    finally:
        proc.stop()


def test_listener_backlog_holds_a_burst_of_connections():
    """A burst of 100 connections while nothing accepts completes every TCP handshake
    (backlog 128; the original's 5 leaves the rest waiting for SYN retries)."""
    import socket

    from dgate.hub.listener import listen
    listener = listen("127.0.0.1", 0)
    port = listener.getsockname()[1]
    clients = []
    try:
        for _ in range(100):
            sock = socket.socket()
            sock.settimeout(0.5)
            sock.connect(("127.0.0.1", port))        # times out once the queue is full
            clients.append(sock)
    finally:
        for sock in clients:
            sock.close()
        listener.close()
    assert len(clients) == 100
