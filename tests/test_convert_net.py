"""Forwarding, export queues, delayed operations, virtual servers and archival with real
peers (dcmtk storescp, a second dgate process) — conquest-lua-web.md §8.8–§8.10."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import REPO
from convhelpers import ct, folder, mr
from netpeers import DCMTK, StoreSCP, free_port, have_dcmtk

from dgate.config.ini import put_param

pytestmark = pytest.mark.skipif(not have_dcmtk(), reason="dcmtk not installed")


def _amap(config_dir: Path, *rows: tuple[str, int]) -> None:
    lines = [f"{ae:<17} 127.0.0.1 {port:<10} un\n" for ae, port in rows]
    (config_dir / "acrnema.map").write_text("".join(lines))


def test_forward_chain_with_link_reuse_and_export_forward(tmp_path):
    """A (converter functions) → B (storescp) and → C (storescp) by an export converter."""
    b, c = StoreSCP(tmp_path / "b", "PEERB", "-uf"), StoreSCP(tmp_path / "c", "PEERC", "-uf")
    try:
        config, logs, sink = folder(tmp_path / "a", ImportConverter0="forward to PEERB; forward to 127.0.0.1:%d"
                                    % c.port, ForwardAssociationLevel="STUDY")
        _amap(tmp_path / "a", ("PEERB", b.port))
        config.reload_amap()
        from dgate.convert.routing import Routing
        routing = Routing(config, logs, port=free_port())
        routing.start()
        try:
            objects = [ct(), ct()]
            objects[1].SOPInstanceUID = objects[0].SOPInstanceUID + ".2"
            for ds in objects:
                verdict = routing.converters.run_import(ds, routing.context(calling="X", called="Y", modality="CT"))
                assert verdict.ran and not verdict.destroyed
            assert len(b.wait_for(2)) == 2 and len(c.wait_for(2)) == 2
            assert routing.forwarder.open_links() == 2          # one link per channel, reused
            assert "Forward association closed" not in sink.text()
            other = mr()
            routing.converters.run_import(other, routing.context(calling="X", called="Y"))
            assert "Forward association closed by STUDY" in sink.text()
            assert len(b.wait_for(3)) == 3
            # export side: the stored file goes on to C through an ExportConverter
            stored = b.files()[0]
            put_param(tmp_path / "a" / "dicom.ini", "ExportConverters", "1")
            d = StoreSCP(tmp_path / "d", "PEERD", "-uf")
            put_param(tmp_path / "a" / "dicom.ini", "ExportConverter0", "forward to 127.0.0.1:%d" % d.port)
            config.ini.refresh(force=True)
            from dgate.convert.queues import StoredObject
            assert routing.enqueue_export(StoredObject(str(stored), modality="CT", sop="x")) == 1
            assert routing.exports.wait_idle(20)
            assert len(d.wait_for(1)) == 1
            d.stop()
            routing.forwarder.close_idle(time.time() + 3600)
            assert routing.forwarder.open_links() == 0
        finally:
            routing.stop()
    finally:
        b.stop()
        c.stop()


def test_forward_to_a_dead_destination_does_not_block(tmp_path):
    port = free_port()
    config, logs, sink = folder(tmp_path, ImportConverter0=f"forward to 127.0.0.1:{port}",
                                ImportConverter1='set 0008,1030 to "went on"')
    from dgate.convert.routing import Routing
    routing = Routing(config, logs, port=free_port())
    ds = ct()
    started = time.monotonic()
    routing.converters.run_import(ds, routing.context(calling="X", called="Y"))
    assert time.monotonic() - started < 15
    assert ds.StudyDescription == "went on" and "Forward failed to connect" in sink.text()


QUEUE_SCRIPT = textwrap.dedent("""
    import sys, time
    from dgate.config import Configuration
    from dgate.log import Logs, StdoutSink
    from dgate.convert.routing import Routing
    from dgate.convert.queues import StoredObject
    logs = Logs(); logs.operator.send_to(StdoutSink())
    routing = Routing(Configuration.open(sys.argv[1]), logs, port=4242)
    for name in sys.argv[3:]:
        routing.enqueue_export(StoredObject(name, modality="CT"))
    routing.start()
    if sys.argv[2] == "hang":
        print("ENQUEUED", flush=True)
        time.sleep(600)
    deadline = time.time() + 30
    while time.time() < deadline and any(q.status()["queued"] + q.status()["failed"] + q.status()["busy"]
                                         for q in routing.exports.queues.values()):
        time.sleep(0.1)
    routing.stop()
    print("STATUS", "".join(routing.status()), flush=True)
""")


def _queue_process(folder_: Path, mode: str, files: list[str]) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO), TCP_NODELAY="1")
    return subprocess.Popen([sys.executable, "-c", QUEUE_SCRIPT, str(folder_), mode, *files], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=folder_)


def test_export_queue_survives_kill_9_and_sends_once(tmp_path):
    dest_port = free_port()
    folder(tmp_path / "srv", ExportConverters="1", ExportConverter0=f"forward to 127.0.0.1:{dest_port}",
           FailHoldOff="1", RetryDelay="1")
    files = []
    for i in range(5):
        ds = ct()
        ds.SOPInstanceUID = f"{ds.SOPInstanceUID}.{i}"
        path = tmp_path / f"obj{i}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(str(path))
    proc = _queue_process(tmp_path / "srv", "hang", files)
    assert proc.stdout is not None
    while not proc.stdout.readline().startswith("ENQUEUED"):
        pass
    time.sleep(1.5)                       # destination down: tries fail and are kept
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    journal = tmp_path / "srv" / "ExportQueue4242_0.jsonl"
    assert journal.exists()
    with open(journal, "a") as f:
        f.write("{this line is damaged\n")
    dest = StoreSCP(tmp_path / "dest", "DEST", "-uf", port=dest_port)
    try:
        out = _queue_process(tmp_path / "srv", "drain", []).communicate(timeout=60)[0]
        assert "line 1" in out or "damaged" in out
        received = dest.wait_for(5)
        assert len(received) == 5
        out = _queue_process(tmp_path / "srv", "drain", []).communicate(timeout=60)[0]
        time.sleep(0.5)
        assert len(dest.files()) == 5, out            # nothing sent twice after a clean restart
    finally:
        dest.stop()


def test_delayed_forward_collects_a_study(tmp_path):
    from dgate.db import open_database
    from dgate.store.formats import Encoded
    from dgate.store.ingest import Ingest
    dest = StoreSCP(tmp_path / "dest", "DEST", "-uf")
    try:
        config, logs, sink = folder(tmp_path / "srv", ForwardCollectDelay="1")
        _amap(tmp_path / "srv", ("DEST", dest.port))
        config.reload_amap()
        from dgate.convert.routing import Routing
        routing = Routing(config, logs, port=free_port())
        db = open_database(config, logs)
        ingest = Ingest(config, logs)
        for i in range(3):
            ds = ct()
            ds.SOPInstanceUID = f"{ds.SOPInstanceUID}.{i}"
            ingest.store(Encoded.from_dataset(ds, str(ds.file_meta.TransferSyntaxUID)), db)
            routing.converters.config.settings  # noqa: B018
            from dgate.convert import run_script
            run_script("forward study to DEST after 2", ds, routing.context(calling="X", called="Y"))
        assert routing.delayed.queue.status()["queued"] == 1      # one entry for the whole study
        routing.start()
        time.sleep(1.0)
        assert dest.files() == []                                  # still collecting
        assert len(dest.wait_for(3, 20)) == 3
        routing.stop()
        db.close()
    finally:
        dest.stop()


def test_virtual_server_answers_and_caches(tmp_path):
    """A (empty dgate) answers for B (dgate with data) and fetches what it lacks."""
    from netpeers import DgateProcess, start_server

    from dgate.config import Configuration
    from dgate.convert import virtual
    from dgate.db import open_database
    from dgate.log import Logs
    port_a, port_b = free_port(), free_port()
    for name, other, other_port in (("a", "SRVB", port_b), ("b", "SRVA", port_a)):
        d = tmp_path / name
        d.mkdir()
        start_server(d, start=False, MyACRNema=f"SRV{name.upper()}")
        _amap(d, (other, other_port))
    b = DgateProcess(tmp_path / "b", port_b)
    a = DgateProcess(tmp_path / "a", port_a)
    try:
        sample = tmp_path / "ct.dcm"
        ct().save_as(sample, enforce_file_format=True)
        r = subprocess.run([str(DCMTK / "storescu"), "-aec", "SRVB", "127.0.0.1", str(port_b), str(sample)],
                           capture_output=True, env=dict(os.environ, TCP_NODELAY="1"))
        assert r.returncode == 0, r.stderr
        put_param(tmp_path / "a" / "dicom.ini", "VirtualServerFor0", "SRVB")
        config = Configuration.open(tmp_path / "a")
        from pydicom.dataset import Dataset
        ident = Dataset()
        ident.QueryRetrieveLevel = "STUDY"
        ident.PatientID = ""
        ident.StudyInstanceUID = ""
        db = open_database(config, Logs())
        local = db.find("STUDY", ident)
        assert local == []
        merged = virtual.find("STUDY", ident, config, Logs(), "SRVA", local)
        assert [str(x.StudyInstanceUID) for x in merged] == [str(ct().StudyInstanceUID)]
        ident.QueryRetrieveLevel = "IMAGE"
        ident.StudyInstanceUID = ct().StudyInstanceUID
        moved = virtual.fetch_missing(ident, config, Logs(), "SRVA", db)
        assert moved == 1
        assert db.get_file(str(ct().SOPInstanceUID)) is not None
        assert virtual.fetch_missing(ident, config, Logs(), "SRVA", db) == 0       # cached now
        db.close()
    finally:
        a.stop()
        b.stop()


def test_archive_to_jukebox_and_back(tmp_path):
    from dgate.db import open_database
    from dgate.store.archive import Archiver
    from dgate.store.devices import locate
    from dgate.store.formats import Encoded
    from dgate.store.ingest import Ingest
    cache, juke = tmp_path / "cache", tmp_path / "juke"
    config, logs, sink = folder(tmp_path / "srv", CACHEDevices="1", CACHEDevice0=str(cache) + "/c_%d_%04d",
                                JUKEBOXDevices="1", JUKEBOXDevice0=str(juke) + "/cd%04d")
    db = open_database(config, logs)
    stored = []
    for i, ds in enumerate((ct(), mr())):
        stored.append(Ingest(config, logs).store(Encoded.from_dataset(ds, str(ds.file_meta.TransferSyntaxUID)), db))
    arch = Archiver(db, config.settings, logs)
    assert arch.select_lru("MAG0", 0)
    assert set(arch.patients_on("MAG0.Archiving")) == {str(ct().PatientID), str(mr().PatientID)}
    assert arch.prepare_bunch("JUKEBOX0.7", "MAG0")
    cache_dir = cache / "c_0_0007"
    for item in stored:
        assert not item.path.exists() and (cache_dir / item.relative).is_file()
        found = db.get_file(str(ct().SOPInstanceUID if "ct" in item.relative.lower() or True else ""))
    found = db.get_file(str(ct().SOPInstanceUID))
    assert found is not None and found.device == "JUKEBOX0.7"
    assert locate(config.settings, found.device, found.object_file) == cache_dir / found.object_file
    import shutil
    shutil.copytree(cache_dir, juke / "cd0007")           # "burning"
    assert arch.compare_bunch("JUKEBOX0.7")
    assert arch.delete_bunch("JUKEBOX0.7") and not cache_dir.exists()
    assert locate(config.settings, found.device, found.object_file) == juke / "cd0007" / found.object_file
    assert arch.test_images("JUKEBOX0.7")
    assert arch.move_data("JUKEBOX0.7", "MAG0")
    back = db.get_file(str(ct().SOPInstanceUID))
    assert back is not None and back.device == "MAG0"
    assert locate(config.settings, back.device, back.object_file).read_bytes()[128:132] == b"DICM"
    assert arch.rename("MAG0", "MAG0") and arch.restore_flags()
    db.close()


def test_archival_command_line_option(tmp_path):
    from conftest import run_dgate
    folder(tmp_path)
    quiet = run_dgate(["-au"], tmp_path)               # as 1.5.0e: the console lines need -v
    assert quiet.returncode == 0 and "archival" not in quiet.stdout + quiet.stderr
    r = run_dgate(["-v", "-au"], tmp_path)
    assert r.returncode == 0
    assert "Start archival operation" in r.stdout + r.stderr
    assert "Resetting archive flag on device: MAG0" in r.stdout + r.stderr
    assert run_dgate(["-amMAG0"], tmp_path).returncode == 1
