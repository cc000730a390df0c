"""acrnema.map: AE title → host, port, compression (conquest-storage.md §5.1).

File syntax: ``/* ... */`` block comments (may span lines), ``//``, ``#`` and ``;``
line comments, then one entry per line ``AE host port [compression]`` (compression
defaults to ``un``; extra columns are ignored).

The original's comment stripping swallows the line end, so a comment *after* an entry
merges that entry with the next line, and a ``;`` comment line merges its neighbours.
No working configuration can rely on that loss, so we keep entries apart and report a
warning naming the line where 1.5.0e would have lost an entry.

Lookup (``GetACRNema``): pass 1 in file order, wildcard entries ``PREFIX*`` match AEs
starting with PREFIX (case-insensitively), with a host or port ending in ``*`` taking
the rest of the AE; other entries need an exact, case-sensitive match. Pass 2: exact,
case-insensitive.
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import NamedTuple

from .errors import ConfigError, ConfigWarning, read_config_text

ROW_FORMAT = "%-17s %-30s %-10s %-16s"
DEFAULT_COMPRESSION = "un"


class AEEntry:
    """One acrnema.map row."""

    __slots__ = ("ae", "host", "port", "compression", "line")

    def __init__(self, ae: str, host: str, port: str, compression: str = DEFAULT_COMPRESSION, line: int = 0):
        self.ae, self.host, self.port, self.compression, self.line = ae, host, port, compression, line

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AEEntry) and all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    def __repr__(self) -> str:
        return f"AEEntry({self.ae!r}, {self.host!r}, {self.port!r}, {self.compression!r}, line={self.line})"

    def row(self) -> str:
        return ROW_FORMAT % (self.ae, self.host, self.port, self.compression)


class Address(NamedTuple):
    """Result of a lookup: where to reach an AE and how to send to it."""

    ae: str
    host: str
    port: int
    compression: str


_COMMENT = re.compile(r"//|#|;")


class ACRNemaMap:
    """The in-memory AE map; ``put``/``delete`` change memory only, ``write`` saves."""

    def __init__(self, entries: list[AEEntry] | None = None, path: str = "acrnema.map"):
        self.entries: list[AEEntry] = list(entries or [])
        self.path = path
        self.warnings: list[ConfigWarning] = []

    # -- reading -------------------------------------------------------------------
    @classmethod
    def parse(cls, text: str, path: str = "acrnema.map") -> "ACRNemaMap":
        amap = cls(path=path)
        text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
        in_block = False
        block_start = 0
        for number, line in enumerate(text.split("\n"), start=1):
            content, in_block, opened = _strip_block_comments(line, in_block)
            if opened and in_block:
                block_start = number
            match = _COMMENT.search(content)
            if match:
                before = content[: match.start()]
                if before.strip():
                    amap._warn(number, "comment after an entry; Conquest 1.5.0e would merge "
                                       "this entry with the next line")
                elif match.group() == ";" and amap.entries:
                    amap._warn(number, "';' comment line; Conquest 1.5.0e would merge the "
                                       "entries before and after it")
                content = before
            words = content.split()
            if not words:
                continue
            if len(words) < 3:
                raise ConfigError(path, number, f"expected 'AE host port [compression]', "
                                                f"found '{content.strip()}'")
            compression = words[3] if len(words) > 3 else DEFAULT_COMPRESSION
            amap.entries.append(AEEntry(words[0][:19], words[1][:127], words[2][:15],
                                        compression[:15], number))
        if in_block:
            raise ConfigError(path, block_start, "comment '/*' is never closed by '*/'")
        return amap

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ACRNemaMap":
        return cls.parse(read_config_text(path), str(path))

    def _warn(self, line: int, message: str) -> None:
        self.warnings.append(ConfigWarning(self.path, line, message))

    # -- lookup --------------------------------------------------------------------
    def match(self, ae: str) -> AEEntry | None:
        """The row ``GetACRNema`` resolves ``ae`` through (pass 1 in file order: wildcard
        rows case-insensitively, others exactly; pass 2: exact, case-insensitive)."""
        ae = ae.rstrip()
        for entry in self.entries:
            if entry.ae.endswith("*"):
                if ae.lower().startswith(entry.ae[:-1].lower()):
                    return entry
            elif entry.ae == ae:
                return entry
        for entry in self.entries:
            if entry.ae.lower() == ae.lower():
                return entry
        return None

    def lookup(self, ae: str) -> Address | None:
        """``GetACRNema``: resolve an AE title, or None when it is unknown."""
        ae = ae.rstrip()
        entry = self.match(ae)
        if entry is None:
            return None
        if entry.ae.endswith("*"):
            rest = ae[len(entry.ae) - 1:]
            host = entry.host[:-1] + rest if entry.host.endswith("*") else entry.host
            port = entry.port[:-1] + rest if entry.port.endswith("*") else entry.port
            return _address(ae, host, port, entry.compression)
        return _address(ae, entry.host, entry.port, entry.compression)

    # -- editing (put_amap / delete_amap / write_amap) -------------------------------
    def put(self, index: int, ae: str, host: str, port: str, compression: str = "") -> None:
        entry = AEEntry(ae, host, port, compression or DEFAULT_COMPRESSION)
        if 0 <= index < len(self.entries):
            self.entries[index] = entry
        else:
            self.entries.append(entry)

    def delete(self, index: int) -> bool:
        if 0 <= index < len(self.entries):
            del self.entries[index]
            return True
        return False

    def render(self, now: float | None = None) -> str:
        """File text written by ``write_amap``: a comment banner, then one row per entry."""
        stamp = time.ctime(now if now is not None else time.time())
        banner = [
            "/* **********************************************************",
            " *                                                          *",
            " * DICOM AE (Application entity) -> IP address / Port map   *",
            " * (This is file ACRNEMA.MAP)                               *",
            " *                                                          *",
            " * All DICOM systems that want to retrieve images from the  *",
            " * Conquest DICOM server must be listed here with correct   *",
            " * AE name, (IP address or hostname) and port number.       *",
            " * The first entry is the Conquest system as example.       *",
            " *                                                          *",
            " * The syntax for each entry is :                           *",
            " *   AE   <IP address|Host name>   port number   compression *",
            " *                                                          *",
            " * For compression options see dicom.ini / the manual.      *",
            " * Wildcards: 'AE*' entries match any AE with that prefix;  *",
            " * a host or port ending in '*' takes the rest of the AE.   *",
            " *                                                          *",
            f" * Written by write_amap on {stamp:<32}*",
            " ********************************************************** */",
            "",
        ]
        return "\n".join(banner) + "\n" + "".join(e.row() + "\n" for e in self.entries)

    def write(self, path: str | os.PathLike | None = None, now: float | None = None) -> None:
        target = Path(path or self.path)
        tmp = target.with_name(target.name + ".new")
        tmp.write_text(self.render(now), encoding="latin-1")
        os.replace(tmp, target)

    def dump(self) -> str:
        """Text of ``dgate -m`` (``PrintAMap``)."""
        return "**\tAE / IP-PORT Map dump\n\n" + "".join(e.row() + "\n" for e in self.entries)


def _address(ae: str, host: str, port: str, compression: str) -> Address:
    digits = re.match(r"\d+", port)
    return Address(ae, host, int(digits.group()) if digits else 0, compression)


def _strip_block_comments(line: str, in_block: bool) -> tuple[str, bool, bool]:
    """Remove ``/* */`` parts of one line, tracking a comment that spans lines."""
    out: list[str] = []
    opened = False
    i = 0
    while i < len(line):
        if in_block:
            end = line.find("*/", i)
            if end < 0:
                return "".join(out), True, opened
            i = end + 2
            in_block = False
            out.append(" ")
        else:
            start = line.find("/*", i)
            if start < 0:
                out.append(line[i:])
                break
            out.append(line[i:start])
            i = start + 2
            in_block = True
            opened = True
    return "".join(out), in_block, opened
