"""Transfer syntaxes the codec knows, as one table (PS3.5 §8 and §10, PS3.6 Annex A).

Each row names the family (how pixel data is stored), whether the syntax is lossy by
definition, and the Conquest compression code that produces it (the mapping the original
uses for WADO ``transferSyntax`` and for ``GetAcceptedCompressionType``).
"""
from __future__ import annotations

from dataclasses import dataclass

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
DEFLATED = "1.2.840.10008.1.2.1.99"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG_EXTENDED = "1.2.840.10008.1.2.4.51"
JPEG_SPECTRAL = "1.2.840.10008.1.2.4.53"
JPEG_PROGRESSIVE = "1.2.840.10008.1.2.4.55"
JPEG_LOSSLESS = "1.2.840.10008.1.2.4.57"
JPEG_LOSSLESS_SV1 = "1.2.840.10008.1.2.4.70"
JPEGLS_LOSSLESS = "1.2.840.10008.1.2.4.80"
JPEGLS_NEAR = "1.2.840.10008.1.2.4.81"
J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"
J2K = "1.2.840.10008.1.2.4.91"
RLE = "1.2.840.10008.1.2.5"
HTJ2K_LOSSLESS = "1.2.840.10008.1.2.4.201"
HTJ2K_LOSSLESS_RPCL = "1.2.840.10008.1.2.4.202"
HTJ2K = "1.2.840.10008.1.2.4.203"

NATIVE = "native"          # uncompressed pixel data in the data set's byte order
JPEG = "jpeg"              # ISO 10918-1
JPEGLS = "jpegls"          # ISO 14495-1
JPEG2000 = "j2k"           # ISO 15444-1 (and HTJ2K, ISO 15444-15)
RLE_FAMILY = "rle"         # PS3.5 Annex G


@dataclass(frozen=True)
class Syntax:
    uid: str
    name: str
    family: str
    lossy: bool = False          # lossy by definition (may still carry lossless data: .91, .81)
    code: str = ""               # the Conquest code that produces it ("" = none)

    @property
    def encapsulated(self) -> bool:
        return self.family != NATIVE


SYNTAXES: dict[str, Syntax] = {s.uid: s for s in (
    Syntax(IMPLICIT_LE, "Implicit VR Little Endian", NATIVE, code="ui"),
    Syntax(EXPLICIT_LE, "Explicit VR Little Endian", NATIVE, code="ul"),
    Syntax(DEFLATED, "Deflated Explicit VR Little Endian", NATIVE),
    Syntax(EXPLICIT_BE, "Explicit VR Big Endian", NATIVE, code="ub"),
    Syntax(JPEG_BASELINE, "JPEG Baseline (Process 1)", JPEG, True, "j3"),
    Syntax(JPEG_EXTENDED, "JPEG Extended (Process 2 & 4)", JPEG, True, "j4"),
    Syntax(JPEG_SPECTRAL, "JPEG Spectral Selection (Process 6 & 8)", JPEG, True, "j5"),
    Syntax(JPEG_PROGRESSIVE, "JPEG Full Progression (Process 10 & 12)", JPEG, True, "j6"),
    Syntax(JPEG_LOSSLESS, "JPEG Lossless (Process 14)", JPEG, code="j2"),
    Syntax(JPEG_LOSSLESS_SV1, "JPEG Lossless SV1 (Process 14, predictor 1)", JPEG, code="j1"),
    Syntax(JPEGLS_LOSSLESS, "JPEG-LS Lossless", JPEGLS, code="js"),
    Syntax(JPEGLS_NEAR, "JPEG-LS Near-Lossless", JPEGLS, True, "j7"),
    Syntax(J2K_LOSSLESS, "JPEG 2000 Lossless", JPEG2000, code="jk"),
    Syntax(J2K, "JPEG 2000", JPEG2000, True, "jl"),
    Syntax(RLE, "RLE Lossless", RLE_FAMILY),
    Syntax(HTJ2K_LOSSLESS, "HTJ2K Lossless", JPEG2000),
    Syntax(HTJ2K_LOSSLESS_RPCL, "HTJ2K Lossless RPCL", JPEG2000),
    Syntax(HTJ2K, "HTJ2K", JPEG2000, True),
)}

UNCOMPRESSED = frozenset({IMPLICIT_LE, EXPLICIT_LE, EXPLICIT_BE})
# what ``uj``, ``nj`` and ``ja`` keep as they are (recompress, nkiqrsop.cpp:4760)
JPEG_FAMILY = frozenset({JPEG_BASELINE, JPEG_EXTENDED, JPEG_SPECTRAL, JPEG_PROGRESSIVE, JPEG_LOSSLESS,
                         JPEG_LOSSLESS_SV1, JPEGLS_LOSSLESS, JPEGLS_NEAR, J2K_LOSSLESS, J2K})


def syntax(uid: str) -> Syntax | None:
    """The table row of a transfer syntax UID (trailing NUL/space ignored)."""
    return SYNTAXES.get(str(uid).rstrip("\0 "))


def is_encapsulated(uid: str) -> bool:
    row = syntax(uid)
    return row is not None and row.encapsulated


def family(uid: str) -> str:
    row = syntax(uid)
    return row.family if row else ""


def name(uid: str) -> str:
    row = syntax(uid)
    return row.name if row else str(uid)
