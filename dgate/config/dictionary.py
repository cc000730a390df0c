"""dgate.dic: the data dictionary, in text or binary (``#!BinRTC``) form (§6.9).

Text entries are lines starting with ``(``: ``(GGGG,EEEE)`` then ``VR="XX"`` (first two
characters are the VR) and optionally ``Keyword="..."``. The legacy form
``{ group, element, VR, "description" }`` is accepted too. Other lines are comments.
Entries whose tag holds ``x`` digits (ranges such as ``(50xx,0000)``) are skipped.

The binary form (``--mk_binary_dic:``) is a 1028-byte header (``#!BinRTC\\r\\n``, 2 pad
bytes, seven uint32 LE: count, key-table offset and size, data-table offset and size,
string-table offset and size), a sorted uint32 key table ``group<<16|element``, 12-byte
data records (group, element, VR code ``first<<8|second`` as uint16 LE, 6 zero bytes) and
NUL-terminated keywords.
"""
from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError, ConfigWarning

BINARY_MAGIC = b"#!BinRTC"
_DESCRIPTOR_TAG = re.compile(r"^([0-9A-Fa-f]{4}),([0-9A-Fa-f]{4})$")
_UNSEEN: object = object()
HEADER_SIZE = 1028

_TEXT_TAG = re.compile(r"\(\s*([0-9A-Fa-f]{4})[^0-9A-Fa-f]+([0-9A-Fa-f]{4})\s*\)")
_VR = re.compile(r'VR="([^"]*)"')
_KEYWORD = re.compile(r'Keyword="([^"]*)"')
_LEGACY = re.compile(r'\{\s*(0x[0-9A-Fa-f]+|\d+)\s*,\s*(0x[0-9A-Fa-f]+|\d+)\s*,\s*([A-Za-z]{2})\s*,\s*"([^"]*)"')

# Conquest's private elements (control channel, query extras, NKI pixel data).
CONQUEST_PRIVATE = (
    (0x7FDF, 0x0010, "OW", "NKIPixelData"),
    (0x9999, 0x0100, "UL", "ConquestMaxVRSize"),
    (0x9999, 0x0200, "IS", "ConquestMaxRowsColumns"),
    (0x9999, 0x0201, "IS", "ConquestFrame"),
    (0x9999, 0x0202, "LO", "ConquestScrub"),
    (0x9999, 0x0300, "LO", "ConquestConsoleText"),
    (0x9999, 0x0400, "LO", "ConquestConsoleCommand"),
    (0x9999, 0x0401, "OB", "ConquestConsoleResponse"),
    (0x9999, 0x0402, "OB", "ConquestConsoleData"),
    (0x9999, 0x0403, "SQ", "ConquestConsoleResponseOverride"),
    (0x9999, 0x0404, "LO", "ConquestOddLengthFlag"),
    (0x9999, 0x0500, "IS", "ConquestMaxSlices"),
    (0x9999, 0x0600, "IS", "ConquestMaxNKICompression"),
    (0x9999, 0x0700, "LO", "ConquestCompression"),
    (0x9999, 0x0800, "LO", "ConquestReturnObjectFile"),
    (0x9999, 0x0801, "LO", "ConquestReturnDeviceName"),
    (0x9999, 0x0802, "IS", "ConquestVirtualServerMask"),
    (0x9999, 0x0900, "LT", "ConquestScript"),
    (0x9999, 0x0A00, "AE", "ConquestMoveOriginator"),
    (0x9999, 0x0B00, "LO", "ConquestSplit"),
    (0x9999, 0x0C00, "LO", "ConquestImageQueryOrder"),
    (0x9999, 0x0C01, "IS", "ConquestLimit"),
    (0x9999, 0x0C02, "IS", "ConquestOffset"),
    (0x9999, 0x9999, "LO", "ConquestCountOnly"),
)


@dataclass(frozen=True)
class DicEntry:
    group: int
    element: int
    vr: str
    keyword: str = ""

    @property
    def tag(self) -> int:
        return (self.group << 16) | self.element


class Dictionary:
    """Tag ↔ VR/keyword lookups in file order (``get_dic`` indexes that order)."""

    def __init__(self, entries: list[DicEntry] | None = None, path: str = "dgate.dic"):
        self.entries: list[DicEntry] = list(entries or [])
        self.path = path
        self.warnings: list[ConfigWarning] = []
        self._reindex()

    def _reindex(self) -> None:
        self._by_tag: dict[int, DicEntry] = {}
        self._by_keyword: dict[str, DicEntry] = {}
        for entry in self.entries:
            self._by_tag.setdefault(entry.tag, entry)
            if entry.keyword:
                self._by_keyword.setdefault(entry.keyword.lower(), entry)
        self._descriptors: dict[str, int | None] = {}
        self._known_vrs: dict[int, str | None] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def vr(self, tag: int) -> str | None:
        entry = self._by_tag.get(tag)
        return entry.vr if entry else None

    def by_tag(self, tag: int) -> DicEntry | None:
        return self._by_tag.get(tag)

    def known_vr(self, tag: int) -> str | None:
        """The tag's VR when the dictionary gives a usable one (not ``UN`` or ``??``), else
        None; remembered, as :meth:`tag_for` (scripts read the same few elements)."""
        found = self._known_vrs.get(tag, _UNSEEN)
        if found is _UNSEEN:
            entry = self._by_tag.get(tag)
            found = entry.vr if entry is not None and entry.vr and entry.vr not in ("UN", "??") else None
            if len(self._known_vrs) < 4096:
                self._known_vrs[tag] = found
        return found  # type: ignore[return-value]

    def by_keyword(self, keyword: str) -> DicEntry | None:
        return self._by_keyword.get(keyword.lower())

    def tag_for(self, name: str) -> int | None:
        """The tag of ``gggg,eeee`` or of a keyword spelled exactly as in the dictionary
        (``RTC::GetGroupElement``; None when unknown). Answers are remembered (scripts
        name the same few elements for every object), up to 4096 names."""
        found = self._descriptors.get(name, _UNSEEN)
        if found is _UNSEEN:
            match = _DESCRIPTOR_TAG.match(name)
            if match:
                found = (int(match.group(1), 16) << 16) | int(match.group(2), 16)
            else:
                entry = self.by_keyword(name) if name and name.isalnum() else None
                found = entry.tag if entry is not None and entry.keyword == name else None
            if len(self._descriptors) < 4096:
                self._descriptors[name] = found
        return found  # type: ignore[return-value]

    # -- reading -------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike) -> "Dictionary":
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError as exc:
            raise ConfigError(str(path), 0, "file not found") from exc
        if data.startswith(BINARY_MAGIC):
            return cls.from_binary(data, str(path))
        return cls.from_text(data.decode("latin-1"), str(path))

    @classmethod
    def from_text(cls, text: str, path: str = "dgate.dic") -> "Dictionary":
        entries: list[DicEntry] = []
        warnings: list[ConfigWarning] = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.startswith("("):
                if "VR=\"" not in line:
                    warnings.append(ConfigWarning(path, number, "entry without VR=\"..\"; skipped"))
                    continue
                tag = _TEXT_TAG.match(line)
                if not tag:
                    continue  # range entries such as (50xx,0000)
                found = _VR.search(line)
                vr = found.group(1)[:2] if found else ""
                keyword = _KEYWORD.search(line)
                entries.append(DicEntry(int(tag.group(1), 16), int(tag.group(2), 16), vr,
                                        keyword.group(1) if keyword else ""))
            elif line.startswith("{"):
                legacy = _LEGACY.match(line)
                if not legacy:
                    warnings.append(ConfigWarning(path, number,
                                    "expected { group, element, VR, \"description\" }; skipped"))
                    continue
                entries.append(DicEntry(int(legacy.group(1), 0), int(legacy.group(2), 0),
                                        legacy.group(3), legacy.group(4)))
        dic = cls(entries, path)
        dic.warnings = warnings
        return dic

    @classmethod
    def from_binary(cls, data: bytes, path: str = "dgate.dic") -> "Dictionary":
        if len(data) < 40:
            raise ConfigError(path, 0, "binary dictionary header is truncated")
        count, koff, ksize, doff, dsize, soff, ssize = struct.unpack_from("<7I", data, 12)
        if doff + count * 12 > len(data) or (soff and soff + ssize > len(data)):
            raise ConfigError(path, 0, "binary dictionary tables run past the end of the file")
        keywords = data[soff:soff + ssize].split(b"\0") if soff else []
        entries = []
        for i in range(count):
            group, element, code = struct.unpack_from("<HHH", data, doff + 12 * i)
            vr = chr(code >> 8) + chr(code & 0xFF)
            keyword = keywords[i].decode("latin-1") if i < len(keywords) else ""
            entries.append(DicEntry(group, element, vr, keyword))
        return cls(entries, path)

    # -- writing -------------------------------------------------------------------
    def to_binary(self) -> bytes:
        """The ``#!BinRTC`` form written by ``--mk_binary_dic:``; entries sorted by tag."""
        entries = sorted(self.entries, key=lambda e: e.tag)
        count = len(entries)
        keys = b"".join(struct.pack("<I", e.tag) for e in entries)
        data = b"".join(struct.pack("<HHH6x", e.group, e.element,
                                    (ord(e.vr[0]) << 8) | ord(e.vr[1])) for e in entries)
        strings = b"".join(e.keyword.encode("latin-1", "replace") + b"\0" for e in entries)
        koff = HEADER_SIZE
        doff = koff + len(keys)
        soff = doff + len(data)
        header = BINARY_MAGIC + b"\r\n\0\0" + struct.pack(
            "<7I", count, koff, len(keys), doff, len(data), soff, len(strings))
        return header.ljust(HEADER_SIZE, b"\0") + keys + data + strings

    def to_text(self) -> str:
        lines = ["# dgate.dic: DICOM data dictionary for dgate (text form).",
                 "# One entry per line: (GGGG,EEEE) VR=\"XX\" VM=\"..\" Keyword=\"..\" Name=\"..\"",
                 ""]
        for e in self.entries:
            lines.append(f'({e.group:04X},{e.element:04X}) VERS="4"\tVR="{e.vr}"   VM="1"\t'
                         f'Keyword="{e.keyword}"\tName="{e.keyword}"')
        return "\n".join(lines) + "\n"


def standard_dictionary() -> Dictionary:
    """Build a dictionary from pydicom's data dictionary plus Conquest's private tags."""
    from pydicom.datadict import DicomDictionary

    entries = []
    for tag, (vr, _vm, _name, _retired, keyword) in sorted(DicomDictionary.items()):
        group, element = tag >> 16, tag & 0xFFFF
        vr = "OW" if tag == 0x7FE00010 else vr.split(" or ")[0]   # Conquest's dgate.dic: PixelData OW/OB
        entries.append(DicEntry(group, element, vr[:2], keyword))
    entries.extend(DicEntry(g, e, vr, kw) for g, e, vr, kw in CONQUEST_PRIVATE)
    return Dictionary(entries)
