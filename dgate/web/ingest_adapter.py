"""The one place the web layer enters objects into the archive (STOW-RS, uploads).

Everything goes through :meth:`dgate.store.ingest.Ingest.store`, the pipeline every
entrance uses; when its signature changes, only :func:`store_bytes` changes.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

from pydicom.filereader import _read_file_meta_info, read_preamble

from ..db import DatabaseError
from ..store.formats import EXPLICIT_LE, IMPLICIT_LE, BadObject, Encoded
from ..store.ingest import StoreFailed
from .context import WebContext


@dataclass
class StoreOutcome:
    ok: bool
    sop_class: str = ""
    sop_instance: str = ""
    study: str = ""
    reason: str = ""
    failure_code: int = 0
    series: str = ""


def parse_object(data: bytes) -> Encoded:
    """A Part 10 file (or a raw data set without preamble) as :class:`Encoded`, like
    :func:`dgate.store.formats.read_file` reads a stored file."""
    if len(data) >= 132 and data[128:132] == b"DICM":
        fp = io.BytesIO(data)
        read_preamble(fp, False)
        try:
            meta = _read_file_meta_info(fp)
        except Exception as exc:
            raise BadObject(f"broken meta header: {exc}") from exc
        ts = str(meta.get("TransferSyntaxUID", IMPLICIT_LE)).rstrip("\0 ")
        return Encoded(data[fp.tell():], ts)
    if len(data) < 8:
        raise BadObject("too short to be a DICOM object")
    vr = data[4:6]
    return Encoded(data, EXPLICIT_LE if vr.isalpha() and vr.isupper() else IMPLICIT_LE)


def store_encoded(ctx: WebContext, encoded: Encoded, calling: str = "WEB") -> StoreOutcome:
    """Store one object through the ingest pipeline; never raises for bad input."""
    try:
        header = encoded.header()
    except BadObject as exc:
        return StoreOutcome(False, reason=str(exc), failure_code=0xC000)
    sop_class = str(header.get("SOPClassUID", ""))
    sop = str(header.get("SOPInstanceUID", ""))
    study = str(header.get("StudyInstanceUID", ""))
    series = str(header.get("SeriesInstanceUID", ""))
    try:
        ctx.ingest.store(encoded, ctx.db(), calling, ctx.own_ae)
    except StoreFailed as exc:
        return StoreOutcome(False, sop_class, sop, study, str(exc).lstrip("*"), 0x0110, series)
    except DatabaseError as exc:
        ctx.forget_db()
        return StoreOutcome(False, sop_class, sop, study, f"database: {exc}", 0xA700, series)
    return StoreOutcome(True, sop_class, sop, study, series=series)
