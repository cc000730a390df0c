"""Test images for the codec tests: small synthetic ones of every kind, plus a few real files
from pydicom's test data (offline)."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid


def sample_path(name: str) -> Path | None:
    path = get_testdata_file(name, download=False)
    return Path(path) if path else None


def load(name: str) -> Dataset:
    path = sample_path(name)
    if path is None:
        import pytest
        pytest.skip(f"{name} is not available offline (pip install pydicom-data)")
    return dcmread(path)


def make(values: np.ndarray, bits_stored: int, photometric: str = "MONOCHROME2", signed: bool = False,
         modality: str = "OT") -> Dataset:
    """A native Explicit VR LE image from an array (frames, rows, columns[, samples])."""
    frames, rows, columns = values.shape[:3]
    samples = values.shape[3] if values.ndim == 4 else 1
    allocated = values.dtype.itemsize * 8
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientID = "CODEC"
    ds.Modality = modality
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = photometric
    if samples > 1:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = allocated
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.PixelData = np.ascontiguousarray(values).astype(values.dtype.newbyteorder("<")).tobytes()
    ds["PixelData"].VR = "OB" if allocated == 8 else "OW"
    ds.set_original_encoding(False, True)
    return ds


def _smooth(rng, shape, top):
    base = np.cumsum(np.cumsum(rng.integers(-3, 4, shape), axis=-1), axis=-2)
    base = base - base.min()
    return (base * (top / max(1, base.max()))).astype(np.int64)


def kinds() -> dict[str, Dataset]:
    """One small image per kind: bits, sign, photometric, frames, odd sizes."""
    rng = np.random.default_rng(7)
    images = {
        "mono8": make(_smooth(rng, (1, 23, 37), 255).astype(np.uint8), 8),
        "mono12": make(_smooth(rng, (1, 40, 32), 4095).astype(np.uint16), 12),
        "mono16u": make(_smooth(rng, (1, 16, 20), 65535).astype(np.uint16), 16),
        "signed16": make((_smooth(rng, (1, 24, 24), 3000) - 1024).astype(np.int16), 16, signed=True,
                         modality="CT"),
        "signed12": make((_smooth(rng, (1, 9, 13), 4000) - 2048).astype(np.int16), 12, signed=True),
        "mono1": make(_smooth(rng, (1, 32, 24), 32767).astype(np.uint16), 15, "MONOCHROME1"),
        "rgb8": make(_smooth(rng, (1, 30, 41, 3), 255).astype(np.uint8), 8, "RGB"),
        "frames": make(_smooth(rng, (3, 17, 19), 255).astype(np.uint8), 8),
        "frames16": make(_smooth(rng, (4, 12, 10), 1000).astype(np.uint16), 16),
        "odd": make(_smooth(rng, (1, 3, 5, 3), 255).astype(np.uint8), 8, "RGB"),
    }
    # JPEG 2000 codes images of at least 64 pixels a side with 6 resolutions (smaller ones
    # are coded losslessly), so the lossy J2K tests use these
    images["large12"] = make(_smooth(rng, (1, 64, 80), 4095).astype(np.uint16), 12)
    images["largergb"] = make(_smooth(rng, (1, 72, 64, 3), 255).astype(np.uint8), 8, "RGB")
    return images


def fresh(ds: Dataset) -> Dataset:
    return copy.deepcopy(ds)
