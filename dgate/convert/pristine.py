"""Has a converter changed an object? (so its received or stored bytes can be sent or stored
as they are, without encoding it again).

:func:`snapshot` records a freshly decoded data set's elements; :func:`unchanged` tells
whether it still holds exactly those values. :func:`remember_source` ties a data set to the
bytes it was decoded from; :func:`source_bytes` gives them back while it is unchanged.
"""
from __future__ import annotations

from pydicom.dataset import Dataset

SOURCE = _SOURCE = "_dgate_source"   # (bytes, syntax, snapshot, syntax of ds) kept on ds


def syntax_of(ds: Dataset) -> str:
    meta = getattr(ds, "file_meta", None)
    return str(getattr(meta, "TransferSyntaxUID", "") or "") if meta is not None else ""


def snapshot(ds: Dataset) -> dict:
    """What :func:`unchanged` compares with: each element, and a copy of the value of those
    already parsed (a converter may change those in place)."""
    import copy

    from pydicom.dataelem import RawDataElement
    return {tag: (elem, None if isinstance(elem, RawDataElement) or elem.VR == "SQ" else copy.deepcopy(elem.value))
            for tag, elem in ds._dict.items()}


def unchanged(ds: Dataset, before: dict, ts_before: str) -> bool:
    """The converters left ``ds`` as it was decoded (``before``: :func:`snapshot`), so the
    received bytes can be stored as they are. An element only read by a converter (parsed from
    its raw form) counts as unchanged when its value is still the parsed raw value; a parsed
    sequence counts as changed."""
    from pydicom.dataelem import RawDataElement, convert_raw_data_element
    now = ds._dict
    if syntax_of(ds) != ts_before or now.keys() != before.keys():
        return False
    for tag, (old, value) in before.items():
        new = now[tag]
        if not isinstance(old, RawDataElement):
            if new is not old or old.VR == "SQ" or new.value != value:
                return False
            continue
        if new is old:
            continue
        if isinstance(new, RawDataElement) or new.VR == "SQ":
            return False
        try:
            parsed = convert_raw_data_element(old, encoding=ds._character_set, ds=ds)
        except Exception:
            return False
        if parsed.VR != new.VR or parsed.value != new.value:
            return False
    return True


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
