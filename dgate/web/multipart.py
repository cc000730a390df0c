"""``multipart/related`` (RFC 2387) as PS3.18 uses it: media-type parameters, parsing a
request body held in a file, and writing parts.

The parser needs the CRLF before each delimiter (RFC 2046 §5.1.1) and a closing
delimiter; anything else is a :class:`MultipartError` (a 400 answer).
"""
from __future__ import annotations

import mmap
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO


class MultipartError(ValueError):
    """A body that is not a well-formed multipart/related message."""


def parse_media_type(text: str) -> tuple[str, dict[str, str]]:
    """``type/sub; a=b; c="d;e"`` → (``type/sub``, {a: b, c: 'd;e'}); names lower-cased."""
    parts: list[str] = []
    current, quoted, escape = "", False, False
    for ch in text:
        if escape:
            current += ch
            escape = False
        elif ch == "\\" and quoted:
            escape = True
        elif ch == '"':
            quoted = not quoted
            current += ch
        elif ch == ";" and not quoted:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    media = parts[0].strip().lower()
    params: dict[str, str] = {}
    for item in parts[1:]:
        name, eq, value = item.partition("=")
        if not eq:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        params[name.strip().lower()] = value
    return media, params


def split_accept(header: str) -> list[tuple[str, dict[str, str], float]]:
    """The media ranges of an Accept header, best first (q-value, then order)."""
    ranges = []
    depth, current, items = False, "", []
    for ch in header:
        if ch == '"':
            depth = not depth
        if ch == "," and not depth:
            items.append(current)
            current = ""
        else:
            current += ch
    items.append(current)
    for index, item in enumerate(items):
        if not item.strip():
            continue
        media, params = parse_media_type(item)
        try:
            q = float(params.pop("q", "1") or 1)
        except ValueError:
            q = 1.0
        if q > 0:
            ranges.append((index, media, params, q))
    ranges.sort(key=lambda r: (-r[3], r[0]))
    return [(m, p, q) for _i, m, p, q in ranges]


@dataclass
class Part:
    headers: dict[str, str] = field(default_factory=dict)
    start: int = 0
    end: int = 0
    source: object = None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def body(self) -> bytes:
        return bytes(self.source[self.start:self.end])  # type: ignore[index]


def new_boundary() -> str:
    return secrets.token_hex(16)


def parse_file(handle: BinaryIO, boundary: str) -> tuple[list[Part], mmap.mmap | bytes]:
    """Split a multipart body stored in ``handle``; parts refer into the returned buffer."""
    if not boundary or len(boundary) > 200:
        raise MultipartError("multipart/related needs a boundary parameter of 1 to 200 characters")
    handle.seek(0, 2)
    size = handle.tell()
    if size == 0:
        raise MultipartError("empty request body")
    buf = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    return parse_buffer(buf, boundary), buf


def parse_buffer(buf, boundary: str) -> list[Part]:
    delim = b"--" + boundary.encode("latin-1")
    pos = buf.find(delim)
    if pos < 0 or (pos > 0 and buf[pos - 2:pos] != b"\r\n"):
        raise MultipartError("the body does not start with the boundary delimiter")
    parts: list[Part] = []
    pos += len(delim)
    while True:
        if buf[pos:pos + 2] == b"--":
            break
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            raise MultipartError("part delimiter line without CRLF")
        pos = eol + 2
        head_end = buf.find(b"\r\n\r\n", pos - 2)
        if head_end < 0:
            raise MultipartError("part without the blank line that ends its headers")
        headers: dict[str, str] = {}
        if head_end > pos - 2:
            for line in bytes(buf[pos:head_end]).split(b"\r\n"):
                if not line:
                    continue
                name, colon, value = line.partition(b":")
                if not colon:
                    raise MultipartError(f"malformed part header line {line[:60]!r}")
                headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
        start = head_end + 4
        nxt = buf.find(b"\r\n" + delim, start)
        if nxt < 0:
            raise MultipartError("part not closed by a boundary delimiter (truncated body?)")
        parts.append(Part(headers, start, nxt, buf))
        pos = nxt + 2 + len(delim)
    if not parts:
        raise MultipartError("multipart body without parts")
    return parts


def part_head(boundary: str, content_type: str, extra: dict[str, str] | None = None) -> bytes:
    lines = [f"--{boundary}", f"Content-Type: {content_type}"]
    for name, value in (extra or {}).items():
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def closing(boundary: str) -> bytes:
    return f"--{boundary}--\r\n".encode("latin-1")


def build(boundary: str, parts: list[tuple[str, bytes]]) -> Iterator[bytes]:
    for ctype, body in parts:
        yield part_head(boundary, ctype)
        yield body
        yield b"\r\n"
    yield closing(boundary)
