"""Deleting stored files (``RemoveFromPACS``, conquest-storage.md §3.7).

Files are deleted on their MAG device and on the mirror of that device; directories
left empty are removed up to the device root.
"""
from __future__ import annotations

from pathlib import Path

from ..config.keys import Settings
from .devices import device_root
from .reader import full_path


def remove_stored_file(settings: Settings, object_file: str, device: str,
                       keep: Path | None = None) -> list[Path]:
    """Delete one object on its device and mirror; returns the paths removed.
    ``keep``: a path not to delete (the new file of a rewrite that came out the same)."""
    removed = []
    kept = keep.resolve() if keep is not None else None
    roots = [device_root(settings, device)]
    if device.upper().startswith("MAG"):
        roots.append(device_root(settings, "MIRROR" + device[3:]))
    for root in filter(None, roots):
        path = full_path(root, object_file)
        if kept is not None and path.resolve() == kept:
            continue
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
        _prune(path.parent, Path(root))
    return removed


def _prune(folder: Path, root: Path) -> None:
    root = root.resolve()
    folder = folder.resolve()
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def remove_from_pacs(db, settings: Settings, keep_files: bool, **keys) -> int:
    """``RemoveFromPACS``: index rows of the selected images always, their files unless
    ``keep_files``. ``keys`` as :meth:`dgate.db.Database.images`. Returns the count."""
    removed = db.delete(**keys)
    if not keep_files:
        for item in removed:
            remove_stored_file(settings, item.object_file, item.device)
    return len(removed)
