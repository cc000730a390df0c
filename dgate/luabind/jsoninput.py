"""JSON input for ``DicomObject:new(json)``, ``Copy(json)`` and ``SetVR`` of sequences
(``jsonaddtoobject``; conquest-lua-web.md §5).

The top level is an object (for a sequence: an array of objects). Keys are ``GGGGEEEE``
or dictionary keywords; unknown keys are skipped with their value. Strings and
primitives become element text (a backslash escape keeps the next character literally,
as the original's parser does: ``\\n`` gives ``n``); arrays become sequences of objects.
Existing elements are replaced. Differences from 1.5.0e, on purpose: US/UL values are
converted correctly (the original reads an uninitialised buffer) and UIDs are padded
with NUL, not a space. DICOMweb-style ``{"vr":..,"Value":..}`` input is not supported
(neither is it in the original).
"""
from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from ..config.dictionary import Dictionary
from .elements import set_text, tag_of


class JsonError(ValueError):
    """Text that is not the JSON this input accepts."""


class _Obj(list):
    """A parsed JSON object: its (key, value) pairs in order."""


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            self.pos += 1

    def peek(self) -> str:
        self.skip()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, ch: str) -> None:
        if self.peek() != ch:
            raise JsonError(f"expected '{ch}' at position {self.pos}")
        self.pos += 1

    def value(self):
        ch = self.peek()
        if ch == "{":
            return self.obj()
        if ch == "[":
            return self.array()
        if ch == '"':
            return self.string()
        return self.primitive()

    def obj(self) -> _Obj:
        self.expect("{")
        pairs = _Obj()
        if self.peek() == "}":
            self.pos += 1
            return pairs
        while True:
            if self.peek() != '"':
                raise JsonError(f"expected a key at position {self.pos}")
            key = self.string()
            self.expect(":")
            pairs.append((key, self.value()))
            ch = self.peek()
            self.pos += 1
            if ch == "}":
                return pairs
            if ch != ",":
                raise JsonError(f"expected ',' or '}}' at position {self.pos - 1}")

    def array(self) -> list:
        self.expect("[")
        items: list = []
        if self.peek() == "]":
            self.pos += 1
            return items
        while True:
            items.append(self.value())
            ch = self.peek()
            self.pos += 1
            if ch == "]":
                return items
            if ch != ",":
                raise JsonError(f"expected ',' or ']' at position {self.pos - 1}")

    def string(self) -> str:
        self.expect('"')
        out = []
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if ch == "\\" and self.pos + 1 < len(text):
                out.append(text[self.pos + 1])
                self.pos += 2
                continue
            if ch == '"':
                self.pos += 1
                return "".join(out)
            out.append(ch)
            self.pos += 1
        raise JsonError("string not terminated")

    def primitive(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in ",}] \t\r\n":
            self.pos += 1
        token = self.text[start:self.pos]
        if not token:
            raise JsonError(f"expected a value at position {start}")
        return token


def _key_tag(key: str, dic: Dictionary) -> int | None:
    if len(key) == 8:
        try:
            return int(key, 16)
        except ValueError:
            pass
    return tag_of(key, dic)


def fill(ds: Dataset, pairs: list, dic: Dictionary) -> Dataset:
    """Put the (key, value) pairs of a parsed object into ``ds``."""
    for key, value in pairs:
        tag = _key_tag(key, dic)
        if tag is None:
            continue
        if isinstance(value, list) and not isinstance(value, _Obj):
            items = Sequence([fill(Dataset(), item, dic) for item in value if isinstance(item, _Obj)])
            ds.add_new(tag, "SQ", items)
        elif isinstance(value, str):
            entry = dic.by_tag(tag)
            set_text(ds, tag, entry.vr if entry is not None else "UN", value)
    return ds


def parse_object(text: str, dic: Dictionary, into: Dataset | None = None) -> Dataset:
    """A JSON object as a Dataset (merged into ``into`` when given)."""
    parser = _Parser(text)
    if parser.peek() != "{":
        raise JsonError("JSON input must be an object")
    return fill(into if into is not None else Dataset(), parser.obj(), dic)


def parse_array(text: str, dic: Dictionary) -> Sequence:
    """A JSON array of objects as a Sequence (``SetVR`` on an SQ element)."""
    parser = _Parser(text)
    if parser.peek() != "[":
        raise JsonError("JSON input for a sequence must be an array of objects")
    return Sequence([fill(Dataset(), item, dic) for item in parser.array() if isinstance(item, _Obj)])
