"""A plain, token-by-token NKI coder written from conquest-storage.md §6.8, used as the
oracle for the vectorised one in dgate.codec.nki (slow; only for tests)."""
from __future__ import annotations

import struct
import zlib


def crc(data: bytes) -> int:
    return zlib.crc32(data, 0xFFFFFFFF) ^ 0xFFFFFFFF


def _s16(v: int) -> int:
    v &= 0xFFFF
    return v - 0x10000 if v & 0x8000 else v


def encode(pixels: list[int], mode: int) -> bytes:
    """Header + stream (+ pad) for signed 16-bit pixel values."""
    p = [_s16(v) for v in pixels]
    n = len(p)
    if mode == 5:
        out = bytearray([(p[0] >> 8) & 0x1F, p[0] & 0xFF])
    else:
        out = bytearray(struct.pack("<h", p[0]))
    four = mode in (3, 4)
    n4 = 0

    def pack4(count: int) -> None:
        m = count & ~1
        tail = out[len(out) - m:]
        del out[len(out) - m:]
        out.extend((0xC0, m))
        for j in range(0, m, 2):
            out.append(((tail[j] & 15) << 4) | (tail[j + 1] & 15))

    i = 1
    while i < n:
        prev, cur = p[i - 1], p[i]
        rem = n - i
        if mode == 5:
            d = (cur & 0x1FFF) - (prev & 0x1FFF)
            if d == 0:
                k = 2
                while not (k >= rem or p[i + k - 1] != prev or k == 33):
                    k += 1
                out.append(223 + k - 1)
                i += k - 1
            elif -96 <= d <= 95:
                out.append(d + 128)
                i += 1
            else:
                out.extend(((cur >> 8) & 0x1F, cur & 0xFF))
                i += 1
            continue
        d = cur - prev
        if d == 0:
            k = 2
            while not (k >= rem or p[i + k - 1] != prev or k == 256):
                k += 1
            count = k - 1
            if not four:
                out.extend((0,) if count == 1 else (0x80, count))
            elif count <= 4:
                for _ in range(count):
                    out.append(0)
                    n4 += 1
                    if n4 >= 254:
                        pack4(n4)
                        n4 = 0
            else:
                if n4 >= 6:
                    pack4(n4)
                n4 = 0
                out.extend((0x80, count))
            i += count
            continue
        if (-63 if four else -64) <= d <= 63:
            if four and -8 <= d <= 7:
                out.append(d & 0xFF)
                n4 += 1
                if n4 >= 254:
                    pack4(n4)
                    n4 = 0
            else:
                if four and n4 >= 6:
                    pack4(n4)
                out.append(d & 0xFF)
                n4 = 0
        elif -0x3F00 <= d <= 0x3EFF:
            if four and n4 >= 6:
                pack4(n4)
            n4 = 0
            out.extend((((d >> 8) ^ 0x40) & 0xFF, d & 0xFF))
        else:
            if four and n4 >= 6:
                pack4(n4)
            n4 = 0
            out.extend((0x7F, (cur >> 8) & 0xFF, cur & 0xFF))
        i += 1
    raw = b"".join(struct.pack("<h", v) for v in p)
    body = bytes(out)
    if mode in (2, 4):
        if len(body) & 1:
            body += b"\0"
        head = struct.pack("<5I", n, mode, len(body), crc(raw), crc(body) if mode == 2 else 0)
    elif mode == 5:
        head = struct.pack("<5I", n, mode, len(body), 0, 0)
    else:
        head = struct.pack("<2I", n, mode)
    result = head + body
    return result + b"\0" if len(result) & 1 else result


def decode(value: bytes) -> list[int]:
    """Unsigned 16-bit pixel values of a stream (raises ValueError on bad data)."""
    n, mode = struct.unpack_from("<2I", value)
    src = value[8:] if mode in (1, 3) else value[20:20 + struct.unpack_from("<I", value, 8)[0]]
    pos = 2
    if mode == 5:
        out = [((src[0] & 0x1F) << 8) | src[1]]
    else:
        out = [struct.unpack_from("<h", src)[0] & 0xFFFF]
    while len(out) < n:
        v = src[pos]
        prev = out[-1]
        if mode == 5:
            if 32 <= v <= 223:
                out.append((prev + v - 128) & 0xFFFF)
                pos += 1
            elif v >= 224:
                out.extend([prev] * (v - 223))
                pos += 1
            else:
                out.append((v << 8) | src[pos + 1])
                pos += 2
            continue
        sv = v - 256 if v > 127 else v
        if (-63 if mode >= 3 else -64) <= sv <= 63:
            out.append((prev + sv) & 0xFFFF)
            pos += 1
        elif v == 0x7F:
            out.append((src[pos + 1] << 8) | src[pos + 2])
            pos += 3
        elif v == 0x80:
            out.extend([prev] * src[pos + 1])
            pos += 2
        elif v == 0xC0 and mode >= 3:
            m = src[pos + 1]
            for byte in src[pos + 2: pos + 2 + m // 2]:
                hi = byte >> 4
                lo = byte & 15
                out.append((out[-1] + (hi - 16 if hi > 7 else hi)) & 0xFFFF)
                out.append((out[-1] + (lo - 16 if lo > 7 else lo)) & 0xFFFF)
            pos += 2 + m // 2
        else:
            diff = _s16((((sv ^ 0x40) & 0xFF) << 8) | src[pos + 1])
            out.append((prev + diff) & 0xFFFF)
            pos += 2
    if len(out) != n:
        raise ValueError("overrun")
    return out
