"""Change detection that lets unchanged objects be stored or forwarded as received
(:mod:`dgate.convert.pristine`)."""
from __future__ import annotations

from convhelpers import ct

from dgate.convert.pristine import remember_source, snapshot, source_bytes, syntax_of, unchanged
from dgate.store.formats import Encoded

EXPLICIT = "1.2.840.10008.1.2.1"


def _decoded():
    encoded = Encoded.from_dataset(ct(), EXPLICIT)
    return encoded, encoded.dataset()


def test_reading_elements_is_not_a_change():
    _, ds = _decoded()
    before, ts = snapshot(ds), syntax_of(ds)
    _ = ds.PatientName, ds.get("StudyInstanceUID"), ds.Modality, ds.SOPClassUID
    assert unchanged(ds, before, ts)


def test_set_delete_add_and_in_place_changes_are_changes():
    for change in (lambda d: setattr(d, "PatientName", "X"), lambda d: delattr(d, "PatientName"),
                   lambda d: setattr(d, "StationName", "NEW"),
                   lambda d: setattr(d["PatientID"], "value", "OTHER"),
                   lambda d: setattr(d.file_meta, "TransferSyntaxUID", "1.2.840.10008.1.2")):
        _, ds = _decoded()
        before, ts = snapshot(ds), syntax_of(ds)
        change(ds)
        assert not unchanged(ds, before, ts)


def test_an_element_parsed_before_the_snapshot_and_changed_in_place_is_a_change():
    _, ds = _decoded()
    _ = ds.PatientName
    before, ts = snapshot(ds), syntax_of(ds)
    ds["PatientName"].value = "CHANGED"
    assert not unchanged(ds, before, ts)


def test_source_bytes_only_while_unchanged():
    encoded, ds = _decoded()
    remember_source(ds, encoded.raw, encoded.transfer_syntax)
    _ = ds.SeriesInstanceUID
    assert source_bytes(ds) == (encoded.raw, EXPLICIT)
    ds.PatientName = "SOMEONE^ELSE"
    assert source_bytes(ds) is None
