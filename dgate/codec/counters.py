"""Counting codec work for ``display_status`` (conquest-protocol.md §9.4).

The codec reports through any object with ``add(name, amount=1)`` (the process-wide
counters of the server, or :class:`Tally` in tests and commands). The names are those of
the ``Images (de)compressed`` line and the ``compress`` run time of the original:

========== ==========================================================================
``nki``     NKI private compressions + decompressions (``NKIPrivateCompress/Decompress``)
``jpeg``    JPEG compressions + decompressions (``CompressJpeg + DecompressJpeg``)
``j2k``     JPEG 2000 compressions + decompressions
``jpegls``  JPEG-LS compressions + decompressions (counted, not shown, as in the original)
``rle``     RLE decompressions (and our RLE compressions)
``planes``  planar colour data made interleaved (``DePlaned``)
``palettes`` PALETTE COLOR or YBR_FULL made RGB (``DePaletted``)
``downsize`` images downsized (``DownSizeImage``)
``compress_ms`` time spent in recompression, milliseconds (shown in seconds)
========== ==========================================================================
"""
from __future__ import annotations

import threading
from typing import Protocol

NAMES = ("nki", "jpeg", "j2k", "jpegls", "rle", "planes", "palettes", "downsize", "compress_ms")


class CounterSink(Protocol):
    def add(self, name: str, amount: int = 1) -> None: ...


class Tally:
    """A small thread-safe counter set (the server passes its own)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.values: dict[str, int] = {}

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self.values[name] = self.values.get(name, 0) + amount

    def get(self, name: str) -> int:
        return self.values.get(name, 0)


class _Null:
    def add(self, name: str, amount: int = 1) -> None:
        pass


NULL = _Null()


def family_counter(family: str) -> str:
    """Counter name for a transfer-syntax family (see :mod:`.syntaxes`)."""
    return {"jpeg": "jpeg", "j2k": "j2k", "jpegls": "jpegls", "rle": "rle"}.get(family, "")
