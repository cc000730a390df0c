"""JSON for our web UI (``/api/dgate``): server status, AEs, echo, move, logs, queues.

Status text comes from the running DICOM server over the control channel
(``display_status:``), as Conquest's own web pages get it. Moves honour ``WEBReadOnly``.
"""
from __future__ import annotations

import json
import time
from collections import deque

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..net.control import ControlError, send_command
from ..version import DGATE_VERSION
from . import conquest
from .context import WebContext
from .errors import HTTPProblem

LOGS = {"trouble": "TroubleLog", "user": "UserLog"}


def _ctx(request: Request) -> WebContext:
    return request.app.state.ctx


def _json(obj, status: int = 200) -> Response:
    return Response(json.dumps(obj), status_code=status, media_type="application/json")


def server_status(ctx: WebContext) -> dict:
    try:
        reply = send_command("display_status:", port=ctx.dicom_port, ae=ctx.own_ae, console_text=None,
                             timeout=10)
        text = reply.data().decode("latin-1") if reply.has_payload else ""
        running = True
    except (ControlError, OSError) as exc:
        text, running = f"The DICOM server does not answer on port {ctx.dicom_port}: {exc}", False
    counts: dict[str, int | str] = {}
    try:
        db = ctx.db()
        for level in ("patient", "study", "series", "image"):
            table = db.schema.table(level)
            counts[level] = int(db.sql(f"SELECT COUNT(1) FROM {table.name}")[0][0])
    except Exception as exc:
        ctx.forget_db()
        counts = {"error": str(exc)}
    return {"ae": ctx.own_ae, "port": ctx.dicom_port, "version": DGATE_VERSION, "web_port": ctx.web.port,
            "read_only": ctx.web.read_only, "uptime": int(time.time() - ctx.started_at) if ctx.started_at else 0,
            "dicom_server_running": running, "status_text": text, "counts": counts}


async def status(request: Request) -> Response:
    return _json(await run_in_threadpool(server_status, _ctx(request)))


async def aes(request: Request) -> Response:
    return _json(conquest.modality_list(_ctx(request)))


async def move(request: Request) -> Response:
    ctx = _ctx(request)
    if ctx.web.read_only:
        raise HTTPProblem(403, "the web interface is read-only (WEBReadOnly = 1)")
    try:
        body = await request.json()
    except ValueError:
        raise HTTPProblem(400, "the body must be JSON: {destination, study[, series, sop, source]}")
    if not isinstance(body, dict) or not body.get("destination"):
        raise HTTPProblem(400, "destination is required")
    text = await run_in_threadpool(conquest.do_move, ctx, str(body["destination"]), str(body.get("study", "")),
                                   str(body.get("series", "")), str(body.get("sop", "")),
                                   str(body.get("patient", "")), str(body.get("source", "")))
    return _json({"ok": not text, "message": text or "moved"}, 200 if not text else 502)


def tail(path, lines: int) -> list[str]:
    try:
        with open(path, "rb") as handle:
            return [line.decode("latin-1").rstrip("\n") for line in deque(handle, maxlen=lines)]
    except OSError:
        return []


async def log_view(request: Request) -> Response:
    ctx = _ctx(request)
    name = request.path_params["name"]
    if name not in LOGS:
        raise HTTPProblem(404, f"no log '{name}'; there are {', '.join(LOGS)}")
    lines = request.query_params.get("lines", "200")
    if not lines.isdigit():
        raise HTTPProblem(400, "lines must be a number")
    path = ctx.settings.path(LOGS[name])
    return _json({"file": str(path), "lines": await run_in_threadpool(tail, path, min(int(lines), 5000))})


async def queues(request: Request) -> Response:
    ctx = _ctx(request)
    provider = getattr(ctx.status, "queues", None)
    if callable(provider):
        return _json({"queues": await run_in_threadpool(provider)})
    return _json({"queues": [], "note": "queue details come from the server hub process"})


def routes() -> list[Route]:
    return [
        Route("/status", status, methods=["GET"]),
        Route("/aes", aes, methods=["GET"]),
        Route("/move", move, methods=["POST"]),
        Route("/logs/{name}", log_view, methods=["GET"]),
        Route("/queues", queues, methods=["GET"]),
    ]
