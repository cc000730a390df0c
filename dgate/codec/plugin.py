"""Compression in the running server (a plug-in listed in :data:`dgate.hub.plugins.MODULES`;
conquest-storage.md §6.3, §6.7, §6.8).

At import it sets, in the hub and in every worker:

* :data:`dgate.store.ingest.COMPRESSION`: every Conquest compression code for the ingest
  pipeline (IncomingCompression or the ``~xx`` called-AE suffix for C-STORE,
  DroppedFileCompression for the incoming folder and ``addimagefile``). A codec failure
  raises; the pipeline then stores the object as received and logs one ``***`` line naming
  the object, the code and the codec error. ``COMPRESSION.keeps`` is the codec's byte test
  (:func:`dgate.codec.recompression.keeps`) of what needs no change (``un`` on plain
  uncompressed data: no parse). ``COMPRESSION.readable`` expands NKI pixel data
  before a non-``.v2`` file is written (unless ``AllowNKIAsDICOM = 1``).
* :data:`dgate.net.hooks.RETRIEVE_PROPOSAL` / ``RETRIEVE_SYNTAX`` / ``RETRIEVE_PAYLOAD``: what a
  C-MOVE / C-GET / forward destination is offered and sent, after its acrnema.map column
  (wildcard rows included, as the lookup resolves them; C-GET uses ``un``), grouped into
  presentation contexts by :func:`retrieve_proposal`:

  - ``as``/``is``: the stored syntax, then Explicit and Implicit VR LE;
  - ``un``/``ui``: Implicit VR LE first (as the original, issue 17), Explicit VR LE as a
    fallback; ``ul``/``ub``/``ue`` their syntaxes first;
  - ``j…``: the JPEG family members of that code (``AddTransferSyntaxs``), then Implicit VR
    LE unless the code holds ``!``; the stored compressed syntax is offered last, so a
    failed transcode can fall back to it;
  - ``n…``, ``k…``, ``s…``: Implicit then Explicit VR LE.

  Stored bytes are streamed from disk untouched when the destination accepted the stored
  syntax and the column asks for nothing else; uncompressed → uncompressed is the lean
  rewrite of :mod:`dgate.net.storescu`. Anything else is decoded once from a mapping of the
  file and goes through :func:`dgate.codec.for_destination` (the policy of
  :func:`dgate.codec.storage.retrieve_step`: NKI expanded for ordinary classes; the NKI
  private retrieve classes get the stored form, or their (9999,0700) code), large native
  pixel data is then sent as the element's own buffer. A failed
  transcode falls back to the stored form when the destination accepted it (logged),
  otherwise that sub-operation fails (:class:`~dgate.codec.CodecError`, logged by the
  C-MOVE/C-GET handler, counted as failed).
"""
from __future__ import annotations

import mmap
import struct
import threading
from typing import Any

from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from ..log import printable
from ..net import hooks
from ..runtime import counters
from ..store.formats import Encoded, ObjectFile
from ..store.ingest import COMPRESSION, IngestContext
from ..store.reader import has_nki
from . import (
    CodecError,
    compression_for_destination,
    for_destination,
    nki_client_code,
    proposed_syntaxes,
    readable,
    recompress,
    storage,  # noqa: F401  (ArchiveCompression for dgate.store.archive)
)
from . import syntaxes as ts
from .encoded import Encoded as CodecEncoded
from .encoded import serialize
from .recompression import keeps

REQUESTED_COMPRESSION = 0x99990700     # (9999,0700) recompression for sending
MAX_NKI = 0x99990600                   # (9999,0600) max NKI compression a client supports
UNCOMPRESSED = (ts.IMPLICIT_LE, ts.EXPLICIT_LE, ts.EXPLICIT_BE)


# -- ingest ---------------------------------------------------------------------------------
def _serialized(ds: Dataset, uid: str) -> memoryview | bytes:
    """The data set bytes in ``uid`` as a view of the writer's own buffer (no final copy:
    a 1 GB object is held once, not twice)."""
    if uid == ts.DEFLATED:
        return serialize(ds, uid)
    fp = DicomBytesIO()
    fp.is_little_endian = uid != ts.EXPLICIT_BE
    fp.is_implicit_VR = uid == ts.IMPLICIT_LE
    write_dataset(fp, Dataset({tag: elem for tag, elem in ds.items() if tag.group != 2}))
    return fp.parent.getbuffer()  # type: ignore[union-attr]


def _chunks(ds: Dataset, uid: str) -> list:
    """The data set bytes in ``uid`` as pieces to send: large native pixel data goes out as
    the element's own value (not copied into a serialized whole)."""
    elem = ds["PixelData"] if "PixelData" in ds else None
    value = elem.value if elem is not None else None
    if uid not in (ts.IMPLICIT_LE, ts.EXPLICIT_LE) or elem is None or elem.is_undefined_length \
            or not isinstance(value, bytes) or len(value) < (1 << 20):
        return [_serialized(ds, uid)]
    pixel_tag = 0x7FE00010
    head = Dataset({tag: e for tag, e in ds.items() if tag.group != 2 and tag < pixel_tag})
    tail = Dataset({tag: e for tag, e in ds.items() if tag > pixel_tag})
    pad = b"\0" if len(value) % 2 else b""
    if uid == ts.IMPLICIT_LE:
        header = struct.pack("<HHI", 0x7FE0, 0x0010, len(value) + len(pad))
    else:
        header = struct.pack("<HH2s2xI", 0x7FE0, 0x0010, (elem.VR if elem.VR in ("OB", "OW") else "OW").encode(),
                             len(value) + len(pad))
    out = [_serialized(head, uid), header, value]
    if pad:
        out.append(pad)
    if len(tail):
        out.append(_serialized(tail, uid))
    return out


class _Lean(CodecEncoded):
    """An encoded object whose re-encoding is a view of the writer's buffer (see
    :func:`_serialized`); the ingest pipeline and the sender take any buffer."""

    @classmethod
    def from_dataset(cls, ds: Dataset, transfer_syntax: str | None = None) -> "_Lean":
        meta = getattr(ds, "file_meta", None)
        uid = transfer_syntax or str(meta.get("TransferSyntaxUID", "") if meta is not None else "") or ts.EXPLICIT_LE
        return cls(_serialized(ds, uid), uid)  # type: ignore[arg-type]


def ingest_compression(obj: Encoded, code: str, ctx: IngestContext):
    """The ingest pipeline's compression step for every Conquest code (raises
    :class:`CodecError`; the pipeline keeps the object as received and logs it). A spooled
    object is parsed from its mapping without a copy of the whole."""
    ingest = ctx.ingest
    quality = ingest.settings.int("LossyQuality") if ingest is not None else 95
    log = ingest.logs.operator.printf if ingest is not None else None
    lean = _Lean(obj.raw, obj.transfer_syntax)
    out = recompress(lean, code, lossy_quality=quality or 95, counters=counters, log=log)
    return obj if out is lean else out


def readable_for_file(obj: Encoded, ingest: Any) -> Encoded:
    """NKI pixel data expanded (SaveToDisk into a ``.dcm``); a broken NKI stream is kept."""
    try:
        return readable(obj, counters)
    except CodecError as exc:
        if ingest is not None:
            ingest.logs.operator.printf(f"***NKI pixel data could not be expanded, stored as received: "
                                        f"{printable(str(exc))}\n")
        return obj


# -- retrieve -------------------------------------------------------------------------------
_pending = threading.local()


def _column(code: str) -> str:
    return (code or "").strip().lower()


def preference(code: str, stored: set[str] | frozenset[str], as_stored: bool = False) -> list[str]:
    """Transfer syntaxes to offer a destination with acrnema.map column ``code`` for objects
    stored in ``stored``, most preferred first (grouped into contexts by
    :func:`retrieve_proposal`)."""
    c = _column(code)
    compressed = sorted(s for s in stored if s not in UNCOMPRESSED)
    if as_stored or c == "" or c.startswith(("as", "is", "v")):
        out = compressed + [ts.EXPLICIT_LE, ts.IMPLICIT_LE]
    elif c.startswith("u"):
        first = {"ul": [ts.EXPLICIT_LE], "ub": [ts.EXPLICIT_BE], "ue": [ts.EXPLICIT_LE, ts.EXPLICIT_BE]}.get(
            c[:2], [ts.IMPLICIT_LE])
        out = first + [s for s in (ts.IMPLICIT_LE, ts.EXPLICIT_LE) if s not in first]
        if c.startswith("uj"):
            out = [s for s in compressed if s in ts.JPEG_FAMILY] + out
    elif c.startswith("j"):
        out = proposed_syntaxes(c)
        out += [s for s in compressed if s not in out]
    else:
        out = [ts.IMPLICIT_LE, ts.EXPLICIT_LE]
    seen: list[str] = []
    for s in out:
        if s not in seen:
            seen.append(s)
    return seen


def retrieve_proposal(sop_class: str, stored: set[str], code: str, as_stored: bool) -> list[list[str]]:
    """Presentation contexts for one SOP class (issue 12): :func:`preference` grouped so that
    syntaxes the column treats alike share one context and the acceptor's choice among them
    cannot change what the column asks for:

    - the JPEG family members of a ``j…`` column (``AddTransferSyntaxs``) form one context;
    - for ``as``/``is``/``v`` (and NKI private classes) Explicit and Implicit VR LE form one
      context, each stored compressed syntax its own (sent untouched where accepted);
    - every other syntax (the Implicit VR LE of ``un``, its Explicit fallback, a stored
      compressed fallback) has its own context, so the destination keeps the column's first
      choice whenever it supports it.

    Typically 1–3 contexts per SOP class instead of one per syntax."""
    c = _column(code)
    order = preference(code, stored, as_stored)
    family: set[str] = set()
    if c.startswith("j") and not as_stored:
        family = {s for s in proposed_syntaxes(c) if s not in UNCOMPRESSED}
    elif as_stored or c == "" or c.startswith(("as", "is", "v")):
        family = {ts.EXPLICIT_LE, ts.IMPLICIT_LE}
    groups: list[list[str]] = []
    grouped: list[str] | None = None
    for s in order:
        if s in family:
            if grouped is None:
                grouped = []
                groups.append(grouped)
            grouped.append(s)
        else:
            groups.append([s])
    return groups


class _Defaults:
    """dicom.ini defaults for a caller without a server (LossyQuality 95)."""

    def int(self, name: str, default: int = 0) -> int:
        return 95 if name == "LossyQuality" else default


def _settings(ctx: Any):
    session = getattr(ctx, "session", None)
    server = getattr(session, "server", None)
    return getattr(server, "settings", None)


def _log(ctx: Any):
    session = getattr(ctx, "session", None)
    found: Any = getattr(session, "logs", None)
    if found is None:
        from ..log import logs as found
    return found.operator.printf


def _control(ctx: Any, tag: int) -> str:
    """A Conquest control value from the retrieve command or identifier (nkiqrsop.cpp copies
    (9999,0700) from the identifier into the command)."""
    command = getattr(ctx, "command", None)
    if command is not None and hasattr(command, "text"):
        value = command.text(tag)
        if value:
            return value
    identifier = getattr(ctx, "identifier", None)
    if identifier is not None and tag in identifier:
        value = identifier[tag].value
        if isinstance(value, bytes):
            value = value.decode("latin-1", "replace")
        return str(value or "").strip(" \0")
    return ""


def _streams_as_is(code: str, stored: str, target: str) -> bool:
    """Whether the stored bytes (or their lean uncompressed rewrite) are what the column asks
    for ``target``: no decode at all."""
    c = _column(code)
    if not (c == "" or c.startswith(("as", "is", "v", "u", "j"))):
        return False           # n, k, s codes change the pixels
    if target == stored:
        return True
    return stored in UNCOMPRESSED and target in UNCOMPRESSED and not c.startswith("j")


def retrieve_syntax(obj: ObjectFile, offered: dict[str, int], code: str, ctx: Any) -> str | None:
    """The transfer syntax ``obj`` goes out in. When it must be converted the conversion
    happens here (so a failure can still choose the stored syntax) and
    :func:`retrieve_payload` hands out the result; raises :class:`CodecError` when the
    object cannot be sent in any accepted syntax."""
    _pending.value = None
    if not offered:
        return None
    as_stored = bool(getattr(ctx, "as_stored", False))
    requested = _control(ctx, REQUESTED_COMPRESSION) if as_stored else ""
    stored = obj.transfer_syntax
    order = [s for s in preference(code, {stored}, as_stored) if s in offered]
    order += [s for s in offered if s not in order]
    target = order[0]
    if as_stored and not requested and stored in offered:
        return stored                                      # NKI private classes: as stored
    nki = not as_stored and has_nki(obj)
    if not nki and not requested and _streams_as_is(code, stored, target):
        return target
    if not nki and not requested and stored in offered and _column(code).startswith("j") and \
            stored in proposed_syntaxes(_column(code)):
        return stored                                      # already one of the column's syntaxes
    settings = _settings(ctx) or _Defaults()
    max_nki = 0
    if as_stored:
        try:
            max_nki = int(_control(ctx, MAX_NKI) or 0)
        except ValueError:
            max_nki = 0
    log = _log(ctx)
    wanted = code
    if as_stored:
        wanted = nki_client_code(compression_for_destination(code, target), requested or None, max_nki or None)
    try:
        ds = _stored_dataset(obj)
        out = for_destination(ds, target, wanted, lossy_quality=settings.int("LossyQuality") or 95,
                              counters=counters, nki_client=as_stored, log=log)
        del ds
        raw = _chunks(out, target)
    except CodecError as exc:
        if stored in offered:
            log(f"***[retrieve] {printable(obj.sop_instance)}: {exc}; sent as stored ({ts.name(stored)})\n")
            return stored                                  # streamed from disk by the default payload
        raise CodecError(f"{printable(obj.sop_instance)}: cannot be sent as {ts.name(target)} "
                         f"(acrnema.map column '{printable(code)}'): {exc}") from exc
    _pending.value = (str(obj.path), target, raw)
    return target


def _stored_dataset(obj: ObjectFile) -> Dataset:
    """The stored object decoded from a mapping of its file (no copy of the whole; its
    pages are given back after parsing)."""
    with open(obj.path, "rb") as handle:
        mapping = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    view = memoryview(mapping)[obj.offset:obj.offset + obj.size]
    return CodecEncoded(view, obj.transfer_syntax).dataset()  # type: ignore[arg-type]


def retrieve_payload(obj: ObjectFile, target: str, ctx: Any):
    """The bytes :func:`retrieve_syntax` converted for this object, or None (stream)."""
    pending = getattr(_pending, "value", None)
    _pending.value = None
    if pending is not None and pending[0] == str(obj.path) and pending[1] == target:
        return pending[2]
    return None


def install() -> None:
    COMPRESSION.set(ingest_compression, keeps)
    COMPRESSION.readable = readable_for_file
    hooks.RETRIEVE_PROPOSAL.set(retrieve_proposal)
    hooks.RETRIEVE_SYNTAX.set(retrieve_syntax)
    hooks.RETRIEVE_PAYLOAD.set(retrieve_payload)


install()
