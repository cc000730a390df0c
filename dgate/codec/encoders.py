"""Pixel data encoders, one per target transfer syntax (PS3.5 §8.2, Annex A.4, Annex G).

:data:`ENCODERS` maps a transfer syntax UID to a function that turns one frame (numpy
array, rows × columns [× samples]) into one encoded fragment. :func:`encode` runs it over
all frames of a native data set and encapsulates the result (PS3.5 A.4, with a Basic
Offset Table), then sets the Image Pixel elements the new syntax requires:

================ ======================= ========================== =====================
syntax           library                  colour                     lossy marks
================ ======================= ========================== =====================
JPEG .50/.51     imagecodecs (turbo)      RGB → YBR_FULL_422 (4:2:2) 0028,2110/2112/2114
JPEG .55         Pillow (progressive)     RGB → YBR_FULL_422         idem
JPEG .57/.70     imagecodecs, lossless    unchanged (no colour       —
                                          transform)
JPEG-LS .80/.81  pyjpegls (CharLS),       unchanged, interleaved     .81 with NEAR > 0
                 imagecodecs fallback
J2K .90/.91      pylibjpeg-openjpeg       RGB → YBR_RCT / YBR_ICT    .91 with a ratio > 1
RLE .5           pylibjpeg-rle            unchanged                  —
================ ======================= ========================== =====================

Precision follows Bits Stored (JPEG: 8 or 12 bits lossy, 2–16 lossless); signed values are
coded as their two's complement in Bits Stored bits, as decoders expect (PS3.5 8.2.1).
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Callable

import numpy as np
from pydicom.dataset import Dataset

from . import syntaxes as ts
from .counters import NULL, CounterSink, family_counter
from .errors import CodecError, is_library_failure
from .pixels import Geometry, frames, set_transfer_syntax, sop_of
from .pixels import transfer_syntax as pixels_ts


@dataclass
class Params:
    """What an encoder may be asked for."""

    quality: int = 95          # JPEG lossy quality 1..100
    near: int = 0              # JPEG-LS NEAR
    ratio: float = 0.0         # J2K compression ratio (0 = lossless coding)
    predictor: int = 1         # JPEG lossless predictor


@dataclass
class Frame:
    """One frame to encode with what the encoder must know about it."""

    pixels: np.ndarray
    geometry: Geometry
    photometric: str
    coded_lossless: bool = False   # set by an encoder that had to fall back to lossless coding


Encoder = Callable[[Frame, Params], bytes]


def _unsigned(frame: Frame, precision: int) -> np.ndarray:
    """Pixel values as unsigned integers of ``precision`` bits (two's complement when signed)."""
    arr = frame.pixels
    container = np.uint8 if precision <= 8 else np.uint16
    if arr.dtype.kind == "i":
        arr = arr.view(arr.dtype.str.replace("i", "u"))
    mask = (1 << precision) - 1
    return np.ascontiguousarray((arr & mask).astype(container))


def _jpeg_precision(g: Geometry, lossy: bool) -> int:
    if g.bits_allocated > 16 or g.bits_stored > 16:
        raise CodecError(f"JPEG cannot hold {g.bits_stored}-bit data")
    if g.bits_allocated < 8:
        raise CodecError("JPEG compression skipped for <8 bits data")
    if lossy:
        return 8 if g.bits_stored <= 8 else 12
    return max(2, g.bits_stored)


def _color_kwargs(frame: Frame, lossy: bool) -> dict:
    if frame.geometry.samples != 3:
        return {}
    if lossy:
        return {"colorspace": "RGB", "outcolorspace": "YCBCR", "subsampling": "422"}
    return {"colorspace": "RGB", "outcolorspace": "RGB"}


def jpeg_baseline(frame: Frame, params: Params) -> bytes:
    """Process 1: 8-bit lossy."""
    if _jpeg_precision(frame.geometry, lossy=True) != 8:
        raise CodecError(f"JPEG Baseline holds 8-bit data, not {frame.geometry.bits_stored}-bit")
    return jpeg_lossy(frame, params)


def jpeg_extended(frame: Frame, params: Params) -> bytes:
    """Processes 2 and 4: 8- or 12-bit lossy."""
    if frame.geometry.bits_stored > 12:
        raise CodecError(f"JPEG Extended holds up to 12 bits, not {frame.geometry.bits_stored}")
    return jpeg_lossy(frame, params)


def jpeg_lossy(frame: Frame, params: Params) -> bytes:
    import imagecodecs
    precision = _jpeg_precision(frame.geometry, lossy=True)
    arr = _unsigned(frame, precision)
    return bytes(imagecodecs.jpeg8_encode(arr, level=params.quality, bitspersample=precision,
                                          **_color_kwargs(frame, True)))


def jpeg_progressive(frame: Frame, params: Params) -> bytes:
    """8-bit full progression (Process 10) through Pillow's libjpeg."""
    from PIL import Image
    if _jpeg_precision(frame.geometry, lossy=True) != 8:
        raise CodecError("progressive JPEG is only available for 8-bit data")
    arr = _unsigned(frame, 8)
    image = Image.fromarray(arr, "RGB" if frame.geometry.samples == 3 else "L")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=params.quality, progressive=True, subsampling=1)
    return out.getvalue()


def jpeg_lossless(frame: Frame, params: Params) -> bytes:
    import imagecodecs
    precision = _jpeg_precision(frame.geometry, lossy=False)
    arr = _unsigned(frame, precision)
    return bytes(imagecodecs.jpeg8_encode(arr, lossless=True, predictor=params.predictor,
                                          bitspersample=precision, **_color_kwargs(frame, False)))


def jpegls(frame: Frame, params: Params) -> bytes:
    g = frame.geometry
    if g.bits_stored > 16 or g.bits_allocated > 16:
        raise CodecError(f"JPEG-LS cannot hold {g.bits_stored}-bit data")
    precision = max(2, g.bits_stored)
    arr = _unsigned(frame, precision)
    try:
        import jpeg_ls  # type: ignore[import-untyped]
        return bytes(jpeg_ls.encode_buffer(arr.tobytes(), g.rows, g.columns, g.samples, precision,
                                           lossy_error=params.near,
                                           interleave_mode=2 if g.samples > 1 else None))
    except Exception:
        # pyjpegls missing, or CharLS's output buffer too small for tiny images
        import imagecodecs
        return bytes(imagecodecs.jpegls_encode(arr, level=params.near))


def jpeg2000(frame: Frame, params: Params) -> bytes:
    import openjpeg
    g = frame.geometry
    if g.bits_stored > 24:
        raise CodecError(f"JPEG 2000 coding of {g.bits_stored}-bit data is not supported")
    arr = np.ascontiguousarray(frame.pixels)
    if arr.dtype.itemsize > 2 and g.bits_stored <= 16:
        arr = arr.astype(np.int16 if g.signed else np.uint16)
    if arr.dtype.kind == "u":
        arr = arr & ((1 << g.bits_stored) - 1)
    rgb = g.samples == 3 and frame.photometric == "RGB"
    if min(g.rows, g.columns) < 64:
        # openjpeg's fixed 6 resolution levels need at least 64 pixels a side: code these
        # small images losslessly with fewer levels
        import imagecodecs
        frame.coded_lossless = True
        levels = max(1, min(6, int(np.log2(max(1, min(g.rows, g.columns))))))
        return bytes(imagecodecs.jpeg2k_encode(arr, codecformat="j2k", reversible=True, resolutions=levels,
                                               mct=rgb, bitspersample=g.bits_stored))
    kwargs: dict = {"bits_stored": g.bits_stored, "use_mct": rgb,
                    "photometric_interpretation": 1 if rgb else (2 if g.samples == 1 else 0)}
    if params.ratio > 1:
        kwargs["compression_ratios"] = [params.ratio]
    return bytes(openjpeg.encode(arr, **kwargs))


def rle(frame: Frame, params: Params) -> bytes:
    import rle as pyrle
    g = frame.geometry
    arr = np.ascontiguousarray(frame.pixels)
    if arr.dtype.itemsize * 8 != g.bits_allocated:
        arr = arr.astype(f"<{'i' if g.signed else 'u'}{g.bits_allocated // 8}")
    return bytes(pyrle.encode_pixel_data(arr.astype(arr.dtype.newbyteorder("<")).tobytes(), rows=g.rows,
                                         columns=g.columns, samples_per_pixel=g.samples,
                                         bits_allocated=g.bits_allocated, byteorder="<"))


ENCODERS: dict[str, Encoder] = {
    ts.JPEG_BASELINE: jpeg_baseline,
    ts.JPEG_EXTENDED: jpeg_extended,
    ts.JPEG_PROGRESSIVE: jpeg_progressive,
    ts.JPEG_LOSSLESS: jpeg_lossless,
    ts.JPEG_LOSSLESS_SV1: jpeg_lossless,
    ts.JPEGLS_LOSSLESS: jpegls,
    ts.JPEGLS_NEAR: jpegls,
    ts.J2K_LOSSLESS: jpeg2000,
    ts.J2K: jpeg2000,
    ts.RLE: rle,
}

# the (0028,2114) Lossy Image Compression Method of each lossy result (PS3.3 C.7.6.1.1.5.1)
METHODS = {ts.JPEG_BASELINE: "ISO_10918_1", ts.JPEG_EXTENDED: "ISO_10918_1", ts.JPEG_PROGRESSIVE: "ISO_10918_1",
           ts.JPEGLS_NEAR: "ISO_14495_1", ts.J2K: "ISO_15444_1"}


def _photometric_after(uid: str, g: Geometry, photometric: str, params: Params) -> str:
    if g.samples != 3:
        return photometric
    if uid in (ts.JPEG_BASELINE, ts.JPEG_EXTENDED, ts.JPEG_PROGRESSIVE):
        return "YBR_FULL_422"
    if uid in (ts.J2K_LOSSLESS, ts.J2K) and photometric == "RGB":
        return "YBR_ICT" if params.ratio > 1 else "YBR_RCT"
    return photometric


def is_lossy(uid: str, params: Params) -> bool:
    if uid in (ts.JPEG_BASELINE, ts.JPEG_EXTENDED, ts.JPEG_PROGRESSIVE, ts.JPEG_SPECTRAL):
        return True
    if uid == ts.JPEGLS_NEAR:
        return params.near > 0
    if uid == ts.J2K:
        return params.ratio > 1
    return False


_MASKING = frozenset({ts.JPEG_BASELINE, ts.JPEG_EXTENDED, ts.JPEG_PROGRESSIVE, ts.JPEG_LOSSLESS,
                      ts.JPEG_LOSSLESS_SV1, ts.JPEGLS_LOSSLESS, ts.JPEGLS_NEAR})


def _masked_view(ds: Dataset, g: Geometry, uid: str) -> np.ndarray | None:
    """The native little-endian grey pixel data as an array over the element's own bytes
    (no copy), for the encoders that mask every value to its precision themselves
    (:func:`_unsigned`): the decoder's sign correction of unused high bits changes nothing
    for them, and a large multi-frame object is not held twice. None when it does not apply."""
    from .pixels import has_nki
    if uid not in _MASKING or g.samples != 1 or g.bits_allocated not in (8, 16) or has_nki(ds):
        return None
    if pixels_ts(ds) not in (ts.EXPLICIT_LE, ts.IMPLICIT_LE):
        return None
    value = ds["PixelData"].value if "PixelData" in ds else None
    count = g.frames * g.rows * g.columns
    itemsize = g.bits_allocated // 8
    if not isinstance(value, bytes) or len(value) < count * itemsize or count == 0:
        return None
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    dtype = np.dtype(("<i" if signed else "<u") + str(itemsize))
    return np.frombuffer(value, dtype, count=count).reshape(g.frames, g.rows, g.columns)


def encode(ds: Dataset, uid: str, params: Params | None = None, counters: CounterSink = NULL) -> Dataset:
    """Encode the native pixel data of ``ds`` in transfer syntax ``uid``, in place.

    Raises :class:`CodecError` when the syntax cannot hold the data (e.g. 16-bit data as
    JPEG Baseline) or the encoder fails; ``ds`` is then unchanged."""
    from pydicom.encaps import encapsulate

    params = params or Params()
    encoder = ENCODERS.get(uid)
    name = ts.name(uid)
    if encoder is None:
        raise CodecError(f"no encoder for {name}", sop_of(ds))
    g = Geometry.of(ds)
    if g.rows == 0 or g.columns == 0:
        raise CodecError("image has no rows or columns", sop_of(ds), name)
    lossy = is_lossy(uid, params)
    # lossy colour coding needs RGB samples; lossless codings store the samples as they are
    rgb = g.samples == 3 and (lossy or uid in (ts.J2K, ts.J2K_LOSSLESS))
    try:
        arr = _masked_view(ds, g, uid) if not rgb else None
        if arr is None:
            arr = frames(ds, as_rgb=rgb)
    except CodecError as exc:
        raise CodecError(exc.reason, sop_of(ds), name) from None
    photometric = "RGB" if rgb and g.photometric.startswith("YBR") else g.photometric
    fragments = []
    coded: list[Frame] = []
    try:
        for index in range(arr.shape[0]):
            coded.append(Frame(arr[index], g, photometric))
            fragments.append(encoder(coded[-1], params))
    except CodecError as exc:
        raise CodecError(exc.reason, sop_of(ds), name) from None
    except BaseException as exc:
        if not is_library_failure(exc):
            raise
        raise CodecError(f"encode failed: {exc}", sop_of(ds), name) from None
    if all(f.coded_lossless for f in coded):
        lossy = False
        params = Params(quality=100)
    original = int(arr.shape[0]) * g.frame_bytes
    encoded = encapsulate(fragments, has_bot=len(fragments) > 1)
    ds.PixelData = encoded
    elem = ds["PixelData"]
    elem.VR = "OB"
    elem.is_undefined_length = True
    ds._pixel_array = None
    ds._pixel_id = {}
    set_transfer_syntax(ds, uid)
    ds.PhotometricInterpretation = _photometric_after(uid, g, photometric, params)
    if g.samples > 1:
        ds.PlanarConfiguration = 0
    if lossy:
        mark_lossy(ds, original / max(1, sum(len(f) for f in fragments)), METHODS.get(uid, "ISO_10918_1"))
    if uid != ts.RLE:                          # the original counts RLE decompressions only
        counters.add(family_counter(ts.family(uid)))
    return ds


def mark_lossy(ds: Dataset, ratio: float | None, method: str | None) -> None:
    """Set Lossy Image Compression to ``01`` and add this step's ratio and method to the
    (multi-valued) ratio and method elements (PS3.3 C.7.6.1.1.5)."""
    earlier = str(ds.get("LossyImageCompression", "") or "") == "01"
    ds.LossyImageCompression = "01"
    if ratio is None or method is None:
        return
    text = f"{ratio:.2f}"[:16]
    ratios = list(_values(ds.get("LossyImageCompressionRatio"))) if earlier else []
    methods = list(_values(ds.get("LossyImageCompressionMethod"))) if earlier else []
    ds.LossyImageCompressionRatio = ratios + [text] if ratios else text
    ds.LossyImageCompressionMethod = methods + [method] if methods else method


def _values(value) -> list:
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)) or hasattr(value, "__iter__") and not isinstance(value, str):
        return [str(v) for v in value]
    return [str(value)]
