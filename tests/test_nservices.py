"""Print, storage commitment and MPPS services (dgate.services) on real data sets, a real
database and real files; over the network through tests/nservice_peer.py with dcmtk's
dcmprscu/dcmprscp and pynetdicom SCUs."""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pydicom
import pytest
from dbhelpers import make_db, make_ds
from netpeers import free_port, wait_for_port
from nservice_peer import NServicePeer
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pynetdicom import AE

from dgate.config.acrnema import Address
from dgate.hl7 import import_text
from dgate.net.commitment_scu import request_commitment
from dgate.net.print_scu import PrintFailed, dicomprint, printable
from dgate.services import commitment as sc
from dgate.services import mpps as mp
from dgate.services import print_scp as ps
from dgate.services.nmessages import N_ACTION, N_CREATE, N_DELETE, N_GET, N_SET, NRequest
from dgate.services.table import AssociationServices

CT = "1.2.840.10008.5.1.4.1.1.2"


@pytest.fixture(params=["sqlite", "postgres"])
def site(request, tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    db = make_db(tmp_path, f"MAGDevice0 = {data}/", driver=request.param)
    for i in range(3):
        ds = make_ds(sop=f"1.2.3.7.1.{i}", series="1.2.3.7.1", study="1.2.3.7", patid="PC")
        rel = f"PC/img{i}.dcm"
        (data / "PC").mkdir(exist_ok=True)
        ds.save_as(data / rel, enforce_file_format=True)
        db.add(ds, rel)
    yield db
    db.close()


def services(db, **kw) -> AssociationServices:
    return AssociationServices(db.config, lambda: db.__class__(db.config), own_ae="DGATE", **kw)


def req(command, sop_class, instance="", ds=None, type_id=0, context=ps.GRAYSCALE_META) -> NRequest:
    return NRequest(command, sop_class, instance, ds, type_id, calling_ae="MODALITY", context_class=context)


def film_box(fmt="STANDARD\\2,2", size="14INX17IN", session=""):
    ds = Dataset()
    ds.ImageDisplayFormat = fmt
    ds.FilmOrientation = "PORTRAIT"
    ds.FilmSizeID = size
    if session:
        ref = Dataset()
        ref.ReferencedSOPClassUID = ps.FILM_SESSION
        ref.ReferencedSOPInstanceUID = session
        ds.ReferencedFilmSessionSequence = Sequence([ref])
    return ds


def image_box(image: Dataset) -> Dataset:
    ds = Dataset()
    ds.ImageBoxPosition = 1
    ds.BasicGrayscaleImageSequence = Sequence([image])
    return ds


# -- print -----------------------------------------------------------------------------------
def test_print_session(site, tmp_path):
    svc = services(site).print
    printer = svc.handle(req(N_GET, ps.PRINTER, ps.PRINTER_INSTANCE))
    assert printer.status == 0 and printer.dataset.PrinterName == "Conquest dicom printer"
    assert printer.dataset.PrinterStatus == "NORMAL"
    session = svc.handle(req(N_CREATE, ps.FILM_SESSION, ds=Dataset()))
    assert session.status == 0 and session.sop_instance
    box = svc.handle(req(N_CREATE, ps.FILM_BOX, ds=film_box(session=session.sop_instance)))
    boxes = [str(i.ReferencedSOPInstanceUID) for i in box.dataset.ReferencedImageBoxSequence]
    assert len(boxes) == 4 and all(b.endswith(f".2.2.{n}") and len(b) <= 64 for n, b in enumerate(boxes))
    assert box.dataset.ReferencedImageBoxSequence[0].ReferencedSOPClassUID == ps.GRAY_IMAGE_BOX
    image = printable(pydicom.dcmread(get_testdata_file("CT_small.dcm")))
    assert svc.handle(req(N_SET, ps.GRAY_IMAGE_BOX, boxes[0], image_box(image))).status == 0
    saved = tmp_path / "data" / "printer_files" / f"{boxes[0]}.dcm"
    back = pydicom.dcmread(saved)
    assert back.Rows == 128 and back.PixelData == image.PixelData
    assert back.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert svc.handle(req(N_ACTION, ps.FILM_BOX, box.sop_instance, type_id=1)).status == 0
    assert svc.handle(req(N_ACTION, ps.FILM_SESSION, session.sop_instance, type_id=1)).status == 0
    assert svc.handle(req(N_DELETE, ps.FILM_BOX, box.sop_instance)).status == 0
    assert svc.handle(req(N_SET, ps.GRAY_IMAGE_BOX, boxes[1], image_box(image))).status == 0x0112
    assert svc.handle(req(N_ACTION, ps.FILM_SESSION, session.sop_instance, type_id=1)).status == 0xC600
    assert svc.handle(req(N_DELETE, ps.FILM_SESSION, session.sop_instance)).status == 0
    assert svc.handle(req(N_SET, ps.FILM_SESSION, session.sop_instance, Dataset())).status == 0x0112


def test_print_refusals(site):
    svc = AssociationServices(site.config, lambda: site, own_ae="DGATE").print
    svc.max_film_boxes = 2
    copies = Dataset()
    copies.NumberOfCopies = "5000"
    assert svc.handle(req(N_CREATE, ps.FILM_SESSION, ds=copies)).status == 0x0106
    session = svc.handle(req(N_CREATE, ps.FILM_SESSION, ds=Dataset())).sop_instance
    assert svc.handle(req(N_CREATE, ps.FILM_BOX, ds=film_box("STANDARD\\100,100", session=session))).status == 0x0106
    assert svc.handle(req(N_CREATE, ps.FILM_BOX, ds=film_box("STANDARD\\0,3", session=session))).status == 0x0106
    assert svc.handle(req(N_CREATE, ps.FILM_BOX, ds=film_box("SLIDE", session=session))).status == 0x0106
    assert svc.handle(req(N_CREATE, ps.FILM_BOX, ds=film_box(size="99INX99IN", session=session))).status == 0x0106
    assert svc.handle(req(N_CREATE, ps.FILM_BOX, ds=film_box(session="1.2.3.4"))).status == 0x0106
    first = svc.handle(req(N_CREATE, ps.FILM_BOX, ds=film_box("ROW\\2,3", session=session)))
    assert len(first.dataset.ReferencedImageBoxSequence) == 5
    assert svc.handle(req(N_CREATE, ps.FILM_BOX, ds=film_box(session=session))).status == 0
    assert svc.handle(req(N_CREATE, ps.FILM_BOX, ds=film_box(session=session))).status == 0x0213
    target = str(first.dataset.ReferencedImageBoxSequence[0].ReferencedSOPInstanceUID)
    assert svc.handle(req(N_SET, ps.GRAY_IMAGE_BOX, "1.2.3.999", image_box(Dataset()))).status == 0x0112
    bad = printable(pydicom.dcmread(get_testdata_file("CT_small.dcm")))
    bad.Rows = 4000
    assert svc.handle(req(N_SET, ps.GRAY_IMAGE_BOX, target, image_box(bad))).status == 0x0106
    assert svc.handle(req(N_SET, ps.GRAY_IMAGE_BOX, target, Dataset())).status == 0x0120
    assert svc.handle(req(N_ACTION, ps.FILM_BOX, first.sop_instance, type_id=1)).status == 0xB603   # empty page
    assert svc.saved == []


def test_printserver_hook_replaces_saving(site, tmp_path):
    events: list[str] = []
    svc = services(site, printserver=lambda name, ds, request: events.append(name)).print
    session = svc.handle(req(N_CREATE, ps.FILM_SESSION, ds=Dataset())).sop_instance
    box = svc.handle(req(N_CREATE, ps.FILM_BOX, ds=film_box("STANDARD\\1,1", session=session)))
    target = str(box.dataset.ReferencedImageBoxSequence[0].ReferencedSOPInstanceUID)
    image = printable(pydicom.dcmread(get_testdata_file("MR_small.dcm")))
    assert svc.handle(req(N_SET, ps.GRAY_IMAGE_BOX, target, image_box(image))).status == 0
    assert events == ["creatingbasicfilmsession", "createbasicfilmbox",
                      str(tmp_path / "data" / "printer_files" / f"{target}.dcm")]
    assert not (tmp_path / "data" / "printer_files").exists()


# -- storage commitment ---------------------------------------------------------------------------
def commit_request(refs, transaction="1.2.3.99.1", instance=sc.COMMITMENT_INSTANCE, type_id=1) -> NRequest:
    ds = Dataset()
    if transaction:
        ds.TransactionUID = transaction
    items = []
    for cls, uid in refs:
        item = Dataset()
        item.ReferencedSOPClassUID = cls
        item.ReferencedSOPInstanceUID = uid
        items.append(item)
    ds.ReferencedSOPSequence = Sequence(items)
    return NRequest(N_ACTION, sc.STORAGE_COMMITMENT, instance, ds, type_id, calling_ae="MODALITY")


def test_commitment_answers_from_disk_and_database(site, tmp_path):
    svc = services(site).commitment
    (tmp_path / "data" / "PC" / "img1.dcm").unlink()
    response = svc.handle(commit_request([(CT, "1.2.3.7.1.0"), (CT, "1.2.3.7.1.1"), (CT, "1.2.3.404"),
                                          ("1.2.840.10008.5.1.4.1.1.4", "1.2.3.7.1.2")]))
    assert response.status == 0 and response.type_id == 1 and len(response.events) == 1
    event = response.events[0]
    assert event.event_type == 2 and event.destination_ae == "MODALITY"
    assert event.dataset.TransactionUID == "1.2.3.99.1"
    assert [str(i.ReferencedSOPInstanceUID) for i in event.dataset.ReferencedSOPSequence] == ["1.2.3.7.1.0"]
    failed = {str(i.ReferencedSOPInstanceUID): int(i.FailureReason) for i in event.dataset.FailedSOPSequence}
    assert failed == {"1.2.3.7.1.1": 0x0110, "1.2.3.404": 0x0112, "1.2.3.7.1.2": 0x0119}
    ok = svc.handle(commit_request([(CT, "1.2.3.7.1.0"), (CT, "1.2.3.7.1.2")]))
    assert ok.events[0].event_type == 1 and "FailedSOPSequence" not in ok.events[0].dataset
    assert svc.handle(commit_request([(CT, "1.2.3.7.1.0")], instance="1.2.3")).status == 0x0117
    assert svc.handle(commit_request([(CT, "1.2.3.7.1.0")], type_id=2)).status == 0x0123
    assert svc.handle(commit_request([(CT, "1.2.3.7.1.0")], transaction="")).status == 0x0120
    assert svc.handle(commit_request([])).status == 0x0120


# -- MPPS ---------------------------------------------------------------------------------------
ORDER = "MSH|^~\\&|A|B|C|D|2024||ORM^O01|1|P|2.3|\rPID|1||x|PM|Mpps^Pat||19700101|F|\rOBR|1||ACCM|\r"


def mpps_create(status="IN PROGRESS", accession="ACCM") -> Dataset:
    ds = Dataset()
    step = Dataset()
    step.AccessionNumber = accession
    step.ScheduledProcedureStepID = "SPS1"
    ds.ScheduledStepAttributesSequence = Sequence([step])
    ds.PatientID = "PM"
    ds.PerformedProcedureStepStatus = status
    ds.PerformedProcedureStepStartDate = "20240101"
    return ds


def status_set(status: str) -> Dataset:
    ds = Dataset()
    ds.PerformedProcedureStepStatus = status
    ds.PerformedProcedureStepEndDate = "20240101"
    return ds


def test_mpps_steps(site, tmp_path):
    import_text(site, ORDER)
    svc = services(site).mpps
    created = svc.handle(req(N_CREATE, mp.MPPS, "1.2.3.55.1", mpps_create()))
    assert created.status == 0 and (tmp_path / "data" / "mpps" / "1.2.3.55.1.dcm").is_file()
    assert [r[0] for r in svc.worklist_rows(svc.load("1.2.3.55.1"))] == ["ACCM"]
    generated = svc.handle(req(N_CREATE, mp.MPPS, "", mpps_create(accession="NONE")))
    assert generated.status == 0 and generated.sop_instance.startswith(site.settings.str("UIDPrefix"))
    assert svc.handle(req(N_CREATE, mp.MPPS, "1.2.3.55.1", mpps_create())).status == 0x0111
    assert svc.handle(req(N_CREATE, mp.MPPS, "1.2.3.55.2", mpps_create("COMPLETED"))).status == 0x0106
    assert svc.handle(req(N_CREATE, mp.MPPS, "../../evil", mpps_create())).status == 0x0106
    no_steps = mpps_create()
    del no_steps.ScheduledStepAttributesSequence
    assert svc.handle(req(N_CREATE, mp.MPPS, "1.2.3.55.3", no_steps)).status == 0x0120
    assert svc.handle(req(N_SET, mp.MPPS, "1.2.3.55.1", status_set("DONE"))).status == 0x0106
    assert svc.handle(req(N_SET, mp.MPPS, "1.2.3.55.1", status_set("COMPLETED"))).status == 0
    again = svc.handle(req(N_SET, mp.MPPS, "1.2.3.55.1", status_set("IN PROGRESS")))
    assert again.status == 0x0110 and "COMPLETED" in again.error_comment
    assert svc.handle(req(N_SET, mp.MPPS, "1.2.3.404", status_set("COMPLETED"))).status == 0x0112
    assert svc.handle(req(N_SET, mp.MPPS, "../../../etc/passwd", status_set("COMPLETED"))).status == 0x0112
    got = svc.handle(req(N_GET, mp.MPPS_RETRIEVE, "1.2.3.55.1"))
    assert got.dataset.PerformedProcedureStepStatus == "COMPLETED" and got.dataset.PerformedProcedureStepEndDate


# -- over the network ------------------------------------------------------------------------
class Lines:
    network = False

    def __init__(self):
        self.lines: list[str] = []

    def write(self, text: str) -> None:
        self.lines.extend(text.splitlines())

    def close(self) -> None:
        pass


@pytest.fixture
def peer(site):
    from dgate.log import Logs
    port = free_port()
    logs = Logs()
    lines = Lines()
    logs.operator.send_to(lines)
    p = NServicePeer(lambda: AssociationServices(site.config, lambda: site.__class__(site.config), logs,
                                                 own_ae="DGATE"), port).start()
    p.lines = lines.lines
    wait_for_port(port)
    yield p
    p.stop()


def test_print_scu_to_our_print_scp(peer, tmp_path):
    images = [pydicom.dcmread(get_testdata_file(n)) for n in ("CT_small.dcm", "MR_small.dcm", "SC_rgb.dcm")]
    films = dicomprint("MODALITY", Address("DGATE", "127.0.0.1", peer.port, "un"), images, "",
                       "ImageDisplayFormat=STANDARD\\1,2\nFilmOrientation=LANDSCAPE")
    assert films == 2
    assert len(list((tmp_path / "data" / "printer_files").glob("*.dcm"))) == 3
    with pytest.raises(PrintFailed):
        dicomprint("MODALITY", None, images)


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
                   f"[DGATE]\nAetitle = DGATE\nDescription = dgate\nHostname = localhost\nPort = {remote_port}\n"
                   f"Type = PRINTER\n{common}")
    return cfg


@pytest.mark.skipif(shutil.which("dcmprscp") is None, reason="dcmtk print tools missing")
def test_print_scu_to_dcmprscp_and_dcmprscu_to_our_scp(peer, tmp_path):
    folder = tmp_path / "dcmtk"
    folder.mkdir()
    dcmtk_port = free_port()
    cfg = _prscp_config(folder, dcmtk_port, peer.port)
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
    stored_prints = sorted((folder / "db").glob("SP_*.dcm"))
    assert len(stored_prints) == 1 and len(list((folder / "db").glob("HG_*.dcm"))) == 2
    result = subprocess.run(["dcmprscu", "-c", str(cfg), "-p", "DGATE", str(stored_prints[0])],
                            capture_output=True, text=True, timeout=60, cwd=folder)
    assert result.returncode == 0, result.stdout + result.stderr
    printed = sorted((tmp_path / "data" / "printer_files").glob("*.dcm"))
    assert len(printed) == 2
    # the operator lines 1.5.0e writes for the same dcmprscu job (2 images on STANDARD\\1,2)
    film = [line for line in peer.lines if "Film Box with" in line][0].split("Film# ")[1]
    assert [line.split(": ")[0] for line in peer.lines] == [
        "getting Printer", "Creating Basic Film Session",
        f"Creating Basic Film Box with 2 Image boxes - PORTRAIT - Film# {film}", "Print file", "Print file",
        "Printing Basic Film Box", "Deleting Basic Film Box", "Deleting Basic Film Session"]
    assert printed[0].name.endswith(f".{int(film) - 1}.1.2.0.dcm")
    assert {pydicom.dcmread(p).Rows for p in printed} == {128, 1024}


def test_commitment_scu_same_and_new_association(peer, site):
    address = Address("DGATE", "127.0.0.1", peer.port, "un")
    outcome = request_commitment("MODALITY", address, [(CT, "1.2.3.7.1.0"), (CT, "1.2.3.404")], timeout=20)
    assert outcome.committed == ["1.2.3.7.1.0"] and outcome.failed == {"1.2.3.404": 0x0112}
    assert peer.sent_reports[-1][0] == "same"
    # the requester releases at once: the report comes on a new association to its own SCP
    own_port = free_port()
    own = NServicePeer(lambda: services(site), own_port, ae_title="MODALITY").start()
    wait_for_port(own_port)
    peer.peers["MODALITY"] = Address("MODALITY", "127.0.0.1", own_port, "un")
    try:
        later = request_commitment("MODALITY", address, [(CT, "1.2.3.7.1.2")], timeout=20,
                                   same_association_wait=0)
    finally:
        own.stop()
    assert later.ok and later.committed == ["1.2.3.7.1.2"]
    assert peer.sent_reports[-1] == ("new", 0)


def test_mpps_with_pynetdicom(peer, tmp_path):
    ae = AE("MODALITY")
    ae.add_requested_context(mp.MPPS)
    assoc = ae.associate("127.0.0.1", peer.port, ae_title="DGATE")
    assert assoc.is_established
    status, _ = assoc.send_n_create(mpps_create(), mp.MPPS, "1.2.3.66.1")
    assert status.Status == 0
    status, _ = assoc.send_n_set(status_set("DISCONTINUED"), mp.MPPS, "1.2.3.66.1")
    assert status.Status == 0
    status, _ = assoc.send_n_set(status_set("COMPLETED"), mp.MPPS, "1.2.3.66.1")
    assert status.Status == 0x0110
    status, _ = assoc.send_n_set(status_set("COMPLETED"), mp.MPPS, "1.2.3.66.404")
    assert status.Status == 0x0112
    assoc.release()
    stored = pydicom.dcmread(tmp_path / "data" / "mpps" / "1.2.3.66.1.dcm")
    assert stored.PerformedProcedureStepStatus == "DISCONTINUED"
