"""The DICOM server against real peers: dcmtk tools and pynetdicom (conquest-storage.md §5–§6)."""
import re
import sqlite3
import time
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pynetdicom import AE, build_context
from pynetdicom.sop_class import (CTImageStorage, PatientRootQueryRetrieveInformationModelFind,
                                  StudyRootQueryRetrieveInformationModelFind, Verification)

from dgate.config.defaults import create_default_config
from dgate.config.ini import put_param

from conftest import run_dgate
from netpeers import DgateProcess, StoreSCP, dcmtk, free_port, have_dcmtk, start_server

pytestmark = pytest.mark.skipif(not have_dcmtk(), reason="dcmtk is installed by .ci/run")

FILES = ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "rtstruct.dcm", "rtdose.dcm", "examples_rgb_color.dcm"]
COMPRESSED = ["JPEG2000.dcm", "SC_rgb_jpeg_dcmtk.dcm", "MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm"]


def paths(names):
    return [get_testdata_file(n) for n in names]


@pytest.fixture
def server(tmp_path):
    proc = start_server(tmp_path)
    yield proc
    proc.stop()


def db_rows(folder, sql):
    return sqlite3.connect(folder / "data" / "dbase" / "conquest.db3").execute(sql).fetchall()


def test_echo_and_log_lines(server):
    result = dcmtk("echoscu", "-aet", "MYSCU", "-aec", "CONQUESTSRV1", "127.0.0.1", str(server.port))
    assert result.returncode == 0, result.stderr
    time.sleep(0.3)
    out = server.output()
    assert "DGATE (1.5.0e, build" in out and "is running as threaded server" in out
    assert "Database type: built-in SQLite driver" in out
    assert re.search(r"UPACS THREAD \d+: STARTED AT: \w{3} \w{3}", out)
    assert '\tCalling Application Title : "MYSCU           "' in out
    assert '\tPresentation Context 0 "1.2.840.10008.1.1" 1' in out
    assert "C-Echo" in out and "TOTAL RUNNING TIME" in out


def test_store_find_with_dcmtk(server):
    result = dcmtk("storescu", "-aec", "CONQUESTSRV1", "127.0.0.1", str(server.port), *paths(FILES))
    assert result.returncode == 0, result.stderr
    images = db_rows(server.folder, "SELECT SOPInstanc, ObjectFile, DeviceName FROM DICOMImages")
    assert len(images) == len(FILES)
    for sop, obj, dev in images:
        stored = pydicom.dcmread(server.folder / "data" / obj)
        assert stored.SOPInstanceUID == sop and dev == "MAG0"
        assert stored.file_meta.ImplementationClassUID == "1.2.826.0.1.3680043.2.135.1066.101"
    original = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ct_file = [o for s, o, d in images if s == original.SOPInstanceUID][0]
    assert ct_file.startswith("1CT1/") and ct_file.endswith(".dcm")
    assert pydicom.dcmread(server.folder / "data" / ct_file).pixel_array.tolist() == original.pixel_array.tolist()
    assert "Written file:" in server.output()

    find = dcmtk("findscu", "-S", "-aec", "CONQUESTSRV1", "-k", "QueryRetrieveLevel=STUDY", "-k", "PatientName=",
                 "-k", "StudyInstanceUID=", "-k", "ModalitiesInStudy=CT", "-k", "NumberOfStudyRelatedInstances=",
                 "127.0.0.1", str(server.port))
    assert find.returncode == 0
    assert "CompressedSamples^CT1" in find.stderr
    assert find.stderr.count("Find Response:") == 1
    user_log = (server.folder / "PacsUser.log").read_text()
    assert '"C-Store","STORESCU        "' in user_log


def test_store_compressed_with_pynetdicom_and_decompress_on_ingest(server):
    ae = AE("PYSCU")
    datasets = [pydicom.dcmread(p) for p in paths(COMPRESSED)]
    for ds in datasets:
        ae.add_requested_context(ds.SOPClassUID, [ds.file_meta.TransferSyntaxUID])
    assoc = ae.associate("127.0.0.1", server.port, ae_title="CONQUESTSRV1")
    assert assoc.is_established
    for ds in datasets:
        status = assoc.send_c_store(ds)
        assert status.Status == 0, ds.filename
    assoc.release()
    rows = dict(db_rows(server.folder, "SELECT SOPInstanc, ObjectFile FROM DICOMImages"))
    for ds in datasets:
        stored = pydicom.dcmread(server.folder / "data" / rows[ds.SOPInstanceUID])
        assert stored.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"     # IncomingCompression = un
        assert stored.pixel_array.tolist() == ds.pixel_array.tolist()


def _store_j2k(port: int) -> Dataset:
    """C-STORE pydicom's JPEG2000.dcm in its own transfer syntax (pynetdicom); returns it."""
    ds = pydicom.dcmread(get_testdata_file("JPEG2000.dcm"))
    ae = AE("PYSCU")
    ae.add_requested_context(ds.SOPClassUID, [ds.file_meta.TransferSyntaxUID])
    assoc = ae.associate("127.0.0.1", port)
    assert assoc.send_c_store(ds).Status == 0
    assoc.release()
    return ds


def test_store_as_is_keeps_compressed_bytes(tmp_path):
    proc = start_server(tmp_path, IncomingCompression="as")
    try:
        ds = _store_j2k(proc.port)
        (obj,) = db_rows(tmp_path, "SELECT ObjectFile FROM DICOMImages")[0]
        stored = pydicom.dcmread(tmp_path / "data" / obj)
        assert stored.file_meta.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID
        assert stored.PixelData == ds.PixelData
    finally:
        proc.stop()


def test_v2_storage_and_regen(tmp_path):
    proc = start_server(tmp_path, FileNameSyntax="3")
    try:
        assert dcmtk("storescu", "127.0.0.1", str(proc.port), *paths(["CT_small.dcm"])).returncode == 0
    finally:
        proc.stop()
    (obj,) = db_rows(tmp_path, "SELECT ObjectFile FROM DICOMImages")[0]
    assert obj.endswith(".v2")
    raw = (tmp_path / "data" / obj).read_bytes()
    assert raw[128:132] != b"DICM"
    assert raw[:26] == b"\x02\x00\x10\x00\x12\x00\x00\x001.2.840.10008.1.2\x00"   # inline 0002,0010, as 1.5.0e
    assert raw[26:30] in (b"\x08\x00\x05\x00", b"\x08\x00\x08\x00")      # then the data set, implicit LE
    result = run_dgate(["-r"], tmp_path)
    assert "1 files entered" in result.stdout
    original = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    back = pydicom.dcmread(tmp_path / "data" / obj, force=True)
    back.file_meta = pydicom.dataset.FileMetaDataset()
    back.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2"
    assert back.pixel_array.tolist() == original.pixel_array.tolist()


def test_find_levels_with_pynetdicom(server):
    dcmtk("storescu", "127.0.0.1", str(server.port), *paths(FILES))
    ae = AE("PYSCU")
    ae.add_requested_context(PatientRootQueryRetrieveInformationModelFind)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    assoc = ae.associate("127.0.0.1", server.port)

    def find(model, **keys):
        q = Dataset()
        for k, v in keys.items():
            setattr(q, k, v)
        return [ds for status, ds in assoc.send_c_find(q, model) if status and status.Status == 0xFF00]

    patients = find(PatientRootQueryRetrieveInformationModelFind, QueryRetrieveLevel="PATIENT", PatientID="")
    assert len(patients) == len({pydicom.dcmread(p, force=True).PatientID for p in paths(FILES)})
    assert all(p.QueryRetrieveLevel == "PATIENT" for p in patients)
    images = find(StudyRootQueryRetrieveInformationModelFind, QueryRetrieveLevel="IMAGE", SOPInstanceUID="",
                  PatientID="1CT1")
    assert len(images) == 1
    bad = list(assoc.send_c_find(_q(QueryRetrieveLevel="PATIENT", PatientID=""),
                                 StudyRootQueryRetrieveInformationModelFind))
    assert bad[0][0].Status == 0xA900
    assoc.release()


def _q(**keys):
    q = Dataset()
    for k, v in keys.items():
        setattr(q, k, v)
    return q


def test_move_to_dcmtk_storescp_and_get(server, tmp_path):
    dcmtk("storescu", "127.0.0.1", str(server.port), *paths(FILES))
    dest_port = free_port()
    dest_dir = tmp_path / "received"
    dest_dir.mkdir()
    amap = server.folder / "acrnema.map"
    # before the shipped 'S*' wildcard row, which would otherwise match first (file order)
    amap.write_text(amap.read_text().replace("CONQUESTSRV1", f"STORESCP  127.0.0.1  {dest_port}  un\nCONQUESTSRV1", 1))
    with StoreSCP(dest_dir, "STORESCP", port=dest_port):
        study = pydicom.dcmread(get_testdata_file("CT_small.dcm")).StudyInstanceUID
        move = dcmtk("movescu", "-S", "-aec", "CONQUESTSRV1", "-aem", "STORESCP", "-k", "QueryRetrieveLevel=STUDY",
                     "-k", f"StudyInstanceUID={study}", "127.0.0.1", str(server.port))
        assert move.returncode == 0, move.stderr
        received = list(dest_dir.iterdir())
        assert len(received) == 1
        assert pydicom.dcmread(received[0]).StudyInstanceUID == study
        unknown = dcmtk("movescu", "-S", "-aem", "NOBODY", "-k", "QueryRetrieveLevel=STUDY",
                        "-k", f"StudyInstanceUID={study}", "127.0.0.1", str(server.port))
        assert "MoveDestinationUnknown" in unknown.stderr
    out = server.output()
    assert '\tC-Move Destination: "STORESCP"' in out and "C-Move (StudyRoot)" in out

    get_dir = tmp_path / "got"
    get_dir.mkdir()
    series = pydicom.dcmread(get_testdata_file("MR_small.dcm")).SeriesInstanceUID
    got = dcmtk("getscu", "-S", "-od", str(get_dir), "-k", "QueryRetrieveLevel=SERIES",
                "-k", f"SeriesInstanceUID={series}", "127.0.0.1", str(server.port))
    assert got.returncode == 0, got.stderr
    assert len(list(get_dir.iterdir())) == 1


def test_parallel_associations(server):
    import threading
    errors = []

    def send(name):
        r = dcmtk("storescu", "127.0.0.1", str(server.port), get_testdata_file(name))
        if r.returncode:
            errors.append(r.stderr)

    threads = [threading.Thread(target=send, args=(n,)) for n in FILES]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(db_rows(server.folder, "SELECT * FROM DICOMImages")) == len(FILES)


def test_refused_context_names_the_line_to_add(server):
    lst = server.folder / "dgatesop.lst"
    lst.write_text("\n".join(l for l in lst.read_text().splitlines() if "1.2.840.10008.5.1.4.1.1.2 " not in l) + "\n")
    time.sleep(1.1)
    result = dcmtk("storescu", "127.0.0.1", str(server.port), get_testdata_file("CT_small.dcm"))
    assert result.returncode != 0
    time.sleep(0.3)
    assert "*** Presentation context refused: 1.2.840.10008.5.1.4.1.1.2 (CTImageStorage) is not in dgatesop.lst" \
        in server.output()
    assert "CTImageStorage                             1.2.840.10008.5.1.4.1.1.2                    sop" \
        in server.output()


def test_remote_ae_filter(server):
    lst = server.folder / "dgatesop.lst"
    lst.write_text(lst.read_text() + "Allowed GOODSCU RemoteAE\n")
    time.sleep(1.1)
    assert dcmtk("echoscu", "-aet", "GOODSCU", "127.0.0.1", str(server.port)).returncode == 0
    bad = dcmtk("echoscu", "-aet", "BADSCU", "127.0.0.1", str(server.port))
    assert bad.returncode != 0 and "Rejected" in bad.stderr


def test_garbage_does_not_hurt_the_server(server):
    import socket
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(b"\x01\x00\x00\x00\x00\x10GARBAGE-NOT-A-PDU" * 10)
        s.settimeout(5)
        try:
            s.recv(100)
        except OSError:
            pass
    assert dcmtk("echoscu", "127.0.0.1", str(server.port)).returncode == 0


def test_failed_store_returns_error_status_and_writes_nothing(server):
    assert dcmtk("storescu", "127.0.0.1", str(server.port), get_testdata_file("CT_small.dcm")).returncode == 0
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientID = "SOMEONEELSE"
    ds.SOPInstanceUID = ds.SOPInstanceUID + ".9"
    ae = AE("PYSCU")
    ae.add_requested_context(CTImageStorage, [ds.file_meta.TransferSyntaxUID])
    assoc = ae.associate("127.0.0.1", server.port)
    status = assoc.send_c_store(ds)
    assoc.release()
    assert status.Status == 272
    files = [p for p in (server.folder / "data").rglob("*.dcm")]
    assert len(files) == 1
    assert "***Refused to enter inconsistent link PatientID into DICOMStudies" in server.output()


def test_incoming_folder_and_fa(tmp_path):
    import shutil
    create_default_config(tmp_path)
    run_dgate(["-i"], tmp_path)
    incoming = tmp_path / "data" / "incoming"
    (incoming / "sub").mkdir(parents=True)
    proc = DgateProcess(tmp_path)
    try:
        assert "Monitoring for files in:" in proc.output()
        shutil.copy(get_testdata_file("CT_small.dcm"), incoming / "sub" / "a.dcm")
        shutil.copy(get_testdata_file("MR_small.dcm"), incoming / "b.dcm.partial")
        (incoming / "._junk").write_text("x")
        deadline = time.time() + 15
        while time.time() < deadline and (incoming / "sub").exists():
            time.sleep(0.2)
        assert not (incoming / "sub").exists() and not (incoming / "._junk").exists()
        assert (incoming / "b.dcm.partial").exists()
        assert len(db_rows(tmp_path, "SELECT * FROM DICOMImages")) == 1
        assert "Added file:" in proc.output()
    finally:
        proc.stop()
    result = run_dgate(["-v", f"-fa{get_testdata_file('MR_small.dcm')},NEWPAT"], tmp_path)
    assert result.returncode == 0, result.stdout
    assert db_rows(tmp_path, "SELECT ImagePat FROM DICOMImages WHERE ImagePat = 'NEWPAT'") == [("NEWPAT",)]
    assert db_rows(tmp_path, "SELECT count(*) FROM UIDMODS") == [(3,)]


def test_scu_helpers_against_our_own_server(server, tmp_path):
    from dgate.config.acrnema import Address
    from dgate.net import scu

    peer = Address("CONQUESTSRV1", "127.0.0.1", server.port, "un")
    assert scu.echo("TESTSCU", peer)
    assert not scu.echo("TESTSCU", Address("X", "127.0.0.1", free_port(), "un"))
    datasets = [pydicom.dcmread(get_testdata_file(n)) for n in ("CT_small.dcm", "JPEG2000.dcm")]
    assert scu.store("TESTSCU", peer, datasets) == [0, 0]
    found = scu.find("TESTSCU", peer, _q(QueryRetrieveLevel="STUDY", StudyInstanceUID="", PatientID=""))
    assert len(found) == 2
    received = []

    def on_store(event):
        received.append(event.dataset.SOPInstanceUID)
        return 0

    study = datasets[0].StudyInstanceUID
    result = scu.get("TESTSCU", peer, _q(QueryRetrieveLevel="STUDY", StudyInstanceUID=study),
                     [datasets[0].SOPClassUID], on_store)
    assert result.ok and received == [datasets[0].SOPInstanceUID]


def test_worklist_and_nki_move(server, tmp_path):
    from dgate.config.acrnema import Address
    from dgate.net import scu

    conn = sqlite3.connect(server.folder / "data" / "dbase" / "conquest.db3")
    conn.execute("INSERT INTO DICOMWorkList (AccessionN, PatientID, PatientNam, Modality, StartDate) "
                 "VALUES ('A1', 'P1', 'Zijp^Lambert', 'CT', '20050601')")
    conn.commit()
    conn.close()
    peer = Address("CONQUESTSRV1", "127.0.0.1", server.port, "un")
    sps = Dataset()
    sps.Modality = "CT"
    sps.ScheduledProcedureStepStartDate = ""
    q = _q(PatientName="Zijp*", AccessionNumber="")
    q.ScheduledProcedureStepSequence = [sps]
    found = scu.find("TESTSCU", peer, q, model="worklist")
    assert len(found) == 1 and found[0].AccessionNumber == "A1"
    assert found[0].ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate == "20050601"
    assert "C-Find (Modality Work List) located 1 records" in server.output()

    # NKI private C-MOVE (study root) to a pynetdicom storage SCP
    from pynetdicom import AE as PyAE, evt as pyevt, build_context as bc
    from pynetdicom.sop_class import CTImageStorage as CT
    dcmtk("storescu", "127.0.0.1", str(server.port), get_testdata_file("CT_small.dcm"))
    dest_port = free_port()
    got = []
    dest = PyAE("NKIDEST")
    dest.add_supported_context(CT, ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"])
    scp = dest.start_server(("127.0.0.1", dest_port), block=False,
                            evt_handlers=[(pyevt.EVT_C_STORE, lambda e: got.append(e.dataset.SOPInstanceUID) or 0)])
    amap = server.folder / "acrnema.map"
    amap.write_text(amap.read_text().replace("CONQUESTSRV1", f"NKIDEST 127.0.0.1 {dest_port} un\nCONQUESTSRV1", 1))
    try:
        ae = PyAE("MOVER")
        nki = "1.2.826.0.1.3680043.2.135.1066.5.1.4.1.2.2.2"
        ae.add_requested_context(nki)
        assoc = ae.associate("127.0.0.1", server.port)
        assert assoc.is_established
        ident = _q(QueryRetrieveLevel="STUDY", StudyInstanceUID=pydicom.dcmread(get_testdata_file("CT_small.dcm")).StudyInstanceUID)
        statuses = [s.Status for s, _ in assoc.send_c_move(ident, "NKIDEST", nki) if s]
        assoc.release()
        assert statuses[-1] == 0 and len(got) == 1
    finally:
        scp.shutdown()


def test_mirror_device_gets_a_copy(tmp_path):
    mirror = tmp_path / "mirror"
    proc = start_server(tmp_path, MIRRORDevices="1", MIRRORDevice0=f"{mirror}/")
    try:
        assert dcmtk("storescu", "127.0.0.1", str(proc.port), get_testdata_file("CT_small.dcm")).returncode == 0
        (obj,) = db_rows(tmp_path, "SELECT ObjectFile FROM DICOMImages")[0]
        deadline = time.time() + 10
        while time.time() < deadline and not (mirror / obj).exists():
            time.sleep(0.1)
        assert (mirror / obj).read_bytes() == (tmp_path / "data" / obj).read_bytes()
        # reads fall back to the mirror when the MAG copy is gone
        (tmp_path / "data" / obj).unlink()
        result = run_dgate([f"-p{proc.port}", f"--count_frames:1CT1|{pydicom.dcmread(get_testdata_file('CT_small.dcm')).SOPInstanceUID}"], tmp_path)
        assert result.stdout == "0"
    finally:
        proc.stop()


def test_move_as_is_falls_back_to_uncompressed(tmp_path):
    start_server(tmp_path, start=False, IncomingCompression="as")
    dest_port = free_port()
    amap = tmp_path / "acrnema.map"
    amap.write_text(amap.read_text().replace("CONQUESTSRV1", f"PLAINSCP 127.0.0.1 {dest_port} as\nCONQUESTSRV1", 1))
    proc = DgateProcess(tmp_path)
    received = tmp_path / "plain"
    received.mkdir()
    try:
        with StoreSCP(received, "PLAINSCP", port=dest_port):      # accepts uncompressed syntaxes only
            ds = _store_j2k(proc.port)
            move = dcmtk("movescu", "-S", "-aem", "PLAINSCP", "-k", "QueryRetrieveLevel=STUDY",
                         "-k", f"StudyInstanceUID={ds.StudyInstanceUID}", "127.0.0.1", str(proc.port))
            assert move.returncode == 0, move.stderr
            (got,) = list(received.iterdir())
            back = pydicom.dcmread(got)
            assert back.file_meta.TransferSyntaxUID in ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2")
            assert back.pixel_array.tolist() == ds.pixel_array.tolist()
            assert back.SOPInstanceUID == ds.SOPInstanceUID
    finally:
        proc.stop()
