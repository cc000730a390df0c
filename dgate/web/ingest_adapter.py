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
from .headerjson import UID_TAGS, Unsupported, quick_uids


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


def object_uids(encoded: Encoded) -> dict[int, str]:
    """SOP class/instance, study and series UIDs (a quick walk, else pydicom's header)."""
    if encoded.transfer_syntax != "1.2.840.10008.1.2.2" and encoded.transfer_syntax != "1.2.840.10008.1.2.1.99":
        try:
            return quick_uids(encoded.raw, encoded.implicit)
        except Unsupported:
            pass
    header = encoded.header()
    return {tag: str(header[tag].value) for tag in UID_TAGS if tag in header}


def store_encoded(ctx: WebContext, encoded: Encoded, calling: str = "WEB") -> StoreOutcome:
    """Store one object through the ingest pipeline; never raises for bad input."""
    try:
        uids = object_uids(encoded)
    except BadObject as exc:
        return StoreOutcome(False, reason=str(exc), failure_code=0xC000)
    sop_class, sop, study, series = (uids.get(t, "") for t in (0x00080016, 0x00080018, 0x0020000D, 0x0020000E))
    try:
        ctx.ingest.store(encoded, ctx.db(), calling, ctx.own_ae)
    except StoreFailed as exc:
        return StoreOutcome(False, sop_class, sop, study, str(exc).lstrip("*"), 0x0110, series)
    except DatabaseError as exc:
        ctx.forget_db()
        return StoreOutcome(False, sop_class, sop, study, f"database: {exc}", 0xA700, series)
    return StoreOutcome(True, sop_class, sop, study, series=series)
