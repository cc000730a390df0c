"""Print, storage commitment and MPPS services (dgate.services) on real data sets, a real
database and real files. Over the network, against a running dgate: test_nservices_net.py."""
from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from dbhelpers import make_db, make_ds
from nhelpers import mpps_create, status_set
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dgate.hl7 import import_text
from dgate.net.print_scu import printable
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
    return NRequest(N_ACTION, sc.STORAGE_COMMITMENT, instance, sc.action_dataset(transaction, refs), type_id,
                    calling_ae="MODALITY")


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


def test_printserver_seam_of_the_server(site, tmp_path):
    """PRINTSERVER gives each association its printserver hook (a DicomServer in this
    process): a hook that returns False leaves the built-in line, True replaces saving."""
    import socket
    import threading

    from pynetdicom import AE

    import dgate.services.plugin  # noqa: F401  (registers the DIMSE-N handlers in this process)
    from dgate.log import Logs
    from dgate.net.hooks import PRINTSERVER
    from dgate.net.server import DicomServer

    events: list[tuple[str, str]] = []

    def per_association(session):
        def hook(name, ds, request):
            events.append((session.calling.strip(), name))
            return name.endswith(".dcm")
        return hook

    logs = Logs()
    lines: list[str] = []

    class Sink:
        network = False

        def write(self, text):
            lines.extend(text.splitlines())

        def close(self):
            pass

    logs.operator.send_to(Sink())
    server = DicomServer(site.config, logs, "DGATE", 0)
    listener = socket.create_server(("127.0.0.1", 0))
    thread = threading.Thread(target=lambda: server.serve(*listener.accept(), 1), daemon=True)
    thread.start()
    PRINTSERVER.set(per_association)
    try:
        ae = AE("PRINTER1")
        ae.add_requested_context(ps.GRAYSCALE_META)
        assoc = ae.associate("127.0.0.1", listener.getsockname()[1], ae_title="DGATE")
        session = Dataset()
        session.NumberOfCopies = "1"
        uid = "1.2.3.88.1"
        assert assoc.send_n_create(session, ps.FILM_SESSION, uid, meta_uid=ps.GRAYSCALE_META)[0].Status == 0
        status, box = assoc.send_n_create(film_box("STANDARD\\1,1", session=uid), ps.FILM_BOX, "1.2.3.88.2",
                                          meta_uid=ps.GRAYSCALE_META)
        assert status.Status == 0
        target = str(box.ReferencedImageBoxSequence[0].ReferencedSOPInstanceUID)
        image = printable(pydicom.dcmread(get_testdata_file("MR_small.dcm")))
        assert assoc.send_n_set(image_box(image), ps.GRAY_IMAGE_BOX, target, meta_uid=ps.GRAYSCALE_META)[0].Status == 0
        assoc.release()
        thread.join(10)
    finally:
        PRINTSERVER.set(None)
        listener.close()
        server.pool.close_all()
    saved = str(tmp_path / "data" / "printer_files" / f"{target}.dcm")
    assert events == [("PRINTER1", "creatingbasicfilmsession"), ("PRINTER1", "createbasicfilmbox"),
                      ("PRINTER1", saved)]
    assert "Creating Basic Film Session" in lines and not Path(saved).exists()
