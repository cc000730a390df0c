"""Pixel and element operations of the converter language: ``scrub``, ``tomono``,
``crop``, ``save frame``, ``save bmp|gif|jpg`` (conquest-lua-web.md §8.5 #9, #11).

Pixels are decoded with pydicom's handlers (pylibjpeg/openjpeg plugins for compressed
data); the changed object is written back uncompressed (explicit VR little endian).
Pictures are rendered by :func:`dgate.codec.render`, as the original renders them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

from .elements import vr_of


def scrub(ds: Dataset, spec: str) -> None:
    """``scrub +list`` keeps only, ``scrub -list`` removes, the listed top-level elements:
    ``ggggeeee`` tags, ``gggg`` groups, two-letter VRs, ``priv`` for odd groups."""
    if not spec:
        return
    mode, items = spec[0], {x.strip().upper() for x in spec[1:].replace(" ", ",").split(",") if x.strip()}
    private = any(x.lower().startswith("priv") for x in items)
    for elem in list(ds):
        g, e = elem.tag >> 16, elem.tag & 0xFFFF
        hit = (f"{g:04X}{e:04X}" in items or f"{g:04X}" in items
               or (vr_of(elem.tag) or elem.VR).upper() in items or (private and g & 1 == 1))
        if (mode == "-" and hit) or (mode == "+" and not hit):
            del ds[elem.tag]


def _pixels(ds: Dataset) -> np.ndarray:
    return ds.pixel_array


def _store_pixels(ds: Dataset, arr: np.ndarray, photometric: str | None = None) -> None:
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if photometric:
        ds.PhotometricInterpretation = photometric
    samples = 3 if arr.ndim == (4 if frames > 1 else 3) else 1
    ds.SamplesPerPixel = samples
    if samples == 3:
        ds.PlanarConfiguration = 0
    elif "PlanarConfiguration" in ds:
        del ds.PlanarConfiguration
    ds.Rows, ds.Columns = int(arr.shape[-3 if samples == 3 else -2]), int(arr.shape[-2 if samples == 3 else -1])
    if arr.dtype.itemsize == 1:
        ds.BitsAllocated = 8
        ds.BitsStored = min(int(ds.get("BitsStored", 8) or 8), 8)
        ds.HighBit = ds.BitsStored - 1
    ds.PixelData = np.ascontiguousarray(arr).tobytes()
    ds["PixelData"].VR = "OB" if arr.dtype.itemsize == 1 else "OW"
    if hasattr(ds, "file_meta"):
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian


def to_mono(ds: Dataset) -> None:
    """Colour images become MONOCHROME2 (luminance); others are left alone."""
    if int(ds.get("SamplesPerPixel", 1) or 1) != 3:
        return
    arr = _pixels(ds)
    if str(ds.get("PhotometricInterpretation", "")).startswith("YBR"):
        mono = arr[..., 0].astype(np.int32)
    else:                           # 1.5.0e's RgbToMono: (r + g + b + 1) / 3
        wide = arr.astype(np.int32)
        mono = (wide[..., 0] + wide[..., 1] + wide[..., 2] + 1) // 3
    _store_pixels(ds, np.clip(mono, 0, 255).astype(np.uint8), "MONOCHROME2")


def crop_pixels(ds: Dataset, x1: int, y1: int, x2: int, y2: int) -> None:
    """Keep columns x1…x2 and rows y1…y2 (inclusive, clamped) of every frame."""
    arr = _pixels(ds)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    rows, cols = int(ds.Rows), int(ds.Columns)
    x2, y2 = min(x2, cols - 1), min(y2, rows - 1)
    x1, y1 = max(0, min(x1, x2)), max(0, min(y1, y2))
    if frames > 1:
        arr = arr[:, y1:y2 + 1, x1:x2 + 1]
    else:
        arr = arr[y1:y2 + 1, x1:x2 + 1]
    _store_pixels(ds, arr)


def extract_frame(ds: Dataset, frame: int) -> Dataset:
    """A copy holding only frame ``frame`` (0-based, clamped) of a multi-frame object."""
    out = Dataset(ds)
    if hasattr(ds, "file_meta"):
        out.file_meta = ds.file_meta
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames <= 1 or "PixelData" not in ds:
        return out
    arr = _pixels(ds)[max(0, min(frame, frames - 1))]
    out.NumberOfFrames = 1
    from pydicom.dataset import FileMetaDataset
    out.file_meta = FileMetaDataset(getattr(ds, "file_meta", FileMetaDataset()))
    _store_pixels(out, arr)
    return out


def save_picture(ds: Dataset, path: Path, kind: str, size: int, level: int, window: int,
                 frame: int, gamma: float, quality: int = 95) -> None:
    """``save bmp|gif|jpg``: the picture as the original draws it (:func:`dgate.codec.render`;
    all frames as an animated GIF when ``frame`` > 10000). Raises CodecError."""
    from .. import codec
    from ..store.ingest import counters
    picture = codec.render(ds, kind, size=size, level=level, window=window, frame=frame, quality=quality,
                           counters=counters, gamma=gamma)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(picture)
