"""Conquest's extensions of its DICOMweb API (``/api/dicom/rs``; conquest-lua-web.md §10.2,
§10.5), done natively instead of through servertask and Lua:

* ``GET /modalities``: the AEs of acrnema.map as ``[{"ae","ip","port","compression"}]``
  (up to the first wildcard entry, as ``remotemodalities`` lists them);
* ``GET /modalities/{ae}``: C-ECHO, ``1`` or ``0``;
* ``GET /modalities/{ae}/studies`` … ``/instances``: QIDO answered by a C-FIND to that AE;
* ``GET …/zip``: the stored files of a study, series or instance as a ZIP file
  (``script=`` runs an export script in Conquest and needs the Lua capability: 501);
* ``GET …/move?target=AE``: C-MOVE from this server to ``target``; the answer is the JSON
  string ``""`` on success, else the error text;
* ``GET …/instances/{uid}/thumbnail/frames/{n}``: a 128 px JPEG of frame ``n`` (1-based,
  as the standard ``…/frames/{n}/thumbnail``; Conquest passed ``n`` on as a 0-based frame).

``/rs/attach``, ``/rs/attachdicom``, ``/rs/script`` and ``/rs/startscript`` run Lua in
Conquest and come with the Lua capability.
"""
from __future__ import annotations

import json
import tempfile
import zipfile

from pydicom.dataset import Dataset
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ..config.acrnema import Address
from ..net import scu
from . import qido, rendered, retrieve
from .context import WebContext
from .dicomjson import dumps, to_json_dict
from .errors import HTTPProblem

LEVEL_MODEL = {"STUDY": "STUDY", "SERIES": "SERIES", "IMAGE": "IMAGE"}


def _ctx(request: Request) -> WebContext:
    return request.app.state.ctx


def modality_list(ctx: WebContext) -> list[dict]:
    out = []
    for entry in ctx.config.reload_amap().entries:
        if "*" in entry.ae:
            break
        port = int(entry.port) if str(entry.port).isdigit() else entry.port
        out.append({"ae": entry.ae, "ip": entry.host, "port": port, "compression": entry.compression})
    return out


async def modalities(request: Request) -> Response:
    return Response(json.dumps(modality_list(_ctx(request))), media_type="application/json")


def address_of(ctx: WebContext, ae: str) -> Address:
    if ae == ctx.own_ae:
        return Address(ctx.own_ae, "127.0.0.1", ctx.dicom_port, "un")
    address = ctx.config.amap.lookup(ae)
    if address is None:
        raise HTTPProblem(404, f"AE '{ae}' is not in acrnema.map")
    return address


async def echo(request: Request) -> Response:
    ctx = _ctx(request)
    address = address_of(ctx, request.path_params["ae"])
    ok = await run_in_threadpool(scu.echo, ctx.own_ae, address)
    return Response("1" if ok else "0", media_type="application/json")


def remote_find(ctx: WebContext, ae: str, level: str, q: qido.QidoQuery) -> list[dict]:
    address = address_of(ctx, ae)
    ident = Dataset()
    ident.QueryRetrieveLevel = level if level != "IMAGE" else "IMAGE"
    wanted = set(qido.DEFAULTS[level]) | q.include | set(q.matches)
    wanted -= qido.COMPUTED - {0x00201206, 0x00201208, 0x00201209}
    for tag in sorted(wanted):
        vr = qido.vr_of(tag)
        ident.add_new(tag, vr, q.matches.get(tag, "") or None)
    try:
        results = scu.find(ctx.own_ae, address, ident, "study")
    except (scu.AssociationFailed, OSError) as exc:
        raise HTTPProblem(502, f"C-FIND to {ae} failed: {exc}")
    objects = []
    for ds in results:
        if "QueryRetrieveLevel" in ds:
            del ds.QueryRetrieveLevel
        objects.append(to_json_dict(ds))
    if q.offset:
        objects = objects[q.offset:]
    if q.limit is not None:
        objects = objects[:q.limit]
    return objects


def _remote(level: str):
    async def handler(request: Request) -> Response:
        keys = {}
        for name, tag in (("study", 0x0020000D), ("series", 0x0020000E)):
            if request.path_params.get(name):
                keys[tag] = request.path_params[name]
        q = qido.parse_query(level, list(request.query_params.multi_items()), keys)
        objects = await run_in_threadpool(remote_find, _ctx(request), request.path_params["ae"], level, q)
        return Response(dumps(objects), media_type="application/dicom+json")
    return handler


def _zip_file(ctx: WebContext, study: str, series: str, sop: str):
    located = retrieve.locate_instances(ctx, study, series, sop)
    handle = tempfile.TemporaryFile()
    with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for loc in located:
            name = loc.item.object_file.replace("\\", "/").lstrip("/")
            zf.write(loc.path, name)
    handle.seek(0)
    return handle


async def zip_download(request: Request) -> Response:
    if request.query_params.get("script"):
        raise HTTPProblem(501, "zip with script= needs the Lua capability, which this dgate does not have yet")
    p = request.path_params
    handle = await run_in_threadpool(_zip_file, _ctx(request), p["study"], p.get("series", ""), p.get("instance", ""))

    def chunks():
        try:
            while True:
                block = handle.read(1 << 20)
                if not block:
                    break
                yield block
        finally:
            handle.close()

    name = p.get("instance") or p.get("series") or p["study"]
    return StreamingResponse(chunks(), media_type="application/zip",
                             headers={"Content-Disposition": f'attachment; filename="{name}.zip"'})


def do_move(ctx: WebContext, target: str, study: str, series: str = "", sop: str = "",
            patient: str = "", source: str = "") -> str:
    """C-MOVE from ``source`` (default: this server) to ``target``; '' or an error text."""
    if not target:
        return "target AE missing"
    address = address_of(ctx, source or ctx.own_ae)
    ident = Dataset()
    ident.QueryRetrieveLevel = "IMAGE" if sop else "SERIES" if series else "STUDY" if study else "PATIENT"
    if patient:
        ident.PatientID = patient
    if study:
        ident.StudyInstanceUID = study
    if series:
        ident.SeriesInstanceUID = series
    if sop:
        ident.SOPInstanceUID = sop
    model = "patient" if ident.QueryRetrieveLevel == "PATIENT" else "study"
    try:
        result = scu.move(ctx.own_ae, address, target, ident, model)
    except (scu.AssociationFailed, OSError) as exc:
        return f"could not connect to {source or ctx.own_ae}: {exc}"
    if not result.ok:
        return (f"move to {target} failed: status {result.status:#06x}, {result.completed} sent, "
                f"{result.failed} failed")
    return ""


async def move(request: Request) -> Response:
    if request.query_params.get("script"):
        raise HTTPProblem(501, "move with script= needs the Lua capability, which this dgate does not have yet")
    p = request.path_params
    ctx = _ctx(request)
    text = await run_in_threadpool(do_move, ctx, request.query_params.get("target", ""), p["study"],
                                   p.get("series", ""), p.get("instance", ""))
    return Response(json.dumps(text), media_type="application/json")


ST = "/studies/{study}"
SE = ST + "/series/{series}"
IN = SE + "/instances/{instance}"
MOD = "/modalities/{ae}"


def routes() -> list[Route]:
    return [
        Route("/modalities", modalities, methods=["GET"], name="ConquestModalities"),
        Route(MOD, echo, methods=["GET"], name="ConquestEcho"),
        Route(MOD + "/studies", _remote("STUDY"), methods=["GET"], name="RemoteSearchForStudies"),
        Route(MOD + ST + "/series", _remote("SERIES"), methods=["GET"], name="RemoteSearchForStudySeries"),
        Route(MOD + "/series", _remote("SERIES"), methods=["GET"], name="RemoteSearchForSeries"),
        Route(MOD + SE + "/instances", _remote("IMAGE"), methods=["GET"], name="RemoteSearchForInstances"),
        Route(MOD + "/instances", _remote("IMAGE"), methods=["GET"], name="RemoteSearchAllInstances"),
        Route(ST + "/zip", zip_download, methods=["GET"], name="ConquestStudyZip"),
        Route(SE + "/zip", zip_download, methods=["GET"], name="ConquestSeriesZip"),
        Route(IN + "/zip", zip_download, methods=["GET"], name="ConquestInstanceZip"),
        Route(ST + "/move", move, methods=["GET"], name="ConquestStudyMove"),
        Route(SE + "/move", move, methods=["GET"], name="ConquestSeriesMove"),
        Route(IN + "/move", move, methods=["GET"], name="ConquestInstanceMove"),
        Route(IN + "/thumbnail/frames/{frames}", rendered.thumbnail_handler(conquest=True), methods=["GET"],
              name="ConquestFrameThumbnail"),
    ]
