"""Has a converter changed an object? (so its received or stored bytes can be sent or stored
as they are, without encoding it again).

:func:`snapshot` records a freshly decoded data set's elements; :func:`unchanged` tells
whether it still holds exactly those values. :func:`remember_source` ties a data set to the
bytes it was decoded from; :func:`source_bytes` gives them back while it is unchanged.
"""
from __future__ import annotations

import copy

from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset

from ..store.formats import syntax_of
from ..store.lazyset import scanned_elements

__all__ = ["SOURCE", "remember_source", "snapshot", "source_bytes", "syntax_of", "unchanged"]

SOURCE = _SOURCE = "_dgate_source"   # (bytes, syntax, snapshot, syntax of ds) kept on ds


def snapshot(ds: Dataset) -> dict:
    """What :func:`unchanged` compares with: each element, and a copy of the value of those
    already parsed (a converter may change those in place). For a data set made lazily from
    scanned bytes (:mod:`dgate.store.lazyset`) only the elements touched so far: the others
    are still their bytes."""
    lazy = scanned_elements(ds)
    if lazy is None:
        return {tag: _entry(elem) for tag, elem in ds._dict.items()}
    return {tag: _entry(lazy.current(tag)) for tag in lazy.touched()}


def _entry(elem) -> tuple:
    return elem, None if elem is None or isinstance(elem, RawDataElement) or elem.VR == "SQ" \
        else copy.deepcopy(elem.value)


def unchanged(ds: Dataset, before: dict, ts_before: str) -> bool:
    """The converters left ``ds`` as it was decoded (``before``: :func:`snapshot`), so the
    received bytes can be stored as they are. An element only read by a converter (parsed from
    its raw form) counts as unchanged when its value is still the parsed raw value; a parsed
    sequence counts as changed."""
    if syntax_of(ds) != ts_before:
        return False
    lazy = scanned_elements(ds)
    if lazy is None:
        now = ds._dict
        if now.keys() != before.keys():
            return False
        return all(_same(old, value, now[tag], ds) for tag, (old, value) in before.items())
    for tag in lazy.touched() | before.keys():
        if tag in before:
            old, value = before[tag]
        elif lazy.replaced_unread(tag) and not isinstance(lazy.current(tag), DataElement):
            return False        # deleted or set raw unread: what _same says, without making the old one
        else:
            old, value = lazy.original(tag), None     # untouched then: its bytes
        if not _same(old, value, lazy.current(tag), ds):
            return False
    return True


def _same(old, value, new, ds: Dataset) -> bool:
    """Is element ``new`` (None: absent) what ``old`` was (with ``value``, its parsed value then)?"""
    if old is None or new is None:
        return old is new
    if not isinstance(old, RawDataElement):
        return new is old and old.VR != "SQ" and new.value == value
    if new is old:
        return True
    if isinstance(new, RawDataElement) or new.VR == "SQ":
        return False
    try:
        parsed = convert_raw_data_element(old, encoding=ds._character_set, ds=ds)
    except Exception:
        return False
    return parsed.VR == new.VR and parsed.value == new.value


def remember_source(ds: Dataset, raw: bytes, transfer_syntax: str) -> Dataset:
    """Keep the data set bytes ``ds`` was decoded from (in ``transfer_syntax``)."""
    object.__setattr__(ds, _SOURCE, (raw, transfer_syntax, snapshot(ds), syntax_of(ds)))
    return ds


def source_bytes(ds: Dataset) -> tuple[bytes, str] | None:
    """(bytes, transfer syntax) ``ds`` was decoded from, when it is unchanged since."""
    source = ds.__dict__.get(_SOURCE)
    if source is None:
        return None
    raw, ts, before, ts_before = source
    return (raw, ts) if unchanged(ds, before, ts_before) else None
