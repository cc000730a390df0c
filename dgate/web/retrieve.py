"""WADO-RS retrieval (PS3.18 §10.4): instances and bulk data of stored files.

Transfer syntax negotiation (PS3.18 §8.7.3): the Accept header's ``transfer-syntax``
parameters are tried in order; ``*`` serves the stored syntax, no parameter means the
default (Explicit VR Little Endian). The stored bytes are sent when their syntax is
acceptable; otherwise :func:`dgate.codec.transcode` makes the asked one (compressed
syntaxes included), and a syntax that cannot hold the data (e.g. 16-bit pixels as JPEG
Baseline) is passed over for the next acceptable one. NKI compressed files are always
sent as ordinary pixel data (:func:`dgate.codec.readable`). Frames: :mod:`.frames`.
"""
from __future__ import annotations

import io
import mmap
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pydicom.dataset import Dataset
from pydicom.filereader import _read_file_meta_info, read_preamble

from .. import codec
from ..codec import syntaxes as ts
from ..db.database import InstanceFile
from ..store.formats import EXPLICIT_LE, IMPLICIT_LE, part10_bytes, read_file
from . import frames
from .context import WebContext
from .errors import HTTPProblem, not_acceptable, not_found
from .multipart import split_accept

NKI_TAGS = (b"\xdf\x7f\x10\x00", b"\x7f\xdf\x00\x10")      # (7FDF,0010) little and big endian

@dataclass
class Located:
    item: InstanceFile
    path: Path


def locate_instances(ctx: WebContext, study: str, series: str = "", sop: str = "") -> list[Located]:
    """The stored files of a study/series/instance; 404 when nothing is stored."""
    rows = ctx.db().instance_files(study, series, sop)
    found = []
    roots: dict[str, str | None] = {}
    for row in rows:
        path = ctx.locate(row.device, row.object_file, roots)
        if path is not None:
            found.append(Located(row, path))
        else:
            ctx.logs.operator.printf(f"***WADO-RS: file of {row.sop_uid} not found: {row.object_file}\n")
    if not found:
        what = "instance" if sop else "series" if series else "study"
        raise not_found(f"no stored {what} matches the request" if not rows
                        else f"the files of this {what} are not on any device")
    return found


def stored_syntax(path: Path) -> str:
    """The transfer syntax of a stored file, read from its first bytes."""
    with open(path, "rb") as handle:
        head = handle.read(8192)
    return syntax_of_bytes(head, path)


def syntax_of_bytes(head: bytes, path: Path | None = None) -> str:
    """The transfer syntax of file content (Part 10 meta group, else implicit/explicit LE)."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        found = _quick_meta_syntax(head)
        if found:
            return found
        fp = io.BytesIO(head)
        read_preamble(fp, False)
        try:
            meta = _read_file_meta_info(fp)
            return str(meta.get("TransferSyntaxUID", IMPLICIT_LE)).rstrip("\0 ")
        except Exception:
            if path is None:
                raise
            return read_file(path).transfer_syntax
    vr = head[4:6]
    return EXPLICIT_LE if vr.isalpha() and vr.isupper() else IMPLICIT_LE


def _quick_meta_syntax(data: bytes) -> str:
    """(0002,0010) from an explicit-LE meta group, walking its elements; '' if unsure."""
    pos, end = 132, min(len(data), 132 + 65536)
    while pos + 8 <= end:
        group, elem = int.from_bytes(data[pos:pos + 2], "little"), int.from_bytes(data[pos + 2:pos + 4], "little")
        if group != 2:
            return ""
        vr = data[pos + 4:pos + 6]
        if vr in (b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN"):
            length = int.from_bytes(data[pos + 8:pos + 12], "little")
            value_at = pos + 12
        else:
            length = int.from_bytes(data[pos + 6:pos + 8], "little")
            value_at = pos + 8
        if elem == 0x0010:
            return data[value_at:value_at + length].decode("latin-1").rstrip("\0 ")
        pos = value_at + length
    return ""


def may_hold_nki(data) -> bool:
    """Whether object bytes may contain NKI compressed pixel data (a byte search; a false
    "yes" only costs a parse)."""
    return any(data.find(tag) >= 0 for tag in NKI_TAGS)


PIXEL_TAG = b"\xe0\x7f\x10\x00"                          # (7FE0,0010) little endian
HEAD = 16384


def _pixels_before_end(head: bytes, size: int, syntax: str, fd: int) -> int:
    """Where the top-level (7FE0,0010) Pixel Data of an uncompressed little-endian file
    starts, when its value is followed by the end of the file or by an element of a
    higher tag (e.g. (FFFC,FFFC) padding), else -1.

    Elements are in ascending tag order, so an NKI element (7FDF,0010) at top level
    precedes the pixel data: only the bytes before it need the NKI search. Checking what
    follows the value (one ``pread``) makes a chance match of the tag bytes inside an
    earlier value harmless."""
    pos = head.find(PIXEL_TAG, 132 if head[128:132] == b"DICM" else 0)
    while pos >= 0 and pos + 12 <= len(head):
        end = -1
        if syntax == IMPLICIT_LE:
            end = pos + 8 + int.from_bytes(head[pos + 4:pos + 8], "little")
        elif head[pos + 4:pos + 6] in (b"OW", b"OB") and head[pos + 6:pos + 8] == b"\0\0":
            end = pos + 12 + int.from_bytes(head[pos + 8:pos + 12], "little")
        if end == size:
            return pos
        if 0 <= end and end + 8 <= size:
            after = os.pread(fd, 4, end)
            group, elem = int.from_bytes(after[:2], "little"), int.from_bytes(after[2:4], "little")
            if (group, elem) > (0x7FE0, 0x0010):
                return pos
        pos = head.find(PIXEL_TAG, pos + 1)
    return -1


def _file_may_hold_nki(path: Path, head: bytes = b"", size: int = -1, syntax: str = "", fd: int = -1) -> bool:
    """:func:`may_hold_nki` for a stored file: only the header part when the top-level
    pixel data is found (:func:`_pixels_before_end`), else the whole file mapped."""
    if head and size >= 0 and fd >= 0 and syntax in (EXPLICIT_LE, IMPLICIT_LE):
        at = _pixels_before_end(head, size, syntax, fd)
        if at >= 0:
            return head.find(NKI_TAGS[0], 0, at) >= 0
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            return False
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
            return may_hold_nki(view)


@dataclass
class Stored:
    """What :func:`stored_parts` learnt of each file: its syntax, its size and whether its
    bytes can be sent unchanged (a Part 10 file without NKI data)."""
    syntaxes: list[str]
    sizes: list[int]
    as_is: list[bool]
    total: int | None           # exact multipart body size, None when a file must be rewritten


def stored_parts(located: list[Located], boundary: str) -> Stored:
    """For retrieval in the stored syntax: each file's syntax and size from one read of
    its first bytes, and the exact size of the multipart body (for Content-Length)."""
    out = Stored([], [], [], 0)
    for loc in located:
        try:
            with open(loc.path, "rb", buffering=0) as handle:
                head = handle.read(HEAD)
                size = os.fstat(handle.fileno()).st_size
                syntax = syntax_of_bytes(head, loc.path)
                plain = head[128:132] == b"DICM" and not (
                    syntax in ts.UNCOMPRESSED and _file_may_hold_nki(loc.path, head, size, syntax, handle.fileno()))
        except OSError:                    # gone since the look-up: left out when streamed
            syntax, size, plain = "", 0, False
        out.syntaxes.append(syntax)
        out.sizes.append(size)
        out.as_is.append(plain)
    out.total = body_size(out, boundary)
    return out


def body_size(known: Stored, boundary: str) -> int | None:
    """The exact multipart body size when every file goes out as it is, else None."""
    from .multipart import closing, part_head
    if not all(known.as_is):
        return None
    return len(closing(boundary)) + sum(
        len(part_head(boundary, f"application/dicom; transfer-syntax={syntax}")) + size + 2
        for syntax, size in zip(known.syntaxes, known.sizes))


def plan_parts(located: list[Located], wanted: list[str], boundary: str) -> tuple[list[str], Stored]:
    """The syntax each file is sent in (PS3.18 §8.7.3, :func:`choose`) and what goes out
    unchanged: a file whose chosen syntax is its stored one, with no NKI data (so the
    common ``Accept`` without a syntax, Explicit VR LE, of files stored so, is no slower than
    ``transfer-syntax=*``). 406 when a file cannot be sent in any acceptable syntax."""
    known = stored_parts(located, boundary)
    targets: list[str] = []
    for i, loc in enumerate(located):
        stored = known.syntaxes[i]
        if not stored:
            targets.append("")             # unreadable: logged and left out when streamed
            continue
        target = choose(stored, wanted, depth_of(loc.path))
        if target is None:
            raise not_acceptable(refusal(stored, wanted, f"instance {loc.item.sop_uid}"))
        targets.append(target)
        if target != stored:
            known.as_is[i] = False
    known.total = body_size(known, boundary)
    return targets, known


def stored_file(loc: Located) -> tuple[str, bytes]:
    """(syntax, Part 10 bytes) of a stored file as it is, NKI data expanded."""
    data = loc.path.read_bytes()
    if data[128:132] == b"DICM" and not may_hold_nki(data):
        return syntax_of_bytes(data, loc.path), data
    encoded = codec.readable(read_file(loc.path))
    return encoded.transfer_syntax, part10_bytes(encoded, loc.item.sop_class, loc.item.sop_uid)


def _read_as_is(loc: Located, size: int, head: bytes, out: memoryview) -> bool:
    """Read a file of known size straight into ``out`` after its part head; False when the
    file changed size (then it is sent the slow way)."""
    out[:len(head)] = head
    with open(loc.path, "rb", buffering=0) as handle:
        if os.fstat(handle.fileno()).st_size != size:
            return False
        view, got = out[len(head):len(head) + size], 0
        while got < size:
            n = handle.readinto(view[got:])
            if not n:
                return False
            got += n
    out[len(head) + size:len(head) + size + 2] = b"\r\n"
    return True


def part_stream(located: list[Located], targets: list[str], boundary: str, logs, batch: int = 4 << 20,
                known: Stored | None = None, quality: int = 95):
    """The parts of a multipart/related retrieve, read in batches of about ``batch``
    bytes per worker-thread call (few thread hops, steady streaming); the next batch is
    read while the current one is sent. Files known to go out unchanged (``known``) are
    read straight into the batch buffer, with no copy."""
    from .multipart import closing, part_head

    def convert(i: int) -> bytes:
        loc, target = located[i], targets[i]
        stored = known.syntaxes[i] if known else ""
        try:
            if target == "*" or (target == stored and stored):
                syntax, data = stored_file(loc)
            else:
                syntax, data = target, instance_bytes(loc, target, quality)
        except Exception as exc:       # a broken file or a failed conversion: left out, logged
            reason = exc.reason if isinstance(exc, HTTPProblem) else repr(exc)
            logs.operator.printf(f"***WADO-RS: cannot send {loc.path}: {reason}\n")
            return b""
        return part_head(boundary, f"application/dicom; transfer-syntax={syntax}") + data + b"\r\n"

    def read_known(start: int) -> tuple[bytes | memoryview, int]:
        assert known is not None
        heads: list[bytes] = []
        size, i = 0, start
        while i < len(located) and known.as_is[i] and (size < batch or i == start):
            heads.append(part_head(boundary, f"application/dicom; transfer-syntax={known.syntaxes[i]}"))
            size += len(heads[-1]) + known.sizes[i] + 2
            i += 1
        last = i >= len(located)
        tail = closing(boundary) if last else b""
        buffer = bytearray(size + len(tail))
        view, at = memoryview(buffer), 0
        for n, head in enumerate(heads):
            loc, fsize = located[start + n], known.sizes[start + n]
            try:
                done = _read_as_is(loc, fsize, head, view[at:])
            except OSError as exc:
                done = False
                logs.operator.printf(f"***WADO-RS: cannot send {loc.path}: {exc!r}\n")
            if not done:                # cannot happen with a Content-Length we keep: end short
                raise OSError(f"{loc.path} changed while it was being sent")
            at += len(head) + fsize + 2
        view[at:] = tail
        return view, i

    def read(start: int) -> tuple[bytes | memoryview, int]:
        if known is not None and known.as_is[start]:
            return read_known(start)
        chunks, size, i = [], 0, start
        while i < len(located) and size < batch and not (known is not None and known.as_is[i]):
            chunks.append(convert(i))
            size += len(chunks[-1])
            i += 1
        if i >= len(located):
            chunks.append(closing(boundary))
        return b"".join(chunks), i

    async def generate():
        import asyncio

        from starlette.concurrency import run_in_threadpool
        if not located:
            yield closing(boundary)
            return
        pending = asyncio.ensure_future(run_in_threadpool(read, 0))
        try:
            while pending is not None:
                block, index = await pending
                # read the next batch while this one is being sent
                pending = asyncio.ensure_future(run_in_threadpool(read, index)) if index < len(located) else None
                yield block
        finally:
            if pending is not None:
                pending.cancel()

    return generate()


# -- negotiation -------------------------------------------------------------------------
def dicom_syntaxes(accept: str) -> tuple[list[str], bool]:
    """Acceptable syntaxes for application/dicom (``*`` = stored) and whether a single
    non-multipart ``application/dicom`` body was asked for."""
    if not accept.strip():
        return [EXPLICIT_LE], False
    out: list[str] = []
    single = False
    for media, params, _q in split_accept(accept):
        syntax = params.get("transfer-syntax", "")
        if media in ("*/*", "multipart/*"):
            out.append(syntax or EXPLICIT_LE)
        elif media == "multipart/related":
            kind = params.get("type", "application/dicom").lower()
            if kind in ("application/dicom", "application/*", "*/*"):
                out.append(syntax or EXPLICIT_LE)
        elif media == "application/dicom":
            out.append(syntax or EXPLICIT_LE)
            single = True
    if not out:
        raise not_acceptable(f"cannot answer with any of: {accept}; this resource is "
                             'multipart/related; type="application/dicom"')
    return out, single and len(out) == 1


def can_convert(stored: str, target: str) -> bool:
    """Whether the codec can bring an object stored as ``stored`` to ``target``."""
    if target in ("*", stored):
        return True
    return frames.encodable(target) and frames.decodable(stored)


Depth = Callable[[], tuple[int, int]]


def choose(stored: str, wanted: list[str], depth: Depth | None = None) -> str | None:
    """The first acceptable syntax this object can be sent in (the stored one for ``*``).
    ``depth`` gives (Bits Stored, Bits Allocated), asked for only when a compressed
    target is considered, so targets that cannot hold the data are passed over."""
    for target in wanted:
        if target in ("*", stored):
            return stored
        if not can_convert(stored, target):
            continue
        if ts.is_encapsulated(target) and depth is not None and not frames.fits(target, *depth()):
            continue
        return target
    return None


def depth_of(path: Path) -> Depth:
    """A lazy (Bits Stored, Bits Allocated) of a stored file, for :func:`choose`."""
    def read() -> tuple[int, int]:
        g = frames.Geometry.of(read_file(path).header())
        return g.bits_stored, g.bits_allocated
    return read


def refusal(stored: str, wanted: list[str], what: str) -> str:
    names = ", ".join(ts.name(w) if w != "*" else "*" for w in wanted)
    return f"{what} is stored as {ts.name(stored)}; it cannot be sent as {names}"


def instance_bytes(loc: Located, target: str, quality: int = 95) -> bytes:
    """The Part 10 file of an instance in ``target`` syntax (NKI data expanded)."""
    encoded = read_file(loc.path)
    plain = codec.readable(encoded)
    if plain is encoded and encoded.transfer_syntax == target:
        data = loc.path.read_bytes()
        return data if data[128:132] == b"DICM" else part10_bytes(encoded, loc.item.sop_class, loc.item.sop_uid)
    try:
        converted = codec.transcode(plain, target, quality=quality)
    except codec.CodecError as exc:
        raise not_acceptable(f"instance {loc.item.sop_uid} cannot be sent as {ts.name(target)}: {exc}")
    return part10_bytes(converted, loc.item.sop_class, loc.item.sop_uid)


def load_dataset(loc: Located) -> Dataset:
    """The whole data set of a stored file, NKI data expanded."""
    return codec.readable(read_file(loc.path).dataset())


def bulk_value(ds: Dataset, parts: list[str]) -> bytes:
    """The bytes of the element at a bulk data path ``tag[/item/tag…]``."""
    current: Dataset = ds
    for i in range(0, len(parts), 2):
        try:
            tag = int(parts[i], 16)
        except ValueError:
            raise HTTPProblem(400, f"bad tag '{parts[i]}' in bulk data path")
        if tag not in current:
            raise not_found(f"element {parts[i]} is not in this instance")
        elem = current[tag]
        if i + 1 < len(parts):
            if elem.VR != "SQ" or not parts[i + 1].isdigit() or int(parts[i + 1]) >= len(elem.value):
                raise not_found(f"item {parts[i + 1]} of {parts[i]} does not exist")
            current = elem.value[int(parts[i + 1])]
            continue
        value = elem.value
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
        raise HTTPProblem(400, f"element {parts[i]} is not a binary value")
    raise HTTPProblem(400, "empty bulk data path")
