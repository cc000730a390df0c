"""Data sets as DICOM JSON (PS3.18 Annex F), with BulkDataURIs for large binary values.

Elements are converted by pydicom (``DataElement.to_json_dict``); this module walks the
sequences itself so each BulkDataURI names its element's path
(``…/bulkdata/<tag>[/<item>/<tag>…]``, PS3.18 §8.6.2 "BulkDataURI").
"""
from __future__ import annotations

import base64
import json
import struct
from collections.abc import Callable

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

BULK_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}
BULK_THRESHOLD = 1024


def tag_text(tag: int) -> str:
    return f"{tag:08X}"


_TEXT_MULTI = {"AE", "AS", "CS", "DA", "DT", "LO", "SH", "TM", "UC"}
_TEXT_SINGLE = {"LT", "ST", "UT", "UR"}
_NUMBERS = {"US": "H", "SS": "h", "UL": "L", "SL": "l", "FL": "f", "FD": "d", "UV": "Q", "SV": "q"}
_NON_ASCII_SAFE = {"AE", "AS", "CS", "DA", "DT", "TM", "UI", "IS", "DS", "UR"}


def _number(text: str, vr: str):
    if vr == "IS":
        return int(text)
    value = float(text)
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def raw_json(vr: str, value: bytes, little: bool = True) -> dict | None:
    """DICOM JSON of a raw value for the common VRs, without pydicom's element objects;
    None when the slow, general path must be taken (non-ASCII text, SQ, odd cases)."""
    if not value:
        return {"vr": vr}
    if vr in _NUMBERS:
        fmt = _NUMBERS[vr]
        size = struct.calcsize("<" + fmt)
        count = len(value) // size
        if count * size != len(value):
            return None
        numbers = list(struct.unpack(("<" if little else ">") + fmt * count, value))
        if vr in ("FL", "FD") and any(v != v or v in (float("inf"), float("-inf")) for v in numbers):
            return None
        return {"vr": vr, "Value": numbers}
    if vr in BULK_VRS:
        return {"vr": vr, "InlineBinary": base64.b64encode(value).decode("ascii")}
    if vr == "AT":
        if len(value) % 4:
            return None
        pairs = struct.unpack(("<" if little else ">") + "H" * (len(value) // 2), value)
        return {"vr": vr, "Value": [f"{pairs[i]:04X}{pairs[i + 1]:04X}" for i in range(0, len(pairs), 2)]}
    if vr not in _NON_ASCII_SAFE and max(value) > 0x7F:
        return None
    text = value.decode("latin-1")
    if vr in _TEXT_SINGLE:
        text = text.rstrip(" \0")
        return {"vr": vr, "Value": [text]} if text else {"vr": vr}
    if vr == "UI":
        items = [v.strip(" \0") for v in text.split("\\")]
    elif vr == "PN":
        people = []
        for item in text.rstrip(" \0").split("\\"):
            groups = item.split("=")
            person = {}
            for name, group in zip(("Alphabetic", "Ideographic", "Phonetic"), groups):
                group = group.rstrip(" ")
                if group:
                    person[name] = group
            people.append(person or None)
        if all(p is None for p in people):
            return {"vr": vr}
        return {"vr": vr, "Value": people}
    elif vr in ("IS", "DS"):
        items = [v.strip(" \0") for v in text.split("\\")]
        try:
            numbers = [_number(v, vr) if v else None for v in items]
        except ValueError:
            return None
        if all(n is None for n in numbers):
            return {"vr": vr}
        return {"vr": vr, "Value": numbers}
    elif vr in _TEXT_MULTI:
        items = [v.strip(" \0") if vr != "LO" and vr != "SH" and vr != "UC" else v.rstrip(" \0").lstrip(" ")
                 for v in text.split("\\")]
    else:
        return None
    if all(not v for v in items):
        return {"vr": vr}
    return {"vr": vr, "Value": [v if v else None for v in items]}


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
        if isinstance(raw, RawDataElement) and raw.VR not in (None, "SQ") and raw.value is not None \
                and not (bulk_uri is not None and raw.VR in BULK_VRS and raw.length > BULK_THRESHOLD):
            fast = raw_json(raw.VR, bytes(raw.value), raw.is_little_endian) if raw.VR != "UN" \
                else {"vr": "UN", "InlineBinary": base64.b64encode(raw.value).decode("ascii")}
            if fast is not None:
                out[key] = fast
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
