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

from dgate.store.formats import Encoded, encode_changes, read_file
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
def test_dataset_from_the_scan_equals_pydicoms(name):
    from dgate.store.formats import dataset_from_scan
    encoded = read_file(get_testdata_file(name))
    mine, theirs = dataset_from_scan(scan(encoded.raw, encoded.transfer_syntax)), encoded.dataset()
    assert mine is not None and list(mine.keys()) == list(theirs.keys())
    assert mine == theirs                                     # every element parsed and compared
    assert mine.original_encoding == theirs.original_encoding
    assert mine.original_character_set == theirs.original_character_set
