"""Conquest's extensions of its DICOMweb API (``/api/dicom/rs``; conquest-lua-web.md §10.2,
§10.5), done natively instead of through servertask and Lua:

* ``GET /modalities``: the AEs of acrnema.map as ``[{"ae","ip","port","compression"}]``
  (up to the first wildcard entry, as ``remotemodalities`` lists them);
* ``GET /modalities/{ae}``: C-ECHO, ``1`` or ``0``;
* ``GET /modalities/{ae}/studies`` … ``/instances``: QIDO answered by a C-FIND to that AE;
* ``GET …/zip``: the stored files of a study, series or instance as a ZIP file; with
  ``script=`` each object read from disk is first run through those converter statements
  (``lua:…``, ``lua/anonymize_script.lua(…)``, ``set …``; a destroyed object is left out)
  and stored in the ZIP as ``<SOPInstanceUID>.dcm``, as Conquest's ``export:`` does;
* ``GET …/move?target=AE``: C-MOVE from this server to ``target``; the answer is the JSON
  string ``""`` on success, else the error text. With ``script=`` (Conquest's 9999,0900)
  the objects are read from disk, run through the script and sent to ``target`` by the
  converter engine's forwarder (acrnema.map compression applies);
* ``GET …/instances/{uid}/thumbnail/frames/{n}``: a 128 px JPEG of frame ``n`` (1-based,
  as the standard ``…/frames/{n}/thumbnail``; Conquest passed ``n`` on as a 0-based frame).

``/rs/attach``, ``/rs/attachdicom``, ``/rs/script`` and ``/rs/startscript`` are in
:mod:`.scripts`.
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


def _scripted(ctx: WebContext, located: list[retrieve.Located], script: str):
    """(located, object) of each object after the converter ``script`` (left out when the
    script destroyed it or the file cannot be read)."""
    from ..convert.onfile import read_object, script_context, through_script
    run_ctx = script_context(ctx.config, ctx.logs, calling=ctx.own_ae, called=ctx.own_ae, own_ae=ctx.own_ae,
                             port=ctx.dicom_port)
    for loc in located:
        try:
            ds = read_object(loc.path)
        except Exception as exc:
            ctx.logs.operator.printf(f"***web script: cannot read {loc.path}: {exc}\n")
            continue
        if through_script(ds, script, run_ctx) is not None:
            yield loc, ds


def _zip_file(ctx: WebContext, study: str, series: str, sop: str, script: str = ""):
    located = retrieve.locate_instances(ctx, study, series, sop)
    handle = tempfile.TemporaryFile()
    with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        if script:
            from ..codec.pixels import transfer_syntax
            from ..store.formats import Encoded, part10_bytes
            for loc, ds in _scripted(ctx, located, script):
                encoded = Encoded.from_dataset(ds, transfer_syntax(ds))
                sop_uid = str(ds.get("SOPInstanceUID", loc.item.sop_uid))
                zf.writestr(f"{sop_uid}.dcm", part10_bytes(encoded, str(ds.get("SOPClassUID", "")), sop_uid))
        else:
            for loc in located:
                name = loc.item.object_file.replace("\\", "/").lstrip("/")
                zf.write(loc.path, name)
    handle.seek(0)
    return handle


async def zip_download(request: Request) -> Response:
    p = request.path_params
    handle = await run_in_threadpool(_zip_file, _ctx(request), p["study"], p.get("series", ""), p.get("instance", ""),
                                     request.query_params.get("script", ""))

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


def scripted_send(ctx: WebContext, target: str, study: str, series: str, sop: str, script: str) -> str:
    """This server's objects through ``script``, sent to ``target``; '' or an error text."""
    from ..convert.forward import Forwarder, ForwardSpec
    from ..convert.onfile import script_context
    address_of(ctx, target)                       # 404 when target is not in acrnema.map
    forwarder = Forwarder(ctx.config, ctx.logs)
    run_ctx = script_context(ctx.config, ctx.logs, calling=ctx.own_ae, called=target, own_ae=ctx.own_ae,
                             port=ctx.dicom_port)
    sent = failed = 0
    try:
        for _loc, ds in _scripted(ctx, retrieve.locate_instances(ctx, study, series, sop), script):
            ok, _retry = forwarder.forward(ForwardSpec(target), ds, run_ctx, 0)
            sent, failed = sent + ok, failed + (not ok)
    finally:
        forwarder.close_all()
    return "" if not failed else f"move to {target} failed: {sent} sent, {failed} failed"


def do_move(ctx: WebContext, target: str, study: str, series: str = "", sop: str = "",
            patient: str = "", source: str = "", script: str = "") -> str:
    """C-MOVE from ``source`` (default: this server) to ``target``; '' or an error text.
    ``script``: Conquest's 9999,0900 (a remote Conquest runs it on each object; for this
    server the objects are sent by :func:`scripted_send`)."""
    if not target:
        return "target AE missing"
    if script and (source or ctx.own_ae) == ctx.own_ae:
        return scripted_send(ctx, target, study, series, sop, script)
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
    if script:
        ident.add_new(0x99990900, "LT", script)
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
    p = request.path_params
    ctx = _ctx(request)
    text = await run_in_threadpool(do_move, ctx, request.query_params.get("target", ""), p["study"],
                                   p.get("series", ""), p.get("instance", ""),
                                   script=request.query_params.get("script", ""))
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
