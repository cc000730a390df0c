"""NKI private pixel compression, modes 1–5 (conquest-storage.md §6.8).

The compressed stream lives in element (7FDF,0010) in place of (7FE0,0010). Pixels are
signed 16-bit little-endian values (8-bit data is taken pairwise). Layout:

* header, all uint32 LE: ``npixels``, ``mode``; modes 2, 4, 5 add ``compressed size``,
  ``CRC of the original pixels`` (2, 4) and ``CRC of the compressed bytes`` (2);
* the first pixel (2 bytes: LE for modes 1–4, 13 bits big-endian for mode 5);
* one token per following pixel (difference to the previous one): small differences in
  one byte, medium ones in two (``(d >> 8) ^ 0x40``, low byte), large jumps as ``7F`` +
  the absolute value big-endian, runs of equal pixels as ``80 n`` (modes 1–4, at most 255,
  never including the last pixel), and, in modes 3/4, sequences of differences in
  -8..7 packed two per byte behind ``C0 m``. Mode 5 keeps 13 bits: ``d + 128`` for
  -96..95, ``223 + n`` for runs of 1–32, otherwise the 13-bit value in two bytes.

The CRC is CRC-32 (reflected, polynomial 0xEDB88320) started at 0 without final
inversion, i.e. ``zlib.crc32(data, 0xFFFFFFFF) ^ 0xFFFFFFFF``.

:func:`compress` and :func:`decompress` produce and read byte-identical streams to the
original; both are vectorised with numpy (the decoder walks only the multi-byte tokens in
Python). Bad streams raise :class:`~dgate.codec.errors.CodecError`, never hang.
"""
from __future__ import annotations

import struct
import zlib

import numpy as np

from .errors import CodecError

NKI_TAG = 0x7FDF0010
PIXEL_TAG = 0x7FE00010
MAX_MODE = 5
_RUN12 = 255        # longest zero run, modes 1-4
_RUN5 = 32          # longest zero run, mode 5
_NIBBLE_BLOCK = 254  # a pending 4-bit run is packed when it reaches this length
_MIN_NIBBLE = 6      # shortest 4-bit run worth packing (6 bytes -> 5)
_MIN_ZEROS = 5       # shortest zero run coded as 80 n in modes 3/4


def crc32(data: bytes | bytearray | memoryview) -> int:
    """Conquest's ``ComputeCRC``: CRC-32 table, initial value 0, no final inversion."""
    return zlib.crc32(data, 0xFFFFFFFF) ^ 0xFFFFFFFF


# -- header ---------------------------------------------------------------------------------
def header_mode(value: bytes) -> int:
    """The mode field of a stream (0 if the value is too short)."""
    return struct.unpack_from("<I", value, 4)[0] if len(value) >= 8 else 0


def is_nki(value: bytes | None) -> bool:
    """Whether an (7FDF,0010) value is NKI compressed pixel data (``DecompressNKI``):
    not ``ACUSON``/``ELSCIN`` data, longer than 8 bytes, mode 1..5."""
    if value is None or len(value) <= 8:
        return False
    if value[:6] in (b"ACUSON", b"ELSCIN"):
        return False
    return 1 <= header_mode(value) <= MAX_MODE


def decompressed_length(value: bytes) -> int:
    """Bytes of pixel data the stream expands to (``2 * npixels``)."""
    return 2 * struct.unpack_from("<I", value, 0)[0]


# -- compression ----------------------------------------------------------------------------
def compress(pixels: bytes | bytearray | memoryview | np.ndarray, mode: int) -> bytes:
    """The (7FDF,0010) value for uncompressed pixel bytes: header + stream, padded to an
    even length (``CompressNKI`` + ``nki_private_compress``)."""
    if mode not in (1, 2, 3, 4, 5):
        raise CodecError(f"NKI compression mode {mode} does not exist (1..5)", codec="NKI")
    if isinstance(pixels, np.ndarray):
        raw = pixels.tobytes()
    else:
        raw = bytes(pixels)
    npixels = len(raw) // 2
    if npixels == 0:
        raise CodecError("no pixel data to compress", codec="NKI")
    p = np.frombuffer(raw, dtype="<i2", count=npixels).astype(np.int32)
    body = _encode5(p) if mode == 5 else _encode14(p, mode)
    if mode in (2, 4):
        if len(body) & 1:
            body += b"\0"
        org_crc = crc32(raw[: 2 * npixels])
        comp_crc = crc32(body) if mode == 2 else 0
        out = struct.pack("<5I", npixels, mode, len(body), org_crc, comp_crc) + body
    elif mode == 5:
        out = struct.pack("<5I", npixels, mode, len(body), 0, 0) + body
    else:
        out = struct.pack("<2I", npixels, mode) + body
    if len(out) & 1:
        out += b"\0"
    return out


def _zero_chunks(z: np.ndarray, n: int, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """Zero-difference pixels (mask over pixel indices 1..n-1) grouped as the original's
    run coder groups them: blocks of equal pixels cut into chunks of at most ``cap``; a block
    that reaches the last pixel leaves that pixel as a chunk of its own. Returns the first
    pixel index and the length of every chunk."""
    idx = np.flatnonzero(z) + 1                       # pixel indices with d == 0
    if idx.size == 0:
        return idx, idx
    breaks = np.flatnonzero(np.diff(idx) != 1)
    starts = np.concatenate(([idx[0]], idx[breaks + 1]))
    ends = np.concatenate((idx[breaks], [idx[-1]])) + 1   # exclusive
    lengths = ends - starts
    at_end = ends == n
    body = lengths - at_end                            # the last pixel is coded on its own
    nchunks = (body + cap - 1) // cap
    total = int(nchunks.sum())
    block = np.repeat(np.arange(starts.size), nchunks)
    first_chunk = np.cumsum(nchunks) - nchunks
    within = np.arange(total) - np.repeat(first_chunk, nchunks)
    cstart = starts[block] + cap * within
    clen = np.minimum(cap, body[block] - cap * within)
    tail = np.flatnonzero(at_end)
    if tail.size:
        cstart = np.concatenate((cstart, [n - 1]))
        clen = np.concatenate((clen, [1]))
    return cstart, clen


def _items(p: np.ndarray, cap: int, zero: np.ndarray,
           chunks: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tokens in stream order: (pixel index, kind, count) where kind 0 = zero run of
    ``count`` pixels, 1 = one coded pixel."""
    n = p.size
    cstart, clen = chunks if chunks is not None else _zero_chunks(zero, n, cap)
    coded = np.flatnonzero(~zero) + 1
    pos = np.concatenate((cstart, coded))
    kind = np.concatenate((np.zeros(cstart.size, np.int8), np.ones(coded.size, np.int8)))
    count = np.concatenate((clen, np.ones(coded.size, np.int64)))
    order = np.argsort(pos, kind="stable")
    return pos[order], kind[order], count[order]


def _encode14(p: np.ndarray, mode: int) -> bytes:
    n = p.size
    first = struct.pack("<h", int(p[0]))
    if n == 1:
        return first
    d = p[1:] - p[:-1]
    pos, kind, count = _items(p, _RUN12, d == 0)
    four = mode >= 3
    dv = d[pos - 1]
    lo = -63 if four else -64
    small = (kind == 1) & (dv >= lo) & (dv <= 63)
    medium = (kind == 1) & ~small & (dv >= -0x3F00) & (dv <= 0x3EFF)
    large = (kind == 1) & ~small & ~medium
    run = kind == 0
    short_run = run & (count < _MIN_ZEROS) if four else run & (count == 1)
    long_run = run & ~short_run
    length = np.where(small, 1, np.where(medium, 2, np.where(large, 3, 0)))
    length = np.where(long_run, 2, length)
    length = np.where(short_run, count if four else 1, length)
    offset = np.cumsum(length) - length
    out = np.zeros(int(length.sum()), dtype=np.uint8)
    o = offset[small]
    out[o] = dv[small] & 0xFF
    o, v = offset[medium], dv[medium]
    out[o] = ((v >> 8) ^ 0x40) & 0xFF
    out[o + 1] = v & 0xFF
    o, v = offset[large], p[pos[large]]
    out[o] = 0x7F
    out[o + 1] = (v >> 8) & 0xFF
    out[o + 2] = v & 0xFF
    o = offset[long_run]
    out[o] = 0x80
    out[o + 1] = count[long_run]
    if four:
        out = _pack_nibbles(out, offset, length, small & (dv >= -8) & (dv <= 7), short_run)
    return first + out.tobytes()


def _pack_nibbles(out: np.ndarray, offset: np.ndarray, length: np.ndarray,
                  nibble_item: np.ndarray, short_run: np.ndarray) -> np.ndarray:
    """Modes 3/4: replace runs of single bytes holding -8..7 by ``C0 m`` + packed nibbles,
    exactly where ``recompress4bit`` is called: each time a run reaches 254 bytes, and when
    a byte that does not fit ends a run of at least 6 (the odd oldest byte stays single);
    a run still pending at the end of the image stays as it is."""
    total = out.size
    flag = np.zeros(total + 1, dtype=np.int8)
    flag[offset[nibble_item]] = 1
    # short zero runs: every one of their zero bytes is a nibble byte
    so, sl = offset[short_run], length[short_run]
    if so.size:
        cover = np.bincount(so, minlength=total + 1) - np.bincount(so + sl, minlength=total + 1)
        flag[:total] |= (np.cumsum(cover[:total]) > 0).astype(np.int8)
    edges = np.diff(np.concatenate(([0], flag[:total], [0])))
    seg_start = np.flatnonzero(edges == 1)
    seg_end = np.flatnonzero(edges == -1)
    seg_len = seg_end - seg_start
    blocks_start: list[np.ndarray] = []
    blocks_len: list[np.ndarray] = []
    full = seg_len // _NIBBLE_BLOCK
    if full.any():
        rep = np.repeat(np.arange(seg_start.size), full)
        first = np.cumsum(full) - full
        k = np.arange(int(full.sum())) - np.repeat(first, full)
        blocks_start.append(seg_start[rep] + _NIBBLE_BLOCK * k)
        blocks_len.append(np.full(rep.size, _NIBBLE_BLOCK))
    rest = seg_len - full * _NIBBLE_BLOCK
    ended = (rest >= _MIN_NIBBLE) & (seg_end < total)     # ended by a byte that does not fit
    m = rest[ended] & ~1
    blocks_start.append(seg_end[ended] - m)
    blocks_len.append(m)
    bstart = np.concatenate(blocks_start)
    blen = np.concatenate(blocks_len)
    if bstart.size == 0:
        return out
    order = np.argsort(bstart)
    bstart, blen = bstart[order], blen[order]
    # per-byte output size: packed bytes keep every second byte (+2 for the C0 m header)
    cover = np.bincount(bstart, minlength=total + 1) - np.bincount(bstart + blen, minlength=total + 1)
    inside = np.cumsum(cover[:total]) > 0
    owner = np.zeros(total, dtype=np.int64)
    owner[bstart] = bstart
    owner = np.maximum.accumulate(owner)
    odd = inside & (((np.arange(total) - owner) & 1) == 1)
    size = np.ones(total, dtype=np.int64)
    size[odd] = 0
    size[bstart] += 2
    where = np.cumsum(size) - size                   # output position of each input byte
    result = np.zeros(int(size.sum()), dtype=np.uint8)
    plain = ~inside
    result[where[plain]] = out[plain]
    result[where[bstart]] = 0xC0
    result[where[bstart] + 1] = blen
    even = np.flatnonzero(inside & ~odd)
    packed = ((out[even] & 0x0F) << 4) | (out[even + 1] & 0x0F)
    head = np.zeros(total, dtype=np.int64)
    head[bstart] = 2
    result[where[even] + head[even]] = packed
    return result


def _encode5(p: np.ndarray) -> bytes:
    n = p.size
    v0 = int(p[0]) & 0xFFFF
    first = bytes(((v0 >> 8) & 0x1F, v0 & 0xFF))
    if n == 1:
        return first
    p13 = p & 0x1FFF
    d = p13[1:] - p13[:-1]
    zero = d == 0
    pos, kind, count = _items(p, _RUN5, zero, _chunks5(p, zero))
    dv = d[pos - 1]
    run = kind == 0
    small = ~run & (dv >= -96) & (dv <= 95)
    direct = ~run & ~small
    length = np.where(direct, 2, 1)
    offset = np.cumsum(length) - length
    out = np.zeros(int(length.sum()), dtype=np.uint8)
    out[offset[run]] = 223 + count[run]
    out[offset[small]] = dv[small] + 128
    o, v = offset[direct], p[pos[direct]]
    out[o] = (v >> 8) & 0x1F
    out[o + 1] = v & 0xFF
    return first + out.tobytes()


def _chunks5(p: np.ndarray, zero: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mode 5 runs. A run starts at a pixel whose 13 bits equal the previous pixel's and
    goes on while pixels equal (all 16 bits) the pixel before the run. Where both notions
    agree this is the common chunking; blocks holding a pixel that is equal in 13 bits only
    are walked one by one (they occur only in data using more than 13 bits)."""
    n = p.size
    weird = zero & (p[1:] != p[:-1])
    if not weird.any():
        return _zero_chunks(zero, n, _RUN5)
    idx = np.flatnonzero(zero) + 1
    breaks = np.flatnonzero(np.diff(idx) != 1)
    bstart = np.concatenate(([idx[0]], idx[breaks + 1]))
    bend = np.concatenate((idx[breaks], [idx[-1]])) + 1
    wpix = np.flatnonzero(weird) + 1
    hit = np.zeros(bstart.size, dtype=bool)
    hit[np.searchsorted(bstart, wpix, side="right") - 1] = True
    plain = zero.copy()
    starts: list[int] = []
    lengths: list[int] = []
    values = p.tolist()
    for b0, b1 in zip(bstart[hit].tolist(), bend[hit].tolist()):
        plain[b0 - 1: b1 - 1] = False
        i = b0
        while i < b1:
            ref, rem, k = values[i - 1], n - i, 2
            while not (k >= rem or values[i + k - 1] != ref or k == _RUN5 + 1):
                k += 1
            starts.append(i)
            lengths.append(k - 1)
            i += k - 1
    cstart, clen = _zero_chunks(plain, n, _RUN5)
    return (np.concatenate((cstart, np.asarray(starts, dtype=np.int64))),
            np.concatenate((clen, np.asarray(lengths, dtype=np.int64))))


# -- decompression --------------------------------------------------------------------------
def decompress(value: bytes | bytearray | memoryview) -> bytes:
    """The uncompressed pixel bytes (``2 * npixels``, signed 16-bit LE) of an (7FDF,0010)
    value; raises :class:`CodecError` for a stream that is truncated, overruns its pixel
    count, uses an undefined token or fails its CRC (modes 2 and 4)."""
    value = bytes(value)
    if len(value) < 8:
        raise CodecError("NKI data shorter than its header", codec="NKI")
    npixels, mode = struct.unpack_from("<2I", value, 0)
    if not 1 <= mode <= MAX_MODE:
        raise CodecError(f"NKI compression mode {mode} is not known", codec="NKI")
    if npixels < 1 or npixels > 0x7FFFFFFF:
        raise CodecError(f"NKI header gives {npixels} pixels", codec="NKI")
    if mode in (1, 3):
        stream = value[8:]
    else:
        if len(value) < 20:
            raise CodecError("NKI data shorter than its header", codec="NKI")
        size, org_crc, comp_crc = struct.unpack_from("<3I", value, 8)
        stream = value[20: 20 + size]
    if len(stream) < 2:
        raise CodecError("NKI data has no first pixel", codec="NKI")
    if npixels > 3 * len(stream) * 128 + 1:
        raise CodecError(f"NKI header gives {npixels} pixels for {len(stream)} bytes", codec="NKI")
    b = np.frombuffer(stream, dtype=np.uint8)
    if mode == 5:
        first = ((int(b[0]) & 0x1F) << 8) | int(b[1])
        pixels = _decode5(b[2:], npixels, first)
    else:
        first = struct.unpack_from("<h", stream, 0)[0]
        pixels = _decode14(b[2:], npixels, first, mode >= 3)
    data = pixels.astype("<u2", copy=False).tobytes()
    if mode in (2, 4) and crc32(data) != org_crc:
        if mode == 2 and crc32(value[20: 20 + size]) != comp_crc:
            raise CodecError("NKI data is corrupt (CRC of the compressed data does not match)", codec="NKI")
        raise CodecError("NKI data does not decompress to the original (CRC mismatch)", codec="NKI")
    return data


def _token_starts(length: np.ndarray) -> np.ndarray:
    """Which bytes start a token, given the token length a byte would have if one started
    there. Token boundaries are a chain (``next = pos + length[pos]``); the stream is cut
    into blocks that are walked side by side from their first byte, then each block whose
    true entry differs is re-walked in Python until it meets its speculative path (paths
    of different alignment meet after a few tokens)."""
    n = length.size
    start = np.zeros(n, dtype=bool)
    if n == 0:
        return start
    size = max(64, int(n ** 0.5))
    begin = np.arange(0, n, size, dtype=np.int64)
    stop = np.minimum(begin + size, n)
    pos = begin.copy()
    live = np.arange(begin.size)
    while live.size:
        p = pos[live]
        start[p] = True
        p = p + length[p]
        pos[live] = p
        live = live[p < stop[live]]
    exits = pos                                   # first position at or after each block end
    lengths = length.tolist()
    entry = 0
    for k in range(begin.size):
        b0, b1 = int(begin[k]), int(stop[k])
        if entry != b0:
            # clear the wrong speculative starts up to where the true path meets them
            q = entry
            start[b0:min(q, b1)] = False
            while q < b1 and not start[q]:
                nxt = q + lengths[q]
                start[q] = True
                start[q + 1:min(nxt, b1)] = False
                q = nxt
            if q >= b1:
                entry = q
                continue
        entry = int(exits[k])
    return start


def _luts(four: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per lead byte: token length, whether it is a one-byte difference, its value."""
    v = np.arange(256)
    signed = np.where(v > 127, v - 256, v)
    small = (signed >= (-63 if four else -64)) & (signed <= 63)
    length = np.where(small, 1, np.where(v == 0x7F, 3, 2)).astype(np.int64)
    return length, small, signed.astype(np.int16)


_LUT12 = _luts(False)
_LUT34 = _luts(True)


def _decode14(b: np.ndarray, npixels: int, first: int, four: bool) -> np.ndarray:
    n = b.size
    need = npixels - 1
    if need == 0:
        return np.array([first & 0xFFFF], dtype=np.uint16)
    lut_len, lut_small, lut_signed = _LUT34 if four else _LUT12
    length = lut_len[b]
    if four:
        nib_at = np.flatnonzero(b == 0xC0)
        nib_at = nib_at[nib_at + 1 < n]
        length[nib_at] = 2 + b[nib_at + 1].astype(np.int64) // 2
    starts = np.flatnonzero(_token_starts(length))
    lead = b[starts]
    run = lead == 0x80
    is_nib = (lead == 0xC0) if four else np.zeros(starts.size, dtype=bool)
    second = b[np.minimum(starts + 1, n - 1)].astype(np.int64)
    count = np.where(run | is_nib, second, 1)
    total = np.cumsum(count)
    empty = np.flatnonzero((run | is_nib) & (count == 0))
    if empty.size and total[empty[0]] < need:
        raise CodecError(f"NKI run of length 0 at byte {int(starts[empty[0]])}", codec="NKI")
    t = _last_token(total, need, npixels)
    starts, lead, run, is_nib, count = starts[: t + 1], lead[: t + 1], run[: t + 1], is_nib[: t + 1], count[: t + 1]
    if starts[-1] + length[starts[-1]] > n:
        raise CodecError("NKI data is truncated inside a token", codec="NKI")
    if (count == 0).any():
        raise CodecError("NKI run of length 0", codec="NKI")
    if (is_nib & (count % 2 == 1)).any():
        raise CodecError("NKI 4-bit run of an odd number of pixels", codec="NKI")
    slot = total[: t + 1] - count
    diff = np.zeros(need, dtype=np.uint16)
    absolute = np.zeros(0, dtype=np.int64)
    absval = np.zeros(0, dtype=np.uint16)
    one = lut_small[lead]
    diff[slot[one]] = lut_signed[lead[one]].view(np.uint16)
    big = lead == 0x7F
    if big.any():
        s = starts[big]
        absolute = slot[big]
        absval = ((b[s + 1].astype(np.uint16) << 8) | b[s + 2]).astype(np.uint16)
    med = ~one & ~big & ~run & ~is_nib
    s = starts[med]
    diff[slot[med]] = (((b[s] ^ 0x40).astype(np.uint16) << 8) | b[s + 1]).astype(np.uint16)
    if is_nib.any():
        s, c, sl = starts[is_nib], count[is_nib] // 2, slot[is_nib]
        owner = np.repeat(np.arange(s.size), c)
        j = np.arange(int(c.sum())) - np.repeat(np.cumsum(c) - c, c)
        v = b[s[owner] + 2 + j]
        at = sl[owner] + 2 * j
        diff[at] = _NIBBLE[v >> 4]
        diff[at + 1] = _NIBBLE[v & 0x0F]
    return _integrate(first, diff, absolute, absval)


_NIBBLE = np.array([k if k < 8 else k - 16 for k in range(16)], dtype=np.int16).view(np.uint16)


def _last_token(total: np.ndarray, need: int, npixels: int) -> int:
    """Index of the token that completes the image, or a CodecError."""
    t = int(np.searchsorted(total, need))
    if t >= total.size:
        got = int(total[-1]) + 1 if total.size else 1
        raise CodecError(f"NKI data ends after {got} of {npixels} pixels", codec="NKI")
    if total[t] != need:
        raise CodecError(f"NKI run overruns the image ({npixels} pixels)", codec="NKI")
    return t


def _decode5(b: np.ndarray, npixels: int, first: int) -> np.ndarray:
    n = b.size
    need = npixels - 1
    if need == 0:
        return np.array([first], dtype=np.uint16)
    starts = np.flatnonzero(_token_starts(np.where(b < 32, 2, 1)))
    lead = b[starts].astype(np.int64)
    count = np.where(lead >= 224, lead - 223, 1)
    total = np.cumsum(count)
    t = _last_token(total, need, npixels)
    starts, lead, count = starts[: t + 1], lead[: t + 1], count[: t + 1]
    if lead[-1] < 32 and starts[-1] + 2 > n:
        raise CodecError("NKI data is truncated inside a token", codec="NKI")
    slot = total[: t + 1] - count
    diff = np.zeros(need, dtype=np.uint16)
    small = (lead >= 32) & (lead < 224)
    diff[slot[small]] = (lead[small] - 128).astype(np.int16).view(np.uint16)
    d = lead < 32
    s = starts[d]
    absval = ((b[s].astype(np.uint16) << 8) | b[s + 1]).astype(np.uint16)
    return _integrate(first, diff, slot[d], absval)


def _integrate(first: int, diff: np.ndarray, absolute: np.ndarray, absval: np.ndarray) -> np.ndarray:
    """Pixels (uint16) from the first one, per-pixel differences (uint16, wrapping as the
    original's ``short`` arithmetic) and absolute values at the slots in ``absolute``."""
    diff[absolute] = 0
    c = np.cumsum(diff, dtype=np.uint16)
    out = np.empty(diff.size + 1, dtype=np.uint16)
    out[0] = first & 0xFFFF
    if absolute.size:
        base = np.concatenate(([first & 0xFFFF], (absval - c[absolute]).astype(np.uint16))).astype(np.uint16)
        seg = np.diff(np.concatenate(([0], absolute, [diff.size])))
        out[1:] = c + np.repeat(base, seg)
    else:
        out[1:] = c + np.uint16(first & 0xFFFF)
    return out
