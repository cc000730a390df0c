"""JSON for our web UI (``/api/dgate``): server status, AEs, echo, move, logs, queues.

Status text comes from the running DICOM server over the control channel
(``display_status:``), as Conquest's own web pages get it. Moves honour ``WEBReadOnly``.
"""
from __future__ import annotations

import json
import re
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


_QUEUE_LINE = re.compile(r"^(?P<name>.+?) queue: (?P<rest>.*)$")
_OPEN_LINKS = re.compile(r"^Forward associations open: (?P<n>\d+)")


def parse_queue_status(text: str) -> list[dict]:
    """The ``queue_status:`` lines (``ExportConverterN queue: 2 queued, 0 busy, 1 waiting
    for retry, …``, ``Delayed operations queue: …``, ``Forward associations open: N``) as
    ``{"name": …, "queued": 2, "busy": 0, "waiting_for_retry": 1, …}``."""
    out: list[dict] = []
    for line in text.splitlines():
        line = line.strip()
        found = _QUEUE_LINE.match(line)
        if found:
            entry: dict = {"name": found["name"]}
            for part in found["rest"].split(","):
                number, _, label = part.strip().partition(" ")
                if number.isdigit() and label:
                    entry[label.strip().replace(" ", "_")] = int(number)
            out.append(entry)
            continue
        found = _OPEN_LINKS.match(line)
        if found:
            out.append({"name": "Forward associations", "open": int(found["n"])})
    return out


def queue_state(ctx: WebContext) -> dict:
    """The export, delayed and forward queues of the running DICOM server, asked over the
    control channel (``queue_status:``, as the original's web pages ask for their status);
    a hub object passed as ``status`` with a ``queues()`` method answers first."""
    provider = getattr(ctx.status, "queues", None)
    if callable(provider):
        return {"queues": provider(), "text": ""}
    try:
        reply = send_command("queue_status:", port=ctx.dicom_port, ae=ctx.own_ae, console_text=None, timeout=10)
    except (ControlError, OSError) as exc:
        return {"queues": [], "text": "", "note": f"The DICOM server does not answer on port {ctx.dicom_port}: {exc}"}
    text = reply.data().decode("latin-1") if reply.has_payload else ""
    found = parse_queue_status(text)
    result = {"queues": found, "text": text}
    if not found:
        result["note"] = "no export converters, delayed operations or forwards are configured"
    return result


async def queues(request: Request) -> Response:
    return _json(await run_in_threadpool(queue_state, _ctx(request)))


def routes() -> list[Route]:
    return [
        Route("/status", status, methods=["GET"]),
        Route("/aes", aes, methods=["GET"]),
        Route("/move", move, methods=["POST"]),
        Route("/logs/{name}", log_view, methods=["GET"]),
        Route("/queues", queues, methods=["GET"]),
    ]
