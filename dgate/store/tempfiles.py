"""Temporary files of the store, one folder per device: ``<device root>/.dgate-tmp/``.

Every object is written to a unique temporary name there and renamed into place, so a
crash never leaves a half-written object under its real name. A temporary file is held
under an exclusive ``flock`` for as long as its writer lives; :func:`clean_stale`
(run when the server starts) deletes only files nobody holds, so servers sharing a
storage folder do not delete each other's work. Names end in ``.tmp``, which regen (ours
and the original's) does not index.
"""
from __future__ import annotations

import errno
import fcntl
import itertools
import os
import shutil
import threading
from pathlib import Path
from typing import Iterable

TEMP_DIR = ".dgate-tmp"
_counter = itertools.count()
_host = os.uname().nodename.replace("/", "_")
_pid_cache: list[int] = []


def _pid() -> int:
    if not _pid_cache:
        _pid_cache.append(os.getpid())
    return _pid_cache[0]


def temp_dir(root: str | os.PathLike) -> Path:
    folder = Path(root) / TEMP_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class TempFile:
    """An open, locked temporary file in a device's temp folder."""

    def __init__(self, root: str | os.PathLike):
        folder = os.path.join(os.fspath(root), TEMP_DIR)
        while True:
            name = f"{_host}-{_pid()}-{threading.get_ident() & 0xFFFFFF:x}-{next(_counter)}.tmp"
            self.path = os.path.join(folder, name)
            try:
                self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
                break
            except FileExistsError:
                continue
            except FileNotFoundError:
                os.makedirs(folder, exist_ok=True)
                continue
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        self.placed = False

    def write(self, data) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]

    def write_all(self, chunks: Iterable) -> None:
        """Write several buffers with one ``writev`` (falls back to writes for the rest)."""
        views = [memoryview(c).cast("B") for c in chunks if len(c)]
        written = os.writev(self.fd, views) if views else 0
        for view in views:
            if written >= len(view):
                written -= len(view)
                continue
            self.write(view[written:])
            written = 0

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def place(self, target: str | os.PathLike, replace: bool = True) -> None:
        """Rename into ``target`` (parent folders made when missing); copies when
        ``target`` is on another filesystem.

        ``replace=False``: never overwrite; :class:`FileExistsError` when ``target``
        exists (a new file name taken meanwhile by another store, whatever process)."""
        target = os.fspath(target)
        for attempt in range(4):
            try:
                self._replace(target) if replace else self._link(target)
                break
            except FileNotFoundError:
                # the folder is missing, or was pruned (an emptied series folder)
                # between makedirs and the rename: make it again
                if attempt == 3:
                    raise
                os.makedirs(os.path.dirname(target), exist_ok=True)
        self.placed = True
        self.path = target

    def _replace(self, target: str) -> None:
        try:
            os.replace(self.path, target)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            self._copy(target, True)

    def _link(self, target: str) -> None:
        """Place without overwriting: a hard link is atomic and fails on an existing name."""
        try:
            os.link(self.path, target)
        except OSError as exc:
            if exc.errno == errno.EXDEV:
                self._copy(target, False)
                return
            if exc.errno in (errno.EEXIST, errno.ENOENT):
                raise
            # no hard links on this filesystem: check, then rename (best effort)
            if os.path.lexists(target):
                raise FileExistsError(errno.EEXIST, "file exists", target) from exc
            os.replace(self.path, target)
            return
        os.unlink(self.path)

    def _copy(self, target: str, replace: bool) -> None:
        other = TempFile(os.path.dirname(target))
        try:
            os.lseek(self.fd, 0, os.SEEK_SET)
            with os.fdopen(os.dup(self.fd), "rb") as src, os.fdopen(os.dup(other.fd), "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            other._replace(target) if replace else other._link(target)
            other.placed = True
        finally:
            other.close()
        os.unlink(self.path)

    def close(self) -> None:
        """Close; the file is removed unless it was placed."""
        if self.fd >= 0:
            if not self.placed:
                try:
                    os.unlink(self.path)
                except FileNotFoundError:
                    pass
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "TempFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def clean_stale(roots: Iterable[str | os.PathLike]) -> list[Path]:
    """Delete temporary files that no live process holds; returns what was removed."""
    removed = []
    for root in roots:
        folder = Path(root) / TEMP_DIR
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in names:
            if not name.endswith(".tmp"):
                continue
            path = folder / name
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue          # held by a running writer
            try:
                os.unlink(path)
                removed.append(path)
            except OSError:
                pass
            finally:
                os.close(fd)
    return removed
