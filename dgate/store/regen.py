"""Rebuilding the index from the files on the MAG devices (``-r``, ``--regen:``;
conquest-storage.md §6.6).

Every MAG device is walked recursively, skipping the folders ``incoming``,
``printer_files`` and ``bin`` (any case). ``.v2`` files and ``.dcm``/``.img`` files or
files without an extension are entered with their path relative to the device root;
other files (``.db3``, ``.DBF`` ...) are skipped. Unreadable files are reported
(``***[Regen] <file> -FAILED: <why>``) and skipped. No FixImage is applied (as in the
original: the files hold what was stored).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..db.database import Database
from ..db.driver import DatabaseError
from .devices import device_of, devices
from .formats import BadObject, read_file
from .reader import regen_loader_for


class _RegenHooks:
    """``REGEN.set(check, failed)``: ``check(db, path, device) -> bool`` before a file is
    entered (False: not entered; the RegenConverter0 veto), ``failed(db, path, device, why)``
    for a file that could not be entered (RegenFailConverter0). Set by the converter plug-in."""

    def __init__(self) -> None:
        self.check = None
        self.failed = None

    def set(self, check=None, failed=None) -> None:
        self.check, self.failed = check, failed


REGEN = _RegenHooks()
SKIP_DIRS = {"incoming", "printer_files", "bin", ".dgate-tmp"}
PROGRESS_EVERY = 1000


@dataclass
class RegenSummary:
    indexed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"Regen summary: {self.indexed} files entered, {self.failed} failed, "
                f"{self.skipped} skipped, {self.seconds:.1f} s")


def regen_file(db: Database, path: Path, root: Path, device: str, summary: RegenSummary) -> bool:
    """Enter one file; log success or failure as the original does."""
    relative = os.path.relpath(path, root)
    log = db.logs
    try:
        ds = read_file(path).header()
        for keyword in ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID"):
            if keyword not in ds:
                raise BadObject(f"no {keyword}")
        if REGEN.check is not None and not REGEN.check(db, path, device):
            summary.skipped += 1
            log.operator.printf(f"[Regen] {path} -SKIPPED by RegenConverter0\n")
            return False
        db.add(ds, relative, device, filename_for_log=str(path))
    except (OSError, BadObject, DatabaseError) as exc:
        summary.failed += 1
        summary.failures.append(str(path))
        log.operator.printf(f"***[Regen] {path} -FAILED: {exc}\n")
        if REGEN.failed is not None:
            try:
                REGEN.failed(db, path, device, str(exc))
            except Exception as hook_exc:  # a broken converter must not stop the regen
                log.operator.printf(f"***[Regen] RegenFailConverter0 failed: {hook_exc}\n")
        return False
    summary.indexed += 1
    log.debug.printf(f"[Regen] {path} -SUCCESS\n")
    return True


def regen_one_file(db: Database, path: str | os.PathLike) -> bool:
    """``regenfile`` / ``-fe``: re-enter a file that lies on a MAG device."""
    found = device_of(db.settings, path)
    if found is None:
        db.logs.operator.printf(f"***[Regen] {path} -FAILED: file is not on a MAG device\n")
        return False
    return regen_file(db, Path(path), found[1], found[0], RegenSummary())


def regen_folder(db: Database, device: str, directory: str, progress=None) -> RegenSummary | None:
    """``regendir`` / ``-frDEV,DIR`` / ``-arDEV,DIR``: one folder (relative to the device root
    or absolute) of one MAG device; None (logged) when the device or folder does not exist."""
    dev = next((d for d in devices(db.settings, "MAG") if d.name.upper() == device.upper()), None)
    if dev is None:
        db.logs.operator.printf(f"***[Regen] unknown device {device}\n")
        return None
    start = Path(directory) if os.path.isabs(directory) else Path(dev.root) / directory
    if not start.is_dir():
        db.logs.operator.printf(f"***[Regen] {start} is not a folder on {device}\n")
        return None
    return regen_tree(db, Path(dev.root), dev.name, start=start, progress=progress)


def regen_tree(db: Database, root: Path, device: str, start: Path | None = None,
               summary: RegenSummary | None = None, progress=None) -> RegenSummary:
    """Regenerate every file under ``start`` (default: the whole device)."""
    summary = summary or RegenSummary()
    began = time.monotonic()
    for folder, dirs, files in os.walk(start or root):
        dirs[:] = sorted(d for d in dirs if d.lower() not in SKIP_DIRS)
        for name in sorted(files):
            if regen_loader_for(name) is None:
                summary.skipped += 1
                continue
            regen_file(db, Path(folder) / name, root, device, summary)
            done = summary.indexed + summary.failed
            if progress and done % PROGRESS_EVERY == 0:
                progress(f"Regen progress: {done} files ({summary.failed} failed)\n")
    summary.seconds += time.monotonic() - began
    return summary


def regen_devices(db: Database, only: str | None = None, progress=None, announce=None) -> RegenSummary:
    """Regenerate all MAG devices, or only the one named ``only`` (e.g. ``MAG1``)."""
    summary = RegenSummary()
    for dev in devices(db.settings, "MAG"):
        if only and dev.name.upper() != only.upper():
            continue
        root = Path(dev.root)
        if not root.is_dir():
            db.logs.operator.printf(f"***[Regen] device {dev.name} folder {root} does not exist\n")
            continue
        if announce:
            announce(f"Regen Device '{dev.name}'\n")
        regen_tree(db, root, dev.name, summary=summary, progress=progress)
    return summary
