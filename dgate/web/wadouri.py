"""WADO-URI (PS3.18 §9) at ``/wado`` and Conquest's ``/api/dicom/wadouri``.

``contentType`` (a comma list, tried in order; default ``image/jpeg``):

* ``application/dicom``: the object in ``transferSyntax`` (default Explicit VR Little
  Endian, as PS3.18 and Conquest's ``un`` have it; any syntax :func:`dgate.codec.transcode`
  makes), or Conquest's ``n0``–``n4`` (NKI compressed, sequences left out, as
  ``wadorequest`` does); NKI stored files are always served as ordinary pixel data;
* ``image/jpeg``, ``image/png``, ``image/gif`` (multi-frame: animated), ``image/bmp``,
  ``image/jp2``: drawn as Conquest draws them (:mod:`.wadoimage`) with ``rows``/``columns``
  (the larger is the size), ``region``, ``windowCenter``/``windowWidth``, ``frameNumber``
  and ``imageQuality``;
* ``text/plain``, ``text/html``: Conquest's header dump.

The two paths differ only where Conquest's viewers differ from PS3.18: at ``/wado``
``region`` is ``left,top,right,bottom`` and ``frameNumber`` counts from 1; at
``/api/dicom/wadouri`` (Conquest's newweb viewers) ``region`` is ``xstart,xend,ystart,yend``,
``frameNumber`` counts from 0 and a negative one draws the series as a strip, and the size
defaults to 1600. ``anonymize`` runs Conquest's anonymizer on the object read from disk
(before it is drawn, dumped or sent; ``yes`` → ``anonymize_script.cq``,
other values → ``lua/anonymize_script.lua(value)``, :func:`.wadoimage.anonymize`): when
that script is not installed nothing is served (500), an object it refuses is 403; the
series strip is not anonymized (Conquest draws it before its anonymizer runs).
``presentationUID`` (a presentation state) is refused at ``/wado``, ignored as Conquest
does at ``/api/dicom/wadouri``; ``annotation`` and ``charset`` are not applied.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from pydicom.dataset import Dataset
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from .. import codec
from ..codec import syntaxes as ts
from ..codec.pixels import transfer_syntax
from ..store.dump import dump, dump_file
from . import retrieve, wadoimage
from .context import WebContext
from .errors import HTTPProblem, not_acceptable, warning
from .rendering import finite_number

DICOM_TYPES = ("application/dicom", "application/*", "*/*")
TEXT_TYPES = ("text/plain", "text/html")
NKI_CODES = ("n0", "n1", "n2", "n3", "n4")


@dataclass(frozen=True)
class Dialect:
    """How a WADO-URI path reads the parameters where Conquest and PS3.18 differ."""

    conquest: bool

    @property
    def name(self) -> str:
        return "/api/dicom/wadouri" if self.conquest else "/wado"


STANDARD, CONQUEST = Dialect(False), Dialect(True)


@dataclass
class WadoAnswer:
    content_type: str
    body: bytes
    filename: str = ""
    warnings: list[str] = field(default_factory=list)


def _positive(params: dict[str, str], name: str) -> int:
    text = params.get(name, "").strip()
    if not text:
        return 0
    if not text.isdigit() or int(text) == 0:
        raise HTTPProblem(400, f"{name} must be a positive whole number, not '{text}'")
    return int(text)


def _number(params: dict[str, str], name: str) -> float | None:
    text = params.get(name, "").strip()
    return finite_number(text, name) if text else None


def _region(params: dict[str, str], dialect: Dialect) -> tuple[float, float, float, float] | None:
    text = params.get("region", "").strip()
    if not text:
        return None
    order = "xstart,xend,ystart,yend" if dialect.conquest else "left,top,right,bottom"
    parts = text.replace("/", ",").split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 4 or not all(0.0 <= v <= 1.0 for v in values):
        raise HTTPProblem(400, f"region is four fractions from 0 to 1 ({order}), not '{text}'")
    if dialect.conquest:
        sx, ex, sy, ey = values
    else:
        sx, sy, ex, ey = values
    if ex <= sx or ey <= sy:
        raise HTTPProblem(400, f"region {text} ({order}) holds no pixels")
    return sx, ex, sy, ey


def drawing(params: dict[str, str], kind: str, ds: Dataset, dialect: Dialect) -> tuple[wadoimage.Drawing, list[str]]:
    """The :class:`Drawing` a WADO-URI image request asks for; malformed values are 400."""
    warnings: list[str] = []
    rows, columns = _positive(params, "rows"), _positive(params, "columns")
    size = max(rows, columns) or (wadoimage.CONQUEST_SIZE if dialect.conquest else 0)
    center, width = _number(params, "windowCenter"), _number(params, "windowWidth")
    if (center is None) != (width is None):
        raise HTTPProblem(400, "windowCenter and windowWidth go together")
    if width is not None and width <= 0:
        raise HTTPProblem(400, f"windowWidth must be positive, not '{params['windowWidth']}'")
    level = math.trunc(center + (0.5 if center >= 0 else -0.5)) if center is not None else 0
    window = max(1, math.trunc(width + 0.5)) if width is not None else 0
    quality = 95
    if params.get("imageQuality", "").strip():
        text = params["imageQuality"].strip()
        if not text.isdigit() or not 1 <= int(text) <= 100:
            raise HTTPProblem(400, f"imageQuality is a whole number from 1 to 100, not '{text}'")
        quality = int(text)
    frames = wadoimage.number_of_frames(ds)
    text = params.get("frameNumber", "").strip()
    if text and not text.lstrip("-").isdigit():
        raise HTTPProblem(400, f"frameNumber must be a whole number, not '{text}'")
    if dialect.conquest:
        frame = int(text) if text else 0
    else:
        frame = int(text) - 1 if text else 0
        if text and not 0 <= frame < frames:
            raise HTTPProblem(400, f"frameNumber {text} does not exist; the object has {frames} frame(s)")
    if kind == "gif" and frames > 1 and (dialect.conquest or not text):
        frame = wadoimage.ANIMATED
    if params.get("presentationUID", "").strip() and not dialect.conquest:
        raise HTTPProblem(400, "presentationUID (a presentation state) is not applied by this server")
    for name in ("annotation", "charset"):
        if params.get(name, "").strip():
            warnings.append(f"{name} is not applied to WADO-URI images"
                            + (" (WADO-RS .../rendered?annotation= does it)" if name == "annotation" else ""))
    return wadoimage.Drawing(kind, size, level, window, frame, quality, _region(params, dialect)), warnings


def dicom_answer(ctx: WebContext, located: retrieve.Located, syntax: str, ds: Dataset | None = None) -> bytes:
    """The Part 10 file of ``application/dicom`` in the asked syntax; ``ds``: the object as
    changed in memory (anonymized) instead of the stored file."""
    if syntax.lower() in NKI_CODES:
        from ..store.formats import Encoded, part10_bytes
        ds = ds if ds is not None else retrieve.load_dataset(located)
        try:
            ds = codec.recompress(ds, syntax.lower(), counters=codec.NULL)
        except codec.CodecError as exc:
            raise not_acceptable(f"cannot NKI compress this object ({syntax}): {exc}")
        for elem in [e for e in ds if e.VR == "SQ"]:
            del ds[elem.tag]                    # as wadorequest does (SimplifyDicom)
        out = Encoded.from_dataset(ds, transfer_syntax(ds))
        return part10_bytes(out, str(ds.get("SOPClassUID", located.item.sop_class)),
                            str(ds.get("SOPInstanceUID", located.item.sop_uid)))
    syntax = syntax or ts.EXPLICIT_LE
    if ts.syntax(syntax) is None:
        raise HTTPProblem(400, f"transferSyntax '{syntax}' is not a transfer syntax UID this server knows"
                               f" (or Conquest's n0..n4)")
    if ds is not None:
        return _dataset_bytes(ctx, ds, syntax)
    stored = retrieve.stored_syntax(located.path)
    target = retrieve.choose(stored, [syntax])
    if target is None:
        raise not_acceptable(retrieve.refusal(stored, [syntax], "the object"))
    return retrieve.instance_bytes(located, target, ctx.lossy_quality)


def _dataset_bytes(ctx: WebContext, ds: Dataset, syntax: str) -> bytes:
    """An object changed in memory as a Part 10 file in ``syntax`` (transcoded by the codec)."""
    from ..store.formats import Encoded, part10_bytes
    try:
        ds = codec.transcode(ds, syntax, quality=ctx.lossy_quality, counters=codec.NULL)
    except codec.CodecError as exc:
        raise not_acceptable(f"the object cannot be sent as {ts.name(syntax)}: {exc}")
    out = Encoded.from_dataset(ds, transfer_syntax(ds))
    return part10_bytes(out, str(ds.get("SOPClassUID", "")), str(ds.get("SOPInstanceUID", "")))


def _anonymized(ctx: WebContext, located: retrieve.Located, value: str) -> Dataset:
    """The stored object (NKI expanded) through the anonymizer ``value`` asks for."""
    try:
        return wadoimage.anonymize(retrieve.load_dataset(located), value, ctx.config, ctx.logs)
    except wadoimage.WadoError as exc:
        raise HTTPProblem(exc.status, str(exc))


def _strip(ctx: WebContext, located: retrieve.Located, what: wadoimage.Drawing) -> bytes:
    series = retrieve.locate_instances(ctx, located.item.study_uid, located.item.series_uid)
    datasets = []
    for loc in series:
        try:
            datasets.append(retrieve.load_dataset(loc))
        except Exception as exc:          # a broken file is left out of the strip, logged
            ctx.logs.operator.printf(f"***WADO strip: cannot read {loc.path}: {exc}\n")
    return wadoimage.strip(datasets, what.kind, what.level, what.window, -what.frame)


def wado_object(ctx: WebContext, params: dict[str, str], dialect: Dialect = STANDARD) -> WadoAnswer:
    """Answer one WADO request (parameters by their PS3.18 names)."""
    study, series, sop = params.get("studyUID", ""), params.get("seriesUID", ""), params.get("objectUID", "")
    if not sop:
        raise HTTPProblem(400, "WADO-URI needs objectUID (and studyUID, seriesUID)")
    located = retrieve.locate_instances(ctx, study, series, sop)[0]
    types = [t.strip().lower() for t in (params.get("contentType") or "image/jpeg").split(",") if t.strip()]
    value = params.get("anonymize", "").strip()
    anonymized: Dataset | None = None
    for ctype in types:
        kind = ctype.split(";")[0].strip()
        if value and anonymized is None and (kind in DICOM_TYPES or kind in TEXT_TYPES or kind in wadoimage.KINDS):
            anonymized = _anonymized(ctx, located, value)
        if kind in DICOM_TYPES:
            return WadoAnswer("application/dicom",
                              dicom_answer(ctx, located, params.get("transferSyntax", ""), anonymized), "file.dcm")
        if kind in TEXT_TYPES:
            text = dump(anonymized, ctx.config.dictionary) if anonymized is not None else \
                dump_file(located.path, ctx.config.dictionary)
            return WadoAnswer(kind, text.encode("latin-1", "replace"))
        if kind in wadoimage.KINDS:
            ds = anonymized if anonymized is not None else retrieve.load_dataset(located)
            if "PixelData" not in ds:
                continue
            what, warnings = drawing(params, wadoimage.KINDS[kind], ds, dialect)
            if what.frame < 0 and not (dialect.conquest and what.kind in ("bmp", "jpg")):
                raise HTTPProblem(400, f"frameNumber {params.get('frameNumber')} does not exist")
            try:
                body = _strip(ctx, located, what) if what.frame < 0 else wadoimage.draw(ds, what)
            except codec.CodecError as exc:
                raise not_acceptable(f"cannot draw this object as {kind}: {exc}")
            return WadoAnswer("image/jpeg" if what.frame < 0 and what.kind == "jpg" else kind, body,
                              warnings=warnings)
    raise not_acceptable(f"contentType {', '.join(types)} cannot be served for this object; offered: "
                         "application/dicom, image/jpeg, image/png, image/gif, image/bmp, image/jp2 (objects with "
                         "pixel data), text/plain, text/html")


async def wado_uri(request: Request) -> Response:
    params = dict(request.query_params)
    dialect = STANDARD if request.url.path == "/wado" else CONQUEST
    if dialect is STANDARD and params.get("requestType", "") != "WADO":
        raise HTTPProblem(400, "requestType=WADO is required")
    ctx: WebContext = request.app.state.ctx
    answer = await run_in_threadpool(wado_object, ctx, params, dialect)
    headers = {}
    if answer.filename:
        headers["Content-Disposition"] = f'attachment; filename="{answer.filename}"'
    if answer.warnings:
        headers["Warning"] = warning("; ".join(answer.warnings))
    return Response(answer.body, media_type=answer.content_type, headers=headers)
