"""The compression steps of the store, archive and retrieve paths as functions of the
settings (conquest-storage.md §6.3, §6.7, §6.8; the codes in force come from
:mod:`dgate.store.compression`).

* :func:`ingest_step`: the compression step of the ingest pipeline (a codec failure stores
  the object as received, with a log line);
* :func:`file_step`: what may be written to a given file name (NKI data only in ``.v2``
  files unless AllowNKIAsDICOM=1; the rest is expanded);
* :func:`retrieve_step`: the object a C-MOVE/C-GET/forward destination gets for the
  transfer syntax it accepted and its acrnema.map column;
* :func:`archive_recompression`: ``ArchiveCompression`` for copies to another device, set at
  import as :data:`dgate.store.archive.ARCHIVE_RECOMPRESSION` (imported by the codec plug-in);
* :func:`read_object`: a stored object as every reader sees it (NKI expanded).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from pydicom.dataset import Dataset

from .. import codec
from ..config.keys import Settings
from ..store.archive import ARCHIVE_RECOMPRESSION

Log = Callable[[str], None]


def ingest_step(obj, code: str, settings: Settings, counters: codec.counters.CounterSink = codec.NULL,
                log: Log | None = None):
    """``obj`` (Dataset or encoded) after the compression ``code``; never raises for codec
    trouble (the object is kept as received and one ``***`` line names object and error)."""
    return codec.for_ingest(obj, code, lossy_quality=settings.int("LossyQuality"), counters=counters, log=log)


def file_step(obj, file_name: str, settings: Settings, counters: codec.counters.CounterSink = codec.NULL):
    """``obj`` as it may be written to ``file_name`` (``SaveToDisk``): NKI compressed pixel
    data is expanded for anything but ``.v2`` unless AllowNKIAsDICOM=1."""
    if codec.allow_nki_in(file_name, bool(settings.int("AllowNKIAsDICOM"))):
        return obj
    return codec.readable(obj, counters)


def retrieve_step(obj, accepted: str, amap_code: str, settings: Settings, *, nki_client: bool = False,
                  requested: str | None = None, max_nki: int | None = None, also_accepted: Iterable[str] = (),
                  counters: codec.counters.CounterSink = codec.NULL, log: Log | None = None):
    """The object for a destination that accepted ``accepted`` for its SOP class, with
    acrnema.map column ``amap_code`` (C-GET uses ``un``, as the original). For the NKI
    private retrieve classes pass ``nki_client`` and their (9999,0700)/(9999,0600) values.
    Stored bytes come back untouched when they can be sent as they are.

    When the object cannot be brought into ``accepted`` but its stored syntax is among
    ``also_accepted`` (other presentation contexts accepted for the same SOP class), the
    stored form is returned with a log line; otherwise :class:`codec.CodecError` is raised
    and the caller fails that sub-operation."""
    code = amap_code
    if nki_client:
        code = codec.nki_client_code(codec.compression_for_destination(amap_code, accepted), requested, max_nki)
    try:
        return codec.for_destination(obj, accepted, code, lossy_quality=settings.int("LossyQuality"),
                                     counters=counters, nki_client=nki_client, log=log)
    except codec.CodecError as exc:
        stored = str(obj.transfer_syntax) if hasattr(obj, "transfer_syntax") else ""
        if stored and stored in {str(a).rstrip("\0 ") for a in also_accepted}:
            if log is not None:
                log(f"***[retrieve] {exc}; sent as stored ({codec.syntaxes.name(stored)})\n")
            return obj
        raise


def archive_recompression(stored, code: str, file_name: str, settings: Settings, counters, log: Log):
    """``stored`` after ArchiveCompression ``code``, as it may be written to ``file_name``."""
    return file_step(ingest_step(stored, code, settings, counters, log), file_name, settings, counters)


def read_object(path: str | os.PathLike) -> Dataset:
    """A stored object decoded, NKI compressed pixel data expanded to ordinary (7fe0,0010)
    (``DecompressNKI`` on load, conquest-storage.md §6.5, §6.8). A damaged NKI stream is
    left as it is (the header stays readable). Raises BadObject/OSError as ``read_file``."""
    from ..runtime import counters
    from ..store.formats import read_file
    ds = read_file(path).dataset()
    try:
        return codec.readable(ds, counters)
    except codec.CodecError:
        return ds


ARCHIVE_RECOMPRESSION.set(archive_recompression)
