"""The colour fixes the original applies whenever it decompresses (``DecompressImage``,
nkiqrsop.cpp): PALETTE COLOR → RGB (``DecodePalette``, counted as "Palettes removed"),
planar colour → interleaved (``DePlane``, "Planes removed") and native YBR_FULL → RGB
(``DeYBRFULL``, also counted as "Palettes removed").

They work on native pixel data; the result is Explicit VR Little Endian when the input was
big endian.
"""
from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset

from . import syntaxes as ts
from .counters import NULL, CounterSink
from .errors import CodecError, is_library_failure
from .pixels import Geometry, _set_native, frames, set_transfer_syntax, sop_of, transfer_syntax

PALETTE_TAGS = (0x00281100, 0x00281101, 0x00281102, 0x00281103, 0x00281199, 0x00281200, 0x00281201,
                0x00281202, 0x00281203, 0x00281220, 0x00281221, 0x00281222, 0x00281223)


def _store(ds: Dataset, arr: np.ndarray, bits: int) -> None:
    data = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
    _set_native(ds, data, bits)
    if transfer_syntax(ds) == ts.EXPLICIT_BE:
        set_transfer_syntax(ds, ts.EXPLICIT_LE)


def is_palette(ds: Dataset) -> bool:
    return str(ds.get("PhotometricInterpretation", "")).strip() == "PALETTE COLOR"


def depalette(ds: Dataset, counters: CounterSink = NULL) -> bool:
    """PALETTE COLOR → RGB (8 bits per sample, or 16 when the 16-bit table entries use both
    bytes, as ``DecodePalette`` decides from the red table: 8-bit when one byte of every
    entry is zero, or, for segmented tables, when both bytes are equal); palette elements
    removed."""
    from pydicom.pixels.processing import apply_color_lut

    g = Geometry.of(ds)
    if not is_palette(ds) or g.samples != 1 or "PixelData" not in ds:
        return False
    if ts.is_encapsulated(transfer_syntax(ds)):
        return False
    try:
        indices = frames(ds, as_rgb=False)
        rgb = apply_color_lut(indices, ds)
    except CodecError:
        raise
    except BaseException as exc:
        if not is_library_failure(exc):
            raise
        raise CodecError(f"palette cannot be applied: {exc}", sop_of(ds), "PALETTE COLOR") from None
    bits = 8
    if rgb.dtype.itemsize > 1:
        red = rgb[..., 0]
        if 0x00281221 in ds and ((red >> 8) == (red & 0xFF)).all():
            rgb = (rgb & 0xFF).astype(np.uint8)     # segmented 8-bit values written as 0x0101 * v
        elif not (red & 0xFF).any():
            rgb = (rgb >> 8).astype(np.uint8)
        elif not (red >> 8).any():
            rgb = rgb.astype(np.uint8)
        else:
            rgb = rgb.astype(np.uint16)
            bits = 16
    else:
        rgb = rgb.astype(np.uint8)
    _store(ds, rgb, bits)
    for tag in PALETTE_TAGS:
        if tag in ds:
            del ds[tag]
    ds.PhotometricInterpretation = "RGB"
    ds.SamplesPerPixel = 3
    ds.PlanarConfiguration = 0
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    counters.add("palettes")
    return True


def deplane(ds: Dataset, counters: CounterSink = NULL) -> bool:
    """Planar colour (Planar Configuration 1) → colour-by-pixel."""
    g = Geometry.of(ds)
    if g.samples != 3 or g.planar != 1 or "PixelData" not in ds or ts.is_encapsulated(transfer_syntax(ds)):
        return False
    arr = frames(ds, as_rgb=False)
    _store(ds, arr, g.bits_allocated)
    ds.PlanarConfiguration = 0
    counters.add("planes")
    return True


def ybr_full_to_rgb(ds: Dataset, counters: CounterSink = NULL) -> bool:
    """Native 8-bit YBR_FULL → RGB with the original's arithmetic (truncated, clipped)."""
    g = Geometry.of(ds)
    if g.photometric != "YBR_FULL" or g.samples != 3 or g.bits_allocated != 8 or "PixelData" not in ds:
        return False
    if ts.is_encapsulated(transfer_syntax(ds)):
        return False
    ybr = frames(ds, as_rgb=False).astype(np.float64)
    y, cb, cr = ybr[..., 0], ybr[..., 1] - 128, ybr[..., 2] - 128
    rgb = np.stack((y + 1.40200 * cr, y - 0.34414 * cb - 0.71414 * cr, y + 1.77200 * cb), axis=-1)
    rgb = np.clip(np.trunc(rgb), 0, 255).astype(np.uint8)
    _store(ds, rgb, 8)
    ds.PhotometricInterpretation = "RGB"
    counters.add("palettes")
    return True


def normalise(ds: Dataset, counters: CounterSink = NULL) -> bool:
    """All three fixes, in the original's order; True if anything changed."""
    changed = depalette(ds, counters)
    changed = deplane(ds, counters) or changed
    return ybr_full_to_rgb(ds, counters) or changed


def needs_normalising(ds: Dataset) -> bool:
    """Cheap header test: would :func:`normalise` change this (native) object?"""
    g = Geometry.of(ds)
    return is_palette(ds) or (g.samples == 3 and g.planar == 1) or (g.photometric == "YBR_FULL"
                                                                    and g.bits_allocated == 8)
