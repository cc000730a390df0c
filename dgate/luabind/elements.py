"""Element access for Lua: names, reads and writes as dgate's Lua objects do them
(conquest-lua-web.md §2.2, §2.3, §8.4).

Values cross into Lua as byte strings (Python ``str`` holding one byte a character,
Latin-1), exactly the bytes of the element, so any character set survives unchanged.

Reading (``__index``): numbers of US/UL/SS/SL/FD/FL/OF/OW are formatted as text
(``%u``/``%d``/``%f``, several joined with ``\\``); other values are the raw bytes up to
the first NUL with trailing spaces removed; a value over 255 bytes reads as
``"(too long)"``; a sequence reads as an array; a missing element or unknown name is nil.

Writing (``__newindex``, the converter ``set`` statement): strings and numbers set the
element with the dictionary VR (US/UL/SS/SL as ``atoi`` of the text, FD/FL as ``atof``),
odd lengths padded with a space (NUL for UI); a table makes an empty element (for an SQ
an empty sequence); nil deletes a top-level element.
"""
from __future__ import annotations

import re
import struct
from typing import Any

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

from ..config.dictionary import Dictionary, standard_dictionary
from ..config.keys import atoi
from ..store.lazyset import ScannedElements

NUMERIC = {"US": ("H", "%u"), "UL": ("I", "%u"), "SS": ("h", "%d"), "SL": ("i", "%d"),
           "FD": ("d", "%f"), "FL": ("f", "%f"), "OF": ("f", "%f"), "OW": ("H", "%u"),
           "OD": ("d", "%f"), "OL": ("I", "%u"), "UV": ("Q", "%u"), "SV": ("q", "%d")}
BINARY_SET = {"US": "H", "UL": "I", "SS": "h", "SL": "i", "FD": "d", "FL": "f", "OF": "f", "OD": "d",
              "UV": "Q", "SV": "q"}
TEXT_PAD_NUL = {"UI"}
TOO_LONG = "(too long)"
_STEP = re.compile(r"^([0-9A-Fa-f]{4},[0-9A-Fa-f]{4}|[A-Za-z0-9]+)(?:\.(\d+|\*))?$")

_standard: Dictionary | None = None


def standard() -> Dictionary:
    """pydicom's dictionary plus Conquest's private tags (when no dgate.dic is at hand)."""
    global _standard
    if _standard is None:
        _standard = standard_dictionary()
    return _standard


def tag_of(key: str, dic: Dictionary) -> int | None:
    """``gggg,eeee`` or a dictionary keyword (case as in the dictionary) to a tag."""
    return dic.tag_for(key)


_LOOK: Any = object()      # "look the element up" (the caller did not pass it)


def vr_of(ds: Dataset, tag: int, dic: Dictionary, elem: Any = _LOOK) -> str:
    """The VR dgate uses for an element: the dictionary's when it knows the tag (as
    dgate formats by its dictionary), else the element's own, ``UL`` for group lengths.
    ``elem``: the element when the caller has it."""
    known = dic.known_vr(tag)
    if known:
        return known
    if elem is _LOOK:
        try:
            elem = ds.get_item(tag)
        except KeyError:
            elem = None
    vr = getattr(elem, "VR", None) if elem is not None else None
    return _own_vr(tag, str(vr)[:2] if vr and " or " not in str(vr) else None)


def _own_vr(tag: int, vr: str | None) -> str:
    """The element's own VR when the dictionary has none: as written, else ``UL`` for a
    group length and ``UN`` for the rest."""
    return vr or ("UL" if tag & 0xFFFF == 0 else "UN")


def little_endian(ds: Dataset) -> bool:
    value = getattr(ds, "_is_little_endian", None)
    return True if value is None else bool(value)


def raw_bytes(ds: Dataset, tag: int, dic: Dictionary, elem: Any = _LOOK, vr: str | None = None) -> bytes | None:
    """The value bytes of an element as they would be written (None when absent);
    ``elem``/``vr``: the element and its :func:`vr_of` when the caller has them."""
    if elem is _LOOK:
        try:
            elem = ds.get_item(tag)
        except KeyError:
            return None
    if elem is None:
        return None
    if isinstance(elem, RawDataElement):
        return bytes(elem.value) if elem.value is not None else b""
    return _encode(ds, elem, vr or vr_of(ds, tag, dic, elem))


def _encode(ds: Dataset, elem: DataElement, vr: str) -> bytes:
    """An element set in memory as it is written: text padded to an even length with a
    space (UI, OB, UN: a NUL), as dgate pads values set by scripts or the codec."""
    from ..db.values import element_bytes
    value = elem.value
    if vr in NUMERIC and not isinstance(value, (bytes, bytearray)) and value not in (None, ""):
        fmt = NUMERIC[vr][0]
        values = list(value) if isinstance(value, (list, tuple)) or hasattr(value, "__iter__") else [value]
        order = "<" if little_endian(ds) else ">"
        return struct.pack(order + fmt * len(values), *values)
    data = element_bytes(ds, int(elem.tag)) or b""
    if len(data) % 2 and vr != "SQ":
        data += b"\0" if vr in ("UI", "OB", "UN") else b" "
    return data


def numbers(ds: Dataset, tag: int, vr: str, dic: Dictionary) -> list[int | float]:
    """The values of a binary numeric element."""
    return _unpacked(raw_bytes(ds, tag, dic) or b"", vr, little_endian(ds))


def _unpacked(raw: bytes, vr: str, little: bool) -> list[int | float]:
    fmt = NUMERIC[vr][0]
    size = struct.calcsize(fmt)
    count = len(raw) // size
    return list(struct.unpack(("<" if little else ">") + fmt * count, raw[:count * size]))


def format_number(value: float, vr: str) -> str:
    fmt = NUMERIC[vr][1]
    if fmt == "%f":
        return "%f" % value
    return "%d" % int(value)


def text_of(raw: bytes) -> str:
    """Raw bytes to the Lua string: up to the first NUL, trailing spaces removed."""
    return raw.split(b"\0", 1)[0].rstrip(b" ").decode("latin-1")


def read(ds: Dataset, tag: int, dic: Dictionary) -> str | Sequence | None:
    """``Data.Name``: a string, a sequence, or None (see module docstring)."""
    elements = getattr(ds, "_dict", None)
    if type(elements) is ScannedElements:
        found = elements.scanned_value(tag)       # a lazy data set's untouched element
        if found is not None:
            vr = dic.known_vr(tag) or _own_vr(tag, found[0])      # as vr_of
            if vr != "SQ":
                return _formatted(found[1], vr, ds)
    elem = _element(ds, tag)
    if elem is None:
        return None
    vr = vr_of(ds, tag, dic, elem)
    if vr == "SQ":
        value = ds[tag].value
        return value if isinstance(value, Sequence) else Sequence([])
    return _formatted(raw_bytes(ds, tag, dic, elem, vr) or b"", vr, ds)


def _formatted(raw: bytes, vr: str, ds: Dataset) -> str:
    if len(raw) > 255:
        return TOO_LONG
    if vr in NUMERIC:
        return "\\".join(format_number(v, vr) for v in _unpacked(raw, vr, little_endian(ds)))
    return text_of(raw)


def _element(ds: Dataset, tag: int) -> Any:
    """``ds.get_item(tag)`` (None: absent). An element of a lazy data set
    (:mod:`dgate.store.lazyset`) is read from its bytes without being made, so reading
    leaves it untouched (nothing to compare or re-encode for it afterwards)."""
    elements: Any = getattr(ds, "_dict", None)
    if elements is None:                      # another kind of data set (a scan's header view)
        try:
            return ds.get_item(tag)
        except KeyError:
            return None
    peek = getattr(elements, "peek", None)
    elem = peek(tag) if peek is not None else elements.get(tag)
    if type(elem) is RawDataElement and elem.value is None:     # a deferred read
        return ds.get_item(tag)
    return elem


# -- paths ----------------------------------------------------------------------------
def locate(ds: Dataset, key: str, dic: Dictionary, create: bool = False) -> tuple[Dataset, int] | None:
    """The (dataset, tag) a descriptor names: ``tag``, ``Keyword``, ``/a.i/b`` paths,
    ``a.i/b`` (set form), ``*tag`` (first occurrence at any depth)."""
    if "/" not in key and key[:1] != "*":         # a plain name or tag: the usual case
        tag = tag_of(key, dic)
        return (ds, tag) if tag is not None else None
    if key.startswith("*") or key.startswith("/*"):
        tag = tag_of(key.lstrip("/*"), dic)
        return _search(ds, tag) if tag is not None else None
    parts = [p for p in key.split("/") if p != ""]
    current = ds
    for index, part in enumerate(parts):
        match = _STEP.match(part)
        if not match:
            return None
        tag = tag_of(match.group(1), dic)
        if tag is None:
            return None
        if index == len(parts) - 1:
            return current, tag
        item = match.group(2) or "0"
        if tag not in current:
            if not create:
                return None
            current.add_new(tag, "SQ", Sequence([]))
        seq = current[tag].value
        if not isinstance(seq, Sequence):
            return None
        if item == "*":
            if not create:
                return None
            seq.append(Dataset())
            current = seq[-1]
            continue
        number = int(item)
        while create and len(seq) <= number:
            seq.append(Dataset())
        if number >= len(seq):
            return None
        current = seq[number]
    return None


def _search(ds: Dataset, tag: int) -> tuple[Dataset, int] | None:
    if tag in ds:
        return ds, tag
    for elem in ds:
        if elem.VR == "SQ" and isinstance(elem.value, Sequence):
            for item in elem.value:
                found = _search(item, tag)
                if found:
                    return found
    return None


# -- writing --------------------------------------------------------------------------
def set_raw(ds: Dataset, tag: int, vr: str, data: bytes, pad: bool = True) -> None:
    """Put raw value bytes into ``ds`` as an element of ``vr`` (padded to even length
    unless ``pad`` is False: bytes that are sent as they are, e.g. a reply in 9999,0403)."""
    if pad and len(data) % 2:
        data += b"\0" if vr in TEXT_PAD_NUL or vr in ("OB", "UN") else b" "
    key = BaseTag(tag)
    raw = RawDataElement(key, vr, len(data), data, 0, False, little_endian(ds), True, False)
    group = tag >> 16
    if type(ds) is Dataset and not group & 1 and group != 0x7FE0:
        ds._dict[key] = raw     # all Dataset.__setitem__ does for a standard tag outside pixel data
    else:
        ds[tag] = raw           # its bookkeeping: private creators, the pixel cache, file meta checks


def write(ds: Dataset, key: str, value: Any, dic: Dictionary, is_table: bool = False) -> bool:
    """``Data.Name = value`` (the converter ``set`` semantics). False for unknown names."""
    found = locate(ds, key, dic, create=value is not None)
    if found is None:
        return False
    target, tag = found
    if value is None:
        if target is ds and "/" not in key and tag in target:
            del target[tag]
        return True
    entry = dic.by_tag(tag)
    vr = entry.vr if entry is not None else vr_of(target, tag, dic)
    if is_table:
        if vr == "SQ":
            target.add_new(tag, "SQ", Sequence([]))
        else:
            set_raw(target, tag, vr, b"")
        return True
    text = value if isinstance(value, str) else lua_number_text(value)
    set_text(target, tag, vr, text)
    return True


def set_text(ds: Dataset, tag: int, vr: str, text: str) -> None:
    """Set an element from the text a script gave (numbers converted for binary VRs)."""
    if vr == "SQ":
        ds.add_new(tag, "SQ", Sequence([]))
        return
    fmt = BINARY_SET.get(vr)
    if fmt:
        # as the converter's set: one value, atoi/atof of the whole text (empty → no value)
        if not text:
            set_raw(ds, tag, vr, b"")
            return
        order = "<" if little_endian(ds) else ">"
        if fmt in "fd":
            value: int | float = _atof(text)
        else:
            bits = 8 * struct.calcsize(fmt)
            value = atoi(text) & ((1 << bits) - 1)
            if fmt.islower() and value >= 1 << (bits - 1):
                value -= 1 << bits
        set_raw(ds, tag, vr, struct.pack(order + fmt, value))
        return
    set_raw(ds, tag, vr, text.encode("latin-1", "replace"))


def _atof(text: str) -> float:
    match = re.match(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text)
    return float(match.group(0)) if match else 0.0


def lua_number_text(value: Any) -> str:
    """``lua_tostring`` of a number: ``%.14g``."""
    if isinstance(value, bool):
        raise TypeError("a boolean cannot be an element value")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value == int(value) and abs(value) < 1e15:
            return str(int(value))
        return "%.14g" % value
    return str(value)
