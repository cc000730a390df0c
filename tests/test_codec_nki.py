"""NKI private compression against vectors worked out by hand from conquest-storage.md §6.8,
and against a token-by-token coder written from the same text (tests/nkiref.py)."""
from __future__ import annotations

import random
import struct

import nkiref
import numpy as np
import pytest

from dgate.codec import CodecError, nki


def pixels(values: list[int]) -> bytes:
    return struct.pack(f"<{len(values)}h", *values)


def crc(data: bytes) -> int:
    return nki.crc32(data)


def test_crc_is_conquests_checksum():
    # conquest-protocol.md §5.9: checksum:hello -> 4029829531 (table CRC, init 0, no final xor)
    assert crc(b"hello") == 4029829531


MODE1 = [100, 100, 100, 101, 37, 300, -20000, -20000, 5, -295]
# first pixel; zero run of 2; +1; -64 (still small in mode 1); +263 medium; jump to -20000
# (large, absolute, big endian); a single zero (00); jump to 5 (large); -300 medium
STREAM1 = bytes.fromhex("6400" "8002" "01" "c0" "4107" "7fb1e0" "00" "7f0005" "bed4")


def test_mode1_vector_every_token():
    value = nki.compress(pixels(MODE1), 1)
    assert value == struct.pack("<2I", 10, 1) + STREAM1 + b"\0"      # 8 + 17 is odd: one pad byte
    assert nki.decompress(value) == pixels(MODE1)


def test_mode2_vector_header_and_both_crcs():
    value = nki.compress(pixels(MODE1), 2)
    body = STREAM1 + b"\0"                                  # compressed size is even, pad counted
    assert value == struct.pack("<5I", 10, 2, 18, crc(pixels(MODE1)), crc(body)) + body
    assert nki.decompress(value) == pixels(MODE1)


MODE3 = [0, 1, 0, 2, 0, 3, 0, 4, 24, 24, 24, 24, 1024] + [1024] * 6 + [1029]
# 7 differences in -8..7 ended by +20: the last 6 are packed (C0 06), the oldest stays single;
# a zero run of 3 is three 00 bytes (too short to pay for 80 n, and not packed: only 3);
# +1000 medium; a zero run of 6 as 80 06; +5 single, left as it is at the end of the image
STREAM3 = bytes.fromhex("0000" "01" "c006f2e3d4" "14" "000000" "43e8" "8006" "05")


def test_mode3_vector_4bit_runs_and_short_zero_runs():
    value = nki.compress(pixels(MODE3), 3)
    assert value == struct.pack("<2I", 20, 3) + STREAM3 + b"\0"
    assert nki.decompress(value) == pixels(MODE3)


def test_mode4_vector_crc_of_original_only():
    value = nki.compress(pixels(MODE3), 4)
    body = STREAM3 + b"\0"
    assert value == struct.pack("<5I", 20, 4, 18, crc(pixels(MODE3)), 0) + body
    assert nki.decompress(value) == pixels(MODE3)


def test_mode3_full_254_blocks_and_remainder():
    values = [0]
    for i in range(300):
        values.append(values[-1] + (1 if i % 2 == 0 else -1))
    values.append(values[-1] + 1000)                        # a medium difference ends the run
    value = nki.compress(pixels(values), 3)
    expected = b"\0\0" + b"\xc0\xfe" + b"\x1f" * 127 + b"\xc0\x2e" + b"\x1f" * 23 + bytes.fromhex("43e8")
    assert value[8:8 + len(expected)] == expected
    assert nki.decompress(value) == pixels(values)


def test_runs_are_cut_at_255_and_never_take_the_last_pixel():
    values = [7] * 301 + [8]
    value = nki.compress(pixels(values), 1)
    assert value[8:] == bytes.fromhex("0700" "80ff" "802d" "01") + b"\0"
    to_end = [7] * 10
    assert nki.compress(pixels(to_end), 1)[8:] == bytes.fromhex("0700" "8008" "00") + b"\0"
    assert nki.decompress(nki.compress(pixels(to_end), 1)) == pixels(to_end)


MODE5 = [100, 100, 100, 200, 8191, 8191, 0, 50, 10]
# first pixel as 13 bits big endian; run of 2 (E1); 200 and 8191 direct (13 bits); run of 1
# (E0); 0 direct; +50 (B2) and -40 (58) as difference + 128
STREAM5 = bytes.fromhex("0064" "e1" "00c8" "1fff" "e0" "0000" "b2" "58")


def test_mode5_vector():
    value = nki.compress(pixels(MODE5), 5)
    assert value == struct.pack("<5I", 9, 5, 12, 0, 0) + STREAM5
    assert nki.decompress(value) == pixels(MODE5)


def test_mode5_keeps_13_bits():
    value = nki.compress(pixels([10000, 10001, 100]), 5)
    assert list(np.frombuffer(nki.decompress(value), "<u2")) == [10000 & 0x1FFF, 10001 & 0x1FFF, 100]


def test_mode5_odd_size_is_padded_but_size_field_is_not():
    value = nki.compress(pixels([1, 2, 3]), 5)                # 2 + 1 + 1 = 4 bytes
    assert struct.unpack_from("<I", value, 8)[0] == 4
    value = nki.compress(pixels([1, 2, 3, 4]), 5)             # 5 bytes: size 5, element padded
    assert struct.unpack_from("<I", value, 8)[0] == 5 and len(value) == 26


@pytest.mark.parametrize("mode", [1, 2, 3, 4, 5])
def test_random_images_match_the_reference_coder(mode):
    rng = random.Random(mode)
    for _ in range(40):
        values, v = [], 0
        while len(values) < rng.choice([2, 3, 17, 600, 2000]):
            kind = rng.random()
            if kind < 0.2:
                values += [v] * rng.randint(1, 600)
            elif kind < 0.5:
                for _ in range(rng.randint(1, 400)):
                    v += rng.randint(-8, 7)
                    values.append(v)
            elif kind < 0.7:
                v += rng.randint(-63, 63)
                values.append(v)
            elif kind < 0.85:
                v += rng.randint(-0x3F00, 0x3EFF)
                values.append(v)
            else:
                v = rng.randint(-32768, 32767)
                values.append(v)
            v = ((v + 32768) & 0xFFFF) - 32768
        values = [((x + 32768) & 0xFFFF) - 32768 for x in values]
        ours = nki.compress(pixels(values), mode)
        assert ours == nkiref.encode(values, mode)
        assert list(np.frombuffer(nki.decompress(ours), "<u2")) == nkiref.decode(ours)
        if mode != 5:
            assert nki.decompress(ours) == pixels(values)


def test_8bit_data_is_taken_pairwise():
    data = bytes(range(200)) + b"\x07"                     # the odd trailing byte is lost
    value = nki.compress(data, 4)
    assert nki.decompressed_length(value) == 200
    assert nki.decompress(value) == data[:200]


@pytest.mark.parametrize("bad, reason", [
    (struct.pack("<2I", 3, 1) + bytes.fromhex("0000" "8005"), "overrun"),
    (struct.pack("<2I", 5, 1) + bytes.fromhex("0000" "0101"), "ends"),
    (struct.pack("<2I", 2, 1) + bytes.fromhex("0000" "7f00"), "truncated"),
    (struct.pack("<2I", 3, 1) + bytes.fromhex("0000" "8000" "01"), "length 0"),
    (struct.pack("<2I", 4, 3) + bytes.fromhex("0000" "c00311"), "odd"),
    (struct.pack("<2I", 0x7FFFFFF, 1) + bytes.fromhex("0000" "01"), "pixels"),
    (struct.pack("<2I", 4, 9) + bytes.fromhex("0000" "010101"), "mode"),
    (b"\x01\x00", "header"),
])
def test_bad_streams_raise_codec_errors(bad, reason):
    with pytest.raises(CodecError, match=reason):
        nki.decompress(bad)


@pytest.mark.parametrize("mode", [2, 4])
def test_crc_mismatch_is_an_error(mode):
    value = bytearray(nki.compress(pixels(MODE3), mode))
    value[22] ^= 0x01                                       # a difference byte changes
    with pytest.raises(CodecError, match="CRC"):
        nki.decompress(bytes(value))


def test_recognition_rules():
    good = nki.compress(pixels(MODE1), 2)
    assert nki.is_nki(good)
    assert not nki.is_nki(b"ACUSON" + good)
    assert not nki.is_nki(b"ELSCINT1" + good)
    assert not nki.is_nki(good[:8])
    assert not nki.is_nki(struct.pack("<2I", 10, 6) + good[8:])
    with pytest.raises(CodecError):
        nki.compress(pixels(MODE1), 6)
