"""Header dumps as ``dump_header`` prints them (``DumpVR``; conquest-protocol.md §5.8).

One line per element: ``>`` per nesting level, ``gggg,eeee``, the length as ``%6u``, the VR,
the keyword padded or cut to 20, three spaces, the value. Strings are quoted (``\\``
doubled, CR/LF/FF escaped, at most 256 characters) and followed by one space; numbers
are listed; OB/OW show their first 11 bytes/words in hex; sequences show
``Sequence Item`` and their items one level deeper, separated by ``-`` lines.
"""
from __future__ import annotations

import struct

from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from ..db.values import element_bytes

_STRING_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UI", "UT",
               "UC", "UR"}
_NUMBERS = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "FL": "f", "FD": "d"}


def dump(ds: Dataset, depth: int = 0) -> str:
    """Elements are read raw (as stored, padding kept) and typed by the dictionary, as
    the original types them by dgate.dic: private and unknown elements show as ``UN``."""
    lines: list[str] = []
    for tag in sorted(ds.keys()):
        _dump_element(ds, ds.get_item(tag), depth, lines)
    return "".join(lines)


def _keyword(elem: DataElement | RawDataElement) -> str:
    return (keyword_for_tag(elem.tag) if not Tag(elem.tag).is_private else "")[:20].ljust(20)


def _dictionary_vr(elem: DataElement | RawDataElement) -> str:
    tag = Tag(elem.tag)
    if tag.is_private:
        return "SQ" if elem.VR == "SQ" else "UN"
    try:
        choices = dictionary_VR(tag).split(" or ")
    except KeyError:
        return "UN"
    return elem.VR if choices == ["OB", "OW"] and elem.VR in choices else choices[0]


def _dump_element(ds: Dataset, elem: DataElement | RawDataElement, depth: int, lines: list[str]) -> None:
    tag = int(elem.tag)
    head = f"{'>' * depth}{tag >> 16:04x},{tag & 0xFFFF:04x} "
    vr = _dictionary_vr(elem)
    if vr == "SQ" or elem.VR == "SQ":
        items = ds[tag].value or []
        lines.append(f"{head}{0:6d} SQ {_keyword(elem)}   Sequence Item\n")
        for i, item in enumerate(items):
            if i:
                lines.append("-" * (depth + 1) + "\n")
            lines.append(dump(item, depth + 1))
        return
    raw = element_bytes(ds, tag) or b""
    if len(raw) % 2 and not isinstance(elem, RawDataElement):   # set in memory: padded as it is written
        raw += b"\0" if (elem.VR or vr) in ("UI", "OB", "UN") else b" "
    lines.append(f"{head}{len(raw):6d} {vr} {_keyword(elem)}   {_value(vr, raw, ds.is_little_endian is not False)}\n")


def _value(vr: str, raw: bytes, little: bool) -> str:
    if not raw:
        return "(empty)"
    if vr in _STRING_VRS:
        text = raw.decode("latin-1").rstrip("\0")[:256]
        text = text.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n").replace("\f", "\\f")
        return f'"{text}" '
    if vr in _NUMBERS:
        fmt = _NUMBERS[vr]
        size = struct.calcsize(fmt)
        count = min(len(raw) // size, 8)
        values = struct.unpack(("<" if little else ">") + fmt * count, raw[:size * count])
        return " ".join(("%g" % v) if fmt in "fd" else str(v) for v in values) + " "
    if vr == "AT" and len(raw) >= 4:
        group, element = struct.unpack("<HH", raw[:4])
        return f"({group:04x}, {element:04x}) "
    if vr == "OW":
        count = min(len(raw) // 2, 11)
        return " ".join(f"{w:04x}" for w in struct.unpack("<" + "H" * count, raw[:2 * count])) + " "
    if vr in ("OB", "OF", "OD", "OL", "OV"):
        return " ".join(f"{b:02x}" for b in raw[:11]) + " "
    if len(raw) == 2:
        (v,) = struct.unpack("<H", raw)
        return f"({v}|{v:x})"
    if len(raw) == 4:
        (v,) = struct.unpack("<i", raw)
        return f"[{v}|{v & 0xFFFFFFFF:x}]"
    if all(32 <= b < 127 or b == 0 for b in raw):
        return '"' + raw.split(b"\0", 1)[0].decode("latin-1").replace("\\", "\\\\") + '"'
    return " ".join(f"{b:02x}" + (f"({chr(b)})" if 32 < b < 127 else "") for b in raw[:16]) + " "
