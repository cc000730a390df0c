"""Server-command replies byte for byte as dgate 1.5.0e gives them (conquest-protocol.md §5):
finders (order and fields), listers (newline and ``*`` rules), ``get_param``/``get_ini*``
with a format, ``display_status``, move commands that fail.

``samples/replies/`` holds the original's replies (``index.txt`` names the command of each)
for the objects this module stores: CT_small, MR_small, rtplan, rtdose, reportsi, test-SR and
a copy of MR_small with SOP Instance UID 1.2.3.777, in this order.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

from conftest import REPO, SAMPLES, run_dgate
from netpeers import DgateProcess, dcmtk, free_port, have_dcmtk, start_server

REPLIES = SAMPLES / "replies"
STORED = ["CT_small", "MR_small", "rtplan", "rtdose", "reportsi", "test-SR"]   # Test^S R is stored last

pytestmark = pytest.mark.skipif(not have_dcmtk(), reason="dcmtk is not installed")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("replies")
    start_server(folder, start=False)
    port = free_port()
    with open(folder / "acrnema.map", "a") as amap:           # a C-MOVE destination: the server itself
        amap.write(f"STORESCP        127.0.0.1       {port}      un\n")
    proc = DgateProcess(folder, port)
    copy = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    copy.SOPInstanceUID = copy.file_meta.MediaStorageSOPInstanceUID = "1.2.3.777"
    copy.save_as(folder / "mr777.dcm")
    for name in STORED:
        sent = dcmtk("storescu", "-aec", "CONQUESTSRV1", "127.0.0.1", str(proc.port), get_testdata_file(f"{name}.dcm"))
        assert sent.returncode == 0, sent.stderr
    assert dcmtk("storescu", "-aec", "CONQUESTSRV1", "127.0.0.1", str(proc.port),
                 str(folder / "mr777.dcm")).returncode == 0
    yield proc
    proc.stop()


def reply(server, command: str) -> tuple[int, bytes]:
    """``dgate -p<port> --<command>``: exit code and the raw bytes on stdout."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-m", "dgate", f"-p{server.port}", f"--{command}"],
                            cwd=server.folder, env=env, capture_output=True, timeout=60)
    return result.returncode, result.stdout


def _cases():
    for line in (REPLIES / "index.txt").read_text().splitlines():
        name, command = line.split("\t", 1)
        yield pytest.param(name, command, id=command[:48])


@pytest.mark.parametrize("name,command", list(_cases()))
def test_reply_as_the_original(server, name, command):
    expected = (REPLIES / name).read_bytes()
    rc, out = reply(server, command)
    assert out == expected
    assert rc == (255 if expected else 0)


def test_finder_order_is_the_originals(server):
    """Sorted by the padded length of the key, then case-insensitively: 1CT1 4MR1 before
    00000000, id00001, id11111 (where sorting by name gives another order)."""
    _, out = reply(server, "patientfinder:local||%0.0s%s")
    assert out.split() == [b"1CT1", b"4MR1", b"00000000", b"id00001", b"id11111"]


def test_lister_rules(server):
    series = "1.3.6.1.4.1.5962.1.3.4.1.20040826185059.5457"
    assert reply(server, f"imagelister:local|4MR1|{series}|?%d images")[1] == b"2 images\n"   # newline added
    assert reply(server, f"imagelister:local|4MR1|{series}|?%d*")[1] == b"2*"                  # not after *
    assert reply(server, f"imagelister:local|4MR1|{series}|$%d")[1] == b"00"                   # nor after $
    both = reply(server, f"imagelister:local|4MR1|{series}|:%s:%s*")[1]
    assert both.count(b"*") == 1 and not both.endswith(b"*")                    # last * dropped
    default = reply(server, f"imagelister:local|4MR1|{series}")[1]
    assert default.count(b"*") == 1 and default.endswith(b".dcm")


def test_one_value_formats_print_the_format_for_a_second_string(server):
    """1.5.0e passes one value; its second %s prints the format text itself (observed)."""
    lines = (server.folder / "dicom.ini").read_bytes().decode("latin-1").splitlines(keepends=True)
    assert reply(server, "get_ini:%s=%s;")[1].decode("latin-1") == "".join(f"{line}=%s=%s;;" for line in lines)
    assert reply(server, "get_ini_num:2,<%s>")[1].decode("latin-1") == f"<{lines[2]}>"
    assert reply(server, "get_ini:%.9s|")[1].decode("latin-1") == "".join(f"{line[:9]}|" for line in lines)


def test_display_status_counters(server):
    first = reply(server, "display_status:")[1].decode()
    second = reply(server, "display_status:")[1].decode()
    lookups = [int(re.search(r"gpps:(\d+)", text).group(1)) for text in (first, second)]
    assert 0 < lookups[0] < lookups[1]                        # dicom.ini lookups, as the original counts
    assert re.search(r"^Run time \(s\) total \d+, query \d+, load \d+, save \d+, compress \d+, process \d+, "
                     r"gpps \d+$", first, re.M)
    assert re.search(r"^Activity: Echo:\d+, Find:\d+, Move:\d+, Unknown:0, gpps:\d+$", first, re.M)
    assert "recieved=7" in first                              # the 7 objects stored above


class MovePeer:
    """A C-MOVE SCP answering as Conquest does when nothing matches: 0xC004."""

    def __init__(self, destination_port: int):
        from pynetdicom import AE, evt
        from pynetdicom.sop_class import PatientRootQueryRetrieveInformationModelMove, \
            StudyRootQueryRetrieveInformationModelMove
        self.port = free_port()
        ae = AE(ae_title="PEER")
        ae.add_supported_context(StudyRootQueryRetrieveInformationModelMove)
        ae.add_supported_context(PatientRootQueryRetrieveInformationModelMove)
        self.requests: list[Dataset] = []

        def on_move(event):
            self.requests.append(event.identifier)
            yield "127.0.0.1", destination_port
            yield 1
            yield 0xC004, None
        self.server = ae.start_server(("127.0.0.1", self.port), block=False,
                                      evt_handlers=[(evt.EVT_C_MOVE, on_move)])

    def stop(self):
        self.server.shutdown()


def test_failed_move_answers_move_failed(server):
    peer = MovePeer(server.port)
    try:
        run_dgate([f"-p{server.port}", f"--put_amap:99,PEER,127.0.0.1,{peer.port},un"], server.folder)
        for command in ("movestudy:PEER,STORESCP,NOPAT:1.2.3", "movepatient:PEER,STORESCP,NOPAT",
                        "moveseries:PEER,STORESCP,NOPAT:1.2.3", "movestudies:PEER,STORESCP,19000101",
                        "moveaccession:PEER,STORESCP,NOPAT:ACC", "move:PEER,STORESCP,NOPAT,,,"):
            assert reply(server, command) == (255, b"1 Move failed from PEER to STORESCP"), command
        assert len(peer.requests) == 6
    finally:
        peer.stop()


def test_move_matching_nothing_answers_move_failed(server):
    assert reply(server, "echo:STORESCP") == (255, b"STORESCP is UP")          # the destination is known
    assert reply(server, "movestudy:CONQUESTSRV1,STORESCP,NOPAT:1.2.3") == \
        (255, b"1 Move failed from CONQUESTSRV1 to STORESCP")
