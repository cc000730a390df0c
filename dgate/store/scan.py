"""A lean walk over the elements of an encoded data set (PS3.5 §7).

:func:`scan` checks the structure of a whole data set cheaply, by its element headers:
every element (nested sequences and items, encapsulated pixel fragments included) must
lie within its parent and the data, delimiters must close what they open. It keeps
where each top-level element is, so values can be read raw without pydicom. It refuses
(:class:`StructureError`) what cannot be stored safely: a data set cut inside an element
header, a value running past the end, an unclosed sequence, an item outside a sequence,
an invalid explicit VR. Two faults are repaired because their meaning is unambiguous
(:func:`repair`): odd value lengths (one pad byte added, enclosing lengths adjusted)
and fewer than 8 trailing NUL bytes (dropped).

Also here: :func:`patch` (replace or insert top-level elements, used by FixImage) and
:func:`to_implicit` (Explicit VR Little Endian → Implicit VR Little Endian as a stream of
chunks, used when sending to destinations that want implicit LE).
"""
from __future__ import annotations

import struct
import zlib
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import Any, Generator, Iterator, Mapping, NamedTuple, Union

Buffer = Union[bytes, bytearray, memoryview]

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"

ITEM = 0xFFFEE000
ITEM_END = 0xFFFEE00D
SEQUENCE_END = 0xFFFEE0DD
PIXEL_DATA = 0x7FE00010
UNDEFINED = 0xFFFFFFFF
MAX_DEPTH = 64
LONG_VRS = frozenset((b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT", b"SV", b"UV"))
TEXT_VRS = frozenset(("AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC",
                      "UR", "UT"))

_LE_TAG_LEN = struct.Struct("<HHI")
_LE_TAG_VR_LEN = struct.Struct("<HH2sH")
_LE_LONG = struct.Struct("<I")
_BE_TAG_LEN = struct.Struct(">HHI")
_BE_TAG_VR_LEN = struct.Struct(">HH2sH")
_BE_LONG = struct.Struct(">I")


class StructureError(ValueError):
    """The data set is malformed; the message says where."""


class Element(NamedTuple):
    """A top-level element: VR (None when implicit), header offset, value offset, length."""

    tag: int
    vr: str | None
    header: int
    value: int
    length: int          # UNDEFINED for undefined length
    end: int             # offset after the element (after its delimiter when undefined)


class Fields(tuple):
    """The full fields of a top-level element the general walker handled (those of
    :class:`Element`); ``fields + delta`` is the same element ``delta`` bytes later, so a
    scan's offsets shift in one pass whatever kind each entry is (:func:`splice`)."""

    __slots__ = ()

    def __add__(self, delta: int) -> Fields:  # type: ignore[override]
        tag, vr, header, value, length, end = self
        return Fields((tag, vr, header + delta, value + delta, length, end + delta))


@dataclass
class Scan:
    """Result of :func:`scan`: the top-level elements and what :func:`repair` can fix.

    ``elements`` maps each top-level tag (in data set order) to its header offset, or to
    the full :class:`Element` fields for elements the general walker handled;
    :meth:`element` decodes either on demand (the fast path stores just the offset)."""

    data: Buffer
    transfer_syntax: str
    elements: dict[int, int | tuple] = field(default_factory=dict)
    odd: list[tuple[int, int, str | None, list[tuple[int, int]]]] = field(default_factory=list)
    trailing: int = 0           # trailing NUL bytes (fewer than a header) after the last element
    undefined: list[int] = field(default_factory=list)   # top-level tags of undefined length

    @property
    def explicit(self) -> bool:
        return self.transfer_syntax != IMPLICIT_LE

    @property
    def little_endian(self) -> bool:
        return self.transfer_syntax != EXPLICIT_BE

    @property
    def order(self) -> list[int]:
        return list(self.elements)

    @property
    def in_order(self) -> bool:
        """The top-level elements are in ascending tag order (PS3.5 §7.1), no tag twice."""
        return ascending(self.order)            # dict keys: no tag twice

    def group_lengths(self, order: list[int] | None = None) -> list[int]:
        """Top-level group length tags (gggg,0000) and the group 2 elements, for a scan whose
        elements are in ascending order (:attr:`in_order`; ``order``: :attr:`order` when the
        caller has it): one step per group, a group's length being its first element."""
        if order is None:
            order = self.order
        found, at, count = [], 0, len(order)
        while at < count:
            tag = order[at]
            if not tag & 0xFFFF:
                found.append(tag)
            at = bisect_right(order, tag | 0xFFFF, at)
        start = bisect_left(order, 0x00020000)
        return found + order[start:bisect_left(order, 0x00030000, start)]

    def __contains__(self, tag: int) -> bool:
        """A top-level element ``tag`` is present."""
        return tag in self.elements

    @property
    def needs_repair(self) -> bool:
        return bool(self.odd or self.trailing)

    def element(self, tag: int) -> Element | None:
        fields = self.elements.get(tag)
        if fields is None:
            return None
        if isinstance(fields, tuple):
            return Element(*fields)
        return self._decode(tag, fields)

    def _decode(self, tag: int, pos: int) -> Element:
        """The header at ``pos`` of an element the fast loop recorded (always defined length)."""
        data = self.data
        if self.transfer_syntax == IMPLICIT_LE:
            length = _LE_TAG_LEN.unpack_from(data, pos)[2]
            return Element(tag, None, pos, pos + 8, length, pos + 8 + length)
        vr = bytes(data[pos + 4:pos + 6])
        if vr in LONG_VRS:
            length = _LE_LONG.unpack_from(data, pos + 8)[0]
            return Element(tag, _VR_TEXT[vr], pos, pos + 12, length, pos + 12 + length)
        length = _LE_TAG_VR_LEN.unpack_from(data, pos)[3]
        return Element(tag, _VR_TEXT[vr], pos, pos + 8, length, pos + 8 + length)

    def raw(self, tag: int) -> bytes | None:
        """The value bytes of a top-level element (None when absent; b'' when undefined length)."""
        fields = self.elements.get(tag)
        if fields is None:
            return None
        elem = Element(*fields) if isinstance(fields, tuple) else self._decode(tag, fields)
        if elem.length == UNDEFINED:
            return b""
        return bytes(self.data[elem.value:elem.value + elem.length])

    def raw_values(self, tags) -> dict[int, bytes]:
        """``{tag: value bytes}`` of the present ones among ``tags`` (undefined length: b'')."""
        return self._values(self.elements, tags)

    def _values(self, elements: Mapping[int, int | tuple], tags) -> dict[int, bytes]:
        """:meth:`raw_values` of the entries ``elements`` (this scan's, or some resolved)."""
        out: dict[int, bytes] = {}
        data = self.data
        implicit = self.transfer_syntax == IMPLICIT_LE
        tag_len = _LE_TAG_LEN.unpack_from
        tag_vr_len = _LE_TAG_VR_LEN.unpack_from
        long_len = _LE_LONG.unpack_from
        long_vrs = LONG_VRS
        for tag in tags:
            fields = elements.get(tag)
            if fields is None:
                continue
            if isinstance(fields, tuple):
                value, length = fields[3], fields[4]
                if length == UNDEFINED:
                    out[tag] = b""
                    continue
            elif implicit:
                length = tag_len(data, fields)[2]
                value = fields + 8
            else:
                vr = tag_vr_len(data, fields)[2]
                if vr in long_vrs:
                    length = long_len(data, fields + 8)[0]
                    value = fields + 12
                else:
                    length = tag_vr_len(data, fields)[3]
                    value = fields + 8
            out[tag] = bytes(data[value:value + length])
        return out

    def text(self, tag: int) -> str:
        """A top-level value as text without trailing spaces and NULs ('' when absent)."""
        value = self.raw(tag)
        return value.decode("latin-1").rstrip(" \0") if value else ""


def ascending(order: list[int]) -> bool:
    """Tags in ascending order (:attr:`Scan.in_order` of a scan's :attr:`Scan.order`)."""
    return order == sorted(order)


def _tag_text(tag: int) -> str:
    return f"({tag >> 16:04x},{tag & 0xFFFF:04x})"


class _Walker:
    """One pass over a data set; collects top-level elements and odd lengths."""

    def __init__(self, data: Buffer, explicit: bool, little: bool, result: Scan):
        self.data = data
        self.explicit = explicit
        self.tag_len = _LE_TAG_LEN if little else _BE_TAG_LEN
        self.tag_vr_len = _LE_TAG_VR_LEN if little else _BE_TAG_VR_LEN
        self.long = _LE_LONG if little else _BE_LONG
        self.result = result

    def header(self, pos: int, limit: int, explicit: bool) -> tuple[int, str | None, int, int]:
        """(tag, vr, length, value offset) of the element header at ``pos``."""
        if pos + 8 > limit:
            raise StructureError(f"data set cut inside an element header at offset {pos}")
        group, element, length = self.tag_len.unpack_from(self.data, pos)
        tag = (group << 16) | element
        if not explicit or group == 0xFFFE:
            return tag, None, length, pos + 8
        _, _, vr, short = self.tag_vr_len.unpack_from(self.data, pos)
        if vr in LONG_VRS:
            if pos + 12 > limit:
                raise StructureError(f"data set cut inside the header of {_tag_text(tag)} at offset {pos}")
            return tag, vr.decode("ascii"), self.long.unpack_from(self.data, pos + 8)[0], pos + 12
        if not (65 <= vr[0] <= 90 and 65 <= vr[1] <= 90):
            raise StructureError(f"invalid VR {vr!r} in {_tag_text(tag)} at offset {pos}")
        return tag, vr.decode("ascii"), short, pos + 8

    def dataset(self, pos: int, limit: int, explicit: bool, depth: int, parents: list[tuple[int, int]],
                top: bool = False, item_end: bool = False, one: bool = False) -> int:
        """Walk elements from ``pos`` to ``limit`` (or to an item delimiter); returns the end."""
        if depth > MAX_DEPTH:
            raise StructureError(f"sequences nested deeper than {MAX_DEPTH} levels at offset {pos}")
        data = self.data
        while pos < limit:
            if top and limit - pos < 8:
                if any(data[pos:limit]):
                    raise StructureError(f"data set cut inside an element header at offset {pos}")
                self.result.trailing = limit - pos
                return limit
            start = pos
            tag, vr, length, pos = self.header(pos, limit, explicit)
            if tag == ITEM_END:
                if not item_end:
                    raise StructureError(f"item delimiter outside an item at offset {start}")
                return pos
            if tag in (ITEM, SEQUENCE_END):
                raise StructureError(f"{'item' if tag == ITEM else 'sequence delimiter'} outside a sequence "
                                     f"at offset {start}")
            if length == UNDEFINED:
                if tag == PIXEL_DATA and (vr in ("OB", "OW") or (vr is None and depth == 0)) \
                        and self._encapsulated(pos, limit):
                    end = self.fragments(pos, limit, tag, parents)
                elif vr in (None, "SQ", "UN"):
                    inner = explicit and vr != "UN"
                    end = self.sequence(pos, limit, inner, depth + 1, tag, parents)
                else:
                    raise StructureError(f"undefined length on {_tag_text(tag)} with VR {vr} at offset {start}")
            else:
                end = pos + length
                if end > limit:
                    raise StructureError(f"element {_tag_text(tag)} at offset {start} declares {length} bytes "
                                         f"but only {limit - pos} remain")
                if vr == "SQ" or (vr is None and length and self._looks_like_sequence(tag, pos, end)):
                    self.sequence(pos, end, explicit, depth + 1, tag, parents + [(start, self._len_width(vr))],
                                  defined=True)
                elif length & 1:
                    self.result.odd.append((end, start, vr, parents + [(start, self._len_width(vr))]))
            if top:
                self.result.elements[tag] = Fields((tag, vr, start, pos, length, end))
                if length == UNDEFINED:
                    self.result.undefined.append(tag)
                if one:
                    return end
            pos = end
        if item_end:
            raise StructureError(f"item not closed before offset {limit}")
        return pos

    def _len_width(self, vr: str | None) -> int:
        """Where the length field sits relative to the header, encoded as its width (2 or 4)."""
        if not self.explicit or vr is None:
            return 4
        return 4 if vr.encode() in LONG_VRS else 2

    def _encapsulated(self, pos: int, limit: int) -> bool:
        if pos + 8 > limit:
            return False
        group, element, _ = self.tag_len.unpack_from(self.data, pos)
        return (group, element) == (0xFFFE, 0xE000)

    def _looks_like_sequence(self, tag: int, pos: int, end: int) -> bool:
        """Implicit VR: a defined-length value starting with an item tag is a sequence."""
        if end - pos < 8:
            return False
        group, element, _ = self.tag_len.unpack_from(self.data, pos)
        if (group, element) != (0xFFFE, 0xE000):
            return False
        from pydicom.datadict import dictionary_VR
        try:
            return dictionary_VR(tag) == "SQ"
        except KeyError:
            return (tag >> 16) & 1 == 1       # private: trust the item tag

    def sequence(self, pos: int, limit: int, explicit: bool, depth: int, tag: int,
                 parents: list[tuple[int, int]], defined: bool = False) -> int:
        """Items up to a sequence delimiter (undefined length) or to ``limit`` (defined)."""
        while pos < limit:
            start = pos
            item, _, length, pos = self.header(pos, limit, False)
            if item == SEQUENCE_END:
                if defined:
                    raise StructureError(f"sequence delimiter in defined-length {_tag_text(tag)} at offset {start}")
                return pos
            if item != ITEM:
                raise StructureError(f"{_tag_text(item)} found where an item of {_tag_text(tag)} was expected "
                                     f"at offset {start}")
            if length == UNDEFINED:
                pos = self.dataset(pos, limit, explicit, depth, parents, item_end=True)
            else:
                end = pos + length
                if end > limit:
                    raise StructureError(f"item of {_tag_text(tag)} at offset {start} declares {length} bytes "
                                         f"but only {limit - pos} remain")
                self.dataset(pos, end, explicit, depth, parents + [(start, 4)])
                pos = end
        if not defined:
            raise StructureError(f"sequence {_tag_text(tag)} not closed before the end of the data")
        return pos

    def fragments(self, pos: int, limit: int, tag: int, parents: list[tuple[int, int]]) -> int:
        """Encapsulated pixel data: items with defined length, then a sequence delimiter."""
        while pos < limit:
            start = pos
            item, _, length, pos = self.header(pos, limit, False)
            if item == SEQUENCE_END:
                return pos
            if item != ITEM or length == UNDEFINED:
                raise StructureError(f"bad pixel data fragment {_tag_text(item)} at offset {start}")
            end = pos + length
            if end > limit:
                raise StructureError(f"pixel data fragment at offset {start} declares {length} bytes "
                                     f"but only {limit - pos} remain")
            if length & 1:
                self.result.odd.append((end, start, "OB", parents + [(start, 4)]))
            pos = end
        raise StructureError("encapsulated pixel data not closed before the end of the data")


def inflate(data: Buffer) -> bytes:
    """The data set bytes of a Deflated Explicit VR Little Endian stream."""
    try:
        return zlib.decompress(bytes(data), -zlib.MAX_WBITS)
    except zlib.error as exc:
        raise StructureError(f"deflated data set cannot be inflated: {exc}") from exc


_VR_TEXT = {vr: vr.decode("ascii") for vr in (b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS",
                                               b"LO", b"LT", b"PN", b"SH", b"SL", b"SS", b"ST", b"TM", b"UI",
                                               b"UL", b"US", b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ",
                                               b"UC", b"UN", b"UR", b"UT", b"SV", b"UV")}
KNOWN_SHORT_VRS = frozenset((b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT",
                             b"PN", b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US"))
_ITEM_BYTES = b"\xfe\xff\x00\xe0"


def _top_explicit_le(walker: "_Walker", data: Buffer, limit: int) -> None:
    """The top level of an Explicit VR LE data set, the common case inline; sequences,
    undefined and odd lengths and anything unusual go through the general walker."""
    elements = walker.result.elements
    unpack = _LE_TAG_VR_LEN.unpack_from
    unpack_long = _LE_LONG.unpack_from
    short_vrs = KNOWN_SHORT_VRS
    long_vrs = LONG_VRS
    pos = 0
    while pos < limit:
        if limit - pos < 8:
            walker.dataset(pos, limit, True, 0, [], top=True)
            return
        group, element, vr, length = unpack(data, pos)
        if vr in short_vrs:
            value = pos + 8
        elif vr in long_vrs and vr != b"SQ" and pos + 12 <= limit:
            length = unpack_long(data, pos + 8)[0]
            value = pos + 12
        else:
            pos = walker.dataset(pos, limit, True, 0, [], top=True, one=True)
            continue
        end = value + length
        if length & 1 or end > limit or group == 0xFFFE:
            pos = walker.dataset(pos, limit, True, 0, [], top=True, one=True)
            continue
        elements[(group << 16) | element] = pos
        pos = end


def _top_implicit_le(walker: "_Walker", data: Buffer, limit: int) -> None:
    """The top level of an Implicit VR LE data set (see :func:`_top_explicit_le`)."""
    elements = walker.result.elements
    unpack = _LE_TAG_LEN.unpack_from
    pos = 0
    while pos < limit:
        if limit - pos < 8:
            walker.dataset(pos, limit, False, 0, [], top=True)
            return
        group, element, length = unpack(data, pos)
        value = pos + 8
        end = value + length
        if length & 1 or end > limit or group == 0xFFFE or \
                (length >= 8 and data[value:value + 4] == _ITEM_BYTES):
            pos = walker.dataset(pos, limit, False, 0, [], top=True, one=True)
            continue
        elements[(group << 16) | element] = pos
        pos = end


def scan(data: Buffer, transfer_syntax: str) -> Scan:
    """Walk the whole data set; raises :class:`StructureError` when it is malformed.

    A deflated data set is inflated first (the returned scan refers to the inflated bytes).
    """
    if transfer_syntax == DEFLATED:
        data = inflate(data)
        syntax_for_walk = EXPLICIT_LE
    else:
        syntax_for_walk = transfer_syntax
    result = Scan(data, transfer_syntax)
    walker = _Walker(data, syntax_for_walk != IMPLICIT_LE, syntax_for_walk != EXPLICIT_BE, result)
    if syntax_for_walk == EXPLICIT_LE:
        _top_explicit_le(walker, data, len(data))
    elif syntax_for_walk == IMPLICIT_LE:
        _top_implicit_le(walker, data, len(data))
    else:
        walker.dataset(0, len(data), walker.explicit, 0, [], top=True)
    result.odd.sort()
    return result


# -- repair ---------------------------------------------------------------------------
def _pad_byte(vr: str | None, tag: int) -> bytes:
    if vr is None:
        from pydicom.datadict import dictionary_VR
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            vr = "UN"
    return b" " if vr in TEXT_VRS else b"\0"


def repair(result: Scan) -> bytes:
    """The data set with odd lengths padded (enclosing defined lengths grown) and trailing
    NULs dropped. Call only when :attr:`Scan.needs_repair`."""
    if result.transfer_syntax == DEFLATED:
        raise StructureError("odd-length elements in a deflated data set cannot be repaired")
    data = bytearray(result.data[:len(result.data) - result.trailing])
    little = result.little_endian
    explicit = result.explicit
    grow: dict[int, tuple[int, int]] = {}
    for _end, start, _vr, chain in result.odd:
        for header, width in chain:
            count, _ = grow.get(header, (0, width))
            grow[header] = (count + 1, width)
    order = "<" if little else ">"
    for header, (count, width) in grow.items():
        if width == 2:
            at = header + 6
            (length,) = struct.unpack_from(order + "H", data, at)
            if length + count > 0xFFFF:
                raise StructureError(f"cannot pad the element at offset {header}: its length would overflow")
            struct.pack_into(order + "H", data, at, length + count)
        else:
            at = header + (8 if explicit and _has_long_header(data, header, little) else 4)
            (length,) = struct.unpack_from(order + "I", data, at)
            struct.pack_into(order + "I", data, at, length + count)
    out = bytearray()
    last = 0
    for end, start, vr, _chain in result.odd:
        tag = _read_tag(data, start, little)
        out += data[last:end]
        out += _pad_byte(vr, tag)
        last = end
    out += data[last:]
    return bytes(out)


def _read_tag(data: Buffer, pos: int, little: bool) -> int:
    group, element = struct.unpack_from("<HH" if little else ">HH", data, pos)
    return (group << 16) | element


def _has_long_header(data: Buffer, header: int, little: bool) -> bool:
    """Explicit VR: does the element at ``header`` use the 12-byte header form?"""
    if _read_tag(data, header, little) >> 16 == 0xFFFE:
        return False
    return bytes(data[header + 4:header + 6]) in LONG_VRS


# -- patching top-level elements (FixImage) ---------------------------------------------
def encode_element(tag: int, vr: str, value: bytes, explicit: bool, little: bool = True) -> bytes:
    """One element with its header; ``value`` must already be padded to even length."""
    order = "<" if little else ">"
    if not explicit:
        return struct.pack(order + "HHI", tag >> 16, tag & 0xFFFF, len(value)) + value
    if vr.encode() in LONG_VRS:
        return struct.pack(order + "HH2s2xI", tag >> 16, tag & 0xFFFF, vr.encode(), len(value)) + value
    return struct.pack(order + "HH2sH", tag >> 16, tag & 0xFFFF, vr.encode(), len(value)) + value


def pad_value(value: bytes, vr: str) -> bytes:
    if len(value) % 2:
        return value + (b"\0" if vr == "UI" else b" " if vr in TEXT_VRS else b"\0")
    return value


def splice(sc: Scan, pieces: Mapping[int, bytes], order: list[int] | None = None) -> tuple[bytes, Scan | None]:
    """The data set of ``sc`` (elements in ascending tag order, no repairs pending) with
    top-level elements replaced, inserted or removed (``tag → the whole encoded element``,
    ``b""`` to remove), and the scan of the result (``order``: ``sc.order`` when the caller
    has it). The scan reads the untouched elements' entries from ``sc``, shifted when read
    (:class:`_Spliced`; ``sc`` must not change afterwards); only the new pieces are looked
    at. The scan is None when a piece is not exactly one clean element of its tag (then
    scan the result)."""
    assert not sc.needs_repair and sc.transfer_syntax != DEFLATED
    data, elements, ts = sc.data, sc.elements, sc.transfer_syntax
    if order is None:
        order = list(elements)
    view = memoryview(data)
    clean = True
    own: dict[int, int | tuple | None] = {}      # the pieces' entries in the result (None: removed)
    added: list[int] = []                       # pieces of undefined length
    parts: list[Buffer] = []                    # joined once at the end
    runs: list[tuple[Mapping, list[int] | tuple[int], int]] = []    # (entries, tags, shift), in order
    cuts: list[int] = []                        # where in ``data`` each later run of ``sc``'s starts
    deltas = [0]                                # and its shift (the first run's: none)
    size = last = i = 0                         # size: bytes in parts so far
    for tag in sorted(pieces):
        j = bisect_left(order, tag, i)
        at = _header_of(elements[order[j]]) if j < len(order) else len(data)
        runs.append((elements, order[i:j], size - last))
        parts.append(view[last:at])
        size += at - last
        piece = pieces[tag]
        own[tag] = None
        if piece and clean:
            entry: Any = _piece_entry(piece, tag, ts)
            if entry is None:
                clean = False
            else:
                own[tag] = entry = entry + size
                runs.append((own, (tag,), 0))
                if isinstance(entry, tuple) and entry[4] == UNDEFINED:
                    added.append(tag)
        parts.append(piece)
        size += len(piece)
        if j < len(order) and order[j] == tag:          # replaced or removed
            last, i = sc.element(tag).end, j + 1          # type: ignore[union-attr]
        else:                                             # inserted before order[j]
            last, i = at, j
        cuts.append(last)
        deltas.append(size - last)
    runs.append((elements, order[i:], size - last))
    parts.append(view[last:len(data)])
    out = b"".join(parts)
    if not clean:
        return out, None
    undefined = sorted(set(sc.undefined).difference(pieces).union(added)) if sc.undefined or added else []
    return out, _Spliced(out, ts, undefined, elements, own, cuts, deltas, runs)


def _piece_entry(piece: bytes, tag: int, transfer_syntax: str) -> int | tuple | None:
    """The scan entry (offsets from 0) of ``piece`` when it is exactly one clean element of
    ``tag``, else None. What :func:`scan`'s fast loop takes is seen here without a scan."""
    count = len(piece)
    if count >= 12 and transfer_syntax == EXPLICIT_LE:
        group, element, vr, length = _LE_TAG_VR_LEN.unpack_from(piece)
        value = 0
        if vr in KNOWN_SHORT_VRS:
            value = 8
        elif vr in LONG_VRS and vr != b"SQ":
            length, value = _LE_LONG.unpack_from(piece, 8)[0], 12
        if value and value + length == count and not length & 1 and (group << 16) | element == tag \
                and group != 0xFFFE:
            return 0
    elif count >= 8 and transfer_syntax == IMPLICIT_LE:
        group, element, length = _LE_TAG_LEN.unpack_from(piece)
        if 8 + length == count and not length & 1 and (group << 16) | element == tag and group != 0xFFFE \
                and not (length >= 8 and piece[8:12] == _ITEM_BYTES):
            return 0
    part = scan(piece, transfer_syntax)
    elem = part.element(tag)
    if part.needs_repair or list(part.elements) != [tag] or elem is None or elem.header or elem.end != count:
        return None                                     # more, or other, than one element of tag
    return part.elements[tag]


def _header_of(where: int | tuple) -> int:
    return where if isinstance(where, int) else where[2]


def _shifted(runs) -> dict[int, int | tuple]:
    """One mapping of the ``(entries, tags, delta)`` runs: each tag's entry ``delta`` bytes
    later (header offsets and :class:`Fields` alike: both add an int), built in one pass."""
    return {tag: entries[tag] + delta for entries, tags, delta in runs for tag in tags}


class _Spliced(Scan):
    """The scan :func:`splice` gives, its entries worked out when read: a piece's own, or the
    source scan's moved by the shift of the run it is in (``deltas[k]`` for an element whose
    source header is at or after ``cuts[k - 1]`` and before ``cuts[k]``). Reading a few
    elements costs a few lookups; :attr:`elements` (the whole mapping, in data set order) is
    built when something asks for it, and then serves every read."""

    def __init__(self, data: Buffer, transfer_syntax: str, undefined: list[int], source: Mapping[int, int | tuple],
                 own: dict[int, int | tuple | None], cuts: list[int], deltas: list[int], runs: list) -> None:
        self.data, self.transfer_syntax = data, transfer_syntax
        self.odd, self.trailing, self.undefined = [], 0, undefined
        self._source, self._own, self._cuts, self._deltas, self._runs = source, own, cuts, deltas, runs
        self._elements: dict[int, int | tuple] | None = None

    @property
    def elements(self) -> dict[int, int | tuple]:
        if self._elements is None:
            self._elements = _shifted(self._runs)
        return self._elements

    @elements.setter
    def elements(self, value: dict[int, int | tuple]) -> None:
        self._elements = value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Scan):
            return NotImplemented
        return (self.data, self.transfer_syntax, self.elements, self.odd, self.trailing, self.undefined) == \
            (other.data, other.transfer_syntax, other.elements, other.odd, other.trailing, other.undefined)

    __hash__ = None  # type: ignore[assignment]

    def _entry(self, tag: int) -> int | tuple | None:
        if self._elements is not None:
            return self._elements.get(tag)
        own = self._own
        if tag in own:
            return own[tag]
        found: Any = self._source.get(tag)
        if found is None:
            return None
        delta = self._deltas[bisect_right(self._cuts, found if type(found) is int else found[2])]
        return found + delta if delta else found

    def __contains__(self, tag: int) -> bool:
        return self._entry(tag) is not None

    def element(self, tag: int) -> Element | None:
        fields = self._entry(tag)
        if fields is None:
            return None
        if isinstance(fields, tuple):
            return Element(*fields)
        return self._decode(tag, fields)

    def raw(self, tag: int) -> bytes | None:
        elem = self.element(tag)
        if elem is None:
            return None
        if elem.length == UNDEFINED:
            return b""
        return bytes(self.data[elem.value:elem.value + elem.length])

    def raw_values(self, tags) -> dict[int, bytes]:
        """:meth:`Scan.raw_values` with the entries worked out inline (this is the index's
        read of some fifty elements, a call per element would cost more than the rest)."""
        if self._elements is not None:
            return self._values(self._elements, tags)
        own, source, cuts, deltas = self._own, self._source, self._cuts, self._deltas
        cut, shift = (cuts[0], deltas[1]) if len(cuts) == 1 else (-1, 0)   # one piece: one comparison
        out: dict[int, bytes] = {}
        data = self.data
        implicit = self.transfer_syntax == IMPLICIT_LE
        tag_len, tag_vr_len, long_len = _LE_TAG_LEN.unpack_from, _LE_TAG_VR_LEN.unpack_from, _LE_LONG.unpack_from
        long_vrs = LONG_VRS
        fields: Any
        for tag in tags:
            mine = tag in own
            fields = own[tag] if mine else source.get(tag)
            if fields is None:
                continue
            if type(fields) is not int:                 # Fields
                if not mine:
                    fields = fields + deltas[bisect_right(cuts, fields[2])]
                value, length = fields[3], fields[4]
                if length == UNDEFINED:
                    out[tag] = b""
                    continue
            else:
                if mine:
                    pass
                elif cut >= 0:
                    if fields >= cut:
                        fields += shift
                else:
                    fields += deltas[bisect_right(cuts, fields)]
                if implicit:
                    length = tag_len(data, fields)[2]
                    value = fields + 8
                elif tag_vr_len(data, fields)[2] in long_vrs:
                    length = long_len(data, fields + 8)[0]
                    value = fields + 12
                else:
                    length = tag_vr_len(data, fields)[3]
                    value = fields + 8
            out[tag] = bytes(data[value:value + length])
        return out


def patch(result: Scan, changes: Mapping[int, tuple[str, bytes] | None]) -> bytes:
    """The data set with top-level elements replaced, inserted (``(vr, value)``) or removed
    (``None``); values are padded here. Deflated data sets are not patched."""
    if result.transfer_syntax == DEFLATED:
        raise StructureError("cannot patch a deflated data set")
    data = result.data
    out = bytearray()
    pending = sorted(changes)
    last = 0
    for tag in result.order:
        elem = result.element(tag)
        assert elem is not None
        while pending and pending[0] < tag:
            new = pending.pop(0)
            change = changes[new]
            out += data[last:elem.header]
            last = elem.header
            if change is not None:
                out += encode_element(new, change[0], pad_value(change[1], change[0]), result.explicit,
                                      result.little_endian)
        if pending and pending[0] == tag:
            pending.pop(0)
            change = changes[tag]
            out += data[last:elem.header]
            if change is not None:
                vr = elem.vr or change[0]
                out += encode_element(tag, vr, pad_value(change[1], vr), result.explicit, result.little_endian)
            last = elem.end
    out += data[last:len(data)]
    for tag in pending:
        change = changes[tag]
        if change is not None:
            out += encode_element(tag, change[0], pad_value(change[1], change[0]), result.explicit,
                                  result.little_endian)
    return bytes(out)


# -- Explicit VR LE → Implicit VR LE ------------------------------------------------------
def to_implicit(data: Buffer, start: int = 0, end: int | None = None) -> Iterator[Buffer]:
    """Chunks of the Implicit VR Little Endian form of an Explicit VR LE data set.

    Sequences and items are written with undefined length (so no length has to be
    recomputed); values are passed through as memory views (no copy of pixel data).
    The data set must have passed :func:`scan`.
    """
    view = memoryview(data)
    limit = len(data) if end is None else end
    yield from _implicit_dataset(view, start, limit)


def _implicit_dataset(view: memoryview, pos: int, limit: int) -> Generator[Buffer, None, int]:
    """Elements up to ``limit`` or an item delimiter; the generator returns the offset after."""
    while pos < limit:
        if limit - pos < 8:
            return limit
        group, element, vr, short = _LE_TAG_VR_LEN.unpack_from(view, pos)
        if group == 0xFFFE:
            return pos + 8              # item delimiter of an undefined-length item
        if vr in LONG_VRS:
            length = _LE_LONG.unpack_from(view, pos + 8)[0]
            value = pos + 12
        else:
            length = short
            value = pos + 8
        if vr == b"SQ":
            yield _LE_TAG_LEN.pack(group, element, UNDEFINED)
            if length == UNDEFINED:
                pos = yield from _implicit_items(view, value, limit, True)
            else:
                yield from _implicit_items(view, value, value + length, False)
                pos = value + length
            yield _LE_TAG_LEN.pack(0xFFFE, 0xE0DD, 0)
            continue
        if length == UNDEFINED:
            # UN with undefined length: its content is already implicit VR LE
            end = _undefined_end(view, value, limit)
            yield _LE_TAG_LEN.pack(group, element, UNDEFINED)
            yield view[value:end]
            pos = end
            continue
        yield _LE_TAG_LEN.pack(group, element, length)
        if length:
            yield view[value:value + length]
        pos = value + length
    return pos


def _implicit_items(view: memoryview, pos: int, limit: int, delimited: bool) -> Generator[Buffer, None, int]:
    while pos < limit:
        group, element, length = _LE_TAG_LEN.unpack_from(view, pos)
        pos += 8
        if (group, element) == (0xFFFE, 0xE0DD):
            return pos
        yield _LE_TAG_LEN.pack(0xFFFE, 0xE000, UNDEFINED)
        if length == UNDEFINED:
            pos = yield from _implicit_dataset(view, pos, limit)
        else:
            yield from _implicit_dataset(view, pos, pos + length)
            pos += length
        yield _LE_TAG_LEN.pack(0xFFFE, 0xE00D, 0)
    return pos


def _undefined_end(view: memoryview, pos: int, limit: int) -> int:
    """Offset after the sequence delimiter of an implicit-encoded undefined-length value."""
    scratch = Scan(view, IMPLICIT_LE)
    walker = _Walker(view, False, True, scratch)
    return walker.sequence(pos, limit, False, 1, 0, [])
