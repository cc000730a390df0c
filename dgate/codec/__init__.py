"""Compression, transcoding and image conversion (below ``store`` in the import order).

The entry points every path calls (ingest, retrieve, forward, web, commands):

``recompress(obj, code, *, lossy_quality=95, counters=NULL, log=None) -> obj``
    bring a Dataset or encoded object to a Conquest compression code (§6.7)
``transcode(obj, transfer_syntax, *, quality=95, counters=NULL) -> obj``
    exactly that transfer syntax
``readable(obj, counters=NULL) -> obj``
    NKI private compression expanded (what every reader sees)
``for_ingest(obj, code, ...) -> obj``
    the ingest compression step: failures keep the object as received, with a log line
``for_destination(obj, accepted, code, *, nki_client=False, ...) -> obj``
    what a C-MOVE/C-GET/forward destination gets; stored bytes untouched when possible
``proposed_syntaxes(code, stored) / compression_for_destination(code, accepted)``
    negotiation helpers for the acrnema.map column
``decode_frames(obj) -> numpy array`` (frames, rows, columns[, samples])
``render(obj, format, *, frame=0, size=0, level=0, window=0, ...) -> bytes``
    GIF (animated for all frames), BMP, JPEG, PNG as the original draws them
``nki.compress(pixels, mode) / nki.decompress(value)``
    NKI private compression modes 1–5, byte-exact

Objects are pydicom ``Dataset`` s (changed in place and returned) or encoded objects with
``raw`` bytes and a ``transfer_syntax`` (``dgate.store.formats.Encoded`` or
:class:`Encoded`; results come back in the caller's class). Errors are
:class:`CodecError`. Counters: anything with ``add(name, amount)`` (:mod:`.counters`).
"""
from __future__ import annotations

from . import nki, syntaxes
from .codes import Code, parse
from .counters import NULL, Tally
from .encoded import Encoded
from .errors import CodecError, reported
from .recompression import decompress, recompress, set_compression_converter
from .transcoding import (
    allow_nki_in,
    choose_accepted,
    compression_for_destination,
    for_destination,
    for_ingest,
    nki_client_code,
    proposed_syntaxes,
    readable,
    transcode,
)


@reported
def decode_frames(obj):
    """All frames of a Dataset or encoded object as a numpy array."""
    from pydicom.dataset import Dataset

    from .pixels import frames
    return frames(obj if isinstance(obj, Dataset) else obj.dataset())


def render(obj, format: str = "gif", **kwargs) -> bytes:
    """An image file of the object (see :func:`dgate.codec.rendering.render`)."""
    from .rendering import render as _render
    return _render(obj, format, **kwargs)


__all__ = ["Code", "CodecError", "Encoded", "NULL", "Tally", "allow_nki_in", "choose_accepted",
           "compression_for_destination", "decode_frames", "decompress", "for_destination", "for_ingest", "nki",
           "nki_client_code", "parse", "proposed_syntaxes", "readable", "recompress", "render",
           "set_compression_converter", "syntaxes", "transcode"]
