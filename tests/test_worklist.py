"""Modality worklist C-FIND answered from HL7 orders (conquest-storage.md §4.8).

The encoded responses were compared byte for byte with dgate 1.5.0e's for the same
database and queries (a raw-PDU pynetdicom SCU): empty (0008,0052), sequences with items
and their items with undefined length, empty sequences with length 0.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_dgate
from dbhelpers import make_db
from netpeers import dcmtk, have_dcmtk, start_server
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import ModalityWorklistInformationFind

from dgate.db.worklist import WorklistRefused
from dgate.hl7 import import_text

ORDER = ("MSH|^~\\&|HIS|H|DGATE|D|20240101120000||ORM^O01|{acc}|P|2.3|\r"
         "PID|1||x|{patid}|{name}||19700101|F|\r"
         "OBR|1||{acc}|55^CT HEAD|||{start}|||||||||Dr^Who|||||{mod}|\r")
ORDERS = (ORDER.format(acc="WL1", patid="P1", name="Zijp^Lambert", start="20240102083000", mod="CT")
          + ORDER.format(acc="WL2", patid="P2", name="Other^Pat", start="20240105", mod="MR"))
# 1.5.0e's response for WL2 to QUERY below (implicit VR little endian)
ORIGINAL_WL2 = bytes.fromhex(
    "080005000a00000049534f5f4952203130300800500004000000574c32200800520000000000080010110000000008002011"
    "00000000100010000a0000004f746865725e506174201000200002000000503240000001fffffffffeff00e0ffffffff0800"
    "6000020000004d52400001000000000040000200080000003230323430313035feff0de000000000feffdde000000000")


def query(**keys) -> Dataset:
    q = Dataset()
    q.PatientName = keys.pop("PatientName", "")
    q.PatientID = ""
    q.AccessionNumber = keys.pop("AccessionNumber", "")
    sps = Dataset()
    sps.Modality = keys.pop("Modality", "")
    sps.ScheduledProcedureStepStartDate = keys.pop("StartDate", "")
    sps.ScheduledStationAETitle = ""
    q.ScheduledProcedureStepSequence = [sps]
    return q


def encode(ds: Dataset) -> bytes:
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, True
    write_dataset(fp, ds)
    return fp.getvalue()


@pytest.fixture(params=["sqlite", "postgres"])
def wldb(request, tmp_path: Path):
    db = make_db(tmp_path, driver=request.param)
    import_text(db, ORDERS)
    yield db
    db.close()


def test_matching_and_encoding(wldb):
    found = wldb.find_worklist(query(Modality="MR"))
    assert [str(d.AccessionNumber) for d in found] == ["WL2"]
    assert encode(found[0]) == ORIGINAL_WL2
    dates = wldb.find_worklist(query(StartDate="20240101-20240103"))
    assert [str(d.AccessionNumber) for d in dates] == ["WL1"]
    assert dates[0].ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate == "20240102"
    names = wldb.find_worklist(query(PatientName="Zijp*"))
    assert [str(d.PatientName) for d in names] == ["Zijp^Lambert"]
    with_level = query(Modality="MR")
    with_level.QueryRetrieveLevel = "WORKLIST"
    assert wldb.find_worklist(with_level)[0]["QueryRetrieveLevel"].value == "WORKLIST"   # echoed, as 1.5.0e


def test_converter_hooks(wldb):
    with pytest.raises(WorklistRefused) as refused:
        wldb.find_worklist(query(), query_hook=lambda ident: 2)
    assert refused.value.status == 0xC011
    seen: list[str] = []

    def result_hook(ds: Dataset) -> int:
        seen.append(str(ds.AccessionNumber))
        return 2 if ds.AccessionNumber == "WL1" else 1

    def query_hook(ident: Dataset) -> int:
        ident.ScheduledProcedureStepSequence[0].Modality = ""     # a converter may change the query
        return 1

    found = wldb.find_worklist(query(Modality="CT"), query_hook, result_hook)
    assert sorted(seen) == ["WL1", "WL2"] and [str(d.AccessionNumber) for d in found] == ["WL2"]


@pytest.fixture
def server(tmp_path):
    proc = start_server(tmp_path)
    yield proc
    proc.stop()


def test_loadhl7_then_findscu_and_pynetdicom(server, tmp_path):
    orders = tmp_path / "orders.hl7"
    orders.write_text(ORDERS)
    assert run_dgate([f"-p{server.port}", f"--loadhl7:{orders}"], tmp_path).returncode == 0
    if have_dcmtk():
        out = tmp_path / "rsp"
        out.mkdir()
        result = dcmtk("findscu", "-W", "-aec", "CONQUESTSRV1", "-k", "PatientName=", "-k", "AccessionNumber=",
                       "-k", "(0040,0100)[0].Modality=CT", "-k", "(0040,0100)[0].ScheduledProcedureStepStartDate=",
                       "-X", "-od", str(out), "127.0.0.1", str(server.port))
        assert result.returncode == 0, result.stderr
        files = sorted(out.iterdir())
        assert len(files) == 1
        import pydicom
        ds = pydicom.dcmread(files[0])
        assert ds.AccessionNumber == "WL1" and ds.PatientName == "Zijp^Lambert"
        assert ds.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate == "20240102"
    raws: list[bytes] = []

    def on_recv(event):
        data = getattr(event.message, "data_set", None)
        if data is not None and data.getvalue():
            raws.append(data.getvalue())

    ae = AE("WLTEST")
    ae.add_requested_context(ModalityWorklistInformationFind, "1.2.840.10008.1.2")
    assoc = ae.associate("127.0.0.1", server.port, ae_title="CONQUESTSRV1",
                         evt_handlers=[(evt.EVT_DIMSE_RECV, on_recv)])
    assert assoc.is_established
    found = [ident for status, ident in assoc.send_c_find(query(Modality="MR"), ModalityWorklistInformationFind)
             if status and status.Status == 0xFF00]
    assoc.release()
    assert [str(d.AccessionNumber) for d in found] == ["WL2"]
    assert raws == [ORIGINAL_WL2]


def test_worklist_converter_seam_of_the_server(wldb):
    """The C-FIND handler passes WORKLIST_CONVERTERS' hooks to find_worklist: rc 2 from the
    query hook refuses with 0xC011, from the result hook drops that response (a DicomServer
    in this process, so the hooks can be set)."""
    import socket
    import threading

    from dgate.log import Logs
    from dgate.net import hooks
    from dgate.net.server import DicomServer

    seen: list[str] = []

    def converters(ctx):
        assert ctx.model == "Modality Work List" and ctx.session.calling.strip() == "WLTEST"
        refuse = seen == ["refuse"]
        return (lambda ident: 2 if refuse else 1,
                lambda ds: seen.append(str(ds.AccessionNumber)) or (2 if ds.AccessionNumber == "WL1" else 1))

    server = DicomServer(wldb.config, Logs(), "CONQUESTSRV1", 0)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve():
        sock, peer = listener.accept()
        server.serve(sock, peer, 1)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    hooks.WORKLIST_CONVERTERS.set(converters)
    try:
        ae = AE("WLTEST")
        ae.add_requested_context(ModalityWorklistInformationFind)
        assoc = ae.associate("127.0.0.1", port, ae_title="CONQUESTSRV1")
        found = [ident for status, ident in assoc.send_c_find(query(), ModalityWorklistInformationFind)
                 if status.Status == 0xFF00]
        assert [str(i.AccessionNumber) for i in found] == ["WL2"]
        assert sorted(seen) == ["WL1", "WL2"]
        seen[:] = ["refuse"]
        answers = [status.Status for status, _ in assoc.send_c_find(query(), ModalityWorklistInformationFind)]
        assert answers == [0xC011]
        assoc.release()
        thread.join(10)
    finally:
        hooks.WORKLIST_CONVERTERS.set(None)
        listener.close()
        server.pool.close_all()
