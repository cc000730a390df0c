"""Where compression applies in the store and retrieve paths (the one adapter between the
server and :mod:`dgate.codec`; conquest-storage.md §6.2, §6.3, §6.7).

* :func:`incoming_code` / :func:`dropped_code` / :func:`archive_code`: the code in force
  (``SERVER~j2`` as called AE overrides IncomingCompression; the obsolete
  ``FileCompressMode`` 1..4 means ``n1``..``n4`` unless the newer keys are set);
* :func:`ingest_step`: the compression step of the ingest pipeline (a codec failure stores
  the object as received, with a log line);
* :func:`file_step`: what may be written to a given file name (NKI data only in ``.v2``
  files unless AllowNKIAsDICOM=1; the rest is expanded);
* :func:`retrieve_step`: the object a C-MOVE/C-GET/forward destination gets for the
  transfer syntax it accepted and its acrnema.map column.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

from .. import codec
from ..config.keys import Settings

Log = Callable[[str], None]


def _obsolete_default(settings: Settings) -> str:
    mode = settings.int("FileCompressMode")
    return f"n{mode}" if mode else ""


def incoming_code(settings: Settings, called_ae: str = "") -> str:
    """IncomingCompression, or what follows ``~`` in the called AE title."""
    called = called_ae.rstrip()
    if "~" in called:
        return called.split("~", 1)[1]
    return settings.str("IncomingCompression", _obsolete_default(settings))


def dropped_code(settings: Settings) -> str:
    return settings.str("DroppedFileCompression", _obsolete_default(settings))


def archive_code(settings: Settings) -> str:
    return settings.str("ArchiveCompression")


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
