"""Conquest compression codes (conquest-storage.md §6.7; ``recompress`` nkiqrsop.cpp:4760).

================ ==========================================================================
code             meaning
================ ==========================================================================
"" as is v…      leave the object as it is
un               decompress (JPEG, JPEG-LS, J2K, RLE, NKI; palette/planar/YBR_FULL fixed);
                 uncompressed data keeps its transfer syntax
ui ul ub         decompress to Implicit VR LE / Explicit VR LE / Explicit VR BE
uj               keep any JPEG family syntax, otherwise as ``un``
j1 j2            JPEG lossless SV1 (.70) / lossless predictor 6 (.57)
j3 j4            JPEG lossy: baseline (.50) for 8-bit, extended (.51) for 12-bit data;
                 data of more than 12 bits gets lossless SV1
j5 j6            progressive JPEG (.55) for 8-bit data (see README), otherwise as j3/j4
jk jl            JPEG 2000 lossless (.90) / lossy (.91, ratio 100/quality)
js j7            JPEG-LS lossless (.80) / near-lossless (.81, NEAR = 10 − (quality+9)//10)
ja               keep any JPEG family syntax, otherwise lossless SV1
jXNN             any j code with quality NN (``j3 80`` style: ``j380``)
j#s,c            scale/clip (values < c → 0, ÷ s), then lossless (.57)
n0               decompress only
n1 … n5          NKI private compression mode 1 … 5
nj               keep any JPEG family syntax, otherwise NKI mode 5
n#s,c            scale/clip, then NKI mode 5 (marked lossy)
k1 k2 k4 k8      downsize to 1024 / 512 / 256 / 128 pixels
ka kb kc         downsize to 64 / 32 / 16 pixels
s0 … s9          run CompressionConverter0 … 9
================ ==========================================================================

Letters are case-insensitive. Codes in the ``j``/``n`` families that name no mode fall back
as the original's do (``j`` + unknown letter → lossless SV1).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..config.keys import atoi

DOWNSIZE = {"1": 1024, "2": 512, "4": 256, "8": 128, "a": 64, "b": 32, "c": 16}


@dataclass(frozen=True)
class Code:
    """A parsed compression code."""

    text: str
    kind: str               # asis, u, uj, j, jscale, n, nj, nscale, k, s, unknown
    mode: str = ""          # u: i/l/b/n…, j: second letter, n: digit
    quality: int = 0        # 0 = LossyQuality from dicom.ini
    scale: int = 0
    clip: int = 0
    size: int = 0           # k codes
    number: int = 0         # s codes

    @property
    def leaves_as_is(self) -> bool:
        return self.kind == "asis"


def _scale_clip(text: str) -> tuple[int, int]:
    """``#s,c`` as the original reads it (``atoi`` of the scale, then of the clip)."""
    body = text[2:]
    scale = atoi(body)
    _, comma, rest = body.partition(",")
    return scale, atoi(rest) if comma else 0


def parse(text: str | None) -> Code:
    """The meaning of a compression code string."""
    raw = (text or "").strip()
    code = raw.lower()
    if code == "" or code.startswith("as") or code == "is" or code.startswith("v"):
        return Code(raw, "asis")
    head, mode = code[0], code[1:2]
    if head == "u":
        return Code(raw, "uj" if mode == "j" else "u", mode)
    if head == "j":
        if mode == "#" and len(code) > 4:
            scale, clip = _scale_clip(code)
            return Code(raw, "jscale", "#", 100, scale, clip)
        return Code(raw, "j", mode, atoi(code[2:]) if len(code) > 2 else 0)
    if head == "n":
        if mode == "j":
            return Code(raw, "nj", "j")
        if mode == "#" and len(code) > 4:
            scale, clip = _scale_clip(code)
            return Code(raw, "nscale", "#", 0, scale, clip)
        if mode.isdigit() and int(mode) <= 5:
            return Code(raw, "n", mode)
        return Code(raw, "unknown")
    if head == "k":
        return Code(raw, "k", mode, size=DOWNSIZE.get(mode, 65536))
    if head == "s" and mode.isdigit():
        return Code(raw, "s", mode, number=int(mode))
    return Code(raw, "unknown")
