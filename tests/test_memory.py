"""Memory does not grow with the object or the request (peak RSS = VmHWM of the worker),
and C-MOVE to a ``un`` destination sends Implicit VR Little Endian (as 1.5.0e)."""
import sqlite3

import pydicom
import pytest
import rawdicom as raw
from netpeers import DgateProcess, StoreSCP, dcmtk, free_port, have_dcmtk, start_server
from pydicom.data import get_testdata_file

pytestmark = pytest.mark.skipif(not have_dcmtk(), reason="dcmtk is installed by .ci/run")
CT_FILE = get_testdata_file("CT_small.dcm")
MB = 1024 * 1024


def big_ct(path, megabytes: int, index: int = 0) -> pydicom.Dataset:
    ds = pydicom.dcmread(CT_FILE)
    side = int((megabytes * MB / 2) ** 0.5)
    ds.Rows = ds.Columns = side
    ds.PixelData = bytes(range(256)) * (side * side * 2 // 256) + b"\0" * (side * side * 2 % 256)
    ds.SOPInstanceUID = f"1.2.826.0.1.3680043.9.99.{megabytes}.{index}"
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.9.99.1"
    ds.InstanceNumber = index + 1
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path)
    return ds


def worker_peak(proc) -> float:
    (worker,) = raw.children(proc.proc.pid)
    return raw.vm_hwm_mb(worker)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """A one-worker server holding three 100 MB objects, stored over the network."""
    folder = tmp_path_factory.mktemp("memory")
    files = tmp_path_factory.mktemp("bigfiles")
    proc = start_server(folder, ServerWorkers="1", IncomingCompression="as")
    assert dcmtk("echoscu", "127.0.0.1", str(proc.port)).returncode == 0
    baseline = worker_peak(proc)
    paths = []
    for i in range(3):
        path = files / f"big{i}.dcm"
        big_ct(path, 100, i)
        paths.append(path)
    result = dcmtk("storescu", "127.0.0.1", str(proc.port), *map(str, paths), timeout=300)
    assert result.returncode == 0, result.stderr
    yield proc, baseline, paths
    proc.stop()


def test_storing_large_objects_streams_them_to_disk(archive):
    proc, baseline, paths = archive
    peak = worker_peak(proc)
    assert peak < baseline + 48, (baseline, peak)           # three 100 MB objects, ~+0 held in memory
    assert peak < 1.5 * 100
    rows = sqlite3.connect(proc.folder / "data" / "dbase" / "conquest.db3").execute(
        "SELECT ObjectFile FROM DICOMImages").fetchall()
    assert len(rows) == 3
    stored = pydicom.dcmread(proc.folder / "data" / rows[0][0], stop_before_pixels=True)
    assert stored.Rows == pydicom.dcmread(paths[0], stop_before_pixels=True).Rows


def test_move_and_get_of_large_objects_stream_one_object_at_a_time(archive, tmp_path):
    proc, baseline, paths = archive
    dest_port = free_port()
    received = tmp_path / "moved"
    received.mkdir()
    amap = proc.folder / "acrnema.map"
    amap.write_text(amap.read_text() + f"BIGDEST 127.0.0.1 {dest_port} as\n")
    from conftest import run_dgate
    run_dgate([f"-p{proc.port}", "--read_amap:"], proc.folder)
    with StoreSCP(received, "BIGDEST", port=dest_port):
        study = pydicom.dcmread(paths[0], stop_before_pixels=True).StudyInstanceUID
        move = dcmtk("movescu", "-S", "-aem", "BIGDEST", "-k", "QueryRetrieveLevel=STUDY",
                     "-k", f"StudyInstanceUID={study}", "127.0.0.1", str(proc.port), timeout=300)
        assert move.returncode == 0, move.stderr
        assert len(list(received.iterdir())) == 3
    got = tmp_path / "got"
    got.mkdir()
    result = dcmtk("getscu", "-S", "-od", str(got), "-k", "QueryRetrieveLevel=STUDY",
                   "-k", f"StudyInstanceUID={study}", "127.0.0.1", str(proc.port), timeout=300)
    assert result.returncode == 0, result.stderr
    assert len(list(got.iterdir())) == 3
    peak = worker_peak(proc)
    assert peak < baseline + 48, (baseline, peak)


def test_move_to_un_destination_sends_implicit_little_endian(tmp_path):
    dest_port = free_port()
    received = tmp_path / "received"
    received.mkdir()
    folder = tmp_path / "server"
    folder.mkdir()
    start_server(folder, start=False)
    amap = folder / "acrnema.map"
    amap.write_text(amap.read_text() + f"UNDEST 127.0.0.1 {dest_port} un\nASDEST 127.0.0.1 {dest_port} as\n")
    proc = DgateProcess(folder)
    # storescp accepting both little-endian syntaxes, explicit preferred
    try:
        with StoreSCP(received, "UNDEST", "+xe", port=dest_port):
            files = [get_testdata_file(n) for n in ("CT_small.dcm", "rtplan.dcm")]
            assert dcmtk("storescu", "127.0.0.1", str(proc.port), *files).returncode == 0
            for name in files:
                ds = pydicom.dcmread(name)
                move = dcmtk("movescu", "-S", "-aem", "UNDEST", "-k", "QueryRetrieveLevel=STUDY",
                             "-k", f"StudyInstanceUID={ds.StudyInstanceUID}", "127.0.0.1", str(proc.port))
                assert move.returncode == 0, move.stderr
            got = [pydicom.dcmread(p) for p in received.iterdir()]
            assert len(got) == 2
            for ds in got:
                assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2"
                original = pydicom.dcmread([f for f in files
                                            if pydicom.dcmread(f).SOPInstanceUID == ds.SOPInstanceUID][0])
                assert ds == original or ds.get("PixelData") == original.get("PixelData")
            ct = [d for d in got if "PixelData" in d][0]
            assert ct.pixel_array.tolist() == pydicom.dcmread(files[0]).pixel_array.tolist()
            for p in received.iterdir():
                p.unlink()
            move = dcmtk("movescu", "-S", "-aem", "ASDEST", "-k", "QueryRetrieveLevel=STUDY", "-k",
                         f"StudyInstanceUID={pydicom.dcmread(files[0]).StudyInstanceUID}", "127.0.0.1", str(proc.port))
            assert move.returncode == 0
            (as_is,) = [pydicom.dcmread(p) for p in received.iterdir()]
            assert as_is.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"      # as stored
    finally:
        proc.stop()
