"""Server databases: -e, a database that goes down and comes back, two dgate servers
sharing one database and one storage folder (issue: drivers)."""
import os
import socket
import sqlite3
import threading
import time

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from dgate.config.defaults import create_default_config
from dgate.config.ini import put_param

from conftest import run_dgate
from dbdrivers import ensure_database
from netpeers import DgateProcess, dcmtk, free_port, have_dcmtk

SERVER_DRIVERS = ["postgres", "mysql"]


def configure(folder, driver, **overrides):
    create_default_config(folder)
    for line in ensure_database(driver).splitlines():
        key, _, value = line.partition("=")
        put_param(folder / "dicom.ini", key.strip(), value.strip())
    for key, value in overrides.items():
        put_param(folder / "dicom.ini", key, value)


class Forwarder:
    """A TCP relay to a database server that can be taken down and brought back."""

    def __init__(self, target_port: int):
        self.target = target_port
        self.port = free_port()
        self.listener = None
        self.links = []
        self.up()

    def up(self):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(16)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def down(self):
        try:
            self.listener.shutdown(socket.SHUT_RDWR)   # wakes the blocked accept() on Linux
        except OSError:
            pass
        self.listener.close()
        for s in self.links:
            try:
                s.close()
            except OSError:
                pass
        self.links.clear()

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self.links += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass


@pytest.mark.parametrize("driver", SERVER_DRIVERS)
def test_dgate_i_r_and_o_on_server_databases(tmp_path, driver):
    configure(tmp_path, driver)
    assert run_dgate(["-i"], tmp_path).returncode == 0
    test = run_dgate(["-v", "-o"], tmp_path)
    assert test.returncode == 0 and test.stdout.endswith("Succesful end of test -----------\n")
    result = run_dgate(["-v", "-d"], tmp_path)
    assert result.returncode == 0


@pytest.mark.parametrize("driver", SERVER_DRIVERS)
def test_wrong_credentials_are_a_clear_error(tmp_path, driver):
    configure(tmp_path, driver, Username="nobody_here", Password="wrong")
    result = run_dgate(["-i"], tmp_path)
    assert result.returncode == 1
    assert "Failed to connect" in result.stderr and "nobody_here" in result.stderr


def test_make_database_step(tmp_path):
    configure(tmp_path, "postgres")
    result = run_dgate(["-e", "dgate_made_db", "dgate_user", "secret"], tmp_path)
    assert result.returncode == 0 and "succesfully created database" in result.stdout
    put_param(tmp_path / "dicom.ini", "SQLServer", "dgate_made_db")
    put_param(tmp_path / "dicom.ini", "Username", "dgate_user")
    put_param(tmp_path / "dicom.ini", "Password", "secret")
    assert run_dgate(["-i"], tmp_path).returncode == 0
    bad = run_dgate(["-e", "bad;name", "u", "p"], tmp_path)
    assert bad.returncode == 0 and "must be letters" in bad.stdout


@pytest.mark.skipif(not have_dcmtk(), reason="dcmtk is installed by .ci/run")
@pytest.mark.parametrize("driver", SERVER_DRIVERS)
def test_database_down_and_back(tmp_path, driver):
    target = 5432 if driver == "postgres" else 3306
    relay = Forwarder(target)
    configure(tmp_path, driver, SQLHost=f"127.0.0.1:{relay.port}")
    assert run_dgate(["-i"], tmp_path).returncode == 0
    proc = DgateProcess(tmp_path)
    try:
        relay.down()
        failed = dcmtk("storescu", "-v", "127.0.0.1", str(proc.port), get_testdata_file("CT_small.dcm"))
        assert "Status: 0x110" in failed.stdout + failed.stderr           # StorageFailedErrorCode 272
        assert not list((tmp_path / "data").rglob("*.dcm"))          # nothing written without an index
        relay.up()
        ok = dcmtk("storescu", "127.0.0.1", str(proc.port), get_testdata_file("CT_small.dcm"))
        assert ok.returncode == 0, ok.stderr
        assert proc.proc.poll() is None
        assert len(list((tmp_path / "data").rglob("*.dcm"))) == 1
        assert "Error saving to SQL" in proc.output() or "Failed to connect" in proc.output()
    finally:
        proc.stop()
        relay.down()


@pytest.mark.skipif(not have_dcmtk(), reason="dcmtk is installed by .ci/run")
@pytest.mark.parametrize("driver", SERVER_DRIVERS)
def test_two_servers_share_one_database_and_folder(tmp_path, driver):
    shared = tmp_path / "shared"
    shared.mkdir()
    head1, head2 = tmp_path / "head1", tmp_path / "head2"
    for head in (head1, head2):
        head.mkdir()
        configure(head, driver, MAGDevice0=f"{shared}/")
    assert run_dgate(["-i"], head1).returncode == 0
    files = tmp_path / "objects"
    files.mkdir()
    src = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    for i in range(20):
        src.SOPInstanceUID = generate_uid()
        src.InstanceNumber = i + 1
        src.save_as(files / f"{i:02d}.dcm")
    one, two = DgateProcess(head1), DgateProcess(head2)
    try:
        names = sorted(os.listdir(files))
        results = []
        threads = [threading.Thread(target=lambda p, part: results.append(dcmtk(
            "storescu", "127.0.0.1", str(p.port), *[str(files / n) for n in part])), args=(srv, names[i::2]))
            for i, srv in enumerate((one, two))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
        for srv in (one, two):
            find = dcmtk("findscu", "-S", "-k", "QueryRetrieveLevel=IMAGE", "-k", f"StudyInstanceUID={src.StudyInstanceUID}",
                         "-k", "SOPInstanceUID", "127.0.0.1", str(srv.port))
            assert find.stderr.count("Find Response:") == 20, find.stderr[-500:]
        assert len(list(shared.rglob("*.dcm"))) == 20
    finally:
        one.stop()
        two.stop()
