"""Pixel access from Lua: ``GetPixel/SetPixel``, ``GetRow/SetRow``, ``GetColumn/SetColumn``,
``GetImage/SetImage`` (conquest-lua-web.md §2.4).

Frames are 0-based; values are unsigned for 1- and 2-byte pixels as in dgate; rows and
columns come back as 0-based tables. NKI compressed pixel data is expanded in place first
(:func:`dgate.codec.readable`, as the original does); other compressed pixel data is
decoded in place by the codec (the original handles only NKI there, not JPEG). Nothing
is returned when Rows, Columns or PixelData are missing, or a coordinate is out of range.
"""
from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

from pydicom.dataset import Dataset

from .methods import LuaCallError

if TYPE_CHECKING:
    from .runtime import LuaState

_FORMATS = {1: "B", 2: "H", 4: "I"}


class _Geometry:
    def __init__(self, ds: Dataset):
        self.rows = int(ds.get("Rows", 0) or 0)
        self.columns = int(ds.get("Columns", 0) or 0)
        self.samples = int(ds.get("SamplesPerPixel", 1) or 1)
        self.bytes = max(1, int(ds.get("BitsAllocated", 16) or 16) // 8)
        self.frames = max(1, int(str(ds.get("NumberOfFrames", 1) or 1).strip() or 1))
        self.fmt = "<" + _FORMATS.get(self.bytes, "H")

    @property
    def frame_size(self) -> int:
        return self.rows * self.columns * self.samples * self.bytes

    def offset(self, x: int, y: int, frame: int) -> int:
        return frame * self.frame_size + ((y * self.columns) + x) * self.samples * self.bytes


def _readable(ds: Dataset) -> bool:
    """NKI private compression expanded in place (counted as the server counts it);
    False when the NKI data is broken."""
    from ..codec import CodecError, readable
    from ..store.ingest import counters
    try:
        readable(ds, counters)
    except CodecError:
        return False
    return True


def _pixels(ds: Dataset) -> tuple[_Geometry, bytearray] | None:
    if not _readable(ds) or "PixelData" not in ds or not ds.get("Rows") or not ds.get("Columns"):
        return None
    if int(ds.get("PlanarConfiguration", 0) or 0) > 1:
        return None
    if ds["PixelData"].is_undefined_length:
        from ..codec import CodecError
        from ..codec.pixels import decode
        from ..store.ingest import counters
        try:
            decode(ds, counters)
        except CodecError:
            return None
    return _Geometry(ds), bytearray(ds.PixelData)


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def get_pixel(state: LuaState, ds: Dataset, x: Any = None, y: Any = None, frame: Any = None):
    found = _pixels(ds)
    if found is None:
        return None
    geo, data = found
    xi, yi, fi = _int(x), _int(y), _int(frame)
    if not (0 <= xi < geo.columns and 0 <= yi < geo.rows and 0 <= fi < geo.frames):
        return None
    pos = geo.offset(xi, yi, fi)
    values = struct.unpack_from(geo.fmt[0] + geo.fmt[1] * geo.samples, data, pos)
    return tuple(values)


def set_pixel(state: LuaState, ds: Dataset, x: Any = None, y: Any = None, frame: Any = None, *values: Any):
    found = _pixels(ds)
    if found is None or not values:
        return
    geo, data = found
    xi, yi, fi = _int(x), _int(y), _int(frame)
    if not (0 <= xi < geo.columns and 0 <= yi < geo.rows and 0 <= fi < geo.frames):
        return
    pos = geo.offset(xi, yi, fi)
    mask = (1 << (8 * geo.bytes)) - 1
    for i, value in enumerate(values[:geo.samples]):
        struct.pack_into(geo.fmt, data, pos + i * geo.bytes, _int(value) & mask)
    ds.PixelData = bytes(data)
    return


def _line(ds: Dataset, index: Any, frame: Any, row: bool):
    """(geometry, pixel bytes, byte offset of each pixel) of row (or column) ``index`` of
    ``frame``; None when there are no readable pixels or the line is outside the image."""
    found = _pixels(ds)
    if found is None:
        return None
    geo, data = found
    ii, fi = _int(index), _int(frame)
    if not (0 <= ii < (geo.rows if row else geo.columns) and 0 <= fi < geo.frames):
        return None
    if row:
        return geo, data, [geo.offset(x, ii, fi) for x in range(geo.columns)]
    return geo, data, [geo.offset(ii, y, fi) for y in range(geo.rows)]


def _get_line(state: LuaState, ds: Dataset, index: Any, frame: Any, row: bool):
    found = _line(ds, index, frame, row)
    if found is None:
        return None
    geo, data, offsets = found
    return state.zero_table([struct.unpack_from(geo.fmt, data, pos)[0] for pos in offsets])


def _set_line(ds: Dataset, index: Any, frame: Any, table: Any, row: bool) -> None:
    found = _line(ds, index, frame, row) if table is not None else None
    if found is None:
        return
    geo, data, offsets = found
    mask = (1 << (8 * geo.bytes)) - 1
    for i, pos in enumerate(offsets):
        value = table[i]
        if value is not None:
            struct.pack_into(geo.fmt, data, pos, _int(value) & mask)
    ds.PixelData = bytes(data)


def get_row(state: LuaState, ds: Dataset, y: Any = None, frame: Any = None):
    return _get_line(state, ds, y, frame, True)


def set_row(state: LuaState, ds: Dataset, y: Any = None, frame: Any = None, table: Any = None):
    _set_line(ds, y, frame, table, True)


def get_column(state: LuaState, ds: Dataset, x: Any = None, frame: Any = None):
    return _get_line(state, ds, x, frame, False)


def set_column(state: LuaState, ds: Dataset, x: Any = None, frame: Any = None, table: Any = None):
    _set_line(ds, x, frame, table, False)


def get_image(state: LuaState, ds: Dataset, frame: Any = None):
    """The bytes of one frame (samples per pixel included)."""
    if not _readable(ds) or "PixelData" not in ds:
        return None
    fi = _int(frame)
    if ds["PixelData"].is_undefined_length:
        from pydicom.encaps import generate_frames
        geo = _Geometry(ds)
        for index, encoded in enumerate(generate_frames(ds.PixelData, number_of_frames=geo.frames)):
            if index == fi:
                return encoded.decode("latin-1")
        return None
    found = _pixels(ds)
    if found is None:
        return None
    geo, data = found
    if not 0 <= fi < geo.frames:
        return None
    return bytes(data[fi * geo.frame_size:(fi + 1) * geo.frame_size]).decode("latin-1")


def set_image(state: LuaState, ds: Dataset, frame: Any = None, text: Any = None, scale: Any = None):
    """Replace one frame: bytes of the frame's size, or float32 values for 16-bit
    pixels (converted to short × scale)."""
    found = _pixels(ds)
    if found is None or text is None:
        return
    geo, data = found
    raw = str(text).encode("latin-1") if not isinstance(text, bytes) else text
    fi = _int(frame)
    size = geo.frame_size
    if len(raw) == size:
        block = raw
    elif geo.bytes == 2 and len(raw) == size * 2:
        factor = float(scale) if scale is not None else 1.0
        floats = struct.unpack("<%df" % (len(raw) // 4), raw)
        block = struct.pack("<%dh" % len(floats), *[max(-32768, min(32767, int(v * factor))) for v in floats])
    else:
        raise LuaCallError("Failed to set image, data and image dimensions incompatible")
    if len(data) < (fi + 1) * size:
        data.extend(b"\0" * ((fi + 1) * size - len(data)))
    data[fi * size:(fi + 1) * size] = block
    ds.PixelData = bytes(data)
    return


__all__ = [
    "get_column",
    "get_image",
    "get_pixel",
    "get_row",
    "set_column",
    "set_image",
    "set_pixel",
    "set_row",
]
