"""``dump_header`` (conquest-protocol.md §5.8) line for line against the original.

The expected dumps (``*.dump``) in ``samples/dump/`` are what dgate 1.5.0e printed for
``dump_header:<file>`` on the same bytes with ``samples/dump/dgate.dic`` as its dictionary
(pydicom's CT, MR, RT, SR and multi-frame test files, and the hand-made objects of
``dumpobjects.py``: implicit/explicit/big-endian, private elements of every size class,
defined and undefined-length sequences, encapsulated pixel data, ``.v2`` with and without
inline group 0002, odd lengths). ``stored_MR_small.dump`` is its dump of MR_small stored over
the network (implicit VR) in its own archive.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

import dumpobjects
from conftest import SAMPLES, run_dgate
from dgate.config.dictionary import Dictionary
from dgate.store.dump import DumpError, dump_bytes
from netpeers import DgateProcess, dcmtk, have_dcmtk, start_server

DUMPS = SAMPLES / "dump"
PYDICOM_FILES = ["CT_small", "MR_small", "rtplan", "rtstruct", "rtdose", "test-SR", "reportsi",
                 "liver_1frame", "JPEG2000", "ExplVR_BigEnd"]


@pytest.fixture(scope="module")
def dictionary() -> Dictionary:
    return Dictionary.load(DUMPS / "dgate.dic")


def assert_same_lines(ours: str, expected: str) -> None:
    got, want = ours.split("\n"), expected.split("\n")
    for number, (a, b) in enumerate(zip(got, want), start=1):
        assert a == b, f"line {number} differs:\n ours: {a!r}\n orig: {b!r}"
    assert len(got) == len(want), f"{len(got)} lines where the original has {len(want)}"


@pytest.mark.parametrize("name", PYDICOM_FILES)
def test_pydicom_objects_as_the_original(name, dictionary):
    data = Path(get_testdata_file(f"{name}.dcm")).read_bytes()
    assert_same_lines(dump_bytes(data, dictionary), (DUMPS / f"{name}.dump").read_text(encoding="latin-1"))


@pytest.mark.parametrize("name", sorted(dumpobjects.OBJECTS))
def test_hand_made_objects_as_the_original(name, dictionary):
    data = dumpobjects.OBJECTS[name]()
    assert_same_lines(dump_bytes(data, dictionary), (DUMPS / f"{name}.dump").read_text(encoding="latin-1"))


def test_the_rules_of_the_format(dictionary):
    """The points of §5.8 the original's dump differs from a pydicom rendering in."""
    text = dump_bytes(Path(get_testdata_file("CT_small.dcm")).read_bytes(), dictionary)
    lines = text.splitlines()
    assert lines[0] == "0002,0001      2 OB FileMetaInformationV   00 01 "          # group 0002 shown
    assert '0008,0016     26 UI SOPClassUID            "1.2.840.10008.5.1.4.1.1.2" ' in lines  # padded length
    assert '0008,1030      4 LO StudyDescription       "e+1 " ' in lines            # the pad inside the quotes
    assert "0009,1002      4 UN                        [825250883|31305443]" in lines   # private: UN by size
    assert "0009,10e6      2 UN                        (13616|3530)" in lines
    assert '0009,0010     12 UN                        "GEMS_IDEN_01"' in lines     # UN text: no space after
    pixel = next(line for line in lines if line.startswith("7fe0,0010"))
    assert pixel.endswith("00e5 ") and pixel.count(" 00") == 11                    # 11 words, trailing space
    assert not any(line[5:9] == "0000" for line in lines)                            # no group lengths


def test_sequences_items_and_fragments(dictionary):
    text = dump_bytes(dumpobjects.sequences_explicit(), dictionary)
    assert "0008,1115      0 SQ ReferencedSeriesSequ   Sequence Item\n>0008,1150" in text
    assert "\n-\n>0008,1150" in text                                                 # item separator
    assert "7fe0,0010      0 OW PixelData              (empty)\n>fffe,e000      4 NO Item                   \n" \
        in text                                                                      # fragments: no value text


def test_unloadable_objects_give_no_dump(dictionary):
    truncated = Path(get_testdata_file("MR_truncated.dcm")).read_bytes()
    assert (DUMPS / "MR_truncated.dump").read_bytes() == b""                          # the original: nothing
    with pytest.raises(DumpError):
        dump_bytes(truncated, dictionary)
    out_of_order = dumpobjects.meta("1.2.840.10008.1.2") + dumpobjects.el(0x00100020, "LO", b"AB", False) + \
        dumpobjects.el(0x00080020, "DA", b"20240101", False)
    with pytest.raises(DumpError, match="group order"):
        dump_bytes(out_of_order, dictionary)


def test_without_a_dictionary_every_element_is_unknown():
    text = dump_bytes(dumpobjects.flat(False), None)
    assert all(" UN " + " " * 20 + "   " in line for line in text.splitlines())
    assert '0008,0005     10 UN                        "ISO_IR 100"' in text
    assert '0008,0060      2 UN                        (21583|544f)' in text


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dump")
    start_server(folder, start=False)
    shutil.copy(DUMPS / "dgate.dic", folder / "dgate.dic")
    proc = DgateProcess(folder)
    yield proc
    proc.stop()


@pytest.mark.skipif(not have_dcmtk(), reason="dcmtk is not installed")
def test_dump_header_of_a_stored_object(server):
    """As stored on disk, through the command channel; the only line allowed to differ is the
    ImplementationVersionName padding of our meta header (the network core writes it)."""
    sent = dcmtk("storescu", "-xi", "-aec", "CONQUESTSRV1", "127.0.0.1", str(server.port),
                 get_testdata_file("MR_small.dcm"))
    assert sent.returncode == 0, sent.stderr
    sop = "1.3.6.1.4.1.5962.1.1.4.1.1.20040826185059.5457"
    result = run_dgate([f"-p{server.port}", f"--dump_header:4MR1:{sop}"], server.folder)
    assert result.returncode == 255
    expected = (DUMPS / "stored_MR_small.dump").read_text(encoding="latin-1")

    def without_version(text: str) -> str:
        return "\n".join(line for line in text.split("\n") if not line.startswith("0002,0013"))
    assert_same_lines(without_version(result.stdout), without_version(expected))
    cgi = run_dgate([f"-p{server.port}", f"--dump_header:4MR1:{sop},cgi"], server.folder)
    assert cgi.stdout.startswith("Content-type: text/html\n\n<pre>0002,0001")
    target = server.folder / "dump.txt"
    to_file = run_dgate([f"-p{server.port}", f"--dump_header:4MR1:{sop},{target}"], server.folder)
    assert to_file.returncode == 0 and to_file.stdout == ""
    assert without_version(target.read_text(encoding="latin-1")) == without_version(expected)
    missing = run_dgate([f"-p{server.port}", "--dump_header:4MR1:1.2.3.4"], server.folder)
    assert missing.returncode == 0 and missing.stdout == ""
