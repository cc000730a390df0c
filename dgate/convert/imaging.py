"""Pixel and element operations of the converter language: ``scrub``, ``tomono``,
``crop``, ``save frame``, ``save bmp|gif|jpg`` (conquest-lua-web.md §8.5 #9, #11).

Pixels are decoded with pydicom's handlers (pylibjpeg/openjpeg plugins for compressed
data); the changed object is written back uncompressed (explicit VR little endian).
Pictures are rendered with Pillow: window/level when given, else the full range.
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


def _to_8bit(ds: Dataset, arr: np.ndarray, level: int, window: int, gamma: float) -> np.ndarray:
    if arr.dtype == np.uint8 and not window:
        return arr
    data = arr.astype(np.float64)
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    data = data * slope + intercept
    if window:
        low, high = level - window / 2, level + window / 2
    else:
        low, high = float(data.min()), float(data.max())
    scaled = np.clip((data - low) / max(high - low, 1e-9), 0, 1)
    if gamma and gamma != 1:
        scaled = scaled ** (1 / gamma)
    out = (scaled * 255 + 0.5).astype(np.uint8)
    if str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1":
        out = 255 - out
    return out


def save_picture(ds: Dataset, path: Path, kind: str, size: int, level: int, window: int,
                 frame: int, gamma: float, quality: int = 95) -> None:
    """Render one frame (all frames as an animated GIF when ``frame`` > 10000)."""
    from PIL import Image
    arr = _pixels(ds)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    color = int(ds.get("SamplesPerPixel", 1) or 1) == 3
    if color and str(ds.get("PhotometricInterpretation", "")).startswith("YBR"):
        from pydicom.pixels import convert_color_space
        arr = convert_color_space(arr, str(ds.PhotometricInterpretation), "RGB")
    pics = [arr[i] for i in range(frames)] if frames > 1 else [arr]
    if not (kind == "gif" and frame > 10000 and frames > 1):
        pics = [pics[max(0, min(frame, len(pics) - 1))]]
    images = []
    for pic in pics:
        img = Image.fromarray(_to_8bit(ds, pic, level, window, gamma))
        if max(img.size) > size:
            img.thumbnail((size, size))
        images.append(img)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "bmp":
        images[0].save(path, "BMP")
    elif kind == "gif":
        if len(images) > 1:
            fps = max(frame % 100, 1)
            images[0].save(path, "GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
        else:
            images[0].save(path, "GIF")
    else:
        images[0].convert("RGB" if color else "L").save(path, "JPEG", quality=quality)
