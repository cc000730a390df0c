"""C-MOVE presentation contexts (bounded, split over associations past 128 contexts, PS3.8
§9.3.2.2) and the transfer syntax of C-GET sub-operations (``un`` as dgate 1.5.0e):
issues 12 and 17. Real dgate, real pynetdicom peers."""
from __future__ import annotations

import threading
from pathlib import Path

import pydicom
import pytest
from netpeers import DgateProcess, free_port, start_server
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import generate_uid
from pynetdicom import AE, build_role, evt
from pynetdicom.service_class import StorageServiceClass
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    uid_to_service_class,
)

IMPLICIT, EXPLICIT = "1.2.840.10008.1.2", "1.2.840.10008.1.2.1"
J2K = "1.2.840.10008.1.2.4.91"
CONF = Path(__file__).resolve().parent.parent / "conf" / "dgatesop.lst"


def _storage_classes(n: int) -> list[str]:
    out = []
    for line in CONF.read_text().splitlines():
        words = line.split()
        if len(words) >= 3 and not line.startswith("#") and words[2].lower() == "sop" \
                and words[1].startswith("1.2.840.10008.5.1.4.1.1.") and words[1] not in out \
                and uid_to_service_class(words[1]) is StorageServiceClass:   # the peer must know it
            out.append(words[1])
    assert len(out) >= n
    return out[:n]


def _object(sop_class: str, study: str) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, generate_uid()
    ds.PatientID, ds.PatientName, ds.StudyInstanceUID = "CTX70", "Many^Classes", study
    ds.SeriesInstanceUID, ds.Modality, ds.InstanceNumber = generate_uid(), "OT", 1
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = EXPLICIT
    return ds


def _server(folder: Path, rows: list[tuple[str, int, str]]) -> DgateProcess:
    folder.mkdir(parents=True, exist_ok=True)
    start_server(folder, start=False)
    amap = folder / "acrnema.map"
    lines = "".join(f"{ae} 127.0.0.1 {port} {code}\n" for ae, port, code in rows)
    amap.write_text(amap.read_text().replace("CONQUESTSRV1", lines + "CONQUESTSRV1", 1))
    return DgateProcess(folder)


class Receiver:
    """A pynetdicom storage SCP recording each association's proposal and what arrives."""

    def __init__(self, ae_title: str, classes: list[str]):
        self.port = free_port()
        self.proposed: list[int] = []
        self.received: dict[str, str] = {}
        self.lock = threading.Lock()
        ae = AE(ae_title)
        for uid in classes:
            ae.add_supported_context(uid, [IMPLICIT, EXPLICIT])
        ae.maximum_associations = 4
        handlers = [(evt.EVT_C_STORE, self._store), (evt.EVT_REQUESTED, self._requested)]
        self.server = ae.start_server(("127.0.0.1", self.port), block=False, evt_handlers=handlers)

    def _requested(self, event) -> None:
        with self.lock:
            self.proposed.append(len(event.assoc.requestor.requested_contexts))

    def _store(self, event) -> int:
        with self.lock:
            self.received[str(event.request.AffectedSOPInstanceUID)] = str(event.context.transfer_syntax)
        return 0

    def stop(self) -> None:
        self.server.shutdown()


def test_move_of_80_sop_classes_is_split_over_associations_and_all_arrive(tmp_path):
    classes = _storage_classes(80)
    study = generate_uid()
    objects = [_object(uid, study) for uid in classes]
    receiver = Receiver("MANYDEST", classes)
    proc = _server(tmp_path / "server", [("MANYDEST", receiver.port, "un")])
    try:
        ae = AE("PYSCU")
        for uid in classes:
            ae.add_requested_context(uid, [EXPLICIT])
        assoc = ae.associate("127.0.0.1", proc.port, ae_title="CONQUESTSRV1")
        assert assoc.is_established
        try:
            assert [assoc.send_c_store(ds).Status for ds in objects] == [0] * len(objects)
        finally:
            assoc.release()
        ae = AE("PYSCU")
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
        assoc = ae.associate("127.0.0.1", proc.port, ae_title="CONQUESTSRV1")
        ident = Dataset()
        ident.QueryRetrieveLevel, ident.StudyInstanceUID = "STUDY", study
        try:
            responses = [s for s, _ in assoc.send_c_move(ident, "MANYDEST", StudyRootQueryRetrieveInformationModelMove)
                         if s]
        finally:
            assoc.release()
        last = responses[-1]
        assert last.Status == 0, proc.log.read_text()[-3000:]
        assert last.NumberOfCompletedSuboperations == 80 and last.get("NumberOfFailedSuboperations", 0) == 0
        # 'un': Implicit VR LE and an Explicit fallback per class = 160 contexts -> 2 associations
        assert len(receiver.proposed) == 2 and all(n <= 128 for n in receiver.proposed)
        assert sum(receiver.proposed) == 160
        assert receiver.received == {ds.SOPInstanceUID: IMPLICIT for ds in objects}
    finally:
        proc.stop()
        receiver.stop()


@pytest.fixture(scope="module")
def getserver(tmp_path_factory):
    proc = _server(tmp_path_factory.mktemp("getsrv"), [])
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    j2k = pydicom.dcmread(get_testdata_file("JPEG2000.dcm"))
    for ds in (ct, j2k):
        ae = AE("PYSCU")
        ae.add_requested_context(ds.SOPClassUID, [str(ds.file_meta.TransferSyntaxUID)])
        assoc = ae.associate("127.0.0.1", proc.port, ae_title="CONQUESTSRV1")
        try:
            assert assoc.send_c_store(ds).Status == 0
        finally:
            assoc.release()
    yield proc, ct, j2k
    proc.stop()


def _get(port: int, ds: Dataset, contexts: list[list[str]]) -> tuple[int, dict[str, str]]:
    """C-GET one instance, offering one storage context (SCP role) per syntax list."""
    got: dict[str, str] = {}

    def store(event) -> int:
        got[str(event.request.AffectedSOPInstanceUID)] = str(event.context.transfer_syntax)
        return 0
    ae = AE("GETSCU")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    roles = []
    for syntaxes in contexts:
        ae.add_requested_context(ds.SOPClassUID, syntaxes)
    roles.append(build_role(ds.SOPClassUID, scp_role=True))
    assoc = ae.associate("127.0.0.1", port, ae_title="CONQUESTSRV1", ext_neg=roles,
                         evt_handlers=[(evt.EVT_C_STORE, store)])
    assert assoc.is_established
    ident = Dataset()
    ident.QueryRetrieveLevel = "IMAGE"
    ident.StudyInstanceUID, ident.SeriesInstanceUID, ident.SOPInstanceUID = \
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID
    try:
        last = [s for s, _ in assoc.send_c_get(ident, StudyRootQueryRetrieveInformationModelGet) if s][-1]
    finally:
        assoc.release()
    return last.Status, got


def test_get_sends_implicit_where_the_requester_accepted_it(getserver):
    proc, ct, j2k = getserver
    # CT_small is stored Explicit VR LE; the original's C-GET ('un') sends Implicit VR LE
    assert _get(proc.port, ct, [[EXPLICIT], [IMPLICIT]]) == (0, {ct.SOPInstanceUID: IMPLICIT})
    # a JPEG 2000 object is decompressed for a requester that also takes Implicit VR LE
    assert _get(proc.port, j2k, [[J2K], [IMPLICIT]]) == (0, {j2k.SOPInstanceUID: IMPLICIT})


def test_get_falls_back_to_what_the_requester_accepted(getserver):
    proc, ct, j2k = getserver
    assert _get(proc.port, ct, [[EXPLICIT]]) == (0, {ct.SOPInstanceUID: EXPLICIT})
    assert _get(proc.port, j2k, [[J2K]]) == (0, {j2k.SOPInstanceUID: J2K})
