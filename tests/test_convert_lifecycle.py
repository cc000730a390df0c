"""Converters at the life-cycle points outside a DICOM request, in dgate as a user runs it:
RejectedImageConverter0 (store refused by the index), RegenConverter0/RegenFailConverter0
(regeneration), ArchiveConverter0/MoveDeviceConverter0 (archival commands through the
control channel of a running server), and automatic space making (MAGDeviceThreshHold)
(conquest-lua-web.md §1.5/§8.1/§8.7, conquest-storage.md §6.1/§6.3/§6.6)."""
from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

import pydicom
import pytest
from conftest import run_dgate
from convhelpers import ct, mr
from netpeers import DgateProcess, free_port, have_dcmtk, start_server
from pydicom.data import get_testdata_file

from dgate.config.defaults import create_default_config
from dgate.config.ini import put_param

needs_dcmtk = pytest.mark.skipif(not have_dcmtk(), reason="dcmtk not installed")


def db_rows(folder: Path, sql: str) -> list:
    return sqlite3.connect(folder / "data" / "dbase" / "conquest.db3").execute(sql).fetchall()


def _lua(folder: Path, text: str) -> None:
    with open(folder / "dicom.ini", "a") as f:
        f.write(f"\n[lua]\n{text}\n")


def _server(folder: Path, port: int, **params: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    start_server(folder, start=False, MyACRNema="SRVA", **params)


def _assoc(port: int):
    from pynetdicom import AE
    from pynetdicom.sop_class import CTImageStorage, MRImageStorage  # type: ignore[attr-defined]
    ae = AE(ae_title="SENDER")
    ae.add_requested_context(CTImageStorage)
    ae.add_requested_context(MRImageStorage)
    assoc = ae.associate("127.0.0.1", port, ae_title="CONQUESTSRV1")
    assert assoc.is_established
    return assoc


# -- RejectedImageConverter0 ----------------------------------------------------------------------
@pytest.mark.parametrize("line, status", [('set 0010,0020 to "1CT1"; retry', 0x0000),
                                          ("mkdir rejected_seen", 0x0110)])
def test_rejected_image_converter_sees_the_refusal_and_may_retry(tmp_path, line, status):
    """An object whose SOP instance is stored for another patient is refused by the index; the
    RejectedImageConverter0 runs on it: ``retry`` after fixing the patient ID stores it (a
    rewrite), without retry the refusal stands (StorageFailedErrorCode)."""
    port = free_port()
    _server(tmp_path / "a", port, RejectedImageConverter0=line)
    server = DgateProcess(tmp_path / "a", port)
    try:
        assoc = _assoc(port)
        first = ct()
        assert str(first.PatientID) == "1CT1"
        assert assoc.send_c_store(first).Status == 0x0000
        other = ct()
        other.PatientID = "SOMEONE ELSE"
        assert assoc.send_c_store(other).Status == status
        assoc.release()
        out = server.output()
        assert "already stored for patient '1CT1'" in out
        rows = db_rows(tmp_path / "a", "SELECT ImagePat FROM DICOMImages")
        assert rows == [("1CT1",)]
        if status:
            assert (tmp_path / "a" / "rejected_seen").is_dir(), out
        else:
            assert "retried (RejectedImageConverter)" in out and "Rewritten file:" in out, out
    finally:
        server.stop()


# -- RegenConverter0 / RegenFailConverter0 ------------------------------------------------------------
def test_regen_converters_veto_and_see_failures(tmp_path):
    """``dgate -r``: RegenConverter0 ``destroy`` keeps a file out of the index;
    RegenFailConverter0 runs for a file regen cannot read (here: makes a folder by its name)."""
    create_default_config(tmp_path)
    put_param(tmp_path / "dicom.ini", "RegenConverter0", 'ifequal "%V0010,0020","4MR1"; destroy')
    put_param(tmp_path / "dicom.ini", "RegenFailConverter0", "mkdir %f.failed")
    data = tmp_path / "data" / "PAT1"
    data.mkdir(parents=True)
    shutil.copy(get_testdata_file("CT_small.dcm"), data / "ct.dcm")
    shutil.copy(get_testdata_file("MR_small.dcm"), data / "mr.dcm")
    (data / "broken.dcm").write_bytes(b"\0" * 10)
    result = run_dgate(["-v", "-r"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(db_rows(tmp_path, "SELECT ObjectFile FROM DICOMImages")) == [("PAT1/ct.dcm",)], result.stdout
    assert "mr.dcm -SKIPPED by RegenConverter0" in result.stdout
    assert (data / "broken.dcm.failed").is_dir(), result.stdout
    assert not (data / "ct.dcm.failed").exists()


# -- ArchiveConverter0 / MoveDeviceConverter0 through the control channel -------------------------
def _wait(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def _devices(folder: Path) -> dict[str, str]:
    return dict(db_rows(folder, "SELECT ImagePat, DeviceName FROM DICOMImages"))


def test_archival_commands_run_the_archive_and_move_device_converters(tmp_path):
    """``movedatatodevice:MAG1,MAG0`` moves the stored CT to MAG1 (MoveDeviceConverter0 on each,
    %f = its new path); ``selectlruforarchival:0,MAG0`` + ``preparebunchforburning:JUKEBOX0.1,MAG0``
    copy the MR to the cache of CD 1 (ArchiveConverter0 on each), all sent to the running server."""
    port = free_port()
    a = tmp_path / "a"
    _server(a, port, MAGDevices="2", MAGDevice1=str(tmp_path / "mag1") + "/", CACHEDevices="1",
            CACHEDevice0=str(tmp_path / "cache_%d_%04d"), JUKEBOXDevices="1", JUKEBOXDevice0=str(tmp_path / "cd%04d"),
            ArchiveConverter0="mkdir %f.archived", MoveDeviceConverter0="mkdir %f.moved")
    (tmp_path / "mag1").mkdir()
    server = DgateProcess(a, port)
    try:
        assoc = _assoc(port)
        assert assoc.send_c_store(ct()).Status == 0
        assoc.release()
        assert run_dgate([f"-p{port}", "--movedatatodevice:MAG1,MAG0"], a).returncode == 0
        assert _wait(lambda: _devices(a).get("1CT1") == "MAG1"), server.output()
        (ct_file,) = db_rows(a, "SELECT ObjectFile FROM DICOMImages")
        moved = tmp_path / "mag1" / ct_file[0]
        assert moved.is_file() and _wait(lambda: Path(f"{moved}.moved").is_dir()), server.output()
        assoc = _assoc(port)
        assert assoc.send_c_store(mr()).Status == 0
        assoc.release()
        assert run_dgate([f"-p{port}", "--selectlruforarchival:0,MAG0"], a).returncode == 0
        assert _wait(lambda: _devices(a).get("4MR1") == "MAG0.Archiving"), server.output()
        assert run_dgate([f"-p{port}", "--preparebunchforburning:JUKEBOX0.1,MAG0"], a).returncode == 0
        assert _wait(lambda: _devices(a).get("4MR1") == "JUKEBOX0.1"), server.output()
        mr_file = db_rows(a, "SELECT ObjectFile FROM DICOMImages WHERE ImagePat = '4MR1'")[0][0]
        archived = tmp_path / "cache_0_0001" / mr_file
        assert archived.is_file() and _wait(lambda: Path(f"{archived}.archived").is_dir()), server.output()
        assert not Path(f"{archived}.moved").exists() and not Path(f"{moved}.archived").exists()
        assert _devices(a)["1CT1"] == "MAG1"
    finally:
        server.stop()


# -- automatic space making --------------------------------------------------------------------
def test_low_free_space_deletes_lru_patients_but_not_what_an_export_queue_holds(tmp_path):
    """MAGDeviceThreshHold above the free space: each new object starts the LRU cleanup, which
    deletes the oldest patients (their rows and files), but not the MR patient whose objects
    still wait in the ExportConverter0 queue (its destination is down)."""
    port, dead = free_port(), free_port()
    a = tmp_path / "a"
    _server(a, port, MAGDeviceThreshHold=str(10 ** 9), ExportConverters="1", ExportConverter0="forward to DEAD",
            ExportModality0="MR", RetryDelay="1000", FailHoldOff="1000")
    (a / "acrnema.map").write_text(f"DEAD              127.0.0.1 {dead:<10} un\n")
    server = DgateProcess(a, port)
    try:
        first, later = ct(), ct()
        later.PatientID, later.SOPInstanceUID = "LATER", first.SOPInstanceUID + ".7"
        for ds in (first, mr(), later):
            assoc = _assoc(port)
            assert assoc.send_c_store(ds).Status == 0
            assoc.release()
            time.sleep(1.2)              # the device check is redone at most once a second
        files = {p: f for p, f in db_rows(a, "SELECT ImagePat, ObjectFile FROM DICOMImages")}
        assert _wait(lambda: "1CT1" not in _devices(a)), server.output()
        assert "Deleted patient to make space: 1CT1" in server.output()
        assert "4MR1" in _devices(a), server.output()
        assert (a / "data" / files["4MR1"]).is_file()
        if "1CT1" in files:
            assert not (a / "data" / files["1CT1"]).exists()
    finally:
        server.stop()


# -- WorkListMode and RejectedImageWorkListConverter0 -------------------------------------------------
@pytest.mark.parametrize("driver", ["sqlite", "postgres"])
def test_worklist_mode_2_updates_rejects_and_runs_the_rejected_worklist_converter(tmp_path, driver):
    """WorkListMode 2: an object whose AccessionNumber has a worklist row takes the row's
    non-empty values (PatientName); one without a row is refused after the
    RejectedImageWorkListConverter0, which here fixes the AccessionNumber of one of them and
    asks for a retry (stored), and leaves the other refused (0x0110)."""
    extra = {}
    if driver != "sqlite":
        from dbdrivers import ensure_database
        for line in ensure_database(driver).splitlines():
            key, _, value = line.partition("=")
            extra[key.strip()] = value.strip()
    port = free_port()
    a = tmp_path / "a"
    _server(a, port, WorkListMode="2",
            RejectedImageWorkListConverter0='mkdir wl_rejected_seen; ifequal "%V0008,0050","FIXME"; '
                                            '{ set 0008,0050 to "ACC1"; retry }', **extra)
    from dgate.config import Configuration
    from dgate.db import open_database
    from dgate.log import Logs
    db = open_database(Configuration.open(a), Logs())
    p = db.driver.text_param
    db.driver.execute(f"INSERT INTO DICOMWorkList (AccessionN, PatientNam) VALUES ({p}, {p})",
                      ["ACC1", "FROM^WORKLIST"])
    db.close()
    server = DgateProcess(a, port)
    try:
        assoc = _assoc(port)
        matched, fixed, refused = ct(), ct(), ct()
        matched.AccessionNumber, matched.PatientName = "ACC1", "AS^SENT"
        fixed.AccessionNumber, fixed.SOPInstanceUID = "FIXME", matched.SOPInstanceUID + ".2"
        refused.AccessionNumber, refused.SOPInstanceUID = "NONE", matched.SOPInstanceUID + ".3"
        assert assoc.send_c_store(matched).Status == 0
        assert assoc.send_c_store(fixed).Status == 0
        assert assoc.send_c_store(refused).Status == 0x0110
        assoc.release()
        out = server.output()
        assert "no worklist entry for AccessionNumber 'NONE'" in out, out
        assert (a / "wl_rejected_seen").is_dir()
        stored = {}
        for path in (a / "data").rglob("*.dcm"):
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            stored[str(ds.SOPInstanceUID)] = (str(ds.AccessionNumber), str(ds.PatientName))
        assert stored == {matched.SOPInstanceUID: ("ACC1", "FROM^WORKLIST"),
                          fixed.SOPInstanceUID: ("ACC1", "FROM^WORKLIST")}, out
    finally:
        server.stop()


# -- export retries -------------------------------------------------------------------------------
class ErrorSCP:
    """A pynetdicom storage SCP answering every C-STORE with 0xA700 and counting them."""

    def __init__(self, ae_title: str = "ERRDEST", abort: bool = False, status: int = 0xA700):
        from pynetdicom import AE, AllStoragePresentationContexts, evt
        self.count = 0
        ae = AE(ae_title=ae_title)
        ae.supported_contexts = AllStoragePresentationContexts

        def on_store(event):
            self.count += 1
            if abort:                       # the connection breaks in the middle of the C-STORE
                event.assoc.abort()
            return status
        self.port = free_port()
        self.server = ae.start_server(("127.0.0.1", self.port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])

    def stop(self) -> None:
        self.server.shutdown()


@pytest.mark.parametrize("retry", ["0", "1"])
def test_remote_dicom_error_is_retried_only_with_retryforwardremotedicomerror(tmp_path, retry):
    """An ExportConverter0 forward answered with 0xA700: with RetryForwardRemoteDICOMError = 0
    the entry is done after one try; with 1 it is retried (RetryDelay 1 s) until
    MaximumExportRetries (3) gives up; ``queue_status:`` shows it."""
    peer = ErrorSCP()
    port = free_port()
    a = tmp_path / "a"
    _server(a, port, ExportConverters="1", ExportConverter0="forward to ERRDEST", RetryForwardRemoteDICOMError=retry,
            MaximumExportRetries="3", RetryDelay="1", FailHoldOff="1", DelayedForwarderThreads="1")
    (a / "acrnema.map").write_text(f"ERRDEST           127.0.0.1 {peer.port:<10} un\n")
    server = DgateProcess(a, port)
    try:
        assoc = _assoc(port)
        assert assoc.send_c_store(ct()).Status == 0
        assoc.release()
        want = 3 if retry == "1" else 1
        assert _wait(lambda: peer.count >= want, 20), server.output()
        time.sleep(2.5)
        assert peer.count == want, server.output()
        out = server.output()
        assert "Forward failed: remote DICOM error 0xa700" in out
        assert ("giving up on an entry after 3 tries" in out) == (retry == "1"), out
        r = run_dgate([f"-p{port}", "--queue_status:"], a)
        assert "ExportConverter0 queue: 0 queued" in r.stdout, r.stdout + r.stderr
        assert ("1 given up" in r.stdout) == (retry == "1") and ("1 done" in r.stdout) == (retry == "0"), r.stdout
    finally:
        server.stop()
        peer.stop()


@pytest.mark.parametrize("retry", ["0", "1"])
def test_broken_connection_is_retried_only_with_retryforwardfailed(tmp_path, retry):
    """The export destination aborts the association during the C-STORE: retried only with
    RetryForwardFailed = 1 (until MaximumExportRetries = 3 gives up)."""
    peer = ErrorSCP(abort=True)
    port = free_port()
    a = tmp_path / "a"
    _server(a, port, ExportConverters="1", ExportConverter0="forward to ERRDEST", RetryForwardFailed=retry,
            MaximumExportRetries="3", RetryDelay="1", FailHoldOff="1")
    (a / "acrnema.map").write_text(f"ERRDEST           127.0.0.1 {peer.port:<10} un\n")
    server = DgateProcess(a, port)
    try:
        assoc = _assoc(port)
        assert assoc.send_c_store(ct()).Status == 0
        assoc.release()
        want = 3 if retry == "1" else 1
        assert _wait(lambda: peer.count >= want, 20), server.output()
        time.sleep(2.5)
        assert peer.count == want, server.output()
        out = server.output()
        assert "Forward failed to send DICOM image" in out, out
        assert ("giving up on an entry after 3 tries" in out) == (retry == "1"), out
    finally:
        server.stop()
        peer.stop()


# -- server commands through the control channel ------------------------------------------------------
def _images(folder: Path) -> list[tuple]:
    return db_rows(folder, "SELECT ImagePat, SeriesInst, SOPInstanc FROM DICOMImages ORDER BY SOPInstanc")


def test_routing_and_attach_server_commands_of_a_running_dgate(tmp_path, monkeypatch):
    """forward:, export:, submit:, submit2:, prefetch: and the attach commands sent with
    ``dgate --cmd:args`` to a running server (conquest-lua-web.md §6.3/§7). ``submit`` runs
    ``scp`` (here a fake one on PATH that copies), ``submit2`` the given command line."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "scp").write_text('#!/bin/sh\nshift\ncp "$1" "$2"\n')
    (fake / "scp").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:{__import__('os').environ['PATH']}")
    peer = ErrorSCP("OKDEST", status=0)
    port = free_port()
    a = tmp_path / "a"
    _server(a, port)
    (a / "acrnema.map").write_text(f"OKDEST            127.0.0.1 {peer.port:<10} un\n")
    server = DgateProcess(a, port)
    try:
        assoc = _assoc(port)
        assert assoc.send_c_store(ct()).Status == 0
        assoc.release()
        ((ct_pat, ct_series, ct_sop),) = _images(a)
        (ct_file,) = db_rows(a, "SELECT ObjectFile FROM DICOMImages")[0]
        ct_path = str(a / "data" / ct_file)

        def cmd(text: str) -> str:
            r = run_dgate([f"-p{port}", f"--{text}"], a)
            assert r.returncode == 0, r.stdout + r.stderr
            return r.stdout

        cmd(f"forward:{ct_path},un,OKDEST")
        assert _wait(lambda: peer.count == 1), server.output()

        cmd(f"export:{ct_pat},,,,{tmp_path / 'out.zip'}")
        import zipfile
        assert zipfile.ZipFile(tmp_path / "out.zip").namelist() == [Path(ct_file).name]
        cmd(f"submit:{ct_pat},,,,{tmp_path / 'submitted.zip'},secret")
        assert _wait(lambda: (tmp_path / "submitted.zip").is_file()), server.output()
        assert zipfile.ZipFile(tmp_path / "submitted.zip").namelist() == [Path(ct_file).name]
        cmd(f"submit2:{ct_pat},,,,{tmp_path / 'submitted2.zip'},cp %s %s")
        assert _wait(lambda: (tmp_path / "submitted2.zip").is_file()), server.output()

        cmd(f"prefetch:{ct_pat}")
        assert _wait(lambda: f"Prefetched 1 file(s) of patient {ct_pat}" in server.output()), server.output()

        mr_path = tmp_path / "mr.dcm"
        mr().save_as(mr_path, enforce_file_format=True)
        cmd(f"attachanytoseries:{mr_path},{ct_path}")
        cmd(f"attachanytopatient:{mr_path},{ct_path}")
        assert _wait(lambda: len(_images(a)) == 3), server.output()
        rows = _images(a)
        assert all(pat == ct_pat for pat, _, _ in rows)
        assert sum(series == ct_series for _, series, _ in rows) == 2      # the one attached to the series
        assert len({sop for _, _, sop in rows}) == 3 and str(mr().SOPInstanceUID) not in {s for *_, s in rows}
        cmd(f"attachanytostudy:{mr_path},{ct_path}")
        assert _wait(lambda: len(_images(a)) == 4), server.output()
        studies = db_rows(a, "SELECT StudyInsta FROM DICOMSeries")
        ct_study = str(ct().StudyInstanceUID)
        # series: the CT's (holding the series-attached one), the patient-attached one's in a new
        # study, the study-attached one's in the CT study
        assert len(studies) == 3 and sum(st == ct_study for (st,) in studies) == 2, studies

        from pydicom.data import get_testdata_file
        cmd(f"attachrtplantortstruct:{get_testdata_file('rtplan.dcm')},{get_testdata_file('rtstruct.dcm')}")
        struct = pydicom.dcmread(get_testdata_file("rtstruct.dcm"), stop_before_pixels=True, force=True)
        assert _wait(lambda: any(p == str(struct.PatientID) for p, *_ in _images(a))), server.output()
        (plan_file,) = db_rows(a, f"SELECT ObjectFile FROM DICOMImages WHERE ImagePat = '{struct.PatientID}'")[0]
        plan = pydicom.dcmread(a / "data" / plan_file, force=True)
        assert plan.Modality == "RTPLAN" and plan.StudyInstanceUID == struct.StudyInstanceUID
        assert plan.ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID == struct.SOPInstanceUID
    finally:
        server.stop()
        peer.stop()


# -- virtualserver / virtualservermask and 9999,0802 ---------------------------------------------------
def _find_studies(port: int, mask: int | None = None) -> set[str]:
    from pynetdicom import AE
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind  # type: ignore[attr-defined]
    ae = AE(ae_title="FINDER")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    assoc = ae.associate("127.0.0.1", port, ae_title="CONQUESTSRV1")
    assert assoc.is_established
    ident = pydicom.Dataset()
    ident.QueryRetrieveLevel = "STUDY"
    ident.PatientID = ""
    ident.StudyInstanceUID = ""
    if mask is not None:
        ident.add_new(0x99990802, "US", mask)
    found = set()
    for status, answer in assoc.send_c_find(ident, StudyRootQueryRetrieveInformationModelFind):
        if status and status.Status in (0xFF00, 0xFF01) and answer is not None:
            found.add(str(answer.PatientID))
    assoc.release()
    return found


def test_virtualserver_statements_and_the_9999_0802_mask(tmp_path):
    """A answers for B (VirtualServerFor0) and C (VirtualServerFor1). 9999,0802 in the query
    selects which are asked; QueryConverter0 ``virtualserver 1`` ORs bit 1 into it (no mask: only
    C; mask 1: B and C); on A2 ``virtualservermask 1`` replaces it (only B, whatever was asked)."""
    port_a, port_a2, port_b, port_c = free_port(), free_port(), free_port(), free_port()
    amap = f"SRVB              127.0.0.1 {port_b:<10} un\nSRVC              127.0.0.1 {port_c:<10} un\n"
    procs = []
    for name, port, params in (("b", port_b, {}), ("c", port_c, {}),
                               ("a", port_a, dict(QueryConverter0="virtualserver 1")),
                               ("a2", port_a2, dict(QueryConverter0="virtualservermask 1"))):
        _server(tmp_path / name, port, VirtualServerFor0="SRVB" if name.startswith("a") else "",
                VirtualServerFor1="SRVC" if name.startswith("a") else "", **params)
        (tmp_path / name / "acrnema.map").write_text(amap)
    try:
        for name, port in (("b", port_b), ("c", port_c), ("a", port_a), ("a2", port_a2)):
            procs.append(DgateProcess(tmp_path / name, port))
        for port, ds in ((port_b, ct()), (port_c, mr())):
            assoc = _assoc(port)
            assert assoc.send_c_store(ds).Status == 0
            assoc.release()
        assert _find_studies(port_b) == {"1CT1"} and _find_studies(port_c) == {"4MR1"}
        assert _find_studies(port_a) == {"4MR1"}, procs[2].output()
        assert _find_studies(port_a, mask=1) == {"1CT1", "4MR1"}, procs[2].output()
        assert _find_studies(port_a2) == {"1CT1"}, procs[3].output()
        assert _find_studies(port_a2, mask=2) == {"1CT1"}, procs[3].output()
    finally:
        for proc in procs:
            proc.stop()


def test_incoming_file_given_up_on_runs_the_rejected_image_converter(tmp_path):
    """A file in <MAG0>/incoming that can never be added (a malformed HL7 file is given up on
    at once) runs ``[lua] RejectedImageConverter0`` with ``Filename`` set, and is set aside."""
    port = free_port()
    a = tmp_path / "a"
    _server(a, port)
    _lua(a, "RejectedImageConverter0 = local f = io.open('rejected.txt', 'a'); "
            "f:write(Filename .. '\\n'); f:close()")
    (a / "data" / "incoming").mkdir(parents=True, exist_ok=True)
    server = DgateProcess(a, port)
    try:
        bad = a / "data" / "incoming" / "bad.hl7"
        bad.write_text("this is not HL7\r")
        out = a / "rejected.txt"
        assert _wait(lambda: out.exists() and "bad.hl7" in out.read_text()), server.output()
        assert (a / "data" / "printer_files" / "rejected" / "bad.hl7").is_file()
    finally:
        server.stop()


@pytest.mark.parametrize("threads", ["1", "2"])
def test_delayedforwarderthreads_runs_export_entries_side_by_side(tmp_path, threads):
    """DelayedForwarderThreads worker threads per export queue: with 2 the ExportConverter0 runs
    of different objects overlap in time, with 1 never (each run notes start and end)."""
    port = free_port()
    a = tmp_path / "a"
    _server(a, port, ExportConverters="1", ExportConverter0="system sh ./slow.sh", DelayedForwarderThreads=threads)
    (a / "slow.sh").write_text('echo "$(date +%s.%N) S" >> runs.txt; sleep 0.8; echo "$(date +%s.%N) E" >> runs.txt\n')
    server = DgateProcess(a, port)
    try:
        assoc = _assoc(port)
        base = ct()
        for i in range(4):
            ds = ct()
            ds.SOPInstanceUID = f"{base.SOPInstanceUID}.{i + 1}"
            assert assoc.send_c_store(ds).Status == 0
        assoc.release()
        runs = a / "runs.txt"
        assert _wait(lambda: runs.exists() and runs.read_text().count(" E") == 4, 30), server.output()
        events = sorted((float(t), kind) for t, kind in (line.split() for line in runs.read_text().splitlines()))
        busy, most = 0, 0
        for _t, kind in events:
            busy += 1 if kind == "S" else -1
            most = max(most, busy)
        assert most == int(threads), events
    finally:
        server.stop()


def test_no_room_on_any_mag_waits_for_the_cleanup_before_answering(tmp_path):
    """With no MAG device above MAGDeviceFullThreshHold (raised with ``put_param:`` in the
    running server) a store waits for the LRU cleanup: the older patient is gone when the
    answer comes. Here the disk stays "full", so the answer is still out of resources (0xA700)."""
    port = free_port()
    a = tmp_path / "a"
    _server(a, port)
    server = DgateProcess(a, port)
    try:
        assoc = _assoc(port)
        assert assoc.send_c_store(ct()).Status == 0
        assoc.release()
        assert "1CT1" in _devices(a)
        for key in ("MAGDeviceFullThreshHold", "MAGDeviceThreshHold"):
            assert run_dgate([f"-p{port}", f"--put_param:{key},{10 ** 9}"], a).returncode == 0
        time.sleep(1.2)                   # the device check is redone at most once a second
        assoc = _assoc(port)
        assert assoc.send_c_store(mr()).Status == 0xA700
        assoc.release()
        assert "1CT1" not in _devices(a), server.output()
        assert "Deleted patient to make space: 1CT1" in server.output()
        assert "*** Out of disk space" in server.output()
    finally:
        server.stop()
