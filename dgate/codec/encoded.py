"""A data set as bytes in a transfer syntax, and the two conversions to and from a pydicom
Dataset. It has the interface of ``dgate.store.formats.Encoded`` (``raw``,
``transfer_syntax``, ``header()``, ``dataset()``, ``from_dataset()``), which the codec
accepts as well: results are built with the caller's own class."""
from __future__ import annotations

import io
import mmap
import zlib
from dataclasses import dataclass
from typing import Protocol, TypeVar

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset
from pydicom.uid import UID

from . import syntaxes as ts
from .errors import CodecError

PIXEL_DATA = 0x7FE00010


class EncodedLike(Protocol):
    raw: bytes
    transfer_syntax: str

    def header(self) -> Dataset: ...

    def dataset(self) -> Dataset: ...


E = TypeVar("E", bound=EncodedLike)


class _ViewReader(io.RawIOBase):
    """A read-only file over a memory view without copying it first (``io.BytesIO`` of a
    view copies the whole object; values are copied once, when pydicom reads them)."""

    def __init__(self, view: memoryview):
        super().__init__()
        self.view = view.cast("B") if view.format != "B" else view
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    CHUNK = 16 << 20

    def read(self, size: int = -1) -> bytes:
        end = len(self.view) if size is None or size < 0 else min(len(self.view), self.pos + size)
        if end - self.pos > 2 * self.CHUNK and isinstance(getattr(self.view, "obj", None), mmap.mmap):
            data = self._read_mapped(self.pos, end)
        else:
            data = self.view[self.pos:end].tobytes()
        self.pos = end
        return data

    def _read_mapped(self, start: int, end: int) -> bytes:
        """A large value copied out of a file mapping chunk by chunk, each chunk's pages
        given back at once, so the value is not held twice (mapping + copy)."""
        import ctypes

        import numpy as np
        owner = self.view.obj
        base = np.frombuffer(owner, np.uint8).ctypes.data  # type: ignore[call-overload]
        here = np.frombuffer(self.view, np.uint8).ctypes.data
        out = bytes(end - start)          # new and unshared: filled in place below
        target = ctypes.cast(ctypes.c_char_p(out), ctypes.c_void_p).value or 0
        page = mmap.PAGESIZE
        for offset in range(start, end, self.CHUNK):
            stop = min(end, offset + self.CHUNK)
            ctypes.memmove(target + offset - start, here + offset, stop - offset)
            first = (here + offset - base) // page * page
            last = (here + stop - base) // page * page
            if last > first and hasattr(owner, "madvise"):
                try:
                    owner.madvise(mmap.MADV_DONTNEED, first, last - first)
                except (OSError, ValueError):
                    pass
        return out

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: len(self.view)}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def tell(self) -> int:
        return self.pos


def _release_pages(view: memoryview) -> None:
    """After a spooled object (a view of its file's mapping) was read, give its pages back:
    they are file-backed and come back from the page cache if needed again."""
    owner = getattr(view, "obj", None)
    if isinstance(owner, mmap.mmap) and hasattr(owner, "madvise"):
        try:
            owner.madvise(mmap.MADV_DONTNEED)
        except (OSError, ValueError):
            pass


def parse(raw: bytes, transfer_syntax: str, stop_before_pixels: bool = False) -> Dataset:
    """A data set from its bytes (no preamble, no meta group)."""
    if transfer_syntax == ts.DEFLATED:
        try:
            raw = zlib.decompress(raw, -zlib.MAX_WBITS)
        except zlib.error as exc:
            raise CodecError(f"deflated data set is corrupt: {exc}") from None
    implicit = transfer_syntax == ts.IMPLICIT_LE
    little = transfer_syntax != ts.EXPLICIT_BE
    stop = (lambda tag, vr, length: tag >= PIXEL_DATA) if stop_before_pixels else None
    try:
        source = _ViewReader(raw) if isinstance(raw, memoryview) else io.BytesIO(raw)
        ds = read_dataset(source, implicit, little, stop_when=stop)
    except Exception as exc:
        raise CodecError(f"cannot parse data set: {exc}") from None
    finally:
        if isinstance(raw, memoryview) and not stop_before_pixels:
            _release_pages(raw)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = UID(transfer_syntax)
    ds.set_original_encoding(implicit, little)
    return ds


def serialize(ds: Dataset, transfer_syntax: str) -> bytes:
    """The bytes of a data set (group 0002 left out) in ``transfer_syntax``."""
    fp = DicomBytesIO()
    fp.is_little_endian = transfer_syntax != ts.EXPLICIT_BE
    fp.is_implicit_VR = transfer_syntax == ts.IMPLICIT_LE
    body = Dataset({tag: elem for tag, elem in ds.items() if tag.group != 2})
    write_dataset(fp, body)
    raw = fp.getvalue()
    if transfer_syntax == ts.DEFLATED:
        compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -zlib.MAX_WBITS)
        raw = compressor.compress(raw) + compressor.flush()
    return raw


@dataclass
class Encoded:
    """A data set as bytes in a transfer syntax (no preamble, no meta group)."""

    raw: bytes
    transfer_syntax: str

    def header(self) -> Dataset:
        """The elements before the pixel data (pixels are not read)."""
        return parse(self.raw, self.transfer_syntax, stop_before_pixels=True)

    def dataset(self) -> Dataset:
        return parse(self.raw, self.transfer_syntax)

    @classmethod
    def from_dataset(cls, ds: Dataset, transfer_syntax: str | None = None) -> "Encoded":
        meta = getattr(ds, "file_meta", None)
        uid = transfer_syntax or str(meta.get("TransferSyntaxUID", "") if meta is not None else "") or ts.EXPLICIT_LE
        return cls(serialize(ds, uid), uid)


def rebuild(like: E, ds: Dataset) -> E:
    """``ds`` encoded in its own transfer syntax, as an object of ``like``'s class."""
    meta = getattr(ds, "file_meta", None)
    uid = str(meta.get("TransferSyntaxUID", "") if meta is not None else "") or ts.EXPLICIT_LE
    maker = getattr(type(like), "from_dataset", None)
    if maker is not None:
        return maker(ds, uid)
    return type(like)(serialize(ds, uid), uid)  # type: ignore[call-arg]
