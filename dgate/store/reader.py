"""Which stored files regeneration reads, and where a stored object lives
(conquest-storage.md §6.5, §6.6). Reading itself is :func:`dgate.store.formats.read_file`.
"""
from __future__ import annotations

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
