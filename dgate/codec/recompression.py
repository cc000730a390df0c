"""``recompress``: bring an object to the level a Conquest compression code asks for
(conquest-storage.md §6.7, nkiqrsop.cpp:4760).

Every path calls this one function: ingest (IncomingCompression, DroppedFileCompression,
ArchiveCompression), retrieve (the acrnema.map column), the commands and the web. Data
already at the requested level is returned untouched (for an encoded object, without
decoding it: only its header is read). Otherwise the object is decompressed as the
original's ``DecompressImage`` does (NKI, JPEG family, RLE; palette, planes and YBR_FULL
made RGB) and then compressed as the code says.
"""
from __future__ import annotations

import functools
import re
import threading
import time
from typing import Callable, TypeVar, overload

from pydicom.dataset import Dataset

from . import photometric, pixels, resize
from . import syntaxes as ts
from .codes import Code, parse
from .counters import NULL, CounterSink
from .encoded import EncodedLike, rebuild
from .encoders import Params, encode, mark_lossy
from .errors import CodecError, reported
from .pixels import Geometry, set_transfer_syntax, sop_of, transfer_syntax

Log = Callable[[str], None]
Converter = Callable[[Dataset, int], "Dataset | None"]
E = TypeVar("E", bound=EncodedLike)

_converter: Converter | None = None
_converter_lock = threading.Lock()


def set_compression_converter(func: Converter | None) -> None:
    """Register what runs ``CompressionConverterN`` for ``s0`` … ``s9`` (the converter
    engine calls this): ``func(dataset, n)`` returns the new data set, or None to keep it."""
    global _converter
    with _converter_lock:
        _converter = func


def _default_log(text: str) -> None:
    from ..log import logs
    logs.operator.printf(text)


# what each JPEG code letter produces, before precision rules
_J_TARGET = {"1": ts.JPEG_LOSSLESS_SV1, "2": ts.JPEG_LOSSLESS, "3": ts.JPEG_BASELINE, "4": ts.JPEG_BASELINE,
             "5": ts.JPEG_PROGRESSIVE, "6": ts.JPEG_PROGRESSIVE, "k": ts.J2K_LOSSLESS, "l": ts.J2K,
             "s": ts.JPEGLS_LOSSLESS, "7": ts.JPEGLS_NEAR}


def jpeg_target(code: Code, g: Geometry, quality: int) -> str:
    """The transfer syntax a ``j`` code gives for an image of this geometry: lossy JPEG
    follows the precision (8 bits → baseline/progressive, 9–12 → extended, more → lossless
    SV1, as ``CompressJPEGL`` does); ``j7`` at quality 100 is lossless JPEG-LS."""
    if code.kind == "jscale":
        return ts.JPEG_LOSSLESS
    uid = _J_TARGET.get(code.mode, ts.JPEG_LOSSLESS_SV1)
    if uid in (ts.JPEG_BASELINE, ts.JPEG_PROGRESSIVE):
        if g.bits_stored > 12:
            return ts.JPEG_LOSSLESS_SV1
        if g.bits_stored > 8:
            return ts.JPEG_EXTENDED
    if uid == ts.JPEGLS_NEAR and quality >= 100:
        return ts.JPEGLS_LOSSLESS
    return uid


def _quality(code: Code, lossy_quality: int) -> int:
    q = code.quality if code.quality >= 1 else lossy_quality
    return max(1, min(100, q))


def _params(code: Code, uid: str, quality: int) -> Params:
    if uid in (ts.J2K,):
        return Params(quality=quality, ratio=100.0 / quality if quality < 100 else 0.0)
    if uid in (ts.JPEGLS_NEAR, ts.JPEGLS_LOSSLESS):
        return Params(quality=quality, near=10 - (quality + 9) // 10 if code.mode == "7" else 0)
    if uid == ts.JPEG_LOSSLESS:
        return Params(quality=100, predictor=6)
    return Params(quality=quality)


def _uncompressed_target(code: Code, current: str) -> str:
    return {"i": ts.IMPLICIT_LE, "l": ts.EXPLICIT_LE, "b": ts.EXPLICIT_BE}.get(
        code.mode, current if current in ts.UNCOMPRESSED else ts.EXPLICIT_LE)


def already_there(header: Dataset, code: Code, uid: str, lossy_quality: int = 95,
                  has_pixel_data: bool | None = None) -> bool:
    """Whether an object (header enough: pixel data is not looked at, except the NKI
    header) is already at the level ``code`` asks for, so nothing needs to change.
    ``has_pixel_data`` tells for a header read without its pixel data."""
    if code.leaves_as_is:
        return True
    present = pixels.has_pixels(header) if has_pixel_data is None else has_pixel_data
    if not present and pixels.nki.NKI_TAG not in header:
        # no pixel data (SR, PR, RT structures): nothing to compress; only the byte
        # order/VR encoding of u codes can apply
        return code.kind != "u" or _uncompressed_target(code, uid) == uid
    nki = pixels.has_nki(header)
    if code.kind in ("uj", "nj"):
        return uid in ts.JPEG_FAMILY
    if code.kind == "u":
        return (not nki and uid in ts.UNCOMPRESSED and uid == _uncompressed_target(code, uid)
                and not photometric.needs_normalising(header))
    if code.kind == "j":
        if code.mode == "a":
            return uid in ts.JPEG_FAMILY
        return uid == jpeg_target(code, Geometry.of(header), _quality(code, lossy_quality))
    if code.kind == "n":
        return nki and pixels.nki_mode(header) == int(code.mode)
    if code.kind == "k":
        return not resize.needs_downsize(header, code.size)
    return False


_FIXED_J = {"1": ts.JPEG_LOSSLESS_SV1, "2": ts.JPEG_LOSSLESS, "k": ts.J2K_LOSSLESS, "l": ts.J2K,
            "s": ts.JPEGLS_LOSSLESS}


def quick_pass(obj: EncodedLike, code: Code) -> bool:
    """True when the bytes alone show that an encoded object is at the level of ``code``
    (no parsing: the hot path of ingest with ``un`` and of retrieve). False means "look
    at the header"."""
    uid = str(obj.transfer_syntax)
    if code.kind in ("uj", "nj") or (code.kind == "j" and code.mode == "a"):
        return uid in ts.JPEG_FAMILY
    if code.kind == "j" and code.mode in _FIXED_J:
        return uid == _FIXED_J[code.mode]
    if code.kind == "u":
        if uid not in ts.UNCOMPRESSED or uid != _uncompressed_target(code, uid):
            return False
        big = uid == ts.EXPLICIT_BE
        raw = obj.raw
        end = _pixels_start(raw, uid)
        nki_tag = b"\x7f\xdf\x00\x10" if big else b"\xdf\x7f\x10\x00"
        if _find(raw, nki_tag, end=end, anchor=0 if big else 1) >= 0 or \
                any(_find(raw, pattern, end=end) >= 0 for pattern in (b"PALETTE COLOR", b"YBR_FULL")):
            return False
        return not _planes_apart(raw, big, end)
    return False


_PLANAR = {False: re.compile(re.escape(b"\x28\x00\x06\x00")), True: re.compile(re.escape(b"\x00\x28\x00\x06"))}


def _planes_apart(raw, big: bool, end: int) -> bool:
    """Whether a Planar Configuration before ``end`` may be non-zero (1: ``un`` interleaves
    the planes). Its value is 8 bytes after the tag in every syntax (tag, length; or tag, VR
    ``US``, short length); every occurrence of the tag's bytes is read, so a chance match
    elsewhere can only cost a look at the header, never hide the element. (A compiled
    pattern: faster than ``bytes.find`` for this needle, and it reads memory views.)"""
    for found in _PLANAR[big].finditer(raw, 0, end):
        at = found.start()
        if at + 10 > len(raw) or any(raw[at + 8:at + 10]):
            return True
    return False


def keeps(obj: EncodedLike, code: str) -> bool:
    """Whether :func:`recompress` returns the encoded ``obj`` untouched for ``code`` as far
    as its bytes show (:func:`quick_pass`; False: the header has to be looked at). The
    ingest pipeline asks this before its compression step (``COMPRESSION.keeps``)."""
    spec = _parsed(code)
    return spec.leaves_as_is or quick_pass(obj, spec)


@functools.lru_cache(maxsize=64)
def _parsed(code: str) -> Code:
    return parse(code)


_PATTERNS: dict[bytes, re.Pattern[bytes]] = {}
_ANCHOR_MISSES = 32


def _find(raw, pattern: bytes, start: int = 0, end: int | None = None, anchor: int | None = None) -> int:
    """``raw.find(pattern, start, end)`` for bytes and for memory views (a spooled object is a
    view of its file's mapping; ``in`` on a view compares items, not bytes). ``anchor``: the
    index of a byte of ``pattern`` that is rare before the match (a tag's group byte ``7F``):
    the search jumps from one such byte to the next (``memchr``), many times faster in a
    header than the general search, whose last byte (often ``00``) is everywhere."""
    stop = len(raw) if end is None else end
    if isinstance(raw, (bytes, bytearray)):
        if anchor is None:
            return raw.find(pattern, start, stop)
        byte = pattern[anchor:anchor + 1]
        at = raw.find(byte, start + anchor, stop)
        for _miss in range(_ANCHOR_MISSES):
            if at < 0:
                return -1
            if raw.startswith(pattern, at - anchor) and at - anchor + len(pattern) <= stop:
                return at - anchor
            at = raw.find(byte, at + 1, stop)
        return raw.find(pattern, at - anchor, stop) if at >= 0 else -1      # not rare here after all
    compiled = _PATTERNS.get(pattern)
    if compiled is None:
        compiled = _PATTERNS[pattern] = re.compile(re.escape(pattern))
    found = compiled.search(raw, start, stop)
    return found.start() if found else -1


def _pixels_start(raw, uid: str) -> int:
    """Where the Pixel Data element starts when its first occurrence is clearly the last
    element (tag, VR and length account for the rest of the data set, or for all but a
    trailing padding element); else ``len(raw)``."""
    big = uid == ts.EXPLICIT_BE
    start = _find(raw, b"\x7f\xe0\x00\x10" if big else b"\xe0\x7f\x10\x00", anchor=0 if big else 1)
    if start < 0:
        return len(raw)
    if uid == ts.IMPLICIT_LE:
        length = int.from_bytes(raw[start + 4:start + 8], "little")
        end = start + 8 + length
    elif raw[start + 4:start + 6] in (b"OB", b"OW"):
        length = int.from_bytes(raw[start + 8:start + 12], "big" if big else "little")
        end = start + 12 + length
    else:
        return len(raw)
    padding = b"\xff\xfc\xff\xfc" if big else b"\xfc\xff\xfc\xff"     # Data Set Trailing Padding
    if length != 0xFFFFFFFF and (end == len(raw) or raw[end:end + 4] == padding):
        return start
    if length == 0xFFFFFFFF and bytes(raw[-8:]) == b"\xfe\xff\xdd\xe0\x00\x00\x00\x00":
        return start                               # encapsulated, closed by its delimiter
    return len(raw)


def may_have_pixel_data(obj: EncodedLike) -> bool:
    """Whether the bytes of an encoded object may hold (7FE0,0010) (a byte search: a false
    "yes" only costs a decode)."""
    tag = b"\x7f\xe0\x00\x10" if str(obj.transfer_syntax) == ts.EXPLICIT_BE else b"\xe0\x7f\x10\x00"
    return _find(obj.raw, tag) >= 0


def decompress(ds: Dataset, counters: CounterSink = NULL) -> Dataset:
    """``DecompressImage``: native pixel data with palette, planes and YBR_FULL fixed."""
    pixels.expand_nki(ds, counters)
    pixels.decode(ds, counters)
    if "PixelData" in ds and not ts.is_encapsulated(transfer_syntax(ds)):
        photometric.normalise(ds, counters)
    return ds


@overload
def recompress(obj: Dataset, code: str, *, lossy_quality: int = ..., counters: CounterSink = ...,
               log: Log | None = ...) -> Dataset: ...


@overload
def recompress(obj: E, code: str, *, lossy_quality: int = ..., counters: CounterSink = ...,
               log: Log | None = ...) -> E: ...


@reported
def recompress(obj, code, *, lossy_quality=95, counters=NULL, log=None):
    """``obj`` (a pydicom Dataset, or an encoded object: ``raw`` + ``transfer_syntax``)
    at the level of Conquest compression ``code``.

    Returns the same object when nothing needs to change; a Dataset may be changed in
    place. ``lossy_quality`` is dicom.ini's ``LossyQuality`` (used when the code names no
    quality). Work is counted in ``counters`` (see :mod:`.counters`). Raises
    :class:`CodecError` when pixel data cannot be decoded or encoded; an unknown code
    also raises it."""
    spec = parse(code)
    if spec.leaves_as_is:
        return obj
    if spec.kind == "unknown":
        raise CodecError(f"unknown compression '{code}'")
    log = log or _default_log
    started = time.perf_counter()
    try:
        if isinstance(obj, Dataset):
            if already_there(obj, spec, transfer_syntax(obj), lossy_quality):
                return obj
            return _apply(obj, spec, lossy_quality, counters, log)
        if quick_pass(obj, spec):
            return obj
        header = obj.header()
        if already_there(header, spec, obj.transfer_syntax, lossy_quality, may_have_pixel_data(obj)):
            return obj
        ds = _apply(obj.dataset(), spec, lossy_quality, counters, log)
        return rebuild(obj, ds)
    finally:
        counters.add("compress_ms", int((time.perf_counter() - started) * 1000))


def _apply(ds: Dataset, spec: Code, lossy_quality: int, counters: CounterSink, log: Log) -> Dataset:
    if spec.kind == "s":
        return _converter_step(ds, spec.number, log)
    if spec.kind == "k":
        decompress(ds, counters)
        resize.downsize(ds, spec.size, counters)
        return ds
    current = transfer_syntax(ds)
    decompress(ds, counters)
    if spec.kind in ("u", "uj"):
        return to_uncompressed(ds, _uncompressed_target(spec, current if current in ts.UNCOMPRESSED else ""))
    if spec.kind in ("n", "nj", "nscale"):
        if spec.kind == "nscale":
            resize.scale_clip(ds, spec.scale, spec.clip)
            mark_lossy(ds, None, None)
        mode = 5 if spec.kind in ("nj", "nscale") else int(spec.mode)
        if mode:
            if transfer_syntax(ds) == ts.EXPLICIT_BE:
                to_uncompressed(ds, ts.EXPLICIT_LE)
            pixels.compress_nki(ds, mode, counters)
        return ds
    return _jpeg(ds, spec, lossy_quality, counters, log)


def to_uncompressed(ds: Dataset, uid: str) -> Dataset:
    """Native pixel data in one of the uncompressed syntaxes (byte order converted)."""
    current = transfer_syntax(ds)
    if current == uid:
        return ds
    if "PixelData" in ds and not ts.is_encapsulated(current):
        bits = Geometry.of(ds).bits_allocated
        big_now, big_then = current == ts.EXPLICIT_BE, uid == ts.EXPLICIT_BE
        if big_now != big_then:
            pixels._set_native(ds, pixels.swap_pixel_bytes(bytes(ds.PixelData), bits), bits)
    set_transfer_syntax(ds, uid)
    return ds


def _jpeg(ds: Dataset, spec: Code, lossy_quality: int, counters: CounterSink, log: Log) -> Dataset:
    if "PixelData" not in ds:
        return ds
    modality = str(ds.get("Modality", "") or "")
    if modality[:2] in ("PR", "SR", "RT"):
        raise CodecError(f"JPEG compression not allowed for {modality}", sop_of(ds))
    g = Geometry.of(ds)
    if g.bits_allocated < 8:
        raise CodecError("JPEG compression skipped for <8 bits data", sop_of(ds))
    quality = _quality(spec, lossy_quality)
    if spec.kind == "jscale":
        resize.scale_clip(ds, spec.scale, spec.clip)
        mark_lossy(ds, None, None)
    uid = jpeg_target(spec, g, quality)
    wanted = _J_TARGET.get(spec.mode)
    if wanted in (ts.JPEG_BASELINE, ts.JPEG_PROGRESSIVE) and uid == ts.JPEG_LOSSLESS_SV1:
        log(f"Warn[CompressJPEGImage]: JPEG changed to lossless (J1) for {g.bits_stored} bits data\n")
    if uid == ts.JPEG_PROGRESSIVE and g.bits_stored > 8:
        uid = ts.JPEG_EXTENDED
    to_uncompressed(ds, ts.EXPLICIT_LE)
    return encode(ds, uid, _params(spec, uid, quality), counters)


def _converter_step(ds: Dataset, number: int, log: Log) -> Dataset:
    converter = _converter
    if converter is None:
        log(f"*** compression s{number}: CompressionConverter{number} cannot run, no converter engine is "
            "available in this dgate; object left as it is\n")
        return ds
    result = converter(ds, number)
    return ds if result is None else result
