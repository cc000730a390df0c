"""Print, storage commitment, MPPS, worklist and HL7 feeds against a running dgate (issue 16),
on SQLite and PostgreSQL: dcmtk's dcmprscu and findscu -W, pynetdicom SCUs and SCPs, an MLLP
client, files dropped in the incoming folder and given to addimagefile."""
from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
import pytest
from conftest import run_dgate
from dbdrivers import ensure_database
from netpeers import DgateProcess, dcmtk, free_port, have_dcmtk, wait_for_port
from nhelpers import mpps_create, status_set
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid
from pynetdicom import AE, build_role, evt
from pynetdicom.sop_class import ModalityWorklistInformationFind, Verification

from dgate.config.acrnema import Address
from dgate.config.defaults import create_default_config
from dgate.config.ini import put_param
from dgate.hl7 import mllp
from dgate.net.print_scu import PrintFailed, dicomprint
from dgate.services.commitment import action_dataset
from dgate.services.commitment_scu import request_commitment

AE_TITLE = "CONQUESTSRV1"
COMMIT, COMMIT_INSTANCE = "1.2.840.10008.1.20.1", "1.2.840.10008.1.20.1.1"
MPPS, MPPS_RETRIEVE = "1.2.840.10008.3.1.2.3.3", "1.2.840.10008.3.1.2.3.5"
GRAY_META, FILM_SESSION, FILM_BOX = "1.2.840.10008.5.1.1.9", "1.2.840.10008.5.1.1.1", "1.2.840.10008.5.1.1.2"
GRAY_IMAGE_BOX = "1.2.840.10008.5.1.1.4"
CT = "1.2.840.10008.5.1.4.1.1.2"
PATIENT = "NS1"
BROKEN = "MSH|^^|HIS|H|D|D|2024||ORM^O01|BAD1|P|2.3|\rPID|1||x|Q\r"     # separators not distinct


@dataclass
class Site:
    folder: Path
    proc: DgateProcess
    port: int
    requester_port: int
    archive_port: int
    hl7_port: int
    driver: str
    images: list[tuple[str, str]] = field(default_factory=list)

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def log_since(self, mark: int) -> str:
        return self.proc.output()[mark:]

    def mark(self) -> int:
        return len(self.proc.output())

    def wait_log(self, text: str, mark: int = 0, timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.log_since(mark)
            if text in out:
                return out
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not in the server log:\n{self.log_since(mark)[-3000:]}")


def order(acc: str, patid: str, name: str = "Order^Pat", modality: str = "CT") -> str:
    return (f"MSH|^~\\&|HIS|H|DGATE|D|20240101120000||ORM^O01|{acc}|P|2.3|\r"
            f"PID|1||x|{patid}|{name}||19700101|F|\r"
            f"OBR|1||{acc}|55^CT HEAD|||20240102083000|||||||||Dr^Who|||||{modality}|\r")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def site(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"nserv-{request.param}")
    create_default_config(folder)
    ini = folder / "dicom.ini"
    if request.param != "sqlite":
        for line in ensure_database(request.param).splitlines():
            key, _, value = line.partition("=")
            put_param(ini, key.strip(), value.strip())
    port, requester, archive, hl7_port = free_port(), free_port(), free_port(), free_port()
    for key, value in {"WebPort": "0", "HL7Port": str(hl7_port), "PrintMaxFilmBoxes": "2",
                       "ServerWorkers": "2"}.items():
        put_param(ini, key, value)
    with open(folder / "acrnema.map", "a") as amap:
        amap.write(f"MODALITY   127.0.0.1 {requester} un\nARCHIVE    127.0.0.1 {archive} un\n"
                   f"SELF       127.0.0.1 {port} un\n")
    (folder / "data" / "incoming").mkdir(parents=True)
    assert run_dgate(["-i"], folder).returncode == 0
    proc = DgateProcess(folder, port)
    s = Site(folder, proc, port, requester, archive, hl7_port, request.param)
    try:
        wait_for_port(hl7_port)
        ae = AE("MODALITY")
        ae.add_requested_context(CT)
        assoc = ae.associate("127.0.0.1", port, ae_title=AE_TITLE)
        assert assoc.is_established
        base = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        for _ in range(3):
            base.PatientID = PATIENT
            base.SOPInstanceUID = generate_uid()
            assert assoc.send_c_store(base).Status == 0
            s.images.append((CT, str(base.SOPInstanceUID)))
        assoc.release()
        yield s
    finally:
        proc.stop()


def associate(site: Site, *contexts: str, handlers=None, calling: str = "MODALITY"):
    ae = AE(calling)
    for uid in contexts:
        ae.add_requested_context(uid)
    assoc = ae.associate("127.0.0.1", site.port, ae_title=AE_TITLE, evt_handlers=handlers or [])
    assert assoc.is_established
    return assoc


def worklist(site: Site, accession: str) -> list[Dataset]:
    query = Dataset()
    query.PatientName = ""
    query.PatientID = ""
    query.AccessionNumber = accession
    step = Dataset()
    step.Modality = ""
    step.ScheduledProcedureStepStartDate = ""
    query.ScheduledProcedureStepSequence = [step]
    assoc = associate(site, ModalityWorklistInformationFind)
    found = [ident for status, ident in assoc.send_c_find(query, ModalityWorklistInformationFind)
             if status and status.Status == 0xFF00]
    assoc.release()
    return found


def wait_worklist(site: Site, accession: str, timeout: float = 15) -> list[Dataset]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = worklist(site, accession)
        if found:
            return found
        time.sleep(0.3)
    return []


def still_serving(site: Site) -> None:
    assoc = associate(site, Verification)
    assert assoc.send_c_echo().Status == 0
    assoc.release()


# -- print -----------------------------------------------------------------------------------
def _prscp_config(folder: Path, local_port: int, remote_port: int) -> Path:
    cfg = folder / "print.cfg"
    (folder / "db").mkdir(exist_ok=True)
    (folder / "spool").mkdir(exist_ok=True)
    common = ("DisplayFormat=1,1\\1,2\\2,2\\2,3\nFilmSizeID = 8INX10IN\\14INX17IN\n"
              "MagnificationType = REPLICATE\\BILINEAR\\CUBIC\\NONE\nMediumType = PAPER\\CLEAR FILM\\BLUE FILM\n"
              "FilmDestination = MAGAZINE\\PROCESSOR\nBorderDensity = BLACK\\WHITE\nEmptyImageDensity = BLACK\\WHITE\n"
              "MaxDensity = 320\nMinDensity = 20\nSupports12Bit = true\nSupportsPresentationLUT = false\n"
              "MaxPDU = 32768\n")
    cfg.write_text(f"[[GENERAL]]\n[DATABASE]\nDirectory = {folder}/db\n[PRINT]\nDirectory = {folder}/spool\n"
                   "DetailedLog = false\nBinaryLog = false\n[[COMMUNICATION]]\n"
                   f"[DCMPRSCP]\nAetitle = DCMPRSCP\nDescription = dcmtk\nHostname = localhost\nPort = {local_port}\n"
                   f"Type = LOCALPRINTER\n{common}"
                   f"[DGATE]\nAetitle = {AE_TITLE}\nDescription = dgate\nHostname = localhost\n"
                   f"Port = {remote_port}\nType = PRINTER\n{common}")
    return cfg


@pytest.fixture(scope="module")
def stored_print(tmp_path_factory):
    """A Stored Print object and its hardcopy images, made by dcmtk's print SCP from a job
    our print SCU (Lua's dicomprint) sent it."""
    if shutil.which("dcmprscp") is None:
        pytest.skip("dcmtk print tools missing")
    folder = tmp_path_factory.mktemp("dcmprscp")
    dcmtk_port = free_port()
    cfg = _prscp_config(folder, dcmtk_port, 0)
    scp = subprocess.Popen(["dcmprscp", "-c", str(cfg), "-p", "DCMPRSCP"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        wait_for_port(dcmtk_port)
        images = [pydicom.dcmread(get_testdata_file(n)) for n in ("CT_small.dcm", "JPEG2000.dcm")]
        assert dicomprint("DGATE", Address("DCMPRSCP", "127.0.0.1", dcmtk_port, "un"), images) == 1
        for _ in range(50):
            if list((folder / "db").glob("SP_*.dcm")):
                break
            time.sleep(0.1)
    finally:
        scp.terminate()
        scp.wait(10)
    prints = sorted((folder / "db").glob("SP_*.dcm"))
    assert len(prints) == 1 and len(list((folder / "db").glob("HG_*.dcm"))) == 2
    return folder, prints[0]


def test_dcmprscu_prints_to_our_server(site, stored_print):
    folder, sp = stored_print
    cfg = _prscp_config(folder, free_port(), site.port)
    before = set((site.data / "printer_files").glob("*.dcm"))
    mark = site.mark()
    result = subprocess.run(["dcmprscu", "-c", str(cfg), "-p", "DGATE", str(sp)], capture_output=True, text=True,
                            timeout=60, cwd=folder, env=dict(os.environ, TCP_NODELAY="1"))
    assert result.returncode == 0, result.stdout + result.stderr
    printed = sorted(set((site.data / "printer_files").glob("*.dcm")) - before)
    assert len(printed) == 2
    assert {pydicom.dcmread(p).Rows for p in printed} == {128, 1024}
    # the operator lines 1.5.0e writes for the same dcmprscu job (2 images on STANDARD\1,2)
    out = site.wait_log("Deleting Basic Film Session", mark)
    wanted = ("getting Printer", "Creating Basic Film", "Print file", "Printing Basic", "Deleting Basic")
    lines = [line for line in out.splitlines() if line.startswith(wanted)]
    film = [line for line in lines if "Film Box with" in line][0].split("Film# ")[1]
    assert [line.split(": ")[0] for line in lines] == [
        "getting Printer", "Creating Basic Film Session",
        f"Creating Basic Film Box with 2 Image boxes - PORTRAIT - Film# {film}", "Print file", "Print file",
        "Printing Basic Film Box", "Deleting Basic Film Box", "Deleting Basic Film Session"]
    assert [p.name.endswith(f".{int(film) - 1}.1.2.{i}.dcm") for i, p in enumerate(printed)] == [True, True]


def test_our_print_scu_to_our_server(site):
    before = set((site.data / "printer_files").glob("*.dcm"))
    images = [pydicom.dcmread(get_testdata_file(n)) for n in ("CT_small.dcm", "MR_small.dcm", "SC_rgb.dcm")]
    films = dicomprint("MODALITY", Address(AE_TITLE, "127.0.0.1", site.port, "un"), images, "",
                       "ImageDisplayFormat=STANDARD\\1,2\nFilmOrientation=LANDSCAPE")
    assert films == 2
    assert len(set((site.data / "printer_files").glob("*.dcm")) - before) == 3
    with pytest.raises(PrintFailed):
        dicomprint("MODALITY", None, images)


def _film_box(session: str, display: str = "STANDARD\\1,1", size: str = "14INX17IN") -> Dataset:
    ds = Dataset()
    ds.ImageDisplayFormat = display
    ds.FilmSizeID = size
    ref = Dataset()
    ref.ReferencedSOPClassUID = FILM_SESSION
    ref.ReferencedSOPInstanceUID = session
    ds.ReferencedFilmSessionSequence = Sequence([ref])
    return ds


def test_absurd_print_requests_are_refused(site):
    assoc = associate(site, GRAY_META)
    copies = Dataset()
    copies.NumberOfCopies = "100000"
    status, _ = assoc.send_n_create(copies, FILM_SESSION, meta_uid=GRAY_META)
    assert status.Status == 0x0106 and "Copies" in status.ErrorComment
    session = generate_uid()
    copies.NumberOfCopies = "1"       # (pynetdicom announces an empty data set, then sends none)
    status, _ = assoc.send_n_create(copies, FILM_SESSION, session, meta_uid=GRAY_META)
    assert status.Status == 0
    for display, size in (("STANDARD\\1000,1000", "14INX17IN"), ("STANDARD\\1,1", "9999INX9999IN"),
                          ("ROW\\99999999999", "A4"), ("STANDARD\\-1,2", "A4")):
        status, _ = assoc.send_n_create(_film_box(session, display, size), FILM_BOX, meta_uid=GRAY_META)
        assert status.Status == 0x0106, (display, size)
    # PrintMaxFilmBoxes = 2
    assert assoc.send_n_create(_film_box(session), FILM_BOX, generate_uid(), meta_uid=GRAY_META)[0].Status == 0
    box = generate_uid()
    status, reply = assoc.send_n_create(_film_box(session), FILM_BOX, box, meta_uid=GRAY_META)
    assert status.Status == 0
    assert assoc.send_n_create(_film_box(session), FILM_BOX, generate_uid(), meta_uid=GRAY_META)[0].Status == 0x0213
    # an image whose pixel data does not fit its size
    image_box = str(reply.ReferencedImageBoxSequence[0].ReferencedSOPInstanceUID)
    image = Dataset()
    image.Rows, image.Columns, image.SamplesPerPixel, image.BitsAllocated = 30000, 30000, 1, 16
    image.PhotometricInterpretation = "MONOCHROME2"
    image.PixelData = b"\0" * 64
    setting = Dataset()
    setting.ImageBoxPosition = 1
    setting.BasicGrayscaleImageSequence = Sequence([image])
    status, _ = assoc.send_n_set(setting, GRAY_IMAGE_BOX, image_box, meta_uid=GRAY_META)
    assert status.Status == 0x0106
    status, _ = assoc.send_n_set(setting, GRAY_IMAGE_BOX, "1.2.3.404", meta_uid=GRAY_META)
    assert status.Status == 0x0112
    assoc.release()
    # a print class on a context of another SOP class is refused; the server still serves
    other = associate(site, MPPS)
    assert other.send_n_create(copies, FILM_SESSION, generate_uid(), meta_uid=MPPS)[0].Status == 0x0122
    other.release()
    still_serving(site)


# -- storage commitment ---------------------------------------------------------------------
def _action(refs) -> Dataset:
    return action_dataset(generate_uid(), refs)


def test_commitment_report_on_the_same_association(site):
    reports: list[tuple[int, Dataset]] = []
    arrived = threading.Event()

    def on_report(event):
        reports.append((int(event.request.EventTypeID), event.event_information))
        arrived.set()
        return 0x0000, None

    assoc = associate(site, COMMIT, handlers=[(evt.EVT_N_EVENT_REPORT, on_report)])
    action = _action(site.images[:2] + [(CT, "1.2.3.404")])
    status, _ = assoc.send_n_action(action, 1, COMMIT, COMMIT_INSTANCE)
    assert status.Status == 0
    assert arrived.wait(20)
    assoc.release()
    event_type, report = reports[0]
    assert event_type == 2 and report.TransactionUID == action.TransactionUID
    assert [str(i.ReferencedSOPInstanceUID) for i in report.ReferencedSOPSequence] == [u for _, u in site.images[:2]]
    assert [(str(i.ReferencedSOPInstanceUID), int(i.FailureReason)) for i in report.FailedSOPSequence] == \
        [("1.2.3.404", 0x0112)]
    # our own SCU against our server
    outcome = request_commitment("MODALITY", Address(AE_TITLE, "127.0.0.1", site.port, "un"),
                                 site.images + [(CT, "1.2.3.405")], timeout=20)
    assert outcome.committed == [u for _, u in site.images] and outcome.failed == {"1.2.3.405": 0x0112}


def test_commitment_report_on_a_new_association(site):
    """The requester releases at once; the report comes to its SCP (acrnema.map), with us in
    the SCP role; a file gone from disk is listed as failed (processing failure)."""
    reports: list[tuple[int, Dataset, tuple]] = []
    arrived = threading.Event()

    def on_report(event):
        roles = [(str(r.sop_class_uid), r.scu_role, r.scp_role) for r in event.assoc.requestor.role_selection.values()]
        reports.append((int(event.request.EventTypeID), event.event_information, roles))
        arrived.set()
        return 0x0000, None

    scp = AE("MODALITY")
    scp.add_supported_context(COMMIT, scu_role=False, scp_role=True)
    server = scp.start_server(("127.0.0.1", site.requester_port), block=False,
                              evt_handlers=[(evt.EVT_N_EVENT_REPORT, on_report)])
    gone = site.images[2][1]
    path = next(site.data.rglob(f"*{gone}*"), None) or _file_of(site, gone)
    moved = path.with_name(path.name + ".away")
    path.rename(moved)
    try:
        assoc = associate(site, COMMIT)
        action = _action(site.images)
        status, _ = assoc.send_n_action(action, 1, COMMIT, COMMIT_INSTANCE)
        assoc.release()
        assert status.Status == 0
        assert arrived.wait(20), site.proc.output()[-2000:]
    finally:
        moved.rename(path)
        server.shutdown()
    event_type, report, roles = reports[0]
    assert event_type == 2 and report.TransactionUID == action.TransactionUID
    assert len(report.ReferencedSOPSequence) == 2
    assert [(str(i.ReferencedSOPInstanceUID), int(i.FailureReason)) for i in report.FailedSOPSequence] == \
        [(gone, 0x0110)]
    assert roles == [(COMMIT, False, True)]
    assert "Storage commitment report sent to MODALITY on a new association" in site.proc.output()


def _file_of(site: Site, sop_uid: str) -> Path:
    for path in site.data.rglob("*.dcm"):
        if "printer_files" in path.parts or "mpps" in path.parts:
            continue
        try:
            if pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID == sop_uid:
                return path
        except Exception:
            continue
    raise AssertionError(f"no file for {sop_uid}")


def test_requestcommitment_command(site):
    """The SCU inside the server (a server command, so batch and Lua scripts can ask):
    asking ourselves (report on the same association), and an archive that answers on a
    new association to our port (handed by a worker to the hub, where the command waits)."""
    result = run_dgate([f"-p{site.port}", f"--requestcommitment:SELF,{PATIENT}"], site.folder)
    assert result.stdout.strip() == "3 committed, 0 failed", result.stdout + result.stderr

    archive = AE("ARCHIVE")
    archive.add_supported_context(COMMIT)
    seen: list[str] = []

    def on_action(event):
        info = event.action_information
        report = Dataset()
        report.TransactionUID = info.TransactionUID
        items = list(info.ReferencedSOPSequence)
        report.ReferencedSOPSequence = Sequence(items[1:])
        failed = items[0]
        failed.FailureReason = 0x0112
        report.FailedSOPSequence = Sequence([failed])
        seen.append(str(info.TransactionUID))

        def later():
            time.sleep(0.5)
            ae = AE("ARCHIVE")
            ae.add_requested_context(COMMIT)
            assoc = ae.associate("127.0.0.1", site.port, ae_title=AE_TITLE,
                                 ext_neg=[build_role(COMMIT, scp_role=True)])
            if assoc.is_established:
                seen.append(f"status {assoc.send_n_event_report(report, 2, COMMIT, COMMIT_INSTANCE)[0].Status}")
                assoc.release()

        threading.Thread(target=later, daemon=True).start()
        return 0x0000, None

    server = archive.start_server(("127.0.0.1", site.archive_port), block=False,
                                  evt_handlers=[(evt.EVT_N_ACTION, on_action)])
    try:
        result = run_dgate([f"-p{site.port}", f"--requestcommitment:ARCHIVE,{PATIENT}"], site.folder)
    finally:
        server.shutdown()
    assert result.stdout.strip() == "2 committed, 1 failed", result.stdout + result.stderr
    assert seen[1] == "status 0"
    assert "failed for" in site.proc.output() and "(reason 0x0112)" in site.proc.output()
    bad = run_dgate([f"-p{site.port}", "--requestcommitment:NOWHERE,x"], site.folder)
    assert bad.stdout.strip() == "failed: unknown AE"


# -- MPPS -----------------------------------------------------------------------------------
def test_mpps_steps_over_the_network(site):
    accession = f"MP{site.driver[:3]}"
    assert mllp.send("127.0.0.1", site.hl7_port, order(accession, "PM")).split("\r")[1].startswith("MSA|AA")
    mark = site.mark()
    assoc = associate(site, MPPS, MPPS_RETRIEVE)
    uid = generate_uid()
    assert assoc.send_n_create(mpps_create("IN PROGRESS", accession), MPPS, uid)[0].Status == 0
    assert assoc.send_n_create(mpps_create("IN PROGRESS", accession), MPPS, uid)[0].Status == 0x0111
    assert assoc.send_n_create(mpps_create("COMPLETED", accession), MPPS, generate_uid())[0].Status == 0x0106
    assert assoc.send_n_set(status_set("COMPLETED"), MPPS, uid)[0].Status == 0
    status, _ = assoc.send_n_set(status_set("DISCONTINUED"), MPPS, uid)
    assert status.Status == 0x0110 and "COMPLETED" in status.ErrorComment
    assert assoc.send_n_set(status_set("COMPLETED"), MPPS, "1.2.3.404")[0].Status == 0x0112
    assert assoc.send_n_set(status_set("COMPLETED"), MPPS, "../../etc/passwd")[0].Status == 0x0112
    status, got = assoc.send_n_get([0x00400252, 0x00400250], MPPS_RETRIEVE, uid)
    assert status.Status == 0 and got.PerformedProcedureStepStatus == "COMPLETED"
    assert got.PerformedProcedureStepEndDate == "20240101"
    assoc.release()
    stored = pydicom.dcmread(site.data / "mpps" / f"{uid}.dcm")
    assert stored.PerformedProcedureStepStatus == "COMPLETED"
    assert f"MPPS {uid} IN PROGRESS from MODALITY, for worklist entry {accession}" in site.log_since(mark)
    still_serving(site)


# -- worklist and HL7 feeds --------------------------------------------------------------------
def test_loadhl7_then_findscu_worklist(site):
    orders = site.folder / "orders.hl7"
    orders.write_text(order("WLF1", "P1", "Zijp^Lambert", "CT") + order("WLF2", "P2", "Other^Pat", "MR"))
    assert run_dgate([f"-p{site.port}", f"--loadhl7:{orders}"], site.folder).returncode == 0
    if not have_dcmtk():
        pytest.skip("dcmtk missing")
    out = site.folder / f"rsp-{time.monotonic_ns()}"
    out.mkdir()
    result = dcmtk("findscu", "-W", "-aec", AE_TITLE, "-k", "PatientName=", "-k", "AccessionNumber=WLF*",
                   "-k", "(0040,0100)[0].Modality=MR", "-k", "(0040,0100)[0].ScheduledProcedureStepStartDate=",
                   "-X", "-od", str(out), "127.0.0.1", str(site.port))
    assert result.returncode == 0, result.stderr
    files = sorted(out.iterdir())
    assert len(files) == 1
    ds = pydicom.dcmread(files[0])
    assert ds.AccessionNumber == "WLF2" and ds.PatientName == "Other^Pat"
    assert ds.ScheduledProcedureStepSequence[0].Modality == "MR"
    assert ds.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate == "20240102"


def test_mllp_order_appears_in_the_worklist(site):
    reply = mllp.send("127.0.0.1", site.hl7_port, order("MLLP1", "PH1", "Hl7^Sent"))
    assert reply.split("\r")[1].startswith("MSA|AA|MLLP1")
    found = worklist(site, "MLLP1")
    assert [str(d.PatientName) for d in found] == ["Hl7^Sent"]
    assert found[0].ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate == "20240102"
    # a frame whose second message is malformed (separators) is refused whole, naming the line
    bad = mllp.send("127.0.0.1", site.hl7_port, order("GOOD1", "PG1") + BROKEN)
    assert bad.split("\r")[1].startswith("MSA|AE|GOOD1") and "line 4" in bad
    assert worklist(site, "GOOD1") == []


def test_hl7_files_in_incoming_folder_and_addimagefile(site):
    incoming = site.data / "incoming"
    good = site.folder / "drop.tmp"
    good.write_text(order("DROP1", "PD1", "Dropped^File"))
    good.rename(incoming / "drop1.hl7")
    bad = incoming / "broken.hl7"
    bad.write_text(order("DROPX", "PDX") + BROKEN)
    assert [str(d.PatientName) for d in wait_worklist(site, "DROP1")] == ["Dropped^File"]
    rejected = site.data / "printer_files" / "rejected" / "broken.hl7"
    deadline = time.monotonic() + 15
    while not rejected.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert rejected.exists() and not bad.exists() and not (incoming / "drop1.hl7").exists()
    assert "rejected (***[AddImageFile] HL7 file -FAILED: line 4" in site.proc.output()
    assert worklist(site, "DROPX") == []
    added = site.folder / "added.hl7"
    added.write_text(order("ADD1", "PA1", "Added^File"))
    result = run_dgate([f"-p{site.port}", f"--addimagefile:{added}"], site.folder)
    assert result.stdout.strip() == "0", result.stdout + result.stderr
    assert [str(d.PatientName) for d in worklist(site, "ADD1")] == ["Added^File"]
    assert f"[AddImageFile] loaded HL7 file: {added}" in site.proc.output()
