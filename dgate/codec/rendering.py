"""Images for people: GIF, BMP, JPEG and PNG renderings of an object as the original
draws them (``To8bitMonochromeOrRGB``, ``ToGif``, ``ToBMP``, ``ToJPG``, nkiqrsop.cpp).

The mapping to 8 bits follows the original so that pages look the same:

* one frame (``frame``, 0-based; out of range → the first) is drawn, downsized by
  keeping every n-th pixel to fit ``size`` (0 = full size);
* 16/32-bit grey values: with a window (given, or from Window Center/Width) each value
  becomes ``255 * (v - level + window/2) / window`` clipped to 0..255; Rescale Intercept
  is taken off the level when the slope is 1. Without any window, CT values are shifted
  by intercept + 1024 and others kept, clipped to the stored range, divided by
  2^(BitsStored-8) (GIF) or 8 (BMP/JPEG), and images whose maximum is below 1024 or
  above 4095 are scaled by max/256 instead;
* MONOCHROME1 is inverted (not for 8-bit GIF output, as in the original); colour
  becomes grey (mean of R, G, B) in GIF;
* GIF is 8-bit grey, animated over all frames when ``frame`` > 10000 (rate
  ``frame % 100`` frames per second); BMP is 24-bit bottom-up with its width cut to a
  multiple of 4; JPEG is RGB at quality 95; PNG (for the web) is grey or RGB.
"""
from __future__ import annotations

import io
import math
import struct

import numpy as np
from pydicom.dataset import Dataset

from .counters import NULL, CounterSink
from .errors import CodecError, reported
from .pixels import Geometry, frames, sop_of
from .recompression import decompress
from .resize import extract_frames, number_of_frames

GIF, BMP, JPEG, PNG = "gif", "bmp", "jpg", "png"
FORMATS = {"gif": GIF, "bmp": BMP, "jpg": JPEG, "jpeg": JPEG, "png": PNG}
MEDIA_TYPES = {GIF: "image/gif", BMP: "image/bmp", JPEG: "image/jpeg", PNG: "image/png"}


def _text_number(ds: Dataset, tag: int) -> float | None:
    if tag not in ds:
        return None
    value = ds[tag].value
    if isinstance(value, (list, tuple)) or (hasattr(value, "__len__") and not isinstance(value, (str, bytes))):
        value = value[0] if len(value) else ""
    try:
        return float(str(value).strip() or 0)
    except ValueError:
        return 0.0


def _c_round(x: float) -> int:
    """``(int)(x + 0.5)`` in C (truncation toward zero)."""
    return math.trunc(x + 0.5)


def _c_div(a: np.ndarray, b: int) -> np.ndarray:
    """C integer division (truncates toward zero)."""
    q = np.abs(a) // abs(b)
    return np.where((a < 0) != (b < 0), -q, q)


def to_8bit(ds: Dataset, size: int = 0, level: int = 0, window: int = 0, frame: int = 0,
            rgb: bool = False, fixed_scale: bool = False, width_by_4: bool = False,
            counters: CounterSink = NULL, gamma: float = 1.0) -> np.ndarray:
    """The picture as uint8, shaped (rows, columns) or (rows, columns, 3) with ``rgb``,
    top row first. ``fixed_scale`` is the BMP/JPEG variant of the no-window mapping
    (clip to 2047, divide by 8); ``width_by_4`` cuts the width to a multiple of 4 (BMP).
    ``gamma`` other than 1 maps grey i to 255·(i/255)^gamma (replacing, as in the
    original, the MONOCHROME1 inversion). ``ds`` is changed (decompressed, one frame kept)."""
    extract_frames(ds, frame)
    g = Geometry.of(ds)
    photometric = g.photometric
    lut = np.arange(256, dtype=np.int64)
    if photometric == "MONOCHROME1":
        lut = 255 - lut
    if gamma != 1:
        steps = (np.arange(256, dtype=np.float32) / np.float32(255)).astype(np.float64)   # C: (float)i/255
        lut = (255.0 * np.power(steps, float(np.float32(gamma))) + 0.5).astype(np.int64)   # pow in double
    if not window:
        lv, wv = _text_number(ds, 0x00281050), _text_number(ds, 0x00281051)
        if lv is not None:
            level = _c_round(lv)
        if wv is not None:
            window = _c_round(wv)
    val_max, val_div = 2047, 8
    if not window:
        bits = (g.bits_stored & 0xFF) or 11
        val_max, val_div = (1 << bits) - 1, 1 << max(0, bits - 8)
    if fixed_scale:
        val_max, val_div = 2047, 8
    if g.rows * g.columns == 0:
        raise CodecError("image has no rows or columns", sop_of(ds))
    offset = 0
    if 0x00281052 in ds:
        intercept = int(_text_number(ds, 0x00281052) or 0)
        slope = _text_number(ds, 0x00281053)
        slope = 1.0 if slope is None else slope
        if not window and 0.999 < slope < 1.001:
            if str(ds.get("Modality", "")).strip() == "CT":
                offset = intercept + 1024
        elif 0.999 < slope < 1.001:
            level -= intercept
    max_side = size if size else 16384
    side = g.rows if g.rows >= g.columns else g.columns
    factor = max(1, -(-side // max_side))
    decompress(ds, counters)
    g = Geometry.of(ds)
    arr = frames(ds, as_rgb=True)[0]
    if g.bits_allocated == 1:
        arr = arr.astype(np.uint8) * 255
    new_rows, new_columns = max(1, g.rows // factor), max(1, g.columns // factor)
    if width_by_4 and new_columns & 3:
        new_columns &= ~3                   # BMP rows: a multiple of 4 pixels
    arr = arr[::factor, ::factor][:new_rows, :new_columns]
    if arr.ndim == 3:
        if arr.dtype.itemsize > 1:
            arr = (arr.astype(np.int64) >> max(0, g.bits_stored - 8)).clip(0, 255)
        arr = arr.astype(np.int64)
        if rgb:
            return lut[arr].astype(np.uint8)
        return ((lut[arr[..., 0]] + lut[arr[..., 1]] + lut[arr[..., 2]]) // 3).astype(np.uint8)
    values = arr.astype(np.int64)
    if g.bits_allocated <= 8:
        out = values.clip(0, 255)
        out = lut[out] if rgb else out
    else:
        raw_top = max(1, int(values.max(initial=1)))
        if g.bits_allocated == 16:
            values = values.astype(np.int16).astype(np.int64) if not g.signed else values
            values = values + offset
            if not g.signed:
                values = values & 0xFFFF
        else:
            values = values + offset
        if window:
            out = _c_div(255 * (values - level + math.trunc(window / 2)), window).clip(0, 255)
        elif g.bits_allocated == 16:
            top = int(values.max(initial=0))
            out = (values.clip(0, val_max)) // val_div
            if top < 1024 or top > 4095:
                scale = int(top / 256.0 + 0.5) or 1
                out = _c_div(values, scale).clip(0, 255)
        else:
            out = _c_div(255 * values, raw_top).clip(0, 255)
        out = lut[out.astype(np.int64)]
    out = out.astype(np.uint8)
    return np.repeat(out[..., None], 3, axis=-1) if rgb else out


def _working_copy(obj) -> Dataset:
    if isinstance(obj, Dataset):
        import copy
        return copy.deepcopy(obj)
    return obj.dataset()


@reported
def render(obj, format: str = GIF, *, frame: int = 0, size: int = 0, level: int = 0, window: int = 0,
           quality: int = 95, counters: CounterSink = NULL, gamma: float = 1.0) -> bytes:
    """The image file of a Dataset or encoded object (it is not changed). ``gamma`` applies
    to BMP, JPEG and PNG (the original's GIF ignores it).

    ``format``: gif, bmp, jpg/jpeg or png. ``frame`` > 10000 makes an animated GIF of all
    frames at ``frame % 100`` frames per second. Decompressions are counted in
    ``counters`` as the original counts them. Raises :class:`CodecError`."""
    kind = FORMATS.get(format.lower().lstrip("."))
    if kind is None:
        raise CodecError(f"unknown image format {format}")
    source = _working_copy(obj)
    if not ("PixelData" in source or 0x7FDF0010 in source):
        raise CodecError("object has no pixel data", sop_of(source))
    # GIF: 1.5.0e's ToGif does not pass gamma on
    if kind == GIF and frame > 10000 and number_of_frames(source) > 1:
        return _animated_gif(source, size, level, window, frame % 100 or 1, counters)
    if kind == GIF:
        return _gif([to_8bit(source, size, level, window, frame, counters=counters)])
    if kind == BMP:
        return bmp(to_8bit(source, size, level, window, frame, rgb=True, fixed_scale=True, width_by_4=True,
                           counters=counters, gamma=gamma))
    picture = to_8bit(source, size, level, window, frame, rgb=True, fixed_scale=True, counters=counters,
                      gamma=gamma)
    if kind == JPEG:
        return _pillow(picture, "JPEG", quality=quality)
    g = Geometry.of(source)
    if g.samples == 1:
        picture = picture[..., 0]
    return _pillow(picture, "PNG")


def _pillow(picture: np.ndarray, fmt: str, **options) -> bytes:
    from PIL import Image
    out = io.BytesIO()
    Image.fromarray(picture, "RGB" if picture.ndim == 3 else "L").save(out, fmt, **options)
    return out.getvalue()


def _gif(pictures: list[np.ndarray], delay_ms: int = 0) -> bytes:
    from PIL import Image
    images = [Image.fromarray(p, "L") for p in pictures]
    out = io.BytesIO()
    if len(images) == 1:
        images[0].save(out, "GIF", comment=b"ConquestDICOMServer")
    else:
        images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=delay_ms, loop=65535)
    return out.getvalue()


def _animated_gif(source: Dataset, size: int, level: int, window: int, rate: int, counters: CounterSink) -> bytes:
    import copy
    count = number_of_frames(source)
    pictures = [to_8bit(copy.deepcopy(source), size, level, window, index, counters=counters)
                for index in range(count)]
    return _gif(pictures, delay_ms=10 * (100 // rate))


def bmp(picture: np.ndarray) -> bytes:
    """24-bit BMP, bottom-up, with the header fields the original writes."""
    rows, columns = picture.shape[:2]
    data = np.ascontiguousarray(picture[::-1, :, ::-1]).tobytes()
    header = struct.pack("<2sIHHIIiiHHIIiiII", b"BM", len(data) + 54, 0, 0, 54, 40, columns, rows, 1, 24, 0,
                         len(data), 0x0ECE, 0x0ECE, 0, 0)
    return header + data
