"""DICOMweb routes (PS3.18): QIDO-RS, WADO-RS, STOW-RS and the capabilities description.

The same table is mounted under ``/dicom-web`` and Conquest's ``/api/dicom/rs``. Handlers
are small: they parse the request, run the database and file work in a worker thread
(never on the event loop) and stream the answer.
"""
from __future__ import annotations

import tempfile

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from . import frames, qido, rendered, retrieve, stow
from .context import WebContext
from .dicomjson import dumps
from .errors import HTTPProblem, not_acceptable, not_found, warning
from .multipart import (
    MultipartError,
    closing,
    new_boundary,
    parse_file,
    parse_media_type,
    part_head,
    split_accept,
)

DICOM_JSON = "application/dicom+json"
CHUNK = 1 << 20


def ctx_of(request: Request) -> WebContext:
    return request.app.state.ctx


def base_url(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}"


def _json_accept(request: Request) -> None:
    accept = request.headers.get("accept", "")
    if not accept.strip():
        return
    for media, _p, _q in split_accept(accept):
        if media in ("application/dicom+json", "application/json", "*/*", "application/*"):
            return
    raise not_acceptable(f"this resource is {DICOM_JSON}; cannot answer with {accept} "
                         "(application/dicom+xml is not offered)")


def json_response(body: bytes, status: int = 200, headers: dict | None = None) -> Response:
    return Response(body, status_code=status, media_type=DICOM_JSON, headers=headers)


# -- QIDO-RS -----------------------------------------------------------------------------
def _qido(level: str, **path):
    async def handler(request: Request) -> Response:
        _json_accept(request)
        keys = {}
        for name, tag in (("study", 0x0020000D), ("series", 0x0020000E)):
            if request.path_params.get(name):
                keys[tag] = request.path_params[name]
        params = list(request.query_params.multi_items())
        q = qido.parse_query(level, params, keys)
        ctx = ctx_of(request)
        base = base_url(request)
        # ctx.db() inside the worker thread: each thread has its own connection (never the loop's)
        objects, unsupported = await run_in_threadpool(lambda: qido.run_query(ctx.db(), q, base))
        headers = {}
        if unsupported:
            headers["Warning"] = warning(f"The following attributes are not supported: {', '.join(unsupported)}")
        return json_response(dumps(objects), 200, headers)
    handler.__name__ = f"qido_{level.lower()}"
    return handler


# -- WADO-RS instances -------------------------------------------------------------------
async def retrieve_instances(request: Request) -> Response:
    p = request.path_params
    wanted, single = retrieve.dicom_syntaxes(request.headers.get("accept", ""))
    ctx = ctx_of(request)

    boundary = new_boundary()

    def plan() -> tuple[list[retrieve.Located], list[str], retrieve.Stored]:
        located = retrieve.locate_instances(ctx, p["study"], p.get("series", ""), p.get("instance", ""))
        return (located, *retrieve.plan_parts(located, wanted, boundary))

    located, targets, known = await run_in_threadpool(plan)
    if single and len(located) == 1:
        if not targets[0]:
            raise not_found(f"the file of instance {located[0].item.sop_uid} cannot be read")
        data = await run_in_threadpool(retrieve.instance_bytes, located[0], targets[0], ctx.lossy_quality)
        return Response(data, media_type=f"application/dicom; transfer-syntax={targets[0]}")
    headers = {}
    if known.total is not None:
        headers["Content-Length"] = str(known.total)
    return StreamingResponse(retrieve.part_stream(located, targets, boundary, ctx.logs, known=known,
                                                  quality=ctx.lossy_quality),
                             headers=headers,
                             media_type=f'multipart/related; type="application/dicom"; boundary={boundary}')


async def retrieve_metadata(request: Request) -> Response:
    _json_accept(request)
    p = request.path_params
    ctx = ctx_of(request)

    def build() -> tuple[bytes, bytes]:
        located = retrieve.locate_instances(ctx, p["study"], p.get("series", ""), p.get("instance", ""))
        items = [(loc.path, loc.item.study_uid, loc.item.series_uid, loc.item.sop_uid) for loc in located]

        def broken(path, exc) -> None:
            ctx.logs.operator.printf(f"***WADO-RS metadata: cannot read {path}: {exc}\n")
        return ctx.metadata.series(items, base_url(request), broken)

    body, packed = await run_in_threadpool(build)
    if "gzip" in request.headers.get("accept-encoding", ""):
        return json_response(packed, headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
    return json_response(body)


def _multipart(parts: list[tuple[str, bytes]], kind: str) -> Response:
    boundary = new_boundary()
    chunks = []
    for ctype, body in parts:
        chunks += [part_head(boundary, ctype), body, b"\r\n"]
    chunks.append(closing(boundary))
    return Response(b"".join(chunks), media_type=f'multipart/related; type="{kind}"; boundary={boundary}')


def _load_one(ctx: WebContext, p: dict):
    located = retrieve.locate_instances(ctx, p["study"], p["series"], p["instance"])
    return retrieve.load_dataset(located[0])


async def retrieve_frames(request: Request) -> Response:
    p = request.path_params
    numbers = frames.parse_frame_list(p["frames"])
    accept = frames.frame_requests(request.headers.get("accept", ""))
    ctx = ctx_of(request)

    def work():
        return frames.frames_of(_load_one(ctx, p), numbers, accept, ctx.lossy_quality)

    parts = await run_in_threadpool(work)
    kind = parse_media_type(parts[0][0])[0] if parts else "application/octet-stream"
    return _multipart(parts, kind)


async def retrieve_bulkdata(request: Request) -> Response:
    p = request.path_params
    path = [x for x in p["path"].split("/") if x]
    ctx = ctx_of(request)

    def work():
        ds = _load_one(ctx, p)
        if path and path[0].upper() == "7FE00010" and len(path) == 1:
            accept = frames.frame_requests(request.headers.get("accept", ""))
            numbers = list(range(1, frames.frame_count(ds) + 1))
            return frames.frames_of(ds, numbers, accept, ctx.lossy_quality)
        return [("application/octet-stream", retrieve.bulk_value(ds, path))]

    parts = await run_in_threadpool(work)
    return _multipart(parts, parse_media_type(parts[0][0])[0])


# -- STOW-RS -----------------------------------------------------------------------------
async def spool_body(request: Request, limit: int):
    """The request body in a temporary file (never all in memory); 413 over ``limit``."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPProblem(413, f"the upload has {declared} bytes; the limit (WebMaxUpload) is {limit}")
    handle = tempfile.TemporaryFile()
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            handle.close()
            raise HTTPProblem(413, f"the upload is larger than the limit (WebMaxUpload) of {limit} bytes")
        await run_in_threadpool(handle.write, chunk)
    return handle, size


async def stow_rs(request: Request) -> Response:
    accept = request.headers.get("accept", "")
    if accept.strip():
        _json_accept(request)
    media, params = parse_media_type(request.headers.get("content-type", ""))
    if media != "multipart/related":
        raise HTTPProblem(415, f"STOW-RS needs multipart/related, not '{media or 'no content type'}'")
    kind = params.get("type", "").lower()
    if kind and kind not in ("application/dicom", "application/dicom+json"):
        raise HTTPProblem(415, f"multipart/related type '{kind}' is not application/dicom or application/dicom+json")
    ctx = ctx_of(request)
    handle, _size = await spool_body(request, ctx.web.max_upload)
    study = request.path_params.get("study", "")
    base = base_url(request)
    peer = request.client.host if request.client else ""

    def work():
        try:
            try:
                parts, buf = parse_file(handle, params.get("boundary", ""))
            except (MultipartError, ValueError) as exc:
                raise HTTPProblem(400, f"malformed multipart body: {exc}")
            try:
                return stow.store_parts(ctx, parts, study, kind, peer)
            finally:
                buf.close()
        finally:
            handle.close()

    outcomes = await run_in_threadpool(work)
    status, body = stow.response(outcomes, base, study)
    headers = {}
    if status != 200:
        headers["Warning"] = warning(stow.reasons(outcomes))
    return json_response(dumps(body), status, headers)


# -- capabilities (PS3.18 §8.9) ------------------------------------------------------------
def capabilities(routes: list[Route], base: str) -> bytes:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<application xmlns="http://wadl.dev.java.net/2009/02">',
             f'  <resources base="{base}">']
    for route in routes:
        methods = sorted((route.methods or set()) - {"HEAD"})
        lines.append(f'    <resource path="{route.path.lstrip("/")}">')
        for m in methods:
            lines.append(f'      <method name="{m}" id="{route.name}"/>')
        lines.append("    </resource>")
    lines += ["  </resources>", "</application>", ""]
    return "\n".join(lines).encode()


def _capabilities_handler(routes_ref: list[Route]):
    async def handler(request: Request) -> Response:
        accept = request.headers.get("accept", "")
        body = capabilities(routes_ref, base_url(request))
        if accept and "json" in accept and "xml" not in accept:
            listing = [{"path": r.path, "methods": sorted((r.methods or set()) - {"HEAD"}), "name": r.name}
                       for r in routes_ref]
            return Response(dumps(listing), media_type="application/json")
        return Response(body, media_type="application/vnd.sun.wadl+xml")
    return handler


ST = "/studies/{study}"
SE = ST + "/series/{series}"
IN = SE + "/instances/{instance}"


def routes(conquest: bool = False) -> list[Route]:
    """The DICOMweb route table; ``conquest`` draws thumbnails as Conquest does (its
    ``/api/dicom/rs`` mount)."""
    thumbnail = rendered.thumbnail_handler(conquest)
    table = [
        Route("/studies", _qido("STUDY"), methods=["GET"], name="SearchForStudies"),
        Route(ST + "/series", _qido("SERIES"), methods=["GET"], name="SearchForStudySeries"),
        Route("/series", _qido("SERIES"), methods=["GET"], name="SearchForSeries"),
        Route(SE + "/instances", _qido("IMAGE"), methods=["GET"], name="SearchForSeriesInstances"),
        Route(ST + "/instances", _qido("IMAGE"), methods=["GET"], name="SearchForStudyInstances"),
        Route("/instances", _qido("IMAGE"), methods=["GET"], name="SearchForInstances"),
        Route(ST + "/metadata", retrieve_metadata, methods=["GET"], name="RetrieveStudyMetadata"),
        Route(SE + "/metadata", retrieve_metadata, methods=["GET"], name="RetrieveSeriesMetadata"),
        Route(IN + "/metadata", retrieve_metadata, methods=["GET"], name="RetrieveInstanceMetadata"),
        Route(IN + "/frames/{frames}", retrieve_frames, methods=["GET"], name="RetrieveFrames"),
        Route(IN + "/bulkdata/{path:path}", retrieve_bulkdata, methods=["GET"], name="RetrieveBulkdata"),
        Route(ST + "/rendered", rendered.retrieve_rendered, methods=["GET"], name="RetrieveRenderedStudy"),
        Route(SE + "/rendered", rendered.retrieve_rendered, methods=["GET"], name="RetrieveRenderedSeries"),
        Route(IN + "/rendered", rendered.retrieve_rendered, methods=["GET"], name="RetrieveRenderedInstance"),
        Route(IN + "/frames/{frames}/rendered", rendered.retrieve_rendered, methods=["GET"],
              name="RetrieveRenderedFrames"),
        Route(ST + "/thumbnail", thumbnail, methods=["GET"], name="RetrieveStudyThumbnail"),
        Route(SE + "/thumbnail", thumbnail, methods=["GET"], name="RetrieveSeriesThumbnail"),
        Route(IN + "/thumbnail", thumbnail, methods=["GET"], name="RetrieveInstanceThumbnail"),
        Route(IN + "/frames/{frames}/thumbnail", thumbnail, methods=["GET"], name="RetrieveFrameThumbnail"),
        Route(ST, retrieve_instances, methods=["GET"], name="RetrieveStudy"),
        Route(SE, retrieve_instances, methods=["GET"], name="RetrieveSeries"),
        Route(IN, retrieve_instances, methods=["GET"], name="RetrieveInstance"),
        Route("/studies", stow_rs, methods=["POST"], name="StoreInstances"),
        Route(ST, stow_rs, methods=["POST"], name="StoreStudyInstances"),
    ]
    table.append(Route("/", _capabilities_handler(table), methods=["GET", "OPTIONS"], name="Capabilities"))
    return table
