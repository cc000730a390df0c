"""Which stored files regeneration reads, where a stored object lives, and how a reader
loads one (conquest-storage.md §6.5, §6.6, §6.8). Reading the bytes is
:func:`dgate.store.formats.read_file`; :func:`dgate.codec.storage.read_object` is what every
reader of a stored object uses (dump_header, the image commands, Lua): NKI private
compression expanded.
"""
from __future__ import annotations

import mmap
from pathlib import Path

SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def regen_loader_for(name: str) -> str | None:
    """Which loader regen uses for a file name: ``v2``, ``dcm`` or None (skipped).

    SQLite's own files next to a database in the device folder (``-wal``, ``-shm``,
    ``-journal``) are skipped too (the original would try and fail on them)."""
    lower = name.lower()
    if lower.endswith(SQLITE_SIDE_FILES):
        return None
    if lower.endswith(".v2"):
        return "v2"
    if lower.endswith(".dcm") or lower.endswith(".img") or "." not in name[-4:]:
        return "dcm"
    return None


def full_path(device_root: str, object_file: str) -> Path:
    """A stored object's path: device root + relative name (either separator accepted)."""
    return Path(device_root) / object_file.replace("\\", "/")


NKI_PIXELS = 0x7FDF0010
PIXEL_DATA = 0x7FE00010
SMALL = 4 << 20


def has_nki(obj) -> bool:
    """Whether a stored file (an :class:`~dgate.store.formats.ObjectFile`) holds NKI
    compressed pixel data: (7fdf,0010) without (7fe0,0010) (§6.8). Only the element headers
    are walked, memory-mapped, so a large object costs no reading of its values."""
    from .scan import StructureError, scan
    if obj.transfer_syntax not in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2") \
            or obj.size <= 0:
        return False
    try:
        with open(obj.path, "rb") as handle:
            if obj.size <= SMALL:         # a byte search is cheaper than the element walk
                handle.seek(obj.offset)
                data = handle.read(obj.size)
                little = obj.transfer_syntax != "1.2.840.10008.1.2.2"
                if (b"\xdf\x7f\x10\x00" if little else b"\x7f\xdf\x00\x10") not in data:
                    return False
            mapping = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        elements = scan(memoryview(mapping)[obj.offset:obj.offset + obj.size], obj.transfer_syntax).elements
    except (OSError, ValueError, StructureError):
        return False
    return NKI_PIXELS in elements and PIXEL_DATA not in elements
