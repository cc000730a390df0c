"""Transcoding to a named transfer syntax, NKI transparency for readers, and what a
retrieve destination gets (conquest-storage.md §6.7, nkiqrsop.cpp ``AddTransferSyntaxs``,
``GetAcceptedCompressionType``, ``StandardRetrieveNKI::Read``).
"""
from __future__ import annotations

import copy
from typing import Iterable, TypeVar

from pydicom.dataset import Dataset

from . import pixels
from . import syntaxes as ts
from .codes import parse
from .counters import NULL, CounterSink
from .encoded import EncodedLike, rebuild
from .encoders import Params, encode
from .errors import CodecError, reported
from .recompression import Log, _find, _pixels_start, already_there, decompress, recompress, to_uncompressed

E = TypeVar("E", bound=EncodedLike)
Obj = TypeVar("Obj", Dataset, EncodedLike)

NKI_TAG_BYTES = b"\xdf\x7f\x10\x00"


def _ts_of(obj) -> str:
    return pixels.transfer_syntax(obj) if isinstance(obj, Dataset) else str(obj.transfer_syntax)


@reported
def transcode(obj, transfer_syntax: str, *, quality: int = 95, counters: CounterSink = NULL):
    """``obj`` (Dataset or encoded) in exactly ``transfer_syntax``; unchanged when it is
    already in it (and not NKI compressed). Lossy targets use ``quality`` (JPEG quality;
    J2K ratio 100/quality; JPEG-LS near-lossless NEAR 10 − (quality+9)//10, as the
    original's WADO does). Raises :class:`CodecError` when the target cannot hold the
    data (e.g. 16-bit data as JPEG Baseline)."""
    uid = str(transfer_syntax).rstrip("\0 ")
    row = ts.syntax(uid)
    if row is None:
        raise CodecError(f"unknown transfer syntax {uid}")
    is_ds = isinstance(obj, Dataset)
    header = obj if is_ds else obj.header()
    if _ts_of(obj) == uid and not pixels.has_nki(header):
        return obj
    ds = obj if is_ds else obj.dataset()
    decompress(ds, counters)
    if row.encapsulated:
        if "PixelData" not in ds:
            raise CodecError(f"no pixel data to encode as {row.name}", pixels.sop_of(ds))
        to_uncompressed(ds, ts.EXPLICIT_LE)
        q = max(1, min(100, quality))
        params = Params(quality=q, ratio=100.0 / q if uid == ts.J2K and q < 100 else 0.0,
                        near=10 - (q + 9) // 10 if uid == ts.JPEGLS_NEAR else 0,
                        predictor=6 if uid == ts.JPEG_LOSSLESS else 1)
        encode(ds, uid, params, counters)
    elif uid == ts.DEFLATED:
        to_uncompressed(ds, ts.EXPLICIT_LE)
        pixels.set_transfer_syntax(ds, ts.DEFLATED)
    else:
        to_uncompressed(ds, uid)
    return ds if is_ds else rebuild(obj, ds)


@reported
def readable(obj, counters: CounterSink = NULL):
    """What every reader of a stored object sees (C-MOVE/C-GET to ordinary classes,
    dump_header, conversions, regen): NKI private compression expanded to ordinary pixel
    data; anything else returned as it is. Cheap for objects without NKI data (a byte
    search, no parsing)."""
    if isinstance(obj, Dataset):
        if pixels.has_nki(obj):
            pixels.expand_nki(obj, counters)
        return obj
    if _pixels_start(obj.raw, str(obj.transfer_syntax)) < len(obj.raw):
        return obj                        # ordinary pixel data found: no NKI data (it replaces it)
    if _find(obj.raw, NKI_TAG_BYTES) < 0 and _find(obj.raw, b"\x7f\xdf\x00\x10") < 0:
        return obj
    header = obj.header()
    if not pixels.has_nki(header):
        return obj
    ds = obj.dataset()
    pixels.expand_nki(ds, counters)
    return rebuild(obj, ds)


# -- retrieve destinations ------------------------------------------------------------------
_PROPOSE = {
    "1": (ts.JPEG_LOSSLESS, ts.JPEG_LOSSLESS_SV1), "2": (ts.JPEG_LOSSLESS, ts.JPEG_LOSSLESS_SV1),
    "3": (ts.JPEG_EXTENDED, ts.JPEG_BASELINE), "4": (ts.JPEG_EXTENDED, ts.JPEG_BASELINE),
    "5": (ts.JPEG_SPECTRAL, ts.JPEG_EXTENDED, ts.JPEG_BASELINE),
    "6": (ts.JPEG_PROGRESSIVE, ts.JPEG_EXTENDED, ts.JPEG_BASELINE),
    "k": (ts.J2K_LOSSLESS,), "l": (ts.J2K, ts.J2K_LOSSLESS),
    "s": (ts.JPEGLS_LOSSLESS,), "7": (ts.JPEGLS_NEAR, ts.JPEGLS_LOSSLESS),
}


def proposed_syntaxes(code: str, stored: str | None = None) -> list[str]:
    """Transfer syntaxes to propose to a destination whose acrnema.map column is ``code``
    (``AddTransferSyntaxs``): ``ul``/``ub``/``ue`` add the explicit syntaxes, ``j…`` the
    JPEG family members of that code; Implicit VR LE is always last unless the code
    contains ``!``. For ``as``/``is`` the stored syntax of the object is proposed first
    (the original only offered Implicit VR LE and warned that as-is was not implemented)."""
    text = (code or "").strip().lower()
    out: list[str] = []
    if text.startswith(("as", "is")) and stored:
        out.append(stored)
        if stored != ts.EXPLICIT_LE:
            out.append(ts.EXPLICIT_LE)
    elif text.startswith("ul"):
        out.append(ts.EXPLICIT_LE)
    elif text.startswith("ub"):
        out.append(ts.EXPLICIT_BE)
    elif text.startswith("ue"):
        out += [ts.EXPLICIT_LE, ts.EXPLICIT_BE]
    elif text.startswith("j"):
        out += list(_PROPOSE.get(text[1:2], (ts.JPEG_LOSSLESS, ts.JPEG_LOSSLESS_SV1)))
    if "!" not in text and ts.IMPLICIT_LE not in out:
        out.append(ts.IMPLICIT_LE)
    return out


_ACCEPTED = {ts.JPEG_LOSSLESS_SV1: "j1", ts.JPEG_LOSSLESS: "j2", ts.JPEG_BASELINE: "j3", ts.JPEG_EXTENDED: "j4",
             ts.JPEG_SPECTRAL: "j5", ts.JPEG_PROGRESSIVE: "j6", ts.J2K_LOSSLESS: "jk", ts.J2K: "jl",
             ts.JPEGLS_LOSSLESS: "js", ts.JPEGLS_NEAR: "j7", ts.EXPLICIT_LE: "ul", ts.EXPLICIT_BE: "ub",
             ts.IMPLICIT_LE: "ui"}


def compression_for_destination(code: str, accepted: str) -> str:
    """The compression code to apply for a destination (``GetAcceptedCompressionType``):
    a ``j`` column becomes the code of the JPEG syntax the destination accepted (``ul``,
    ``ub``, ``ui`` for the uncompressed ones, ``un`` otherwise); any other column is used
    as it is."""
    text = (code or "").strip()
    if not text.lower().startswith("j"):
        return text
    return _ACCEPTED.get(str(accepted).rstrip("\0 "), "un")


def nki_client_code(code: str, requested: str | None = None, max_nki: int | None = None) -> str:
    """The code for a client of the NKI private retrieve classes: its (9999,0700)
    RequestedCompression replaces the negotiated code, and NKI modes are limited to its
    (9999,0600) MaxSupportedCompression (default 5)."""
    mode = (requested if requested else code) or ""
    limit = min(5, max_nki if max_nki else 5)
    if mode[:1].lower() == "n" and mode[1:2].lower() != "j" and mode[1:2].isdigit() and int(mode[1:2]) > limit:
        mode = mode[0] + str(limit) + mode[2:]
    return mode


@reported
def for_destination(obj, accepted: str, code: str = "as", *, lossy_quality: int = 95,
                    counters: CounterSink = NULL, nki_client: bool = False, log: Log | None = None):
    """``obj`` as it is sent to a destination that accepted transfer syntax ``accepted``
    for its presentation context, with acrnema.map column ``code``.

    Stored bytes are returned untouched when they already are in the accepted syntax and
    the code asks for nothing else (no decode at all). Otherwise the object is
    recompressed with :func:`compression_for_destination` and, if the result is not in the
    accepted syntax, transcoded to it. NKI data is expanded unless ``nki_client`` (the NKI
    private retrieve classes get it as stored, or recompressed to their ``n`` code).
    Raises :class:`CodecError` if the object cannot be brought into the accepted syntax;
    the caller then fails that sub-operation (or sends the stored form if accepted)."""
    accepted = str(accepted).rstrip("\0 ")
    wanted = compression_for_destination(code, accepted)
    stored = _ts_of(obj)
    plain_wanted = wanted.lower().startswith(("as", "is")) or wanted == ""
    if not nki_client:
        obj = readable(obj, counters)
    if plain_wanted and stored == accepted:
        return obj
    if not plain_wanted:
        obj = recompress(obj, wanted, lossy_quality=lossy_quality, counters=counters, log=log)
    if _ts_of(obj) == accepted:
        return obj
    is_ds = isinstance(obj, Dataset)
    header = obj if is_ds else obj.header()
    if pixels.has_nki(header) and accepted in ts.UNCOMPRESSED and not is_ds:
        # NKI data travels in an uncompressed syntax: re-encode the elements only
        ds = obj.dataset()
        to_uncompressed(ds, accepted)
        return rebuild(obj, ds)
    return transcode(obj, accepted, quality=lossy_quality, counters=counters)


def choose_accepted(stored: str, accepted: Iterable[str]) -> str | None:
    """Of the syntaxes a destination accepted (in proposal order), the stored one if it is
    among them, else the first; None if none."""
    accepted = [str(a).rstrip("\0 ") for a in accepted]
    if stored in accepted:
        return stored
    return accepted[0] if accepted else None


def for_ingest(obj: Obj, code: str, *, lossy_quality: int = 95, counters: CounterSink = NULL,
               log: Log | None = None) -> Obj:
    """The compression step of the ingest pipeline (IncomingCompression,
    DroppedFileCompression, ArchiveCompression): ``recompress``, but a codec failure keeps
    the object as received and logs one line naming the object and the codec error."""
    spec = parse(code)
    if spec.leaves_as_is:
        return obj
    work = obj
    if isinstance(obj, Dataset):
        if spec.kind != "unknown" and already_there(obj, spec, pixels.transfer_syntax(obj), lossy_quality):
            return obj
        work = copy.deepcopy(obj)          # a failure must leave the received object intact
    try:
        return recompress(work, code, lossy_quality=lossy_quality, counters=counters, log=log)
    except CodecError as exc:
        from .recompression import _default_log
        (log or _default_log)(f"***[recompress] compression '{code}' failed, stored as received: {exc}\n")
        return obj


def allow_nki_in(file_name: str, allow_nki_as_dicom: bool) -> bool:
    """Whether NKI compressed pixel data may be written to ``file_name`` (SaveToDisk: only
    ``.v2`` files keep it, unless AllowNKIAsDICOM=1)."""
    return allow_nki_as_dicom or file_name.lower().endswith(".v2")
