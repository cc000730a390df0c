"""WADO-RS retrieval (PS3.18 §10.4): instances, frames and bulk data of stored files.

Transfer syntax negotiation (PS3.18 §8.7.3): the Accept header's ``transfer-syntax``
parameters are tried in order; ``*`` serves the stored syntax, no parameter means the
default (Explicit VR Little Endian for application/dicom and octet-stream). Stored bytes
are served as they are when acceptable (NKI private compression is always expanded,
:func:`dgate.codec.readable`); uncompressed syntaxes are rewritten into each other,
compressed data is decoded, and compressed targets are encoded by
:func:`dgate.codec.transcode` (a target the codec cannot write gets 406).
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.filereader import _read_file_meta_info, read_preamble

from ..db.database import InstanceFile
from ..store.formats import (
    EXPLICIT_BE,
    EXPLICIT_LE,
    IMPLICIT_LE,
    UNCOMPRESSED,
    Encoded,
    part10_bytes,
    read_file,
)
from .context import WebContext
from .errors import HTTPProblem, not_acceptable, not_found
from .multipart import split_accept

DEFLATED = "1.2.840.10008.1.2.1.99"
NATIVE = UNCOMPRESSED | {DEFLATED}
# PS3.18 Table 8.7.3-5: media types of compressed frames
FRAME_MEDIA = {
    "1.2.840.10008.1.2.4.50": "image/jpeg", "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg", "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls", "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2", "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.92": "image/jpx", "1.2.840.10008.1.2.4.93": "image/jpx",
    "1.2.840.10008.1.2.4.201": "image/jphc", "1.2.840.10008.1.2.4.202": "image/jphc",
    "1.2.840.10008.1.2.4.203": "image/jphc", "1.2.840.10008.1.2.5": "image/dicom-rle",
    "1.2.840.10008.1.2.4.100": "video/mpeg", "1.2.840.10008.1.2.4.101": "video/mpeg",
    "1.2.840.10008.1.2.4.102": "video/mp4", "1.2.840.10008.1.2.4.103": "video/mp4",
}


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


def stored_parts(located: list[Located], boundary: str, nki_in_dcm: bool = False) -> tuple[list[str], int | None]:
    """For retrieval in the stored syntax: each file's syntax and the exact size of the
    multipart body (None when a file must be converted to Part 10 first, or when ``.dcm``
    files may hold NKI data, AllowNKIAsDICOM, which is expanded on the way)."""
    from .multipart import closing, part_head
    syntaxes: list[str] = []
    total: int | None = 0
    for loc in located:
        with open(loc.path, "rb") as handle:
            head = handle.read(4096)
            size = os.fstat(handle.fileno()).st_size
        ts = syntax_of_bytes(head, loc.path)
        syntaxes.append(ts)
        if total is not None:
            if head[128:132] != b"DICM" or nki_in_dcm:
                total = None
            else:
                total += len(part_head(boundary, f"application/dicom; transfer-syntax={ts}")) + size + 2
    if total is not None:
        total += len(closing(boundary))
    return syntaxes, total


def part_stream(located: list[Located], targets: list[str], boundary: str, logs, batch: int = 4 << 20,
                known: list[str] | None = None):
    """The parts of a multipart/related retrieve, read in batches of about ``batch``
    bytes per worker-thread call (few thread hops, steady streaming)."""
    from .multipart import closing, part_head

    def read(start: int) -> tuple[bytes, int]:
        chunks, size, i = [], 0, start
        while i < len(located) and size < batch:
            loc, target = located[i], targets[i]
            stored = known[i] if known else ""
            i += 1
            try:
                if target == "*" or (target == stored and stored):
                    ts, data = stored_bytes(loc)
                else:
                    ts, data = target, instance_bytes(loc, target)
            except HTTPProblem:
                raise
            except Exception as exc:       # a broken file: leave it out, say so in the log
                logs.operator.printf(f"***WADO-RS: cannot send {loc.path}: {exc}\n")
                continue
            chunks += [part_head(boundary, f"application/dicom; transfer-syntax={ts}"), data, b"\r\n"]
            size += len(data)
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
        ts = params.get("transfer-syntax", "")
        if media in ("*/*", "multipart/*"):
            out.append(ts or EXPLICIT_LE)
        elif media == "multipart/related":
            kind = params.get("type", "application/dicom").lower()
            if kind in ("application/dicom", "application/*", "*/*"):
                out.append(ts or EXPLICIT_LE)
        elif media == "application/dicom":
            out.append(ts or EXPLICIT_LE)
            single = True
    if not out:
        raise not_acceptable(f"cannot answer with any of: {accept}; this resource is "
                             'multipart/related; type="application/dicom"')
    return out, single and len(out) == 1


def can_convert(stored: str, target: str) -> bool:
    if target in ("*", stored):
        return True
    if target in UNCOMPRESSED:
        if stored in NATIVE:
            return True
        try:
            from pydicom.pixels import get_decoder
            return get_decoder(stored).is_available
        except (NotImplementedError, ValueError, ImportError):
            return False
    from ..codec.encoders import ENCODERS
    return target in ENCODERS           # compressing: dgate.codec.transcode


def choose(stored: str, wanted: list[str]) -> str | None:
    for target in wanted:
        if can_convert(stored, target):
            return stored if target == "*" else target
    return None


_NKI_TAG = (b"\xdf\x7f\x10\x00", b"\x7f\xdf\x00\x10")


def _readable(encoded: Encoded) -> Encoded:
    """NKI private compression expanded (every reader sees ordinary pixel data)."""
    from ..codec import readable
    from ..store.ingest import counters
    return readable(encoded, counters)


def stored_bytes(loc: Located) -> tuple[str, bytes]:
    """(syntax, Part 10 bytes) of an instance as stored, NKI data expanded."""
    data = loc.path.read_bytes()
    if data[128:132] == b"DICM" and not any(tag in data for tag in _NKI_TAG):
        return syntax_of_bytes(data, loc.path), data
    encoded = _readable(read_file(loc.path))
    return encoded.transfer_syntax, part10_bytes(encoded, loc.item.sop_class, loc.item.sop_uid)


def instance_bytes(loc: Located, target: str) -> bytes:
    """The Part 10 file of an instance in ``target`` syntax."""
    stored, data = stored_bytes(loc)
    if stored == target:
        return data
    encoded = _readable(read_file(loc.path))
    if target in UNCOMPRESSED:
        ds = encoded.dataset()
        if encoded.transfer_syntax not in NATIVE:
            ds.decompress(generate_instance_uid=False)
        converted = Encoded.from_dataset(ds, target)
    else:
        from .. import codec
        from ..store.ingest import counters
        try:
            converted = codec.transcode(encoded, target, counters=counters)
        except codec.CodecError as exc:
            raise not_acceptable(f"instance {loc.item.sop_uid} cannot be sent as {target}: {exc}")
        ds = converted.header()
    return part10_bytes(converted, str(ds.get("SOPClassUID", loc.item.sop_class)),
                        str(ds.get("SOPInstanceUID", loc.item.sop_uid)))


# -- frames ------------------------------------------------------------------------------
def parse_frame_list(text: str) -> list[int]:
    frames = []
    for item in text.split(","):
        item = item.strip()
        if not item.isdigit() or int(item) < 1:
            raise HTTPProblem(400, f"frame numbers are positive integers separated by commas, not '{text}'")
        frames.append(int(item))
    return frames


def frame_requests(accept: str) -> list[tuple[str, str]]:
    """(media type, transfer syntax) pairs acceptable for frames, in preference order.

    ``application/octet-stream`` is native (uncompressed) pixel data; ``*`` as syntax
    means the stored one."""
    if not accept.strip():
        return [("application/octet-stream", EXPLICIT_LE)]
    out = []
    for media, params, _q in split_accept(accept):
        ts = params.get("transfer-syntax", "")
        if media == "multipart/related":
            media = params.get("type", "application/octet-stream").lower()
        if media in ("*/*", "multipart/*", "application/*"):
            out.append(("*", ts or "*"))
        elif media == "application/octet-stream":
            out.append((media, ts or EXPLICIT_LE))
        elif media.startswith(("image/", "video/")):
            out.append((media, ts))
    if not out:
        raise not_acceptable(f"cannot answer frames with any of: {accept}")
    return out


def _frame_count(ds: Dataset) -> int:
    try:
        return max(int(ds.get("NumberOfFrames", 1) or 1), 1)
    except (TypeError, ValueError):
        return 1


def _native_frames(ds: Dataset, ts: str) -> list[bytes] | None:
    """Uncompressed frames sliced from the pixel data (little endian stored), else None."""
    if ts not in (IMPLICIT_LE, EXPLICIT_LE) or "PixelData" not in ds:
        return None
    rows, cols = int(ds.Rows), int(ds.Columns)
    spp = int(ds.get("SamplesPerPixel", 1) or 1)
    bits = int(ds.get("BitsAllocated", 16) or 16)
    if bits % 8:
        return None
    size = rows * cols * spp * bits // 8
    data = ds.PixelData
    return [data[i * size:(i + 1) * size] for i in range(_frame_count(ds))]


def frames_of(ds: Dataset, ts: str, numbers: list[int], accept: list[tuple[str, str]]) -> list[tuple[str, bytes]]:
    """(part content type, bytes) for each requested frame."""
    if "PixelData" not in ds:
        raise not_found("this instance has no pixel data")
    count = _frame_count(ds)
    for n in numbers:
        if n > count:
            raise not_found(f"frame {n} does not exist; the instance has {count} frame(s)")
    stored_media = FRAME_MEDIA.get(ts, "application/octet-stream")
    for media, want in accept:
        if ts in NATIVE or ts == EXPLICIT_BE:
            if media in ("*", "application/octet-stream") and want in ("*", EXPLICIT_LE, IMPLICIT_LE, ts):
                native = _native_frames(ds, ts)
                if native is not None:
                    return [(f"application/octet-stream; transfer-syntax={EXPLICIT_LE}", native[n - 1])
                            for n in numbers]
                return _decoded(ds, numbers)
            continue
        if media in ("*", stored_media) and want in ("*", ts, ""):
            frames = list(generate_frames(ds.PixelData, number_of_frames=count))
            return [(f"{stored_media}; transfer-syntax={ts}", frames[n - 1]) for n in numbers]
        if media == "application/octet-stream" and want in (EXPLICIT_LE, IMPLICIT_LE, "*"):
            if want == "*":
                frames = list(generate_frames(ds.PixelData, number_of_frames=count))
                return [(f"{stored_media}; transfer-syntax={ts}", frames[n - 1]) for n in numbers]
            return _decoded(ds, numbers)
    for media, want in accept:
        target = want if want not in ("", "*") else _DEFAULT_SYNTAX.get(media, "")
        if not target or target == ts:
            continue
        if media == "*" or FRAME_MEDIA.get(target) == media:
            return _encoded_frames(ds, target, numbers)
    raise not_acceptable(f"the frames are stored as {stored_media} ({ts}) and cannot be converted to the "
                         "requested media type")


#: the transfer syntax of a frame media type asked for without one (PS3.18 Table 8.7.3-5)
_DEFAULT_SYNTAX = {"image/jpeg": "1.2.840.10008.1.2.4.70", "image/jls": "1.2.840.10008.1.2.4.80",
                   "image/jp2": "1.2.840.10008.1.2.4.90", "image/dicom-rle": "1.2.840.10008.1.2.5"}


def _encoded_frames(ds: Dataset, target: str, numbers: list[int]) -> list[tuple[str, bytes]]:
    """The frames encoded by the codec in ``target`` (a copy of the object is transcoded)."""
    import copy

    from .. import codec
    from ..codec.encoders import ENCODERS
    from ..store.ingest import counters
    if target not in ENCODERS:
        raise not_acceptable(f"frames cannot be encoded as {target}")
    try:
        work = codec.transcode(copy.deepcopy(ds), target, counters=counters)
    except codec.CodecError as exc:
        raise not_acceptable(f"frames cannot be encoded as {target}: {exc}")
    frames = list(generate_frames(work.PixelData, number_of_frames=_frame_count(work)))
    media = FRAME_MEDIA.get(target, "application/octet-stream")
    return [(f"{media}; transfer-syntax={target}", frames[n - 1]) for n in numbers]


def _decoded(ds: Dataset, numbers: list[int]) -> list[tuple[str, bytes]]:
    from pydicom.pixels import get_decoder
    ts = str(ds.file_meta.TransferSyntaxUID)
    try:
        decoder = get_decoder(ts)
    except (NotImplementedError, ValueError) as exc:
        raise not_acceptable(f"no decoder for {ts}: {exc}")
    out = []
    for n in numbers:
        try:
            arr, _meta = decoder.as_array(ds, index=n - 1)
        except Exception as exc:
            raise HTTPProblem(500, f"frame {n} could not be decoded: {exc}")
        native = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        out.append((f"application/octet-stream; transfer-syntax={EXPLICIT_LE}", native))
    return out


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
