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


def _spliceable(ts: str) -> bytes:
    """Elements in several groups, an undefined-length sequence and private data after the
    first splice points, pixel data last."""
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = "1.2.3.4.5"
    ds.InstitutionName = "JFK IMAGING CENTER"
    item = Dataset()
    item.ReferencedSOPInstanceUID = "1.2.3"
    ds.ReferencedImageSequence = Sequence([item])
    ds["ReferencedImageSequence"].is_undefined_length = True
    ds.PatientName = "Test^Patient"
    ds.PatientID = "ID1"
    ds.StudyInstanceUID = "1.2.3.4"
    ds.add_new(0x00291010, "OB", b"\1\2\3\4")
    ds.PixelData = b"\0\1" * 8
    ds["PixelData"].VR = "OW"
    return encode(ds, ts)


def _sequence_piece(ts: str) -> bytes:
    ds = Dataset()
    item = Dataset()
    item.ReferencedSOPInstanceUID = "9.8.7"
    ds.ReferencedImageSequence = Sequence([item, Dataset()])
    return encode(ds, ts)


@pytest.mark.parametrize("ts", [S.IMPLICIT_LE, S.EXPLICIT_LE])
@pytest.mark.parametrize("case", ["replace shorter", "replace longer", "insert first", "append", "remove",
                                  "several", "sequence"])
def test_spliced_scan_reads_as_a_fresh_scan_of_the_result(ts, case):
    """The scan :func:`splice` gives shifts the untouched elements when they are read: every
    read (before and after the whole mapping is built) equals a fresh scan of the result."""
    explicit = ts != S.IMPLICIT_LE
    data = _spliceable(ts)

    def lo(tag: int, text: bytes) -> bytes:
        return S.encode_element(tag, "LO", S.pad_value(text, "LO"), explicit)

    pieces = {"replace shorter": {0x00080080: lo(0x00080080, b"BENCH CT")},
              "replace longer": {0x00080080: lo(0x00080080, b"A MUCH LONGER INSTITUTION NAME")},
              "insert first": {0x00080005: S.encode_element(0x00080005, "CS", b"ISO_IR 100", explicit)},
              "append": {0x7FE10010: lo(0x7FE10010, b"AFTER PIXELS")},
              "remove": {0x00100010: b""},
              "several": {0x00080080: lo(0x00080080, b"X"), 0x00091010: lo(0x00091010, b"PRIVATE"),
                          0x00100010: b"", 0x00100021: lo(0x00100021, b"ISSUER"),
                          0x00291010: S.encode_element(0x00291010, "OB", b"\5\6", explicit)},
              "sequence": {0x00081140: _sequence_piece(ts), 0x00100020: lo(0x00100020, b"ID2")}}[case]
    sc = S.scan(data, ts)
    out, spliced = S.splice(sc, pieces)
    expected = bytearray(data)
    for tag in sorted(pieces, reverse=True):            # the same edit made by hand, last first
        elem = sc.element(tag)
        if elem is not None:
            expected[elem.header:elem.end] = pieces[tag]
        else:
            at = next((sc.element(t).header for t in sc.order if t > tag), len(data))
            expected[at:at] = pieces[tag]
    assert out == bytes(expected)
    fresh = S.scan(out, ts)
    assert spliced is not None and spliced.data == out and not spliced.needs_repair
    tags = list(fresh.elements) + list(pieces) + [0x00080001, 0x00200000, 0xFFFFFFF0]
    assert spliced.raw_values(tags) == fresh.raw_values(tags)
    for tag in tags:
        assert spliced.element(tag) == fresh.element(tag), hex(tag)
        assert spliced.raw(tag) == fresh.raw(tag) and spliced.text(tag) == fresh.text(tag)
    assert [tag in spliced for tag in tags] == [tag in fresh for tag in tags]
    assert spliced._elements is None                     # all of that read without building the mapping
    assert spliced.undefined == fresh.undefined
    assert spliced.elements == fresh.elements and spliced.order == fresh.order and spliced.in_order
    assert spliced == fresh and fresh == spliced
    assert spliced.raw_values(tags) == fresh.raw_values(tags)    # now from the mapping
    assert [spliced.element(t) for t in tags] == [fresh.element(t) for t in tags]


def test_splice_gives_no_scan_for_a_piece_that_is_not_one_clean_element():
    data = _spliceable(S.EXPLICIT_LE)
    sc = S.scan(data, S.EXPLICIT_LE)
    one = S.encode_element(0x00080080, "LO", b"AB", True)
    other = S.encode_element(0x00080090, "PN", b"AB", True)
    for piece in (one + one, S.encode_element(0x00080081, "LO", b"AB", True), one + b"\0\0", one + other):
        out, spliced = S.splice(sc, {0x00080080: piece})
        assert spliced is None and piece in out
    out, spliced = S.splice(sc, {0x00080080: one})
    assert spliced is not None and spliced.raw(0x00080080) == b"AB"


def test_group_lengths_are_each_groups_first_element_and_group_2():
    data = _spliceable(S.EXPLICIT_LE)
    sc = S.scan(S.patch(S.scan(data, S.EXPLICIT_LE), {0x00080000: ("UL", b"\0\0\0\0"),
                                                       0x00290000: ("UL", b"\0\0\0\0"),
                                                       0x00020010: ("UI", b"1.2.840.10008.1.2.1"),
                                                       0x00020002: ("UI", b"1.2")}), S.EXPLICIT_LE)
    assert sc.in_order
    assert sorted(set(sc.group_lengths())) == [0x00020002, 0x00020010, 0x00080000, 0x00290000]
    assert sc.group_lengths(sc.order) == sc.group_lengths()
    assert S.scan(data, S.EXPLICIT_LE).group_lengths() == []
