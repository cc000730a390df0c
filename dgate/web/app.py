"""The ASGI application: route table, error answers and middleware.

Mounts (explicit, table-driven):

=====================  =========================================================
``/dicom-web``         DICOMweb (PS3.18)
``/api/dicom/rs``      the same, plus Conquest's extensions (modalities, zip, move, attach, script)
``/api/dicom/wadouri`` WADO-URI as Conquest's PHP API offers it; also ``/wado``
``/api/dgate``         JSON for our web UI (status, AEs, move, logs, queues)
``/ui``                our web UI (``webserver/`` of this package)
``/app/ohif``          OHIF, when installed by ``python3 -m dgate.web.ohif``
everything else        ``<BaseDir>webserver/htdocs/``: files, ``.lua``/``.lp`` pages and
                       newweb ``…/dgate.exe?mode=`` pages, as Ladle serves them (:mod:`.pages`)
=====================  =========================================================
"""
from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from . import conquest, dicomweb, pages, scripts, static, ui_api, wadouri
from .context import WebContext
from .errors import HTTPProblem, problem_response
from .gzip import Gzip
from .ladleroutes import LadleRoutes
from .security import Guard

UI_ROOT = Path(__file__).resolve().parent.parent.parent / "webserver"


def ui_root() -> Path:
    """Our web UI: ``webserver/`` next to the package (a checkout) or in share/dgate."""
    if UI_ROOT.is_dir():
        return UI_ROOT
    import sys
    return Path(sys.prefix) / "share" / "dgate" / "webserver"


def ohif_root(ctx: WebContext) -> Path:
    return Path(ctx.config.base_dir) / "webserver" / "ohif"


async def on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPProblem)
    return problem_response(exc.status, exc.reason)


async def on_error(request: Request, exc: Exception) -> Response:
    ctx: WebContext = request.app.state.ctx
    ctx.logs.operator.printf(f"***web: {request.method} {request.url.path} failed: {exc!r}\n")
    from ..db import DatabaseError
    if isinstance(exc, DatabaseError):
        ctx.forget_db()
        return problem_response(503, f"the database is not available: {exc}")
    return problem_response(500, f"internal error: {exc}")


async def api_info(request: Request) -> Response:
    return PlainTextResponse("Conquest DICOM api; dgate serves wado-rs, wado-uri, qido-rs and stow-rs here\n")


async def root_page(request: Request) -> Response:
    """``/``: Ladle's ``index.html`` of ``webserver/htdocs`` when there is one, else our UI."""
    from starlette.responses import FileResponse
    index = pages.webroot(request.app.state.ctx) / "index.html"
    if index.is_file():
        return FileResponse(index, media_type="text/html")
    return RedirectResponse("/ui/")


def build_app(ctx: WebContext) -> Starlette:
    rs = dicomweb.routes()
    routes = [
        Route("/", root_page, methods=["GET"]),
        Mount("/dicom-web", routes=rs),
        Mount("/api/dicom/rs", routes=conquest.routes() + scripts.routes() + dicomweb.routes(conquest=True)),
        Route("/api/dicom/wadouri", wadouri.wado_uri, methods=["GET"]),
        Route("/api/dicom/wadouri/", wadouri.wado_uri, methods=["GET"]),
        Route("/wado", wadouri.wado_uri, methods=["GET"]),
        Route("/api/dicom", api_info, methods=["GET"]),
        Route("/api/dicom/", api_info, methods=["GET"]),
        Mount("/api/dgate", routes=ui_api.routes()),
        Route("/ui", static.folder(lambda r: ui_root()), methods=["GET"]),
        Route("/ui/{path:path}", static.folder(lambda r: ui_root()), methods=["GET"]),
        Route("/app/ohif", static.folder(lambda r: ohif_root(r.app.state.ctx), True), methods=["GET"]),
        Route("/app/ohif/{path:path}", static.folder(lambda r: ohif_root(r.app.state.ctx), True), methods=["GET"]),
        Route("/{path:path}", pages.serve, methods=["GET", "HEAD", "POST", "PUT"]),     # webserver/htdocs (Ladle)
    ]
    middleware = [
        Middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["*"], allow_headers=["*"],
                   expose_headers=["Warning", "Content-Type", "Content-Length"]),
        Middleware(Guard, web=ctx.web),
        Middleware(Gzip),
        Middleware(LadleRoutes, ctx=ctx),
    ]
    app = Starlette(routes=routes, middleware=middleware,
                    exception_handlers={HTTPProblem: on_problem, Exception: on_error})
    app.state.ctx = ctx
    return app
