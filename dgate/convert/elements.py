"""Element descriptors (``SearchDICOMObject``, conquest-lua-web.md §8.4) and element writes.

Descriptor forms, parsed from the start of a text (the caller learns how many
characters were used):

* ``gggg,eeee`` or ``Keyword`` — a top-level element;
* ``/gggg,eeee.i/…`` — item ``i`` (default 0) of a sequence, continued inside it;
  ``/gggg,eeee`` at the end of the text on a sequence gives ``(sequence)``;
* ``*gggg,eeee`` / ``/*gggg,eeee`` — the first occurrence in any nested sequence;
* ``(desc1)desc2`` — ``desc2`` in the stored object whose SOP UID is ``desc1``
  (same patient), through a loader the caller provides.

Values are formatted the way Conquest does: numbers of binary VRs with ``%u``/``%d``/
``%f`` (all values joined by ``\\`` at top level, the first inside sequences), strings
with trailing spaces removed, ``(too long)`` past 255 bytes, ``(sequence)`` for a
sequence, and an empty string for a missing element.
"""
from __future__ import annotations

import re
from typing import Any, Callable

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

Loader = Callable[[str], "Dataset | None"]   # "patid:sopuid" → object


class Names:
    """Keyword → tag and tag → VR the way 1.5.0e resolves them: through the folder's
    dgate.dic (``RTC::GetGroupElement``: exact, case-sensitive, lowest tag first; the
    dictionary VR types ``set`` and the number formats). Keywords and tags dgate.dic does
    not know fall back to pydicom's dictionary (first VR of ``US or SS``)."""

    def __init__(self, dictionary: Any = None):
        self._tags: dict[str, int] = {}
        self._vrs: dict[int, str] = {}
        self._keywords: dict[int, str] = {}
        if dictionary is not None:
            for entry in sorted(dictionary.entries, key=lambda e: e.tag):
                if entry.keyword:
                    self._tags.setdefault(entry.keyword, entry.tag)
                    self._keywords.setdefault(entry.tag, entry.keyword)
                self._vrs.setdefault(entry.tag, entry.vr)

    def tag(self, keyword: str) -> int | None:
        found = self._tags.get(keyword)
        return found if found is not None else tag_for_keyword(keyword)

    def keyword(self, tag: int) -> str:
        """The dictionary keyword of a tag ('' when unknown)."""
        return self._keywords.get(tag) or keyword_for_tag(tag) or ""

    def vr(self, tag: int) -> str:
        """The dictionary VR of a tag ('' when unknown)."""
        found = self._vrs.get(tag)
        if found:
            return found
        try:
            return dictionary_VR(tag).split(" or ")[0]
        except KeyError:
            return ""


PYDICOM_NAMES = Names()
_by_dictionary: dict[int, tuple[object, Names]] = {}


def names_for(config) -> Names:
    """The :class:`Names` of a configuration's dgate.dic (pydicom's when it cannot be read)."""
    try:
        dictionary = config.dictionary
    except Exception:
        return PYDICOM_NAMES
    cached = _by_dictionary.get(id(dictionary))
    if cached is None or cached[0] is not dictionary:
        cached = (dictionary, Names(dictionary))
        _by_dictionary[id(dictionary)] = cached
    return cached[1]

_HEX = re.compile(r"([0-9A-Fa-f]{4}),([0-9A-Fa-f]{4})")
_WORD = re.compile(r"[A-Za-z0-9]+")
_UNSIGNED = {"UL", "US", "UV"}
_SIGNED = {"SL", "SS", "SV", "OW"}
_FLOATS = {"FD", "FL", "OF", "OD"}
_WRAP = {"US": (16, False), "UL": (32, False), "SS": (16, True), "SL": (32, True)}


def vr_of(tag: int, names: Names | None = None) -> str:
    """The dictionary VR of a tag ('' when unknown)."""
    return (names or PYDICOM_NAMES).vr(tag)


def parse_tag(text: str, pos: int = 0, keywords: bool = True,
              names: Names | None = None) -> tuple[int | None, int]:
    """A ``gggg,eeee`` or keyword at ``pos``: (tag or None, characters used)."""
    m = _HEX.match(text, pos)
    if m:
        return (int(m.group(1), 16) << 16) | int(m.group(2), 16), 9
    if keywords and pos < len(text) and text[pos].isalpha():
        m = _WORD.match(text, pos)
        assert m is not None
        tag = (names or PYDICOM_NAMES).tag(m.group(0))
        if tag is not None:
            return tag, len(m.group(0))
    return None, 0


def _format_number(value: object, vr: str) -> str:
    if vr in _FLOATS:
        return "%f" % float(value)  # type: ignore[arg-type]
    return "%d" % int(value)  # type: ignore[call-overload]


def format_element(elem: DataElement, all_values: bool = True) -> str:
    """The text of an element as Conquest's converters see it."""
    if elem.VR == "SQ":
        return "(sequence)"
    value = elem.value
    vr = elem.VR
    if vr in _UNSIGNED | _SIGNED | _FLOATS:
        if value is None or value == b"" or value == "":
            return ""
        if isinstance(value, (bytes, bytearray)):       # OW/OF/OD: the words, as 1.5.0e lists them
            if len(value) > 255:
                return "(too long)"
            import struct
            code, size = {"OW": ("h", 2), "OF": ("f", 4), "OD": ("d", 8)}.get(vr, ("", 0))
            if not code or len(value) % size:
                return ""
            value = list(struct.unpack(f"<{len(value) // size}{code}", bytes(value)))
        values = list(value) if isinstance(value, (list, MultiValue, tuple)) else [value]
        size = {"UL": 4, "SL": 4, "FL": 4, "OF": 4, "US": 2, "SS": 2, "OW": 2}.get(vr, 8)
        if len(values) * size > 255:
            return "(too long)"
        if not all_values:
            values = values[:1]
        return "\\".join(_format_number(v, vr) for v in values)
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray)):
        text = bytes(value).decode("latin-1")
    elif isinstance(value, (list, MultiValue, tuple)):
        text = "\\".join(str(v) for v in value)
    else:
        text = str(value)
    text = text.split("\0", 1)[0]
    if len(text.encode("latin-1", "replace")) > 255:
        return "(too long)"
    return text.rstrip(" ")


def search(ds: Dataset | None, desc: str, loader: Loader | None = None,
           names: Names | None = None) -> tuple[str, int]:
    """Evaluate the descriptor at the start of ``desc``: (value, characters used)."""
    return _search(ds, desc, 0, loader, True, names or PYDICOM_NAMES)


def _search(ds: Dataset | None, desc: str, i: int, loader: Loader | None, top: bool,
            names: Names) -> tuple[str, int]:
    start = i
    if desc[i:i + 1] == "(":
        i += 1
        patid, _ = _search(ds, "0010,0020", 0, None, True, names)
        sop, used = _search(ds, desc, i, loader, True, names)
        i += used
        if desc[i:i + 1] == ")":
            i += 1
        other = loader(f"{patid}:{sop}") if loader and sop else None
        value, used = _search(other, desc, i, loader, True, names)
        return value, i + used - start
    seq = wild = False
    if desc[i:i + 1] == "/":
        i += 1
        seq = True
    if desc[i:i + 1] == "*":
        i += 1
        seq, wild = False, True
    tag, used = parse_tag(desc, i, names=names)
    if tag is None:
        return "", i - start
    i += used
    if not seq and not wild:
        if ds is not None and tag == 0x00020010 and tag not in ds:
            # the transfer syntax the object came in with is part of 1.5.0e's object
            meta = getattr(ds, "file_meta", None)
            found = str(meta.TransferSyntaxUID) if meta is not None and "TransferSyntaxUID" in meta else ""
            return found, i - start
        if ds is None or tag not in ds:
            return "", i - start
        return format_element(ds[tag], all_values=top), i - start
    if seq:
        index = 0
        m = re.compile(r"\.(\d*)").match(desc, i)
        if m:
            index = int(m.group(1) or 0)
            i = m.end()
        elem = ds[tag] if ds is not None and tag in ds else None
        if elem is None:
            _, used = _search(None, desc, i, None, False, names) if i < len(desc) else ("", 0)
            return "", i + used - start
        if elem.VR == "SQ":
            if i >= len(desc):
                return "(sequence)", i - start
            items = elem.value or []
            if index < len(items):
                value, used = _search(items[index], desc, i, loader, False, names)
                return value, i + used - start
            _, used = _search(None, desc, i, None, False, names)
            return "", i + used - start
        return format_element(elem, all_values=False), i - start
    # wild: the first element with this tag, searching sequences depth-first
    return (_wild(ds, tag) if ds is not None else ""), i - start


def _wild(ds: Dataset, tag: int) -> str:
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value or []:
                found = _wild(item, tag)
                if found:
                    return found
        elif elem.tag == tag:
            return format_element(elem, all_values=False)
    return ""


# -- writing ---------------------------------------------------------------------------------

def _value_for(vr: str, text: str) -> object:
    if vr in _WRAP:
        if text == "":
            return None
        from ..config.keys import atoi
        bits, signed = _WRAP[vr]     # C's atoi stored into the binary field: wraps around
        value = atoi(text) & ((1 << bits) - 1)
        return value - (1 << bits) if signed and value >> (bits - 1) else value
    if vr in ("FL", "FD"):
        return float(text) if text else None
    if vr in ("OB", "OW", "UN"):
        raw = text.encode("latin-1", "replace")
        return raw + b" " if len(raw) % 2 else raw
    if vr == "SQ":
        return Sequence([])
    if "\\" in text and vr not in ("LT", "ST", "UT"):
        return text.split("\\")
    return text


def set_element(ds: Dataset, tag: int, text: str, names: Names | None = None) -> None:
    """Put ``text`` into ``tag`` (created when absent), typed by the dictionary VR.

    US/UL become binary numbers (empty → zero length); an absent SQ set to ``""``
    becomes an empty sequence.
    """
    vr = vr_of(tag, names) or ("UN" if tag not in ds else ds[tag].VR)
    if vr == "SQ":
        if tag not in ds:
            ds.add_new(tag, "SQ", Sequence([]))
        return
    ds.add_new(tag, vr, _value_for(vr, text))


def set_in_sequence(ds: Dataset, seq_tag: int, index: int | None, child: int, text: str,
                    names: Names | None = None) -> None:
    """``set gggg,eeee.i/gggg,eeee``: one level into a sequence; ``index`` None means append.

    An index past the end appends an item; a missing sequence is created. When the parent
    exists but is no sequence, the value goes into the parent itself (as in 1.5.0e).
    """
    if seq_tag in ds and ds[seq_tag].VR != "SQ":
        set_element(ds, seq_tag, text, names)
        return
    if seq_tag in ds:
        items = ds[seq_tag].value
        if index is None or index >= len(items):
            items.append(Dataset())
            index = len(items) - 1
        set_element(items[index], child, text, names)
        return
    item = Dataset()
    set_element(item, child, text, names)
    ds.add_new(seq_tag, "SQ", Sequence([item]))
