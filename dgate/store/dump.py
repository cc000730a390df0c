"""Header dumps as ``dump_header`` prints them (``DumpVR``; conquest-protocol.md §5.8).

The dump works on the object's bytes as stored, loaded the way the original loads a file
(``LoadDICOMDataObject`` / ``Dynamic_ParseRawVRIntoDCM``):

* preamble and ``DICM`` skipped; group 0002 read in the encoding guessed from the first
  element; the data set in the syntax (0002,0010) names, except that the first data-set
  element decides between implicit and explicit little endian; item tags are always
  implicit, and an explicit element whose VR bytes are not two capitals is read implicit;
* big-endian values are swapped by their VR in the file as the original swaps them
  (AT not at all, FD with its byte mix-up), and (0002,0010) then reads explicit little endian;
* group-length elements (element 0000) are not shown; elements of a level are sorted by tag;
* a file that breaks the parse (a length past the end, a group or element out of order)
  gives no dump at all, as the original.

VR and keyword come from the data dictionary (dgate.dic), never from the file: an element
the dictionary does not know is shown as ``UN`` with an empty keyword and its value rendered
by size (``(dec|hex)`` for 2 bytes, ``[dec|hex]`` for 4, quoted text when printable, else up
to 16 bytes in hex with the character).

One line per element: ``>`` per nesting level, ``gggg,eeee``, the stored length (with its
padding byte) as ``%6u``, the VR, the keyword cut or padded to 20, three spaces, the value.
Text values are quoted with ``\\`` doubled and CR/LF/FF escaped, up to the first NUL and at
most 256 bytes, followed by one space; number lists (``%u``/``%d``/``%f``), OB bytes and OW
words end with a space. Sequences show length 0 and ``Sequence Item``; their items follow
one level deeper with a line of ``-`` between items. Encapsulated pixel data is an empty
element followed by one item per fragment.

Beyond the original: deflated files are inflated and dumped, and transfer syntaxes it does
not know are read as explicit little endian (the original answers nothing for both).
"""
from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

UNDEFINED = 0xFFFFFFFF
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"
_LONG_VRS = {b"OB", b"OW", b"UN", b"UT", b"OF", b"OD", b"OV", b"OL", b"UR", b"UC", b"SQ"}
_TEXT = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UI", "UT"}
# VR: (struct code, size, C format, last byte index still printed)
_NUMBERS = {"UL": ("I", 4, "%u ", 40), "US": ("H", 2, "%u ", 20), "SL": ("i", 4, "%d ", 40),
            "SS": ("h", 2, "%d ", 20), "FL": ("f", 4, "%f ", 40), "OF": ("f", 4, "%f ", 40),
            "FD": ("d", 8, "%f ", 40)}
_SWAP = {**dict.fromkeys(("FL", "OF", "SL", "UL", "OL"), 4), **dict.fromkeys(("OW", "SS", "US"), 2),
         **dict.fromkeys(("FD", "OD", "OV"), 8)}


class DumpError(ValueError):
    """The object cannot be loaded (the original then gives no dump)."""


class DictionaryLike(Protocol):
    def by_tag(self, tag: int): ...


@dataclass
class RawElement:
    """One element as loaded: value bytes in little-endian order (None for sequences and
    empty values; fragments always have bytes) or, for sequences, the items."""

    tag: int
    length: int
    value: bytes | None
    items: list[list["RawElement"]] | None = None


def _swap(value: bytes, vr: str) -> bytes:
    """``SwapBigEndianData``: reverse each 2/4-byte value; 8-byte values as the original
    does it, which reuses a saved byte and so mixes up the middle bytes."""
    size = _SWAP.get(vr)
    if not size:
        return value
    out = bytearray(value)
    for i in range(0, len(out) - size + 1, size):
        if size == 8:
            b = out[i:i + 8]
            b[0], b[7] = b[7], b[0]
            b[1], b[6] = b[6], b[1]
            saved = b[1]
            b[2], b[5] = b[5], saved
            b[3], b[4] = b[4], saved
            out[i:i + 8] = b
        else:
            out[i:i + size] = out[i:i + size][::-1]
    return bytes(out)


class _Parser:
    """Conquest's tolerant parser over one buffer."""

    def __init__(self, data: bytes, dictionary: DictionaryLike | None):
        self.data = data
        self.dictionary = dictionary
        self.little = True

    def _u16(self, pos: int) -> int:
        return struct.unpack_from("<H" if self.little else ">H", self.data, pos)[0]

    def _u32(self, pos: int) -> int:
        return struct.unpack_from("<I" if self.little else ">I", self.data, pos)[0]

    def dictionary_vr(self, tag: int) -> str:
        entry = self.dictionary.by_tag(tag) if self.dictionary is not None else None
        return entry.vr[:2] if entry is not None else ""

    def elements(self, pos: int, end: int, explicit: bool, stop_at_group: int | None = None,
                 first: bool = False, after: int = 0) -> tuple[list[RawElement], int]:
        """Elements from ``pos`` until ``end`` or a delimiter; (elements, position after).
        ``after``: the tag read before (the order check continues from it)."""
        out: list[RawElement] = []
        group_now, element_now = after >> 16, after & 0xFFFF
        group_length = UNDEFINED
        while end - pos >= 8:
            group = self._u16(pos)
            if stop_at_group is not None and group != stop_at_group:
                break
            element = self._u16(pos + 2)
            if group < group_now:
                raise DumpError(f"invalid group order (after {group_now:04x},{element_now:04x})")
            if group != group_now:
                group_now, element_now, group_length = group, 0, UNDEFINED
            if element < element_now:
                raise DumpError(f"invalid element order (in {group_now:04x},{element_now:04x})")
            element_now = element
            tag = (group << 16) | element
            if first and group > 0x0002:
                first = False
                if self.little:
                    explicit = self.data[pos + 5] > 10
            if group == 0xFFFE:
                length = self._u32(pos + 4)
                pos += 8
                if element in (0xE00D, 0xE0DD):
                    return out, pos
                item, pos = self._item(pos, end, length, explicit)
                if out and out[-1].items is not None:
                    out[-1].items.append(item)
                continue
            vr = ""
            if explicit and all(65 <= b <= 90 for b in self.data[pos + 4:pos + 6]):
                vr = self.data[pos + 4:pos + 6].decode("ascii")
                if vr.encode() in _LONG_VRS:
                    length, pos = self._u32(pos + 8), pos + 12
                else:
                    length, pos = self._u16(pos + 6), pos + 8
            else:
                length, pos = self._u32(pos + 4), pos + 8
                vr = self.dictionary_vr(tag) or "UN"
            if length == UNDEFINED:
                elem = RawElement(tag, 0, None, [])
                out.append(elem)
                if tag == 0x7FE00010:
                    pos = self._fragments(elem, pos, end)
                else:
                    pos = self._items(elem, pos, end, explicit)
                continue
            if length > end - pos:
                raise DumpError(f"length {length} of {group:04x},{element:04x} exceeds the remaining file size")
            if (length > group_length or length & 1) and length > 0xFFFF and group_length not in (0, UNDEFINED):
                raise DumpError(f"invalid length {length} of {group:04x},{element:04x}")
            if vr == "SQ":
                elem = RawElement(tag, 0, None, [])
                self._items(elem, pos, pos + length, explicit)
                out.append(elem)
                pos += length
                continue
            length += length & 1             # ReAlloc rounds up: the pad byte is read with the value
            value = self.data[pos:pos + length]
            pos += length
            if not self.little:
                value = _swap(value, vr)
            if element == 0 and length == 4:
                group_length = struct.unpack("<I", value)[0]
            out.append(RawElement(tag, length, value or None))
        return out, pos

    def _item(self, pos: int, end: int, length: int, explicit: bool) -> tuple[list[RawElement], int]:
        if length == UNDEFINED:
            elements, pos = self.elements(pos, end, explicit)
            return _sorted(elements), pos
        if length > end - pos:
            raise DumpError("item length exceeds the remaining file size")
        elements, _ = self.elements(pos, pos + length, explicit)
        return _sorted(elements), pos + length

    def _items(self, elem: RawElement, pos: int, end: int, explicit: bool) -> int:
        """Items of a sequence until its delimiter or ``end``."""
        assert elem.items is not None
        while end - pos >= 8:
            group, element, length = self._u16(pos), self._u16(pos + 2), self._u32(pos + 4)
            if group != 0xFFFE:
                raise DumpError(f"sequence parse error (after {elem.tag >> 16:04x},{elem.tag & 0xFFFF:04x})")
            pos += 8
            if element == 0xE0DD:
                break
            if element == 0xE000:
                item, pos = self._item(pos, end, length, explicit)
                elem.items.append(item)
        return pos

    def _fragments(self, elem: RawElement, pos: int, end: int) -> int:
        """Encapsulated pixel data: each fragment becomes an item holding one (FFFE,E000)."""
        assert elem.items is not None
        while end - pos >= 8:
            group, element, length = self._u16(pos), self._u16(pos + 2), self._u32(pos + 4)
            pos += 8
            if length > end - pos:
                raise DumpError("fragment length exceeds the remaining file size")
            if (group, element) == (0xFFFE, 0xE0DD):
                break
            value = self.data[pos:pos + length]
            pos += length
            if length & 1:                   # read as it is, then NUL-padded (the NovaRad fix)
                value, length = value + b"\0", length + 1
            if (group, element) == (0xFFFE, 0xE000):
                elem.items.append([RawElement(0xFFFEE000, length, value)])
        return pos


def _sorted(elements: list[RawElement]) -> list[RawElement]:
    return sorted(elements, key=lambda e: e.tag)


def parse_object(data: bytes, dictionary: DictionaryLike | None = None) -> list[RawElement]:
    """The elements of an object file (Part 10 or a raw ``.v2`` dump) as the original loads
    it; raises :class:`DumpError` where the original's load fails."""
    start = 132 if data[128:132] == b"DICM" else 0
    guess = data[start + 5] if len(data) > start + 5 else 0
    explicit = 10 < guess < 128          # the original compares a signed char with 10
    parser = _Parser(data, dictionary)
    meta, pos = parser.elements(start, len(data), explicit, stop_at_group=0x0002)
    meta_end = 0x00020000 | max((e.tag & 0xFFFF for e in meta), default=0) if meta else 0
    ts_elem = next((e for e in meta if e.tag == 0x00020010), None)
    ts = (ts_elem.value or b"").split(b"\0", 1)[0].decode("latin-1") if ts_elem else ""
    ts = ts[:-1] if ts.endswith(" ") else ts
    if ts == DEFLATED:
        parser = _Parser(data[:pos] + zlib.decompress(data[pos:], -zlib.MAX_WBITS), dictionary)
    elif ts == EXPLICIT_BE:
        parser.little = False
    if ts:
        explicit = ts != IMPLICIT_LE
    body, _ = parser.elements(pos, len(parser.data), explicit, first=True, after=meta_end)
    if ts == EXPLICIT_BE and ts_elem is not None:
        ts_elem.value = EXPLICIT_LE.encode() + b"\0"
        ts_elem.length = len(ts_elem.value)
    return _sorted([e for e in meta + body if e.tag & 0xFFFF])


# -- rendering ----------------------------------------------------------------------------------
def _translate(raw: bytes) -> str:
    """``TranslateText`` then ``%s``: up to the first NUL, ``\\`` doubled, CR/LF/FF escaped."""
    text = raw[:256].split(b"\0", 1)[0].decode("latin-1")
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\f", "\\f")


def _is_alpha(raw: bytes) -> bool:
    """``IsDataAlpha``: bytes 1..15 (the first is not checked) are NUL or ' '..'}'."""
    size = min(len(raw), 16)
    return size > 0 and all(b == 0 or 32 <= b <= 125 for b in raw[1:size])


def _unknown(raw: bytes) -> str:
    if len(raw) == 2:
        (v,) = struct.unpack("<H", raw)
        return f"({v}|{v:x})"
    if len(raw) == 4:
        (v,) = struct.unpack("<I", raw)
        return f"[{v - (1 << 32) if v >= 1 << 31 else v}|{v:x}]"
    if _is_alpha(raw):
        return f'"{_translate(raw)}"'
    return "".join(f"{b:02x}({chr(b)}) " if 32 <= b < 127 else f"{b:02x} " for b in raw[:16])


def _value(vr: str, elem: RawElement) -> str:
    raw = elem.value
    if raw is None:
        return "Sequence Item" if vr == "SQ" else "(empty)"
    if vr in ("", "UN"):
        return _unknown(raw)
    if vr in _TEXT:
        return f'"{_translate(raw)}" '
    if vr in _NUMBERS:
        code, size, fmt, last = _NUMBERS[vr]
        count = min(len(raw) // size, last // size + 1)
        return "".join(fmt % v for v in struct.unpack_from("<" + code * count, raw))
    if vr == "AT":
        words = struct.unpack_from("<" + "H" * (len(raw) // 2), raw)
        return "".join(f"({words[i]:04x}, {words[i + 1]:04x}) " for i in range(0, len(words) - 1, 2))
    if vr == "OB":
        return "".join(f"{b:02x} " for b in raw[:11])
    if vr == "OW":
        count = min(len(raw) // 2, 11)
        return "".join(f"{w:04x} " for w in struct.unpack_from("<" + "H" * count, raw))
    return ""


def _vr_and_keyword(dictionary: DictionaryLike | None, tag: int) -> tuple[str, str]:
    entry = dictionary.by_tag(tag) if dictionary is not None else None
    if entry is None:
        return "", ""
    vr = entry.vr[:2] if len(entry.vr) >= 2 else (entry.vr + '" ')[:2]   # VR="" reads as `" `
    return vr, entry.keyword or ""


def render(elements: list[RawElement], dictionary: DictionaryLike | None, depth: int = 0) -> str:
    lines: list[str] = []
    _render(elements, dictionary, depth, lines)
    return "".join(lines)


def _render(elements: list[RawElement], dictionary: DictionaryLike | None, depth: int, lines: list[str]) -> None:
    for elem in elements:
        vr, keyword = _vr_and_keyword(dictionary, elem.tag)
        head = f"{'>' * depth}{elem.tag >> 16:04x},{elem.tag & 0xFFFF:04x} {elem.length:6d}"
        lines.append(f"{head} {vr or 'UN'} {keyword[:20]:<20}   {_value(vr, elem)}\n")
        for i, item in enumerate(elem.items or []):
            if i:
                lines.append("-" * (depth + 1) + "\n")
            _render(item, dictionary, depth + 1, lines)


def dump_bytes(data: bytes, dictionary: DictionaryLike | None = None) -> str:
    """The dump of an object file's bytes; raises :class:`DumpError` when it cannot be loaded."""
    try:
        return render(parse_object(data, dictionary), dictionary)
    except (struct.error, IndexError, zlib.error) as exc:
        raise DumpError(f"cannot parse: {exc}") from exc


def dump_file(path: str | os.PathLike, dictionary: DictionaryLike | None = None) -> str:
    return dump_bytes(Path(path).read_bytes(), dictionary)



def dump(ds, dictionary: DictionaryLike | None = None) -> str:
    """The dump of an in-memory pydicom Dataset (Lua ``Dump``): encoded as a Part 10 file in
    its own transfer syntax (explicit LE when it has none), then dumped like a stored file."""
    from .formats import Encoded, part10_bytes

    meta = getattr(ds, "file_meta", None)
    ts = str(meta.get("TransferSyntaxUID", "") if meta is not None else "") or EXPLICIT_LE
    encoded = Encoded.from_dataset(ds, ts)
    data = part10_bytes(encoded, str(ds.get("SOPClassUID", "")), str(ds.get("SOPInstanceUID", "")))
    return dump_bytes(data, dictionary)
