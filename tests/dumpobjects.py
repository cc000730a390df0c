"""Objects with the element kinds ``dump_header`` renders differently, built byte by byte.

Each builder returns the file bytes; the expected dumps in ``samples/dump/`` were made by the
original dgate 1.5.0e (``dump_header:<path>``) on these exact bytes.
"""
from __future__ import annotations

import struct

LONG_VRS = {"OB", "OW", "UN", "UT", "OF", "OD", "OV", "OL", "UR", "UC", "SQ"}


def pad(value: bytes, vr: str = "") -> bytes:
    if len(value) % 2:
        return value + (b"\0" if vr in ("UI", "OB", "UN", "") else b" ")
    return value


def el(tag: int, vr: str, value: bytes, explicit: bool = True, little: bool = True,
       length: int | None = None) -> bytes:
    """One element; ``length`` overrides the length field (0xFFFFFFFF for undefined)."""
    e = "<" if little else ">"
    n = len(value) if length is None else length
    head = struct.pack(e + "HH", tag >> 16, tag & 0xFFFF)
    if not explicit:
        return head + struct.pack(e + "I", n) + value
    if vr in LONG_VRS:
        return head + vr.encode() + b"\0\0" + struct.pack(e + "I", n) + value
    return head + vr.encode() + struct.pack(e + "H", n) + value


def item(content: bytes, little: bool = True, undefined: bool = False) -> bytes:
    e = "<" if little else ">"
    if undefined:
        return struct.pack(e + "HHI", 0xFFFE, 0xE000, 0xFFFFFFFF) + content + struct.pack(e + "HHI", 0xFFFE, 0xE00D, 0)
    return struct.pack(e + "HHI", 0xFFFE, 0xE000, len(content)) + content


def seq_end(little: bool = True) -> bytes:
    return struct.pack(("<" if little else ">") + "HHI", 0xFFFE, 0xE0DD, 0)


def meta(ts: str, sop_class: str = "1.2.840.10008.5.1.4.1.1.7", sop: str = "1.2.3.4.5.6.7.8.9") -> bytes:
    body = (el(0x00020001, "OB", b"\0\1") + el(0x00020002, "UI", pad(sop_class.encode()))
            + el(0x00020003, "UI", pad(sop.encode())) + el(0x00020010, "UI", pad(ts.encode()))
            + el(0x00020012, "UI", pad(b"1.2.826.0.1.3680043.2.135.1066.101"))
            + el(0x00020013, "SH", pad(b"1.5.0/OTHER")))
    return b"\0" * 128 + b"DICM" + el(0x00020000, "UL", struct.pack("<I", len(body))) + body


def common(little: bool = True) -> list[tuple[int, str, bytes]]:
    """Ordinary public elements of many VRs."""
    e = "<" if little else ">"
    elements = [
        (0x00080005, "CS", b"ISO_IR 100"),
        (0x00080008, "CS", pad(b"ORIGINAL\\PRIMARY\\AXIAL")),
        (0x00080016, "UI", pad(b"1.2.840.10008.5.1.4.1.1.7")),
        (0x00080018, "UI", pad(b"1.2.3.4.5.6.7.8.9")),
        (0x00080020, "DA", b"20240131"),
        (0x00080030, "TM", pad(b"101010.5")),
        (0x00080050, "SH", b""),
        (0x00080060, "CS", b"OT"),
        (0x00081030, "LO", pad(b"line1\r\nline2\fend\\x")),
        (0x00089459, "FL", struct.pack(e + "f", 29.5)),
        (0x00100010, "PN", pad(b"Test^Dump")),
        (0x00100020, "LO", pad(b"DUMP1")),
        (0x00104000, "LT", pad(b"A" * 300)),
        (0x00181030, "LO", pad(b"abc\0def")),
        (0x00181310, "US", struct.pack(e + "13H", *range(13))),
        (0x0018602C, "FD", struct.pack(e + "8d", *[1.5 * i for i in range(8)])),
        (0x0018605A, "FL", struct.pack(e + "13f", *[0.25 * i for i in range(13)])),
        (0x00186020, "SL", struct.pack(e + "3i", -1, 2, -3)),
        (0x00189087, "FD", struct.pack(e + "d", -2.25)),
        (0x00189219, "SS", struct.pack(e + "h", -5)),
        (0x00189445, "OB", b"\1\2\3\4"),                              # VR="" in Conquest's dgate.dic
        (0x00200013, "IS", pad(b"7")),
        (0x00209157, "UL", struct.pack(e + "12I", *range(12))),
        (0x00280002, "US", struct.pack(e + "H", 1)),
        (0x00280009, "AT", struct.pack(e + "HHHH", 0x0018, 0x1063, 0x0028, 0x0009)),
        (0x00280010, "US", struct.pack(e + "H", 2)),
        (0x00280011, "US", struct.pack(e + "H", 2)),
        (0x00280030, "DS", pad(b"0.5\\0.5")),
        (0x00280100, "US", struct.pack(e + "H", 16)),
        (0x00281050, "DS", pad(b"40")),
        (0x00283002, "US", struct.pack(e + "3H", 256, 0, 16)),
    ]
    return elements


def private(little: bool = True) -> list[tuple[int, str, bytes]]:
    """Private elements of every size class the UN rendering distinguishes, and pixel data."""
    e = "<" if little else ">"
    return [
        (0x00090010, "LO", pad(b"DGATE TEST")),
        (0x00091001, "UN", b"\x07abcde"),           # the first byte is not checked
        (0x00091002, "UL", struct.pack(e + "I", 0xFFFFFFFE)),
        (0x00091003, "US", struct.pack(e + "H", 0xBEEF)),
        (0x00091004, "SH", b"CT01"),
        (0x00091005, "OB", bytes(range(0, 40, 2))),
        (0x00091006, "LO", b"\x01printable text!"),
        (0x00091007, "LO", pad(b"~tilde is not alpha")),
        (0x00091008, "UN", b""),
        (0x00091009, "LT", pad(b"x" * 300)),
        (0x7FE00010, "OW", struct.pack(e + "16H", *range(0x100, 0x110))),
    ]


def encode(elements: list[tuple[int, str, bytes]], explicit: bool, little: bool = True) -> bytes:
    return b"".join(el(tag, vr, value, explicit, little) for tag, vr, value in sorted(elements))


def sequences_implicit() -> bytes:
    """Implicit LE: a defined-length public sequence, an undefined-length one with two items
    (one undefined, one defined), a nested sequence, an empty sequence and a private
    undefined-length sequence the dictionary does not know."""
    inner = el(0x00081150, "UI", pad(b"1.2.840.10008.5.1.4.1.1.2"), False) + \
        el(0x00081155, "UI", pad(b"1.2.3.99"), False)
    nested = el(0x00081199, "SQ", item(inner), False)
    first = el(0x00080100, "SH", pad(b"CODE1"), False) + el(0x00080102, "SH", pad(b"DCM"), False)
    second = el(0x00080100, "SH", pad(b"CODE22"), False) + nested
    undefined = el(0x00081032, "SQ", item(first, undefined=True) + item(second) + seq_end(), False,
                   length=0xFFFFFFFF)
    defined_body = item(inner)
    defined = el(0x00081115, "SQ", defined_body, False)
    empty = el(0x00081140, "SQ", b"", False)
    priv = el(0x00291010, "UN", item(el(0x00291011, "LO", pad(b"inner"), False), undefined=True) + seq_end(),
              False, length=0xFFFFFFFF)
    head = el(0x00080016, "UI", pad(b"1.2.840.10008.5.1.4.1.1.7"), False) + \
        el(0x00080018, "UI", pad(b"1.2.3.4.5.6.7.8.10"), False)
    return meta("1.2.840.10008.1.2", sop="1.2.3.4.5.6.7.8.10") + head + undefined + defined + empty + \
        el(0x00100020, "LO", pad(b"DUMP2"), False) + el(0x00290010, "LO", pad(b"PRIV SQ"), False) + priv


def sequences_explicit() -> bytes:
    """Explicit LE: sequences as SQ, a private sequence with VR SQ, encapsulated pixel data."""
    inner = el(0x00081150, "UI", pad(b"1.2.840.10008.5.1.4.1.1.2")) + el(0x00081155, "UI", pad(b"1.2.3.99"))
    seq = el(0x00081115, "SQ", item(inner) + item(inner, undefined=True) + seq_end(), length=0xFFFFFFFF)
    priv = el(0x00291010, "SQ", item(el(0x00291011, "LO", pad(b"inner"))))
    frags = (struct.pack("<HHI", 0xFFFE, 0xE000, 4) + struct.pack("<I", 0)
             + struct.pack("<HHI", 0xFFFE, 0xE000, 10) + b"\xff\xd8\xff\xe0JPEGxy"
             + struct.pack("<HHI", 0xFFFE, 0xE000, 0) + seq_end())
    pixels = el(0x7FE00010, "OB", frags, length=0xFFFFFFFF)
    head = el(0x00080016, "UI", pad(b"1.2.840.10008.5.1.4.1.1.7")) + el(0x00080018, "UI", pad(b"1.2.3.4.5.6.7.8.11"))
    return meta("1.2.840.10008.1.2.4.50", sop="1.2.3.4.5.6.7.8.11") + head + seq + \
        el(0x00100020, "LO", pad(b"DUMP3")) + el(0x00290010, "LO", pad(b"PRIV SQ")) + priv + pixels


def flat(explicit: bool, little: bool = True) -> bytes:
    ts = "1.2.840.10008.1.2" if not explicit else ("1.2.840.10008.1.2.1" if little else "1.2.840.10008.1.2.2")
    return meta(ts) + encode(common(little) + private(little), explicit, little)


def v2(with_meta: bool) -> bytes:
    """A ``.v2`` dump: implicit LE without preamble; group 0002 inline when ``with_meta``."""
    head = b""
    if with_meta:
        head = (el(0x00020001, "OB", b"\0\1", False) + el(0x00020002, "UI", pad(b"1.2.840.10008.5.1.4.1.1.7"), False)
                + el(0x00020003, "UI", pad(b"1.2.3.4.5.6.7.8.9"), False)
                + el(0x00020010, "UI", pad(b"1.2.840.10008.1.2"), False))
    return head + encode(common() + private(), False)


def odd_lengths() -> bytes:
    """Odd value lengths, which the original reads with their pad byte (length + 1)."""
    elements = common() + [(0x00091001, "LO", b"ABC"), (0x00091002, "UN", b"\x01\x02\x03"),
                           (0x00091003, "LO", b"abcde")]
    body = b"".join(el(tag, vr, value, False) + (b"\0" if len(value) % 2 else b"")
                    for tag, vr, value in sorted(elements))
    return meta("1.2.840.10008.1.2") + body


OBJECTS = {
    "implicit": lambda: flat(False),
    "explicit": lambda: flat(True),
    "bigendian": lambda: flat(True, False),
    "seq_implicit": sequences_implicit,
    "seq_explicit": sequences_explicit,
    "v2_meta": lambda: v2(True),
    "v2_plain": lambda: v2(False),
    "odd": odd_lengths,
}
