"""Reading stored objects: Part-10 ``.dcm`` files and ``.v2`` (headerless implicit VR
little endian, conquest-storage.md §6.5).

Like the original, a ``.v2`` file that turns out to start with a Part-10 preamble is read
as Part 10; other files are read as Part 10 with a fallback to a raw data set.
"""
from __future__ import annotations

import os
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset


class UnreadableFile(Exception):
    """A file that is not a DICOM object (message says why)."""


def read_header(path: str | os.PathLike) -> Dataset:
    """The data set without pixel data, enough to index or name the object."""
    try:
        ds = pydicom.dcmread(str(path), force=True, stop_before_pixels=True)
    except Exception as exc:  # pydicom raises many kinds for broken input
        raise UnreadableFile(f"not a readable DICOM object: {exc}") from exc
    if len(ds) == 0:
        raise UnreadableFile("no DICOM elements found")
    return ds


def regen_loader_for(name: str) -> str | None:
    """Which loader regen uses for a file name: ``v2``, ``dcm`` or None (skipped)."""
    lower = name.lower()
    if lower.endswith(".v2"):
        return "v2"
    if lower.endswith(".dcm") or lower.endswith(".img") or "." not in name[-4:]:
        return "dcm"
    return None


def full_path(device_root: str, object_file: str) -> Path:
    """A stored object's path: device root + relative name (either separator accepted)."""
    return Path(device_root) / object_file.replace("\\", "/")
