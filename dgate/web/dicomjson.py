"""Data sets as DICOM JSON (PS3.18 Annex F), with BulkDataURIs for large binary values.

Elements are converted by pydicom (``DataElement.to_json_dict``); this module walks the
sequences itself so each BulkDataURI names its element's path
(``…/bulkdata/<tag>[/<item>/<tag>…]``, PS3.18 §8.6.2 "BulkDataURI").
"""
from __future__ import annotations

import json
from collections.abc import Callable

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

BULK_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}
BULK_THRESHOLD = 1024


def tag_text(tag: int) -> str:
    return f"{tag:08X}"


def to_json_dict(ds: Dataset, bulk_uri: Callable[[list[str]], str] | None = None,
                 path: tuple[str, ...] = (), skip_private: bool = False) -> dict:
    """``ds`` as a DICOM JSON object; binary values over 1 KiB become BulkDataURIs when
    ``bulk_uri`` (path parts → URI) is given, else InlineBinary."""
    out: dict = {}
    for tag_obj in list(ds.keys()):
        tag = int(tag_obj)
        if tag >> 16 == 0x0002 or (tag & 0xFFFF) == 0 or (skip_private and tag_obj.is_private):
            continue
        key = tag_text(tag)
        raw = ds.get_item(tag_obj)
        if isinstance(raw, RawDataElement) and bulk_uri is not None and raw.VR in BULK_VRS \
                and (raw.value is None or raw.length > BULK_THRESHOLD) and raw.length != 0:
            vr = raw.VR                             # deferred or large: never read here
            out[key] = {"vr": vr, "BulkDataURI": bulk_uri(list(path + (key,)))}
            continue
        elem = ds[tag_obj]
        vr = elem.VR
        if vr == "SQ":
            items = [to_json_dict(item, bulk_uri, path + (key, str(i)), skip_private)
                     for i, item in enumerate(elem.value or [])]
            out[key] = {"vr": "SQ", "Value": items} if items else {"vr": "SQ"}
            continue
        if vr in BULK_VRS and bulk_uri is not None and elem.value is not None:
            size = len(elem.value) if isinstance(elem.value, (bytes, bytearray)) else 0
            if size > BULK_THRESHOLD:
                out[key] = {"vr": vr, "BulkDataURI": bulk_uri(list(path + (key,)))}
                continue
        try:
            out[key] = elem.to_json_dict(None, 10 ** 12)
        except Exception:          # a value pydicom cannot convert: keep the VR, drop the value
            out[key] = {"vr": vr}
    return out


def dumps(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
