"""WADO-RS frames (PS3.18 §10.4.1.1.2 "Frame List", media types §8.7.3.3 and Table
8.7.3-5) of one stored instance: native pixel data or a compressed bitstream, chosen from
the Accept header and transcoded with :mod:`dgate.codec` when the stored form is not
acceptable.

Frames and metadata agree. Decoded colour frames are RGB, interleaved, so the metadata
says so too (:func:`delivered_photometric`): a YBR_* colour instance is described as RGB
with Planar Configuration 0. Stored compressed frames are sent as they are only where a
standard decoder gives that RGB itself (lossy JPEG with YCbCr, JPEG 2000 with its
multi-component transform); other YBR frames (RLE, JPEG-LS, lossless JPEG, native) are
decoded to RGB first and, if a compressed syntax was asked for, encoded again. NKI
compressed files are expanded (:func:`dgate.codec.readable`) before anything else.
"""
from __future__ import annotations

import copy

import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames

from .. import codec
from ..codec import pixels as codec_pixels
from ..codec import syntaxes as ts
from ..codec.decoders import decoder_for
from ..codec.pixels import Geometry
from .errors import HTTPProblem, not_acceptable, not_found
from .multipart import split_accept

OCTET = "application/octet-stream"
NATIVE_TARGETS = (ts.EXPLICIT_LE, ts.IMPLICIT_LE, ts.EXPLICIT_BE)

# PS3.18 Table 8.7.3-5: the media type of each compressed transfer syntax of frames
FRAME_MEDIA = {
    ts.JPEG_BASELINE: "image/jpeg", ts.JPEG_EXTENDED: "image/jpeg", ts.JPEG_SPECTRAL: "image/jpeg",
    ts.JPEG_PROGRESSIVE: "image/jpeg", ts.JPEG_LOSSLESS: "image/jpeg", ts.JPEG_LOSSLESS_SV1: "image/jpeg",
    ts.JPEGLS_LOSSLESS: "image/jls", ts.JPEGLS_NEAR: "image/jls",
    ts.J2K_LOSSLESS: "image/jp2", ts.J2K: "image/jp2",
    "1.2.840.10008.1.2.4.92": "image/jpx", "1.2.840.10008.1.2.4.93": "image/jpx",
    ts.HTJ2K_LOSSLESS: "image/jphc", ts.HTJ2K_LOSSLESS_RPCL: "image/jphc", ts.HTJ2K: "image/jphc",
    ts.RLE: "image/dicom-rle",
    "1.2.840.10008.1.2.4.100": "video/mpeg", "1.2.840.10008.1.2.4.101": "video/mpeg",
    "1.2.840.10008.1.2.4.102": "video/mp4", "1.2.840.10008.1.2.4.103": "video/mp4",
}
# ... and the syntax a media type means when Accept names none (the lossless one)
MEDIA_DEFAULT = {"image/jpeg": ts.JPEG_LOSSLESS_SV1, "image/jls": ts.JPEGLS_LOSSLESS, "image/jp2": ts.J2K_LOSSLESS,
                 "image/jpx": "1.2.840.10008.1.2.4.92", "image/jphc": ts.HTJ2K_LOSSLESS,
                 "image/dicom-rle": ts.RLE}
_LOSSY_JPEG = (ts.JPEG_BASELINE, ts.JPEG_EXTENDED, ts.JPEG_SPECTRAL, ts.JPEG_PROGRESSIVE)
_J2K = (ts.J2K_LOSSLESS, ts.J2K, ts.HTJ2K_LOSSLESS, ts.HTJ2K_LOSSLESS_RPCL, ts.HTJ2K)
# what each encoder can hold (Bits Stored), beyond which codec would refuse
_MAX_BITS = {ts.JPEG_BASELINE: 8, ts.JPEG_EXTENDED: 12, ts.JPEG_PROGRESSIVE: 8, ts.JPEG_LOSSLESS: 16,
             ts.JPEG_LOSSLESS_SV1: 16, ts.JPEGLS_LOSSLESS: 16, ts.JPEGLS_NEAR: 16, ts.J2K_LOSSLESS: 16, ts.J2K: 16,
             ts.RLE: 32}


def delivered_photometric(photometric: str, samples: int, syntax: str) -> tuple[str, int | None]:
    """Photometric Interpretation and Planar Configuration (None: as stored) of the frames
    this server delivers for an instance, which its metadata must state."""
    if samples == 3 and photometric.startswith("YBR"):
        return "RGB", 0
    if samples > 1 and ts.is_encapsulated(syntax):
        return photometric, 0
    return photometric, None


def stored_frames_fit(photometric: str, samples: int, syntax: str) -> bool:
    """Whether the stored compressed frames decode to what :func:`delivered_photometric`
    says (a decoder's own colour transform turns them into RGB, or they are not YBR)."""
    if samples != 3 or not photometric.startswith("YBR"):
        return True
    if syntax in _LOSSY_JPEG:
        return photometric in ("YBR_FULL_422", "YBR_FULL")
    return syntax in _J2K and photometric in ("YBR_ICT", "YBR_RCT")


def encodable(target: str) -> bool:
    """Whether the codec writes ``target`` (an uncompressed syntax or one with an encoder)."""
    row = ts.syntax(target)
    if row is None:
        return False
    if not row.encapsulated:
        return True
    from ..codec.encoders import ENCODERS
    return target in ENCODERS


def decodable(stored: str) -> bool:
    if not ts.is_encapsulated(stored):
        return ts.syntax(stored) is not None
    try:
        return bool(decoder_for(stored).is_available)
    except (NotImplementedError, ValueError, ImportError):
        return False


def fits(target: str, bits_stored: int, bits_allocated: int) -> bool:
    """Whether pixel data of this depth can be encoded as ``target``."""
    row = ts.syntax(target)
    if row is None or not row.encapsulated:
        return row is not None
    if bits_allocated == 1:
        return False
    return bits_stored <= _MAX_BITS.get(target, 16)


# -- Accept ------------------------------------------------------------------------------------
def frame_requests(accept: str) -> list[tuple[str, str]]:
    """(media type, transfer syntax) pairs acceptable for frames, in preference order.

    ``application/octet-stream`` without a syntax is native Explicit VR Little Endian; an
    image type without one means its stored syntax if that is of this type, else the
    type's lossless default; ``*`` as syntax means the stored one."""
    if not accept.strip():
        return [(OCTET, ts.EXPLICIT_LE)]
    out = []
    for media, params, _q in split_accept(accept):
        syntax = params.get("transfer-syntax", "")
        if media == "multipart/related":
            media = params.get("type", OCTET).lower()
        if media in ("*/*", "multipart/*", "application/*"):
            out.append(("*", syntax or "*"))
        elif media == OCTET:
            out.append((media, syntax or ts.EXPLICIT_LE))
        elif media.startswith(("image/", "video/")):
            out.append((media, syntax))
    if not out:
        raise not_acceptable(f"cannot answer frames with any of: {accept}; frames are multipart/related with "
                             f"{OCTET} or image/jpeg, image/jls, image/jp2, image/dicom-rle parts")
    return out


def _candidates(media: str, want: str, stored: str) -> list[str]:
    """Transfer syntaxes that satisfy one Accept entry, best first."""
    if media == "*":
        if want == "*":
            return [stored, ts.EXPLICIT_LE]
        return [want]
    if media == OCTET:
        return [stored] if want == "*" else [want]
    if want and want != "*":
        return [want] if FRAME_MEDIA.get(want) == media else []
    if media == "image/*":
        return ([stored] if ts.is_encapsulated(stored) else []) + [ts.JPEG_LOSSLESS_SV1]
    out = [stored] if FRAME_MEDIA.get(stored) == media else []
    if media in MEDIA_DEFAULT and MEDIA_DEFAULT[media] not in out:
        out.append(MEDIA_DEFAULT[media])
    return out


# -- frames ------------------------------------------------------------------------------------
def frame_count(ds: Dataset) -> int:
    return Geometry.of(ds).frames


def frames_of(ds: Dataset, numbers: list[int], accept: list[tuple[str, str]],
              quality: int = 95) -> list[tuple[str, bytes]]:
    """(part content type, bytes) for each requested frame (1-based) of a data set read
    from a stored file (NKI data is expanded here)."""
    ds = codec.readable(ds)
    if "PixelData" not in ds:
        raise not_found("this instance has no pixel data")
    g = Geometry.of(ds)
    for n in numbers:
        if n > g.frames:
            raise not_found(f"frame {n} does not exist; the instance has {g.frames} frame(s)")
    stored = codec_pixels.transfer_syntax(ds)
    reasons: list[str] = []
    tried: set[str] = set()
    for media, want in accept:
        for target in _candidates(media, want, stored):
            if target in tried:
                continue
            tried.add(target)
            try:
                answer = _frames_as(ds, g, stored, target, numbers, quality)
            except codec.CodecError as exc:
                reasons.append(f"{ts.name(target)}: {exc}")
                continue
            if answer is not None:
                return answer
            reasons.append(f"{ts.name(target)}: not offered for this instance")
    detail = "; ".join(reasons) if reasons else "no frame media type in Accept matches"
    raise not_acceptable(f"the frames are stored as {ts.name(stored)}; cannot deliver them as asked ({detail})")


def _frames_as(ds: Dataset, g: Geometry, stored: str, target: str, numbers: list[int],
               quality: int) -> list[tuple[str, bytes]] | None:
    if target in NATIVE_TARGETS:
        label = ts.EXPLICIT_BE if target == ts.EXPLICIT_BE else ts.EXPLICIT_LE
        return [(f"{OCTET}; transfer-syntax={label}", data)
                for data in native_frames(ds, g, stored, numbers, big_endian=target == ts.EXPLICIT_BE)]
    row = ts.syntax(target)
    if row is None or not row.encapsulated:
        return None
    if target == stored and stored_frames_fit(g.photometric, g.samples, stored):
        return _fragments(ds, g, stored, numbers)
    if not (encodable(target) and decodable(stored) and fits(target, g.bits_stored, g.bits_allocated)):
        return None
    if g.photometric == "PALETTE COLOR":
        raise codec.CodecError("PALETTE COLOR frames are offered as stored and uncompressed only")
    work = copy.deepcopy(ds)
    _keep_frames(work, g, numbers)            # decoded as the native frames are (one decoder for both)
    numbers = list(range(1, len(numbers) + 1))
    codec.decompress(work)
    work = codec.transcode(work, target, quality=quality)
    return _fragments(work, Geometry.of(work), target, numbers)


def _fragments(ds: Dataset, g: Geometry, syntax: str, numbers: list[int]) -> list[tuple[str, bytes]]:
    frames = list(generate_frames(ds.PixelData, number_of_frames=g.frames))
    media = FRAME_MEDIA.get(syntax, OCTET)
    return [(f"{media}; transfer-syntax={syntax}", frames[n - 1]) for n in numbers]


def _keep_frames(ds: Dataset, g: Geometry, numbers: list[int]) -> None:
    """Reduce a data set to the requested frames, decoded as :func:`native_frames`
    decodes them, before transcoding them."""
    picked = native_frames(ds, g, codec_pixels.transfer_syntax(ds), numbers)
    codec_pixels.set_transfer_syntax(ds, ts.EXPLICIT_LE)
    ds.PixelData = b"".join(picked)
    ds["PixelData"].VR = "OB" if g.bits_allocated <= 8 else "OW"
    ds["PixelData"].is_undefined_length = False
    if g.samples == 3:
        if g.photometric.startswith("YBR"):
            ds.PhotometricInterpretation = "RGB"
        ds.PlanarConfiguration = 0
    if "NumberOfFrames" in ds or len(numbers) > 1:
        ds.NumberOfFrames = len(numbers)


def native_frames(ds: Dataset, g: Geometry, stored: str, numbers: list[int], big_endian: bool = False) -> list[bytes]:
    """Uncompressed frames (little endian unless asked), RGB for YBR colour data."""
    plain = stored in (ts.IMPLICIT_LE, ts.EXPLICIT_LE) and not big_endian and g.bits_allocated % 8 == 0
    if plain and not (g.samples == 3 and g.photometric.startswith("YBR")):
        size = g.rows * g.columns * g.samples * g.bits_allocated // 8
        data = ds.PixelData
        return [bytes(data[(n - 1) * size:n * size]) for n in numbers]
    out = []
    for n in numbers:
        arr = decoded_frame(ds, n - 1)
        if g.bits_allocated == 1:
            out.append(np.packbits(arr.astype(np.uint8).ravel(), bitorder="little").tobytes())
            continue
        dtype = arr.dtype.newbyteorder(">") if big_endian else arr.dtype.newbyteorder("<")
        out.append(np.ascontiguousarray(arr).astype(dtype).tobytes())
    return out


def decoded_frame(ds: Dataset, index: int) -> np.ndarray:
    """One frame (0-based) decoded, YBR colour as RGB, without decoding the others."""
    stored = codec_pixels.transfer_syntax(ds)
    try:
        decoder = decoder_for(stored if ts.syntax(stored) else ts.EXPLICIT_LE)
        arr, _meta = decoder.as_array(ds, index=index, as_rgb=True)
        return arr
    except Exception:                     # some plugins fail on some data: the codec tries them all
        try:
            return codec.decode_frames(ds)[index]
        except codec.CodecError as exc:
            raise HTTPProblem(500, f"frame {index + 1} could not be decoded: {exc}")


def parse_frame_list(text: str) -> list[int]:
    frames = []
    for item in text.split(","):
        item = item.strip()
        if not item.isdigit() or int(item) < 1:
            raise HTTPProblem(400, f"frame numbers are positive integers separated by commas, not '{text}'")
        frames.append(int(item))
    return frames
