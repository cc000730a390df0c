"""WADO-URI (PS3.18 §9) and the object part of Conquest's ``wadorequest``.

``contentType``: ``application/dicom`` (stored syntax, or ``transferSyntax``: any syntax
:func:`dgate.codec.transcode` writes), ``image/jpeg`` (the default), ``image/png``,
``image/gif`` (all frames, animated, for multi-frame objects without ``frameNumber``),
``image/bmp``, rendered by :func:`dgate.codec.render` as the original renders them, with
``rows``/``columns`` (the larger is the maximum size), ``windowCenter``/``windowWidth``,
``frameNumber`` (1-based, PS3.18), ``imageQuality`` (JPEG) and ``region`` (PS3.18 order:
left, top, right, bottom fractions); and Conquest's header dumps ``text/plain`` /
``text/html``. ``anonymize`` runs Conquest's anonymizer on the object read from disk
(``yes`` → ``anonymize_script.cq``, other values → ``lua/anonymize_script.lua(value)``,
:mod:`.wadoimage`); when that script is not installed nothing is served.
"""
from __future__ import annotations

from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ..store.dump import dump
from ..store.formats import Encoded, part10_bytes, read_file
from . import retrieve, wadoimage
from .context import WebContext
from .errors import HTTPProblem

IMAGE_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/bmp": "bmp"}


@dataclass
class WadoAnswer:
    content_type: str
    body: bytes
    filename: str = ""


def _int(params: dict[str, str], name: str, default: int = 0) -> int:
    text = params.get(name, "").strip()
    if not text:
        return default
    try:
        return int(float(text))
    except ValueError:
        raise HTTPProblem(400, f"{name} must be a number, not '{text}'")


def _region(text: str) -> tuple[float, float, float, float] | None:
    """PS3.18 ``region=left,top,right,bottom`` (fractions 0…1) → (x1, x2, y1, y2)."""
    if not text:
        return None
    try:
        left, top, right, bottom = (float(v) for v in text.split(","))
    except ValueError:
        raise HTTPProblem(400, "region is four fractions left,top,right,bottom")
    if not (0 <= left < right <= 1 and 0 <= top < bottom <= 1):
        raise HTTPProblem(400, "region fractions must satisfy 0 <= left < right <= 1 and 0 <= top < bottom <= 1")
    return left, right, top, bottom


def wado_object(ctx: WebContext, params: dict[str, str]) -> WadoAnswer:
    """Answer one WADO request (parameters by their PS3.18 names)."""
    study, series, sop = params.get("studyUID", ""), params.get("seriesUID", ""), params.get("objectUID", "")
    if not sop:
        raise HTTPProblem(400, "WADO-URI needs objectUID (and studyUID, seriesUID)")
    located = retrieve.locate_instances(ctx, study, series, sop)[0]
    types = [t.strip().lower() for t in (params.get("contentType") or "image/jpeg").split(",") if t.strip()]
    anonymize, region = params.get("anonymize", ""), _region(params.get("region", ""))
    try:
        for ctype in types:
            kind = ctype.split(";")[0]
            if kind in ("application/dicom", "application/*", "*/*"):
                return WadoAnswer("application/dicom", _dicom(ctx, located, params, anonymize, region), "file.dcm")
            if kind in ("text/plain", "text/html"):
                ds = _prepared(ctx, located, anonymize, region) if anonymize or region else \
                    read_file(located.path).header()
                return WadoAnswer(kind, dump(ds).encode("latin-1", "replace"))
            if kind in IMAGE_TYPES:
                return WadoAnswer(kind, _image(ctx, located, params, IMAGE_TYPES[kind], anonymize, region))
    except wadoimage.WadoError as exc:
        raise HTTPProblem(exc.status, str(exc))
    raise HTTPProblem(406, f"contentType {', '.join(types)}: available are application/dicom, image/jpeg, "
                           "image/png, image/gif, image/bmp, text/plain and text/html")


def _prepared(ctx: WebContext, located: retrieve.Located, anonymize: str, region):
    ds = wadoimage.load(located.path)
    if region is not None:
        x1, x2, y1, y2 = region
        wadoimage.crop(ds, x1, x2, y1, y2, conquest=False)
    if anonymize:
        ds = wadoimage.anonymize(ds, anonymize, ctx.config, ctx.logs)
    return ds


def _dicom(ctx: WebContext, located: retrieve.Located, params: dict[str, str], anonymize: str, region) -> bytes:
    wanted = params.get("transferSyntax", "") or "*"
    if not anonymize and region is None:
        stored = retrieve.stored_syntax(located.path)
        target = retrieve.choose(stored, [wanted])
        if target is None:
            raise HTTPProblem(406, f"the object is stored as {stored} and cannot be sent as {wanted}")
        return retrieve.instance_bytes(located, target)
    ds = _prepared(ctx, located, anonymize, region)
    from ..codec.pixels import transfer_syntax
    if wanted != "*" and wanted != transfer_syntax(ds):
        from .. import codec
        from ..store.ingest import counters
        try:
            ds = codec.transcode(ds, wanted, counters=counters)
        except codec.CodecError as exc:
            raise HTTPProblem(406, f"the object cannot be sent as {wanted}: {exc}")
    encoded = Encoded.from_dataset(ds, transfer_syntax(ds))
    return part10_bytes(encoded, str(ds.get("SOPClassUID", "")), str(ds.get("SOPInstanceUID", "")))


def _image(ctx: WebContext, located: retrieve.Located, params: dict[str, str], kind: str, anonymize: str,
           region) -> bytes:
    rows, columns = _int(params, "rows"), _int(params, "columns")
    if rows < 0 or columns < 0:
        raise HTTPProblem(400, "rows and columns must be positive")
    quality = _int(params, "imageQuality", 95)
    if not 1 <= quality <= 100:
        raise HTTPProblem(400, "imageQuality is 1 to 100")
    ds = _prepared(ctx, located, anonymize, region)
    frames = wadoimage.frame_count(ds)
    number = _int(params, "frameNumber", 0)
    if number < 0 or number > frames:
        raise HTTPProblem(404, f"frameNumber {number}: the object has {frames} frame(s)")
    frame = number - 1 if number else (10005 if kind == "gif" and frames > 1 else 0)
    return wadoimage.render(ds, kind, size=max(rows, columns), level=_int(params, "windowCenter"),
                            window=_int(params, "windowWidth"), frame=frame, quality=quality)


async def wado_uri(request: Request) -> Response:
    params = dict(request.query_params)
    if request.url.path == "/wado" and params.get("requestType", "") != "WADO":
        raise HTTPProblem(400, "requestType=WADO is required")
    ctx: WebContext = request.app.state.ctx
    answer = await run_in_threadpool(wado_object, ctx, params)
    headers = {}
    if answer.filename:
        headers["Content-Disposition"] = f'attachment; filename="{answer.filename}"'
    return Response(answer.body, media_type=answer.content_type, headers=headers)
