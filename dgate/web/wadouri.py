"""WADO-URI (PS3.18 §9) and the object part of Conquest's ``wadorequest``.

Served now: ``contentType=application/dicom`` (stored syntax, or ``transferSyntax`` when
it is uncompressed or the codec package can make it), and Conquest's header dumps
``text/plain`` / ``text/html``. Rendered images (``image/jpeg`` — the PS3.18 default —,
``image/png``, ``image/gif``, ``image/bmp``) with ``rows``, ``columns``, ``region``,
``windowCenter``/``windowWidth``, ``frameNumber``, ``imageQuality`` need the codec
package's renderer; without it they get 406 with that reason. ``anonymize`` needs the
Lua/converter capability and gets 501.
"""
from __future__ import annotations

from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ..store.dump import dump_file
from ..store.formats import read_file
from . import retrieve
from .context import WebContext
from .errors import HTTPProblem

IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/bmp", "image/jp2")


@dataclass
class WadoAnswer:
    content_type: str
    body: bytes
    filename: str = ""


def wado_object(ctx: WebContext, params: dict[str, str]) -> WadoAnswer:
    """Answer one WADO request (parameters by their PS3.18 names)."""
    study, series, sop = params.get("studyUID", ""), params.get("seriesUID", ""), params.get("objectUID", "")
    if not sop:
        raise HTTPProblem(400, "WADO-URI needs objectUID (and studyUID, seriesUID)")
    if params.get("anonymize", ""):
        raise HTTPProblem(501, "anonymize needs the Lua/converter capability, which this dgate does not have yet")
    located = retrieve.locate_instances(ctx, study, series, sop)[0]
    types = [t.strip().lower() for t in (params.get("contentType") or "image/jpeg").split(",") if t.strip()]
    for ctype in types:
        kind = ctype.split(";")[0]
        if kind in ("application/dicom", "application/*", "*/*"):
            stored = retrieve.stored_syntax(located.path)
            wanted = params.get("transferSyntax", "") or "*"
            target = retrieve.choose(stored, [wanted])
            if target is None:
                raise HTTPProblem(406, f"the object is stored as {stored}; transferSyntax {wanted} "
                                       "needs the codec capability")
            return WadoAnswer("application/dicom", retrieve.instance_bytes(located, target), "file.dcm")
        if kind in ("text/plain", "text/html"):
            return WadoAnswer(kind, dump_file(located.path, ctx.config.dictionary).encode("latin-1", "replace"))
    raise HTTPProblem(406, f"contentType {', '.join(types)}: rendered images need the codec capability; "
                           "application/dicom, text/plain and text/html are available")


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
