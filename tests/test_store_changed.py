"""A changed object is stored by splicing: only the changed top-level elements are encoded
again (:func:`dgate.store.formats.encode_changes`); the result must be what a full pydicom
encode of the changed data set gives."""
from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from dgate.convert.pristine import snapshot, syntax_of, unchanged
from dgate.store.formats import Encoded, encode_changes, read_file, splice_changes
from dgate.store.lazyset import lazy_dataset, scanned_elements
from dgate.store.scan import scan

FILES = ["CT_small.dcm", "MR_small_implicit.dcm", "JPEG2000.dcm", "rtplan.dcm"]


def _change(ds: Dataset) -> None:
    _ = ds.PatientID, ds.get("Modality"), ds.get("StudyInstanceUID")      # read only: parsed, same bytes
    ds.InstitutionName = "BENCH CT"                                     # set
    ds.add_new(0x00091010, "LO", "PRIVATE")                              # insert
    ds.add_new(0x7FE10010, "LO", "AFTER PIXELS")                        # append after the last element
    if "PatientName" in ds:
        del ds.PatientName                                               # remove
    item = Dataset()
    item.CodeValue = "X1"
    ds.ReferencedImageSequence = Sequence([item])                       # a new sequence


@pytest.mark.parametrize("name", FILES)
def test_spliced_bytes_equal_a_full_pydicom_encode(name):
    encoded = read_file(get_testdata_file(name))
    ds = encoded.dataset()
    before = dict(ds._dict)
    _change(ds)
    spliced = encode_changes(ds, before, scan(encoded.raw, encoded.transfer_syntax))
    assert spliced is not None
    assert spliced == Encoded.from_dataset(ds, encoded.transfer_syntax).raw


def test_no_splice_when_it_could_differ():
    encoded = read_file(get_testdata_file("MR_small_bigendian.dcm"))
    ds = encoded.dataset()
    before = dict(ds._dict)
    ds.InstitutionName = "X"
    assert encode_changes(ds, before, scan(encoded.raw, encoded.transfer_syntax)) is None
    encoded = read_file(get_testdata_file("CT_small.dcm"))
    ds = encoded.dataset()
    before = dict(ds._dict)
    ds.SpecificCharacterSet = "ISO_IR 192"        # every text element would be re-encoded
    assert encode_changes(ds, before, scan(encoded.raw, encoded.transfer_syntax)) is None


def test_stored_file_of_a_lua_changed_object_equals_the_pydicom_encoding(tmp_path: Path):
    """``[lua] ImportConverter0`` changes the object in ingest; the stored file holds, element
    by element, what pydicom encodes for the same change."""
    import dgate.hub.plugins  # noqa: F401  (registers the converter import step)
    from dgate.config import Configuration
    from dgate.config.defaults import create_default_config
    from dgate.convert import plugin
    from dgate.db import open_database
    from dgate.log import logs
    from dgate.luabind import states
    from dgate.luabind.context import LuaServices
    from dgate.store.ingest import Ingest

    create_default_config(tmp_path)
    with open(tmp_path / "dicom.ini", "a") as ini:
        ini.write("\n[lua]\nImportConverter0 = local a = Data.PatientID; Data.InstitutionName = 'LUA ' .. "
                  "Data.Modality; Data.PatientName = nil; Data.StationName = 'ST1'\n")
    config = Configuration.open(tmp_path)
    db = open_database(config)
    db.initialize_tables(0, echo=lambda text: None)
    plugin.sync(config)
    states.configure(LuaServices(config=config))
    try:
        base = read_file(get_testdata_file("CT_small.dcm"))
        src = base.dataset()
        src.SOPInstanceUID = generate_uid()
        received = Encoded.from_dataset(src, base.transfer_syntax)
        stored = Ingest(config, logs).store(received, db)
        expected = received.dataset()
        expected.InstitutionName = "LUA CT"
        del expected.PatientName
        expected.StationName = "ST1"
        expected = Encoded(Encoded.from_dataset(expected, base.transfer_syntax).raw, base.transfer_syntax).dataset()
        got = pydicom.dcmread(str(stored.path))
        assert got.file_meta.TransferSyntaxUID == base.transfer_syntax
        assert got.InstitutionName == "LUA CT" and "PatientName" not in got
        assert [e.tag for e in got] == [e.tag for e in expected]
        for elem in expected:
            assert got[elem.tag].VR == elem.VR and got[elem.tag].value == elem.value, elem.tag
    finally:
        plugin.IMPORT_STEPS.unregister("convert.import")


@pytest.mark.parametrize("name", FILES + ["SC_rgb_rle.dcm", "rtstruct.dcm", "emri_small_jpeg_2k_lossless.dcm"])
def test_lazy_dataset_equals_pydicoms(name):
    encoded = read_file(get_testdata_file(name))
    sc = scan(encoded.raw, encoded.transfer_syntax)
    mine, theirs = lazy_dataset(sc), encoded.dataset()
    assert mine is not None and len(mine) == len(theirs) == len(sc.elements)
    assert list(mine.keys()) == list(theirs.keys())
    assert mine == theirs                                     # every element parsed and compared
    assert mine.original_encoding == theirs.original_encoding
    assert mine.original_character_set == theirs.original_character_set
    # made without running Dataset.__init__: the same attributes, containers of its own
    ours, decoded = dict(vars(mine)), dict(vars(theirs))
    assert ours.keys() == decoded.keys()
    assert {k: v for k, v in ours.items() if k not in ("_dict", "file_meta")} == \
        {k: v for k, v in decoded.items() if k not in ("_dict", "file_meta")}
    assert mine._private_blocks is not lazy_dataset(sc)._private_blocks
    assert mine.file_meta == theirs.file_meta and vars(mine.file_meta).keys() == vars(theirs.file_meta).keys()
    mine.file_meta.TransferSyntaxUID = "1.2.3"                 # its own element, not a shared one
    assert lazy_dataset(sc).file_meta.TransferSyntaxUID == encoded.transfer_syntax


@pytest.mark.parametrize("charset", ["ISO_IR 100", "ISO_IR 192", ["", "ISO 2022 IR 87"], "ISO_IR 144 "])
@pytest.mark.parametrize("syntax", ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"])
def test_lazy_dataset_reads_the_character_set_as_pydicom(charset, syntax):
    """The lazy data set's encodings come from the character set's bytes (remembered per
    value); they must be what pydicom's decode of the same bytes gives."""
    ds = read_file(get_testdata_file("CT_small.dcm")).dataset()
    ds.SpecificCharacterSet = charset
    encoded = Encoded.from_dataset(ds, syntax)
    for _ in range(2):                                         # made, then remembered
        mine, theirs = lazy_dataset(scan(encoded.raw, syntax)), encoded.dataset()
        assert mine is not None and mine._read_charset == theirs._read_charset
        assert mine.original_character_set == theirs.original_character_set != ["iso8859"]
        assert mine.SpecificCharacterSet == theirs.SpecificCharacterSet


@pytest.mark.parametrize("name", FILES)
def test_lazy_spliced_bytes_equal_a_full_pydicom_encode(name):
    """The lazy data set knows what a step touched: splicing only that gives the full encode."""
    encoded = read_file(get_testdata_file(name))
    sc = scan(encoded.raw, encoded.transfer_syntax)
    ds = lazy_dataset(sc)
    _change(ds)
    touched = scanned_elements(ds).touched()
    assert len(touched) < len(sc.elements) / 2 or len(sc.elements) < 30   # the rest was never made
    result = splice_changes(ds, None, sc)
    assert result is not None
    spliced, spliced_scan = result
    expected = encoded.dataset()
    _change(expected)
    assert spliced == Encoded.from_dataset(expected, encoded.transfer_syntax).raw
    fresh = scan(spliced, encoded.transfer_syntax)             # the shifted scan is the scan of the result
    assert spliced_scan is not None and spliced_scan.data == spliced
    assert {t: spliced_scan.element(t) for t in spliced_scan.order} == {t: fresh.element(t) for t in fresh.order}
    assert spliced_scan.order == fresh.order and spliced_scan.undefined == fresh.undefined


def test_a_raw_element_set_by_a_script_is_spliced_as_pydicom_writes_it():
    """Lua sets elements as raw values; the splice writes their headers itself."""
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import BaseTag
    for name in ("CT_small.dcm", "MR_small_implicit.dcm"):
        encoded = read_file(get_testdata_file(name))
        sc = scan(encoded.raw, encoded.transfer_syntax)
        ds, expected = lazy_dataset(sc), encoded.dataset()
        for target in (ds, expected):
            for tag, vr, value in ((0x00080080, "LO", b"BENCH CT"), (0x00291010, "OB", b"\1\2"),
                                   (0x00081030, "LO", b"A" * 300)):
                target[tag] = RawDataElement(BaseTag(tag), vr, len(value), value, 0, False, True)
        spliced = encode_changes(ds, None, sc)
        assert spliced == Encoded.from_dataset(expected, encoded.transfer_syntax).raw, name


def test_elements_replaced_before_anything_read_them_count_as_their_kind_says():
    """An element set raw or deleted before it was read is a change; one set to an equal
    parsed element is not (what comparing with the element made from the bytes gives)."""
    from pydicom.dataelem import DataElement, RawDataElement
    from pydicom.tag import BaseTag
    encoded = read_file(get_testdata_file("CT_small.dcm"))
    sc = scan(encoded.raw, encoded.transfer_syntax)
    raw = RawDataElement(BaseTag(0x00080060), "CS", 2, b"CT", 0, False, True)
    for change, same in ((lambda ds: ds.__setitem__(0x00080060, raw), False),
                         (lambda ds: ds.__delitem__(0x00081010), False),
                         (lambda ds: ds.__setitem__(0x00080060, DataElement(0x00080060, "CS", "CT")), True),
                         (lambda ds: ds.__setitem__(0x00080060, DataElement(0x00080060, "CS", "MR")), False)):
        ds = lazy_dataset(sc)
        before, ts = snapshot(ds), syntax_of(ds)
        change(ds)
        assert unchanged(ds, before, ts) is same


def test_lazy_dataset_makes_only_what_is_used_and_tells_what_changed():
    encoded = read_file(get_testdata_file("CT_small.dcm"))
    sc = scan(encoded.raw, encoded.transfer_syntax)
    ds = lazy_dataset(sc)
    elements = scanned_elements(ds)
    assert elements is not None and dict.__len__(elements) <= 2       # the character set (and nothing else)
    assert "PatientID" in ds and 0x00100020 in elements                # membership makes nothing
    made = dict.__len__(elements)
    before, ts = snapshot(ds), syntax_of(ds)
    assert ds.PatientID == "1CT1" and ds.Modality == "CT"             # read: parsed, still unchanged
    assert dict.__len__(elements) == made + 2
    assert unchanged(ds, before, ts)
    assert encode_changes(ds, None, sc) == encoded.raw                # parsed but same: same bytes
    ds.Modality = "MR"                                                # in place, on a parsed element
    assert not unchanged(ds, before, ts)
    ds.Modality = "CT"
    assert unchanged(ds, before, ts)
    ds.PatientName = ds.PatientName                                   # pending until now, same value
    assert unchanged(ds, before, ts)
    del ds.StationName                                                # never read: deleted unmade
    assert not unchanged(ds, before, ts) and "StationName" not in ds
    assert len(ds) == len(sc.elements) - 1
    again = snapshot(ds)
    ds.add_new(0x00091010, "LO", "ADDED")
    assert not unchanged(ds, again, ts)
    del ds[0x00091010]
    assert unchanged(ds, again, ts)


def test_lazy_dataset_copies_and_pickles_as_an_ordinary_one():
    import copy
    import pickle
    encoded = read_file(get_testdata_file("MR_small_implicit.dcm"))
    ds = lazy_dataset(scan(encoded.raw, encoded.transfer_syntax))
    ds.PatientID = "CHANGED"
    theirs = encoded.dataset()
    theirs.PatientID = "CHANGED"
    for other in (copy.deepcopy(ds), pickle.loads(pickle.dumps(ds))):
        assert type(other._dict) is dict and other == theirs
    shallow = copy.copy(ds)
    assert shallow == theirs and [e.tag for e in shallow] == [e.tag for e in theirs]
    assert ds.to_json_dict() == theirs.to_json_dict()


def test_lazy_dataset_refuses_what_it_cannot_read_lazily():
    encoded = read_file(get_testdata_file("MR_small_bigendian.dcm"))
    assert lazy_dataset(scan(encoded.raw, encoded.transfer_syntax)) is None


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small_implicit.dcm"])
def test_lazy_splice_drops_group_lengths_as_pydicom_does(name):
    """Retired group lengths (gggg,0000) in the received bytes are left out, as pydicom's
    writer leaves them out; one change or several, before and after them."""
    from dgate.store.scan import patch
    encoded = read_file(get_testdata_file(name))
    ts = encoded.transfer_syntax
    raw = patch(scan(encoded.raw, ts), {0x00080000: ("UL", b"\0\0\0\0"), 0x00100000: ("UL", b"\0\0\0\0"),
                                        0x00280000: ("UL", b"\0\0\0\0")})
    for change in (lambda d: setattr(d, "InstitutionName", "BENCH CT"), _change):
        sc = scan(raw, ts)
        ds = lazy_dataset(sc)
        change(ds)
        result = splice_changes(ds, None, sc)
        assert result is not None and result[1] is not None
        expected = Encoded(raw, ts).dataset()
        change(expected)
        full = Encoded.from_dataset(expected, ts).raw
        assert result[0] == full and b"\x08\x00\x00\x00" not in full[:8]
        fresh = scan(full, ts)
        assert result[1].raw_values(fresh.elements) == fresh.raw_values(fresh.elements)
