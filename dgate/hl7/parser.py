"""HL7 v2 messages as the item stream Conquest maps to the worklist (conquest-storage.md §7).

A message is a run of segments; a new message starts at every segment named ``MSH``.
Each segment yields ``SEG.0`` (the segment name), then for every field N (counted from 1
after the name) ``SEG.N`` with the whole field (at most 255 characters), followed by:

* for the date-time fields of :data:`DATETIME_FIELDS`: ``SEG.N.DATE`` (first 8 characters)
  and ``SEG.N.TIME`` (the rest, empty for a value of 8 characters or less);
* for a field holding a component (``^``) or else a repeat (``~``) separator: ``SEG.N.0``,
  ``SEG.N.1``, … for its parts, ``^`` and ``~`` treated alike after the first split, and a
  closing ``SEG.N.END`` item with no value.

Conquest's numbering is kept because dicom.sql files depend on it: the ``MSH`` segment is
counted from the encoding characters, so Conquest's ``MSH.1`` is HL7's MSH-2 (off by one),
and a segment name not of the form ``[A-Z][A-Z][A-Z0-9]`` yields ``UNK.*`` items counted
from the segment's first character.

Deliberate differences from ``parseHL7`` (dgate.cpp:27416), each a loss of data there:

* a field ends at the segment terminator: the original reads the last field of a segment
  that lacks a trailing ``|`` up to the next ``|`` anywhere, swallowing the next segment
  (and the next message) into it;
* a component that contains both separators (``a^b~c^d``) ends its parts at the first
  ``END``: the original loops for ever there, writing debug lines until the disk is full;
* the last segment of the data needs no terminator: the original drops that message.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

DATETIME_FIELDS = frozenset((
    "OBR.7", "OBR.8", "OBR.22", "PID.7", "PID.29", "PV1.44", "PV1.45", "TXA.4", "TXA.6", "TXA.7", "TXA.8",
    "OBR.6", "OBR.36", "MSH.6", "OBX.12", "OBX.14", "ORC.9", "ORC.15"))
MAX_FIELD = 255
_SEGMENT_NAME = re.compile(r"[A-Z][A-Z][A-Z0-9]")
_TERMINATOR = re.compile(r"\r\n|\n\r|\r|\n")


class HL7Error(ValueError):
    """A malformed message; ``line`` is the 1-based line of the offending segment."""

    def __init__(self, line: int, message: str):
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.reason = message


@dataclass(frozen=True)
class Item:
    tag: str
    value: str
    line: int


@dataclass
class Message:
    """One HL7 message: its items and the line of its first segment."""

    line: int
    items: list[Item] = field(default_factory=list)
    control_id: str = ""          # HL7 MSH-10 (Conquest's MSH.9), for the ACK
    segments: list[str] = field(default_factory=list)


def _dots(tag: str) -> int:
    """How many ``.<digit>`` parts a tag has (``PID.5.0`` → 2)."""
    return sum(1 for i in range(len(tag) - 1) if tag[i] == "." and tag[i + 1].isdigit())


def _split(text: str, sub: str, rep: str) -> tuple[str, str] | None:
    for sep in (sub, rep):
        if sep and sep in text:
            head, _, tail = text.partition(sep)
            return head, tail
    return None


def _parts(tag: str, value: str, sub: str, rep: str) -> Iterator[tuple[str, str]]:
    """Component/repeat items of one field value, numbered as Conquest numbers them."""
    data, rest = value, ""
    while True:
        first = _split(data, sub, rep)
        if first is not None:
            data, rest = first
            tag += ".0"
            yield tag, data
        elif _dots(tag) > 1:
            if not rest:
                yield tag[:tag.rfind(".")] + ".END", ""
                return
            nxt = _split(rest, sub, rep)
            data, rest = nxt if nxt is not None else (rest, "")
            head, _, number = tag.rpartition(".")
            tag = f"{head}.{int(number) + 1}"
            yield tag, data
        else:
            return


def field_items(tag: str, value: str, sub: str = "^", rep: str = "~") -> Iterator[tuple[str, str]]:
    """All items one field produces: the field, its date/time split, its parts."""
    value = value[:MAX_FIELD]
    yield tag, value
    if tag in DATETIME_FIELDS:
        yield tag + ".DATE", value[:8]
        tag, value = tag + ".TIME", value[8:]
        yield tag, value
    yield from _parts(tag, value, sub, rep)


def _segments(text: str) -> Iterator[tuple[int, str]]:
    """Non-empty segments with their 1-based line numbers (CR, LF, CRLF, LFCR end one)."""
    line, pos = 1, 0
    for match in _TERMINATOR.finditer(text):
        if match.start() > pos:
            yield line, text[pos:match.start()]
        line += 1
        pos = match.end()
    if pos < len(text):
        yield line, text[pos:]


def parse(text: str) -> list[Message]:
    """Split HL7 text into messages of items; raises :class:`HL7Error` when malformed."""
    if "\0" in text:
        line = len(_TERMINATOR.findall(text, 0, text.index("\0"))) + 1
        raise HL7Error(line, "binary data (NUL byte) in HL7 text")
    messages: list[Message] = []
    fs, sub, rep = "|", "^", "~"
    for line, segment in _segments(text):
        name = segment[:3]
        if name == "MSH" or not messages:
            messages.append(Message(line))
            fs, sub, rep = "|", "^", "~"
        message = messages[-1]
        message.segments.append(segment)
        if name == "MSH":
            if len(segment) < 6:
                raise HL7Error(line, "MSH segment too short to hold its separators")
            fs, sub, rep = segment[3], segment[4], segment[5]
            if len({fs, sub, rep}) < 3 or any(ch.isalnum() or ch.isspace() for ch in (fs, sub, rep)):
                raise HL7Error(line, f"MSH separators {segment[3:6]!r} are not three distinct punctuation marks")
        if _SEGMENT_NAME.fullmatch(name):
            base, rest = name, segment[4:]
        else:
            base, rest = "UNK", segment
        message.items.append(Item(base + ".0", name if base != "UNK" else "", line))
        fields = rest.split(fs)
        if fields and fields[-1] == "":
            fields.pop()              # nothing after the last separator
        for n, value in enumerate(fields, 1):
            for tag, text_value in field_items(f"{base}.{n}", value, sub, rep):
                message.items.append(Item(tag, text_value, line))
        if name == "MSH" and len(fields) >= 9:
            message.control_id = fields[8].split(sub)[0]
    if not messages:
        raise HL7Error(1, "no HL7 segments")
    return messages
