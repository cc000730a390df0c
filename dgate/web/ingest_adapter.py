"""The one place the web layer enters objects into the archive (STOW-RS, uploads).

Everything goes through :meth:`dgate.store.ingest.Ingest.store`, the pipeline every
entrance uses (converters, FixImage, ``IncomingCompression``, file, index, after-store
hooks such as export and mirror queues). A STOW part is streamed from the request's
temporary file into the pipeline's spool (:meth:`~dgate.store.ingest.Ingest.open_spool`):
small objects stay in memory, big ones go to a spool file on the storage device that is
renamed into place when nothing changes them, so a large upload is never copied into
memory whole. When the pipeline's signature changes, only this module changes.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

from pydicom.filereader import _read_file_meta_info, read_preamble

from ..db import DatabaseError
from ..store.formats import EXPLICIT_LE, IMPLICIT_LE, BadObject, Encoded
from ..store.ingest import IngestContext, Received, StoreFailed
from .context import WebContext
from .headerjson import UID_TAGS, Unsupported, quick_uids

CALLING = "WEB"                       # calling AE title the pipeline sees for web uploads
HEAD_PROBE = 1 << 20                  # bytes read to find the UIDs without copying a big object
COPY_CHUNK = 1 << 20
FAIL_PROCESSING = 0x0110
FAIL_CANNOT_UNDERSTAND = 0xC000
FAIL_RESOURCES = 0xA700


@dataclass
class StoreOutcome:
    ok: bool
    sop_class: str = ""
    sop_instance: str = ""
    study: str = ""
    reason: str = ""
    failure_code: int = 0
    series: str = ""


def _meta(head: bytes) -> tuple[int, str]:
    """(offset of the data set, transfer syntax) of a Part 10 file or a bare data set."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        fp = io.BytesIO(head)
        read_preamble(fp, False)
        try:
            meta = _read_file_meta_info(fp)
        except Exception as exc:
            raise BadObject(f"broken meta header: {exc}") from exc
        ts = str(meta.get("TransferSyntaxUID", IMPLICIT_LE)).rstrip("\0 ")
        return fp.tell(), ts
    if len(head) < 8:
        raise BadObject("too short to be a DICOM object")
    vr = head[4:6]
    return 0, EXPLICIT_LE if vr.isalpha() and vr.isupper() else IMPLICIT_LE


def parse_object(data: bytes) -> Encoded:
    """A Part 10 file (or a raw data set without preamble) as :class:`Encoded`, like
    :func:`dgate.store.formats.read_file` reads a stored file."""
    offset, ts = _meta(data)
    return Encoded(data[offset:], ts)


def object_uids(encoded: Encoded) -> dict[int, str]:
    """SOP class/instance, study and series UIDs (a quick walk, else pydicom's header)."""
    if encoded.transfer_syntax != "1.2.840.10008.1.2.2" and encoded.transfer_syntax != "1.2.840.10008.1.2.1.99":
        try:
            return quick_uids(encoded.raw, encoded.implicit)
        except Unsupported:
            pass
    header = encoded.header()
    return {tag: str(header[tag].value) for tag in UID_TAGS if tag in header}


@dataclass
class PartObject:
    """A DICOM object inside a buffer (the mmap of a request body): where its data set
    starts and ends, its transfer syntax and UIDs (read from the head only)."""

    source: object
    start: int
    end: int
    transfer_syntax: str
    uids: dict[int, str]

    def uid(self, tag: int) -> str:
        return self.uids.get(tag, "")


def locate_object(source, start: int, end: int) -> PartObject:
    """Meta header and UIDs of the object in ``source[start:end]``; raises BadObject."""
    head = bytes(source[start:min(end, start + HEAD_PROBE)])
    offset, ts = _meta(head)
    begin = start + offset
    uids: dict[int, str] = {}
    if ts not in ("1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"):
        try:
            uids = quick_uids(head[offset:], ts == IMPLICIT_LE)
        except Unsupported:
            uids = {}
    if 0x00080018 not in uids or (0x0020000E not in uids and end - start > HEAD_PROBE):
        whole = Encoded(bytes(source[begin:end]), ts)
        try:
            uids = object_uids(whole)
        except BadObject:
            raise
        except Exception as exc:
            raise BadObject(f"unreadable data set: {exc}") from exc
    return PartObject(source, begin, end, ts, uids)


def _run(ctx: WebContext, obj: Received | Encoded, uids: dict[int, str], peer: str,
         calling: str = CALLING) -> StoreOutcome:
    sop_class, sop, study, series = (uids.get(t, "") for t in (0x00080016, 0x00080018, 0x0020000D, 0x0020000E))
    try:
        ctx.ingest.store(obj, ctx.db(), ctx=IngestContext(calling, ctx.own_ae, None, source="web", peer=peer))
    except StoreFailed as exc:
        if exc.database:
            ctx.forget_db()
        code = exc.status if exc.status is not None else FAIL_PROCESSING
        return StoreOutcome(False, sop_class, sop, study, str(exc).lstrip("* "), code, series)
    except DatabaseError as exc:
        ctx.forget_db()
        return StoreOutcome(False, sop_class, sop, study, f"database: {exc}", FAIL_RESOURCES, series)
    # stored.path None: destroyed by an import step or an ignored rewrite; as for C-STORE
    # the sender is told it was stored
    return StoreOutcome(True, sop_class, sop, study, series=series)


def store_part(ctx: WebContext, part: PartObject, peer: str = "") -> StoreOutcome:
    """Store one located object, streamed into the pipeline's spool; never raises for bad input."""
    spool = ctx.ingest.open_spool(part.transfer_syntax, part.uid(0x00080016), part.uid(0x00080018))
    try:
        for pos in range(part.start, part.end, COPY_CHUNK):
            spool.write(part.source[pos:min(part.end, pos + COPY_CHUNK)])  # type: ignore[index]
        received = spool.finish()
    except OSError as exc:
        spool.discard()
        return StoreOutcome(False, part.uid(0x00080016), part.uid(0x00080018), part.uid(0x0020000D),
                            f"cannot spool the object: {exc}", FAIL_RESOURCES, part.uid(0x0020000E))
    return _run(ctx, received, part.uids, peer)


def store_encoded(ctx: WebContext, encoded: Encoded, calling: str = CALLING, peer: str = "") -> StoreOutcome:
    """Store one object held in memory (DICOM JSON, Lua uploads); never raises for bad input."""
    try:
        uids = object_uids(encoded)
    except BadObject as exc:
        return StoreOutcome(False, reason=str(exc), failure_code=FAIL_CANNOT_UNDERSTAND)
    except Exception as exc:
        return StoreOutcome(False, reason=f"unreadable data set: {exc}", failure_code=FAIL_CANNOT_UNDERSTAND)
    return _run(ctx, encoded, uids, peer, calling)
