"""Which compression code is in force (conquest-storage.md §6.2, §6.3, §6.7).

:func:`incoming_code` / :func:`dropped_code` / :func:`archive_code`: the code in force
(``SERVER~j2`` as called AE overrides IncomingCompression; the obsolete ``FileCompressMode``
1..4 means ``n1``..``n4`` unless the newer keys are set). Applying a code is the codec's
(:mod:`dgate.codec.storage`), which plugs in through :data:`dgate.store.ingest.COMPRESSION`
and :data:`dgate.store.archive.ARCHIVE_RECOMPRESSION`.
"""
from __future__ import annotations

from ..config.keys import Settings


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
