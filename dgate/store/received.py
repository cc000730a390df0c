"""An object as it arrived, before the pipeline: data set bytes in memory, or streamed
into a temporary file.

:class:`Spool` collects a data set while its P-DATA fragments arrive. Up to
``threshold`` bytes stay in memory; beyond that everything goes to a temporary file
(:class:`~.tempfiles.TempFile`) that starts with room for the Part 10 prefix computed
from the C-STORE request. When the pipeline finds nothing to change and the object's
own UIDs give the same prefix, that file is renamed into place as it is (no copy), so
a 1 GB object is never held in memory.
"""
from __future__ import annotations

import mmap
import os
from dataclasses import dataclass, field

from .tempfiles import TempFile

SPOOL_THRESHOLD = 4 << 20


@dataclass
class Received:
    """A received data set. ``data`` is bytes, or a view of the spool file's mapping."""

    transfer_syntax: str
    data: bytes | bytearray | memoryview
    sop_class: str = ""                  # from the request (AffectedSOPClassUID), may be empty
    sop_instance: str = ""
    spool: TempFile | None = None        # file holding ``prefix`` + ``data``
    prefix: bytes = b""
    _map: mmap.mmap | None = field(default=None, repr=False)

    @property
    def size(self) -> int:
        return len(self.data)

    def close(self) -> None:
        """Release the mapping and remove the spool file unless it was placed."""
        if isinstance(self.data, memoryview):
            self.data.release()
            self.data = b""
        if self._map is not None:
            self._map.close()
            self._map = None
        if self.spool is not None:
            self.spool.close()
            self.spool = None


class Spool:
    """Collects one data set (see module docstring)."""

    def __init__(self, transfer_syntax: str, temp_root: str | os.PathLike | None, prefix: bytes | None = b"",
                 sop_class: str = "", sop_instance: str = "", threshold: int = SPOOL_THRESHOLD):
        """``prefix`` None: computed from the UIDs when the data goes to a file."""
        self.transfer_syntax = transfer_syntax
        self.temp_root = temp_root
        self._prefix = prefix
        self.sop_class, self.sop_instance = sop_class, sop_instance
        self.threshold = threshold
        self.buffer = bytearray()
        self.file: TempFile | None = None
        self.size = 0

    def write(self, chunk) -> None:
        self.size += len(chunk)
        if self.file is None:
            self.buffer += chunk
            if len(self.buffer) > self.threshold and self.temp_root:
                self.file = TempFile(self.temp_root)
                self.file.write(self.prefix)
                self.file.write(self.buffer)
                self.buffer = bytearray()
        else:
            self.file.write(chunk)

    @property
    def prefix(self) -> bytes:
        if self._prefix is None:
            from .formats import part10_prefix
            ok = self.sop_class and self.sop_instance
            self._prefix = part10_prefix(self.sop_class, self.sop_instance, self.transfer_syntax) if ok else b""
        return self._prefix

    def finish(self) -> Received:
        if self.file is None:
            return Received(self.transfer_syntax, bytes(self.buffer), self.sop_class, self.sop_instance)
        spool = self.file
        self.file = None
        if self.size == 0:
            return Received(self.transfer_syntax, b"", self.sop_class, self.sop_instance, spool, self.prefix)
        mapping = mmap.mmap(spool.fd, 0, access=mmap.ACCESS_READ)
        view = memoryview(mapping)[len(self.prefix):]
        return Received(self.transfer_syntax, view, self.sop_class, self.sop_instance, spool, self.prefix,
                        mapping)

    def discard(self) -> None:
        self.buffer = bytearray()
        if self.file is not None:
            self.file.close()
            self.file = None
