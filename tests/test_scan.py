"""The lean element scanner (dgate/store/scan.py): structure checks, repairs, patches,
implicit transcoding, and a bounded fuzz run."""
import io
import random
import struct
import time

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset
from pydicom.sequence import Sequence

from dgate.store import scan as S


def encode(ds: Dataset, ts: str) -> bytes:
    fp = DicomBytesIO()
    fp.is_little_endian = ts != S.EXPLICIT_BE
    fp.is_implicit_VR = ts == S.IMPLICIT_LE
    write_dataset(fp, ds)
    return fp.getvalue()


def decode(data: bytes, ts: str) -> Dataset:
    return read_dataset(io.BytesIO(data), ts == S.IMPLICIT_LE, ts != S.EXPLICIT_BE)


def sample() -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = "1.2.3.4.5"
    ds.PatientName = "Test^Patient"
    ds.PatientID = "ID1"
    item = Dataset()
    item.CodeValue = "ABC"
    item.CodeMeaning = "Meaning"
    inner = Dataset()
    inner.CodeValue = "X"
    item.ConceptNameCodeSequence = Sequence([inner])
    ds.ProcedureCodeSequence = Sequence([item, Dataset()])
    ds.ImageComments = "A long text value"
    ds.BitsAllocated = 16
    ds.PixelData = b"\x01\x02" * 50
    return ds


@pytest.mark.parametrize("ts", [S.IMPLICIT_LE, S.EXPLICIT_LE, S.EXPLICIT_BE])
def test_scan_finds_top_level_elements(ts):
    data = encode(sample(), ts)
    result = S.scan(data, ts)
    assert result.order == sorted(result.order)
    assert result.text(0x00100020) == "ID1"
    assert result.text(0x00080018) == "1.2.3.4.5"
    assert result.raw(0x7FE00010) == b"\x01\x02" * 50
    assert not result.needs_repair


def test_pydicom_test_files_scan_or_are_known_broken():
    broken = {"MR_truncated.dcm", "rtplan_truncated.dcm"}
    for name in ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "JPEG2000.dcm", "MR_small_RLE.dcm",
                 "emri_small_jpeg_2k_lossless.dcm", "liver.dcm", "image_dfl.dcm", *broken]:
        path = get_testdata_file(name, download=False)
        if path is None:
            continue
        ds = pydicom.dcmread(path)
        raw = open(path, "rb").read()
        body = raw[ds.file_meta.get("FileMetaInformationGroupLength", 0) + 144:] if raw[128:132] == b"DICM" else raw
        ts = str(ds.file_meta.TransferSyntaxUID)
        if name in broken:
            with pytest.raises(S.StructureError, match="declares"):
                S.scan(body, ts)
        else:
            S.scan(body, ts)


def test_cut_inside_header_and_value():
    data = encode(sample(), S.EXPLICIT_LE)
    with pytest.raises(S.StructureError, match="cut inside"):
        S.scan(data[:-104] + b"\x10\x00\x20", S.EXPLICIT_LE)
    with pytest.raises(S.StructureError, match=r"\(7fe0,0010\).*declares 100 bytes but only 60 remain"):
        S.scan(data[:-40], S.EXPLICIT_LE)


def test_ut_length_past_the_end():
    value = b"x" * 10
    data = struct.pack("<HH2s2xI", 0x0008, 0x0119, b"UT", 5000) + value
    with pytest.raises(S.StructureError, match="declares 5000 bytes"):
        S.scan(data, S.EXPLICIT_LE)


def test_unclosed_sequence_and_stray_items():
    item = _item(_el(0x00080100, "SH", b"AB", True))
    unclosed = struct.pack("<HH2s2xI", 0x0008, 0x1032, b"SQ", 0xFFFFFFFF) + item
    with pytest.raises(S.StructureError, match="not closed"):
        S.scan(unclosed, S.EXPLICIT_LE)
    closed = unclosed + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    assert S.scan(closed, S.EXPLICIT_LE).order == [0x00081032]
    with pytest.raises(S.StructureError, match="outside a sequence"):
        S.scan(b"\xfe\xff\x00\xe0\x00\x00\x00\x00", S.IMPLICIT_LE)
    with pytest.raises(S.StructureError, match="invalid VR"):
        S.scan(b"\x08\x00\x18\x00\x01\x02\x04\x00abcd", S.EXPLICIT_LE)


def _el(tag: int, vr: str, value: bytes, explicit: bool) -> bytes:
    if not explicit:
        return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, len(value)) + value
    if vr in ("SQ", "OB", "UT"):
        return struct.pack("<HH2s2xI", tag >> 16, tag & 0xFFFF, vr.encode(), len(value)) + value
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr.encode(), len(value)) + value


def _item(content: bytes) -> bytes:
    return struct.pack("<HHI", 0xFFFE, 0xE000, len(content)) + content


def _nested(code: bytes, explicit: bool) -> bytes:
    """(0008,1032) SQ > item > (0040,a043) SQ > item > (0008,0100) SH code; all defined lengths."""
    inner = _item(_el(0x00080100, "SH", code, explicit))
    outer = _item(_el(0x00080104, "LO", b"Meaning ", explicit) + _el(0x0040A043, "SQ", inner, explicit))
    return (_el(0x00080018, "UI", b"1.2.3\0", explicit) + _el(0x00081032, "SQ", outer, explicit)
            + _el(0x7FE00010, "OB", b"\1\2", explicit))


@pytest.mark.parametrize("ts", [S.IMPLICIT_LE, S.EXPLICIT_LE])
def test_odd_lengths_are_repaired_inside_defined_length_sequences(ts):
    explicit = ts == S.EXPLICIT_LE
    broken, expected = _nested(b"X", explicit), _nested(b"X ", explicit)
    result = S.scan(broken, ts)
    assert result.needs_repair and len(result.odd) == 1
    fixed = S.repair(result)
    assert fixed == expected
    assert not S.scan(fixed, ts).needs_repair
    assert decode(fixed, ts).ProcedureCodeSequence[0].ConceptNameCodeSequence[0].CodeValue == "X"


def test_trailing_nul_bytes_are_dropped_but_garbage_refused():
    data = encode(sample(), S.EXPLICIT_LE)
    result = S.scan(data + b"\0\0\0", S.EXPLICIT_LE)
    assert result.trailing == 3 and S.repair(result) == data
    with pytest.raises(S.StructureError):
        S.scan(data + b"\0\x01\0", S.EXPLICIT_LE)


@pytest.mark.parametrize("ts", [S.IMPLICIT_LE, S.EXPLICIT_LE, S.EXPLICIT_BE])
def test_patch_replaces_inserts_and_removes(ts):
    ds = sample()
    del ds.PatientName
    data = encode(ds, ts)
    patched = S.patch(S.scan(data, ts), {0x00100010: ("PN", b"NO NAME"), 0x00100020: ("LO", b"00000000"),
                                         0x0020000D: ("UI", b"undefined"), 0x00204000: None})
    back = decode(patched, ts)
    assert back.PatientName == "NO NAME" and back.PatientID == "00000000"
    assert back.StudyInstanceUID == "undefined" and "ImageComments" not in back
    assert back.PixelData == ds.PixelData
    assert len(patched) % 2 == 0


def test_to_implicit_matches_pydicom():
    for ds in (sample(), pydicom.dcmread(get_testdata_file("CT_small.dcm")),
               pydicom.dcmread(get_testdata_file("rtplan.dcm"))):
        ds = Dataset({t: e for t, e in ds.items() if t.group != 2})
        data = encode(ds, S.EXPLICIT_LE)
        S.scan(data, S.EXPLICIT_LE)
        implicit = b"".join(bytes(c) for c in S.to_implicit(data))
        assert not S.scan(implicit, S.IMPLICIT_LE).needs_repair
        back = decode(implicit, S.IMPLICIT_LE)
        expected = decode(encode(ds, S.IMPLICIT_LE), S.IMPLICIT_LE)
        assert back == expected


def test_fuzz_never_raises_anything_but_structure_error():
    """Bounded fuzz (fixed seed): random byte changes, cuts and length changes of real
    data sets either scan or raise StructureError, quickly."""
    rng = random.Random(20261201)
    sources = [(encode(sample(), ts), ts) for ts in (S.IMPLICIT_LE, S.EXPLICIT_LE, S.EXPLICIT_BE)]
    ct = pydicom.dcmread(get_testdata_file("rtplan.dcm"))
    sources.append((encode(Dataset({t: e for t, e in ct.items() if t.group != 2}), S.IMPLICIT_LE), S.IMPLICIT_LE))
    deadline = time.monotonic() + 20
    runs = 0
    for runs in range(4000):
        if time.monotonic() > deadline:
            break
        data, ts = rng.choice(sources)
        buf = bytearray(data)
        for _ in range(rng.randint(1, 6)):
            kind = rng.random()
            pos = rng.randrange(len(buf))
            if kind < 0.5:
                buf[pos] = rng.randrange(256)
            elif kind < 0.7:
                del buf[pos:pos + rng.randint(1, 20)]
            elif kind < 0.9:
                struct.pack_into("<I", buf, min(pos, len(buf) - 4), rng.choice([0xFFFFFFFF, 0, 1, 7, 0x7FFFFFFF]))
            else:
                buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 9)))
        try:
            result = S.scan(bytes(buf), ts)
            if result.needs_repair:
                S.scan(S.repair(result), ts)
        except S.StructureError:
            pass
    assert runs > 500
