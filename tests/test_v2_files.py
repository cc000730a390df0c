""".v2 files as the original writes them (conquest-storage.md §6.5; issue 17): inline
(0002,0010) = implicit LE, no group lengths, sequences and items of undefined length with
delimiters (an empty sequence has length 0).

``samples/v2/`` holds the files dgate 1.5.0e wrote (FileNameSyntax 6) for CT_small, rtplan
and test-SR received over the network; ours must be byte-identical.
"""
from __future__ import annotations

import struct

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from conftest import SAMPLES
from dgate.store.formats import IMPLICIT_LE, read_file, v2_bytes
from netpeers import dcmtk, have_dcmtk, start_server

V2 = SAMPLES / "v2"


def el(group: int, element: int, value: bytes, length: int | None = None) -> bytes:
    return struct.pack("<HHI", group, element, len(value) if length is None else length) + value


ITEM, ITEM_END, SEQ_END = (0xFFFE, 0xE000), (0xFFFE, 0xE00D), (0xFFFE, 0xE0DD)
UNDEFINED = 0xFFFFFFFF


def test_layout_byte_by_byte():
    """The spec's description, written out by hand."""
    ds = Dataset()
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
    ds.add_new(0x00080000, "UL", 999)                  # a group length: not written
    ds.SOPInstanceUID = "1.2.3"
    inner = Dataset()
    inner.CodeValue = "ABC"
    nested = Dataset()
    nested.ReferencedSOPInstanceUID = "1.2"
    inner.ReferencedSOPSequence = Sequence([nested])
    ds.ProcedureCodeSequence = Sequence([inner])
    ds.ReferencedImageSequence = Sequence([])
    expected = (el(0x0002, 0x0010, b"1.2.840.10008.1.2\0")
                + el(0x0008, 0x0018, b"1.2.3\0")
                + el(0x0008, 0x1032, b"", UNDEFINED)
                + el(*ITEM, b"", UNDEFINED)
                + el(0x0008, 0x0100, b"ABC ")
                + el(0x0008, 0x1199, b"", UNDEFINED)
                + el(*ITEM, b"", UNDEFINED) + el(0x0008, 0x1155, b"1.2\0") + el(*ITEM_END, b"")
                + el(*SEQ_END, b"")
                + el(*ITEM_END, b"")
                + el(*SEQ_END, b"")
                + el(0x0008, 0x1140, b""))
    assert v2_bytes(ds) == expected


def test_inline_meta_is_read_as_the_syntax_not_as_data(tmp_path):
    path = tmp_path / "x.v2"
    path.write_bytes((V2 / "rtplan.v2").read_bytes())
    encoded = read_file(path)
    assert encoded.transfer_syntax == IMPLICIT_LE
    ds = encoded.dataset()
    assert not any(elem.tag.group == 2 for elem in ds)
    assert ds.SOPInstanceUID == "1.2.777.777.77.7.7777.7777.20030903150023"
    assert len(ds.FractionGroupSequence) == 1


@pytest.mark.skipif(not have_dcmtk(), reason="dcmtk is not installed")
@pytest.mark.parametrize("name", ["CT_small", "rtplan", "test-SR"])
def test_stored_v2_is_the_originals(tmp_path, name):
    server = start_server(tmp_path, FileNameSyntax="6")
    try:
        sent = dcmtk("storescu", "-aec", "CONQUESTSRV1", "127.0.0.1", str(server.port), get_testdata_file(f"{name}.dcm"))
        assert sent.returncode == 0, sent.stderr
        (stored,) = [p for p in (tmp_path / "data").rglob("*.v2")]
        assert stored.read_bytes() == (V2 / f"{name}.v2").read_bytes()
    finally:
        server.stop()
