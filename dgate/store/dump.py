"""Header dumps as ``dump_header`` prints them (``DumpVR``; conquest-protocol.md §5.8).

One line per element: ``>`` per nesting level, ``gggg,eeee``, the length as ``%6u``, the VR,
the keyword padded or cut to 20, three spaces, the value. Strings are quoted (``\\``
doubled, CR/LF/FF escaped, at most 256 characters) and followed by one space; numbers
are listed; OB/OW show their first 11 bytes/words in hex; sequences show
``Sequence Item`` and their items one level deeper, separated by ``-`` lines.
"""
from __future__ import annotations

import struct

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from ..db.values import element_bytes

_STRING_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UI", "UT",
               "UC", "UR"}
_NUMBERS = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "FL": "f", "FD": "d"}


def dump(ds: Dataset, depth: int = 0) -> str:
    lines: list[str] = []
    for elem in ds:
        _dump_element(ds, elem, depth, lines)
    return "".join(lines)


def _keyword(elem: DataElement) -> str:
    return (elem.keyword or "")[:20].ljust(20)


def _dump_element(ds: Dataset, elem: DataElement, depth: int, lines: list[str]) -> None:
    tag = int(elem.tag)
    head = f"{'>' * depth}{tag >> 16:04x},{tag & 0xFFFF:04x} "
    if elem.VR == "SQ":
        items = elem.value or []
        lines.append(f"{head}{0:6d} SQ {_keyword(elem)}   Sequence Item\n")
        for i, item in enumerate(items):
            if i:
                lines.append("-" * (depth + 1) + "\n")
            lines.append(dump(item, depth + 1))
        return
    raw = element_bytes(ds, tag) or b""
    vr = elem.VR if len(elem.VR) == 2 else "UN"
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
        return " ".join(f"{w:04x}" for w in struct.unpack("<" + "H" * count, raw[:2 * count]))
    if vr in ("OB", "OF", "OD", "OL", "OV"):
        return " ".join(f"{b:02x}" for b in raw[:11])
    if len(raw) == 2:
        (v,) = struct.unpack("<H", raw)
        return f"({v}|{v:04x})"
    if len(raw) == 4:
        (v,) = struct.unpack("<I", raw)
        return f"[{v}|{v:08x}]"
    if all(32 <= b < 127 for b in raw.rstrip(b"\0 ")):
        return f'"{raw.decode("latin-1").rstrip(chr(0))}" '
    return " ".join(f"{b:02x}" for b in raw[:16])
