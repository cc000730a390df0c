"""Downsizing, scale/clip and frame extraction (``MaybeDownsize``, ``ScaleClip``,
``ExtractFrame(s)``, nkiqrsop.cpp).

* downsizing keeps every n-th pixel of every n-th row, n = ceil(larger side / size), and
  scales Pixel Spacing accordingly (``k1`` … ``kc``, ``convert_to_dicom`` sizes);
* scale/clip sets 16-bit values below ``clip`` to 0, divides by ``factor`` (rounding as
  C integer division of ``v + factor/2``) and multiplies Rescale Slope (``j#``/``n#``);
* frame extraction keeps one frame or a range (every ``skip``-th) of a multi-frame object,
  native or encapsulated (fragments are copied, nothing is re-encoded).
"""
from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset

from . import syntaxes as ts
from .counters import NULL, CounterSink
from .pixels import Geometry, _set_native, expand_nki, frames, set_transfer_syntax, transfer_syntax


def _factor(rows: int, columns: int, size: int) -> int:
    side = rows if rows >= columns else columns
    return max(1, -(-side // size))


def needs_downsize(ds: Dataset, size: int) -> bool:
    """``TestDownsize``: would an image of this size be made smaller?"""
    g = Geometry.of(ds)
    return size > 0 and g.rows * g.columns > 0 and (g.rows > size or g.columns > size)


def downsize(ds: Dataset, size: int, counters: CounterSink = NULL) -> bool:
    """Make the (native) image fit in ``size`` × ``size``; True if it was downsized.

    Unlike the original, images without Pixel Spacing and multi-frame images are
    downsized too (the original silently left them as they were)."""
    if not needs_downsize(ds, size) or "PixelData" not in ds:
        return False
    g = Geometry.of(ds)
    factor = _factor(g.rows, g.columns, size)
    new_rows, new_columns = max(1, g.rows // factor), max(1, g.columns // factor)
    arr = frames(ds, as_rgb=False)
    small = np.ascontiguousarray(arr[:, ::factor, ::factor][:, :new_rows, :new_columns])
    _set_native(ds, small.astype(small.dtype.newbyteorder("<"), copy=False).tobytes(), g.bits_allocated)
    if transfer_syntax(ds) == ts.EXPLICIT_BE:
        set_transfer_syntax(ds, ts.EXPLICIT_LE)
    if g.samples > 1:
        ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = new_rows, new_columns
    spacing = ds.get("PixelSpacing")
    if spacing is not None:
        values = [float(v) for v in (spacing if isinstance(spacing, (list, tuple)) or hasattr(spacing, "__len__")
                                     and not isinstance(spacing, str) else [spacing])]
        if values:
            row_spacing = values[0] * g.rows / new_rows
            column_spacing = (values[1] if len(values) > 1 else values[0]) * g.columns / new_columns
            ds.PixelSpacing = [f"{row_spacing:g}", f"{column_spacing:g}"] if len(values) > 1 else f"{row_spacing:g}"
    counters.add("downsize")
    return True


def scale_clip(ds: Dataset, factor: int, clip: int) -> bool:
    """``ScaleClip`` on 16-bit native data; True if applied."""
    g = Geometry.of(ds)
    if factor == 0 or g.bits_allocated != 16 or g.samples != 1 or "PixelData" not in ds:
        return False
    arr = frames(ds, as_rgb=False).astype(np.int64)
    if not g.signed:
        arr = arr.astype(np.int16).astype(np.int64)      # the original works on signed shorts
    arr[arr < clip] = 0
    arr = np.trunc((arr + factor // 2) / factor).astype(np.int64)
    out = arr.astype(np.int16)
    if not g.signed:
        out = out.view(np.uint16)
    _set_native(ds, out.astype(out.dtype.newbyteorder("<"), copy=False).tobytes(), 16)
    if transfer_syntax(ds) == ts.EXPLICIT_BE:
        set_transfer_syntax(ds, ts.EXPLICIT_LE)
    if "RescaleSlope" in ds:
        try:
            ds.RescaleSlope = f"{float(ds.RescaleSlope) * factor:.2f}"
        except (TypeError, ValueError):
            pass
    return True


def number_of_frames(ds: Dataset) -> int:
    try:
        return int(str(ds.get("NumberOfFrames", "0") or "0").strip() or 0)
    except ValueError:
        return 0


def extract_frames(ds: Dataset, first: int, last: int | None = None, skip: int = 1) -> bool:
    """Keep frames ``first`` .. ``last`` (0-based, inclusive, every ``skip``-th) of a
    multi-frame object; ``last=None`` keeps one frame. False if there is nothing to do."""
    count = number_of_frames(ds)
    if count <= 1 or first < 0 or first >= count:
        return False
    last = first if last is None else min(last, count - 1)
    if last < first:
        last = first
    chosen = list(range(first, last + 1, max(1, skip)))
    expand_nki(ds)
    if "PixelData" not in ds:
        return False
    uid = transfer_syntax(ds)
    if ts.is_encapsulated(uid):
        from pydicom.encaps import encapsulate, generate_frames
        all_frames = list(generate_frames(ds.PixelData, number_of_frames=count))
        if max(chosen) >= len(all_frames):
            return False
        ds.PixelData = encapsulate([all_frames[i] for i in chosen], has_bot=len(chosen) > 1)
        ds["PixelData"].is_undefined_length = True
    else:
        g = Geometry.of(ds)
        size = g.frame_bytes
        data = bytes(ds.PixelData)
        if size * count > len(data):
            return False
        _set_native(ds, b"".join(data[i * size:(i + 1) * size] for i in chosen), g.bits_allocated)
    ds._pixel_array = None
    ds.NumberOfFrames = len(chosen)
    if 0x200D3016 in ds:
        del ds[0x200D3016]                       # Philips private pixel data goes with the frames
    return True
