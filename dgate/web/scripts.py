"""Conquest's script endpoints under ``/api/dicom/rs`` (conquest-lua-web.md §10.2, §10.3),
run in this process's Lua (:mod:`dgate.luabind`) instead of through servertask and
``posters.lua``; each request gets a new Lua state, as each ``servercommand('lua:…')`` got
a new association:

* ``POST /rs/attach``: the uploaded file (the first file of a ``multipart/form-data`` form,
  else the body: ``application/zip`` → a zip, ``multipart/related`` → its first part) and
  each object in it through the converter ``script`` (form field or query parameter;
  ``attachfile``), then stored; answers the JSON number of objects stored;
* ``POST /rs/attachdicom``: the uploaded object as ``Data``, the Lua ``script`` run; its
  return value is the answer;
* ``POST /rs/script``: the Lua ``script`` run; its return value is the answer;
* ``POST /rs/startscript``: the Lua ``script`` started in the background with a global
  ``progress(n)``; answers the JSON string of its id. ``GET /rs/startscript/{id}`` gives
  the progress (100 once the script has ended); ``setvalue=n`` (n ≥ 0) sets it.

Objects are stored through the web's ingest adapter. All of these run code and need the
``full`` role (they are POSTs; the progress GET reads a number only).
"""
from __future__ import annotations

import itertools
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .context import WebContext
from .errors import HTTPProblem
from .multipart import MultipartError, Part, parse_file, parse_media_type

_progress: dict[str, int] = {}
_progress_lock = threading.Lock()
_ids = itertools.count(1)


def _ctx(request: Request) -> WebContext:
    return request.app.state.ctx


def _json(text) -> Response:
    return Response("" if text is None else str(text), media_type="application/json",
                    headers={"Access-Control-Allow-Origin": "*"})


def lua_state(ctx: WebContext):
    """A new Lua state with this server's configuration, database and ingest pipeline."""
    from ..luabind.context import LuaServices
    from ..luabind.runtime import LuaState

    def store(ds, _lua_ctx) -> None:
        from ..codec.pixels import transfer_syntax
        from ..store.formats import Encoded
        from .ingest_adapter import store_encoded
        outcome = store_encoded(ctx, Encoded.from_dataset(ds, transfer_syntax(ds)), calling="WEB")
        if not outcome.ok:
            raise RuntimeError(outcome.reason)

    services = LuaServices(config=ctx.config, logs=ctx.logs, own_ae=ctx.own_ae, server_port=ctx.dicom_port,
                           open_db=ctx.db, store=store)
    return LuaState(services, "web")


class Upload:
    """A request body spooled to disk, with its form fields and first file."""

    def __init__(self, handle, content_type: str):
        self.handle = handle
        self.fields: dict[str, str] = {}
        self.file: tuple[bytes, str] | None = None           # (data, name)
        media, params = parse_media_type(content_type)
        self.media = media
        handle.seek(0)
        if media == "application/x-www-form-urlencoded":
            self.fields = dict(parse_qsl(handle.read().decode("latin-1"), keep_blank_values=True))
        elif media in ("multipart/form-data", "multipart/related"):
            try:
                parts, buffer = parse_file(handle, params.get("boundary", "").strip('"'))
            except (MultipartError, ValueError) as exc:
                raise HTTPProblem(400, f"malformed multipart body: {exc}")
            self._parts(parts, media)
            if not isinstance(buffer, bytes):
                buffer.close()
        else:
            data = handle.read()
            if data:
                self.file = (data, ".zip" if media == "application/zip" else ".dcm")

    def _parts(self, parts: list[Part], media: str) -> None:
        for part in parts:
            disposition = part.headers.get("content-disposition", "")
            _kind, params = parse_media_type(disposition)
            name, filename = params.get("name", ""), params.get("filename")
            if media == "multipart/related" or filename is not None:
                if self.file is None:
                    suffix = Path(filename or "").suffix or ".dcm"
                    self.file = (part.body, suffix)
            elif name:
                self.fields[name] = part.body.decode("utf-8", "replace")


async def _upload(request: Request) -> Upload:
    from .dicomweb import spool_body
    ctx = _ctx(request)
    handle, _size = await spool_body(request, ctx.web.max_upload)
    try:
        return await run_in_threadpool(Upload, handle, request.headers.get("content-type", ""))
    finally:
        handle.close()


def _script(request: Request, upload: Upload, required: bool = True) -> str:
    script = upload.fields.get("script", request.query_params.get("script", ""))
    if required and not script.strip():
        raise HTTPProblem(400, "a 'script' form field (or query parameter) is needed")
    return script


def _temp_file(data: bytes, suffix: str) -> str:
    handle, name = tempfile.mkstemp(suffix=suffix if suffix.startswith(".") else "." + suffix, prefix="webattach")
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    return name


async def attach(request: Request) -> Response:
    upload = await _upload(request)
    if upload.file is None:
        raise HTTPProblem(400, "no file was uploaded")
    script = _script(request, upload, required=False)
    ctx = _ctx(request)

    def work() -> int:
        from ..luabind.modify import attach_file
        assert upload.file is not None
        data, suffix = upload.file
        name = _temp_file(data, suffix)
        try:
            return attach_file(lua_state(ctx), name, script)
        finally:
            os.unlink(name)

    stored = await run_in_threadpool(work)
    if not stored:
        raise HTTPProblem(422, "nothing was stored (not DICOM, refused by the script or by the archive; see the log)")
    return _json(json.dumps(stored))


async def attach_dicom(request: Request) -> Response:
    upload = await _upload(request)
    if upload.file is None:
        raise HTTPProblem(400, "no DICOM object was uploaded")
    script = _script(request, upload)
    ctx = _ctx(request)

    def work():
        from ..luabind.archive import read_path
        from ..luabind.handles import Handle
        assert upload.file is not None
        data, _suffix = upload.file
        name = _temp_file(data, ".dcm")
        try:
            ds = read_path(Path(name))
        finally:
            os.unlink(name)
        if ds is None:
            raise HTTPProblem(400, "the upload is not a DICOM object")
        return lua_state(ctx).run(script, None, Handle(ds, with_meta=True))

    return _json(await run_in_threadpool(work))


async def run_script(request: Request) -> Response:
    upload = await _upload(request)
    script = _script(request, upload)
    ctx = _ctx(request)
    return _json(await run_in_threadpool(lambda: lua_state(ctx).run(script)))


async def start_script(request: Request) -> Response:
    upload = await _upload(request)
    script = _script(request, upload)
    ctx = _ctx(request)
    uid = f"{int(time.time())}.{next(_ids)}"
    with _progress_lock:
        _progress[uid] = 0

    def progress(value=None) -> None:
        try:
            number = int(float(value))
        except (TypeError, ValueError):
            return
        with _progress_lock:
            if uid in _progress:
                _progress[uid] = number

    def job() -> None:
        try:
            state = lua_state(ctx)
            with state.lock:
                state.lua.globals().progress = progress
            state.run(script)
        finally:
            with _progress_lock:
                _progress.pop(uid, None)

    threading.Thread(target=job, name=f"webscript-{uid}", daemon=True).start()
    return _json(json.dumps(uid))


async def script_progress(request: Request) -> Response:
    uid = request.path_params["uid"]
    value = request.query_params.get("setvalue", "")
    with _progress_lock:
        if value.strip().lstrip("-").isdigit() and int(value) >= 0 and uid in _progress:
            _progress[uid] = int(value)
        return _json(json.dumps(_progress.get(uid, 100)))


def routes() -> list[Route]:
    return [
        Route("/attach", attach, methods=["POST"], name="ConquestAttach"),
        Route("/attachdicom", attach_dicom, methods=["POST"], name="ConquestAttachDicom"),
        Route("/script", run_script, methods=["POST"], name="ConquestScript"),
        Route("/startscript", start_script, methods=["POST"], name="ConquestStartScript"),
        Route("/startscript/{uid}", script_progress, methods=["GET"], name="ConquestScriptProgress"),
    ]
