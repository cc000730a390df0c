"""``%`` substitutions of the converter language (conquest-lua-web.md §8.3).

:func:`expand` turns one statement into the line that is dispatched: a leading ``{`` or
``}`` (and the spaces after it) is dropped, ``%`` codes are expanded everywhere (also
inside strings and ``lua:`` code), and a ``""`` met inside a string is removed so that
adjacent strings join. After a code an optional ``[a,b]`` keeps characters a…b
(``[,n]`` the last n) and ``^``/``~`` upper-/lower-cases the substituted part.
"""
from __future__ import annotations

import re
import time
import zlib
from typing import Protocol

from pydicom.dataset import Dataset

from .elements import Loader, Names, search

_RANGE = re.compile(r"\[(-?\d*),(-?\d*)\]?")


class Source(Protocol):
    """What the substitutions read; implemented by the running script's state."""

    export: bool
    calling: str
    called: str

    def dataset(self) -> Dataset | None: ...
    def file_name(self) -> str: ...
    def modality(self) -> str: ...
    def station(self) -> str: ...
    def sop(self) -> str: ...
    def patient_id(self) -> str: ...
    def variable(self, name: str) -> str: ...
    def change_uid(self, uid: str) -> str: ...
    def change_uid_back(self, uid: str) -> str: ...
    def new_uid(self) -> str: ...
    def db_value(self, level: str, tag: int) -> str: ...
    def alias(self, letter: str, value: str) -> str: ...
    def loader(self) -> Loader | None: ...
    @property
    def names(self) -> Names: ...


def conquest_crc(text: str) -> int:
    """Conquest's ``ComputeCRC`` (%A): the CRC-32 table run from 0 with no final XOR,
    i.e. zlib's CRC-32 with both inversions undone."""
    return zlib.crc32(text.encode("latin-1", "replace"), 0xFFFFFFFF) ^ 0xFFFFFFFF


def _ctime() -> str:
    """C ``ctime()`` without the newline, e.g. ``Tue Feb 18 19:39:40 2025``."""
    return time.ctime()


def _simple(code: str, src: Source) -> str | None:
    if code == "f":
        return src.file_name()
    if code == "b":
        name = src.file_name().replace("\\", "/")
        if "/" not in name:
            return ""
        base = name.rsplit("/", 1)[1]
        return base.rsplit(".", 1)[0] if "." in base else base
    if code == "p":
        name = src.file_name()
        cut = max(name.rfind("/"), name.rfind("\\"))
        return name[:cut] if cut >= 0 else name
    if code == "m":
        return src.modality()
    if code == "s":
        return src.station()
    if code == "o":
        return src.sop()
    if code == "i":
        return src.patient_id()
    if code == "u":
        return src.calling.rstrip(" ")
    if code == "c":
        return src.called.rstrip(" ")
    if code == "d":
        return _ctime()
    if code == "n":
        return "\n"
    if code == "t":
        return "\t"
    if code in "%^~[":
        return code
    if code == "g":
        return src.new_uid()
    if code in "xyz":
        return "" if src.export else src.variable(code)
    return None


def _one(text: str, i: int, src: Source) -> tuple[str, int]:
    """Expand the code at ``text[i] == '%'``: (value, index after the code)."""
    code = text[i + 1:i + 2].lower()
    simple = _simple(code, src) if code else ""
    if simple is not None:
        return simple, i + 2
    rest = text[i + 2:]
    if code in "vaer":
        value, used = search(src.dataset(), rest, src.loader(), src.names)
        if code == "a":
            value = str(conquest_crc(value))
        elif code == "e":
            value = src.change_uid(value) if value else ""
        elif code == "r":
            value = (src.change_uid_back(value) or "") if value else ""
        return value, i + 2 + used
    if code == "q":
        if src.export:
            return "", i + 2
        level = rest[:1]
        if level.upper() in ("P", "S", "E", "W"):
            m = re.match(r"([0-9A-Fa-f]{4}),([0-9A-Fa-f]{4})", rest[1:])
            tag = (int(m.group(1), 16) << 16) | int(m.group(2), 16) if m else 0
            value = src.db_value(level.upper(), tag) if m else ""
            return value, i + 12
        value, used = search(src.dataset(), rest[1:], src.loader(), src.names)
        return src.alias(level, value), i + 3 + used
    return "", i + 2          # unknown code: both characters consumed


def _modifiers(text: str, i: int, value: str) -> tuple[str, int]:
    if text[i:i + 1] == "[":
        m = _RANGE.match(text, i)
        a, b = 0, -1
        if m:
            if m.group(1) == "" and m.group(2) != "":
                b = int(m.group(2))
                a = -1
            else:
                a = int(m.group(1) or 0)
                b = int(m.group(2)) if m.group(2) not in ("", None) else -1
        close = text.find("]", i)
        i = close + 1 if close >= 0 else len(text)
        n = len(value)
        if a > n:
            a = n
        if a < 0:
            a, b = n - b, n
        if a < 0:
            a = 0
        if b > n:
            b = n
        value = value[a:b + 1] if b >= a else value
    if text[i:i + 1] == "^":
        return value.upper(), i + 1
    if text[i:i + 1] == "~":
        return value.lower(), i + 1
    return value, i


def expand(statement: str, src: Source) -> str:
    """The statement with its block brace removed and all ``%`` codes substituted."""
    out: list[str] = []
    i, n = 0, len(statement)
    if statement[:1] in ("{", "}"):
        i = 1
        while i < n and statement[i] == " ":
            i += 1
    in_string = False
    while i < n:
        ch = statement[i]
        if ch == '"':
            if in_string and statement[i + 1:i + 2] == '"':
                i += 2
            else:
                out.append(ch)
                i += 1
            in_string = not in_string
        elif ch == "%":
            value, i = _one(statement, i, src)
            value, i = _modifiers(statement, i, value)
            out.append(value)
        else:
            out.append(ch)
            i += 1
    return "".join(out)
