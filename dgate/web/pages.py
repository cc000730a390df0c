"""Conquest's web folder as Ladle serves it (conquest-lua-web.md §10.5, §10.6): files
under ``<BaseDir>webserver/htdocs/`` for every URL no other route takes.

* ``*.lua`` and ``*.lp`` files run in a new Lua state of this server (the Conquest API:
  ``servercommand``, ``dicomquery``, ``Global``, …) with Ladle's page environment:
  ``write(...)`` (the page writes its own status line and headers; a CGI header block
  ``Content-type: …`` + blank line, or no header at all, is answered as well), ``request``
  (``method uri orguri query_string query headers``; a form upload's first file in
  ``query._upload_`` with ``query.filename``), ``include(path)`` (another page of the web
  folder in the same run), ``redirect(uri)``, ``writefile(name, data)``, ``unlink(name)``,
  ``JSON`` (``encode``/``decode``), ``config``, ``routes`` (a router: a route the page
  registers for the request's method and path runs after the page, as Ladle's
  ``routes:execute``; :mod:`.ladleroutes`). ``.lp`` pages are text with
  ``<? lua ?>`` blocks (``<?= expression ?>`` writes a value).
* A URL with a ``dgate`` segment (``/app/newweb/dgate.exe?mode=…``, ``…/dgate?…``) is the
  newweb CGI emulation: the page is ``<folder>/<mode>.lua`` (the folder is the URL before
  ``/dgate…``), else ``<requestType>.lua``; ``requestType=WADO`` without a ``WADO.lua``
  is our WADO-URI. Added to the environment: ``print`` (first argument + CRLF),
  ``CGI(name, default)`` (``CGI()`` = the upload), ``gpps(section, key, default)`` as
  Ladle emulates it, ``HTML(fmt, ...)`` (the first call writes ``HTTP/1.1 200 OK``), and the
  CGI globals (``mode``, ``query_string``, ``script_name='dgate.exe'``, ``extra='ladle=1'``,
  ``version``, ``size=512``, ``iconsize=56``, ``graphic='jpg'``, ``series``/``study``/…);
  ``/app/newweb/`` without a query (and without an index.html) goes to ``dgate.exe?mode=start``.
* ``*.php`` files run through ``php-cgi`` as Apache's CGI handler runs them (Conquest's PHP
  front-ends: ``api/dicom/*.php`` calling ``servertask``, newweb's ``dgate.php`` calling
  ``dgate -y``): CGI environment, the body on stdin, the script's folder as working folder,
  its ``Status:``/header block as the answer; 501 when php-cgi is not installed.
* Other files are static, with Ladle's small content-type table; a missing file is
  ``404 Not found!``.

Differences from Ladle, on purpose: requests are served concurrently (Ladle has one
thread), an error in a page gives ``500`` with the Lua message instead of stopping the
web server, ``mode=quit`` does not stop anything, ``ladle_routes.lua`` runs only with
``WebLadleRoutes = 1`` (:mod:`.ladleroutes`; its stock routes are our own Python routes),
running a page needs the ``full`` role (pages can send any server command), and newweb's
``parameter=servercommand``/``serverpage`` (a server command typed in the browser) needs
``WebServerCommands = 1``. Names from the URL never leave the web folder.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from .context import WebContext
from .errors import HTTPProblem
from .static import safe_file

LADLE_TYPES = {"html": "text/html", "htm": "text/html", "xml": "text/xml", "txt": "text/plain", "css": "text/css",
               "js": "application/javascript", "mjs": "application/javascript", "jpg": "image/jpeg",
               "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif", "ico": "image/x-icon",
               "wasm": "application/wasm", "json": "application/json", "svg": "image/svg+xml"}
PAGE_SUFFIXES = (".lua", ".lp")
PAGE_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
MAX_OUTPUT = 512 * 1024 * 1024


def webroot(ctx: WebContext) -> Path:
    """``<BaseDir>webserver/htdocs/``: Ladle's webroot."""
    return Path(ctx.config.base_dir) / "webserver" / "htdocs"


REDIRECT = "__dgate_redirect__:"

PAGE_PRELUDE = """
local encode, decode = __json_encode, __json_decode
__json_encode, __json_decode = nil, nil
JSON = {}
function JSON.encode(a, b) if a == JSON then a = b end return encode(a) end
function JSON.decode(a, b) if a == JSON then a = b end return decode(a) end
local page_write, real_io = write, io
local page_io
local function io_write(first, ...)
  if first == page_io then page_write(...) elseif first ~= nil then page_write(first, ...) end
  return page_io
end
page_io = setmetatable({write = io_write}, {__index = real_io})
io = page_io
"""


def redirect_target(exc: BaseException) -> str | None:
    """The URI of a page's ``redirect(uri)`` when ``exc`` is one (also as it comes back
    through Lua, as an error text), else None."""
    if isinstance(exc, _Redirect):
        return exc.uri
    text = str(exc)
    marker = text.find(REDIRECT)
    return text[marker + len(REDIRECT):].split("\n")[0].strip() if marker >= 0 else None


class _Redirect(Exception):
    """``redirect(uri)``: ends the page; the same request goes to ``uri``."""

    def __init__(self, uri: str):
        super().__init__(REDIRECT + uri)
        self.uri = uri


def _to_lua(state, value):
    """A Python JSON value as Lua values (tables for lists and objects)."""
    if isinstance(value, dict):
        return state.lua.table_from({k: _to_lua(state, v) for k, v in value.items()})
    if isinstance(value, list):
        return state.lua.table_from([_to_lua(state, v) for v in value])
    return value


def _from_lua(state, value):
    lua_type = state.lua.globals().type
    if value is not None and lua_type(value) == "table":
        keys = list(value.keys())
        if keys and all(isinstance(k, (int, float)) for k in keys) and sorted(keys) == list(range(1, len(keys) + 1)):
            return [_from_lua(state, value[k]) for k in range(1, len(keys) + 1)]
        return {str(k): _from_lua(state, value[k]) for k in keys}
    return value


def lp_to_lua(text: str) -> str:
    """A ``.lp`` page as Lua: text → ``write``, ``<? … ?>`` as code, ``<?= e ?>`` → ``write(tostring(e))``."""
    out, pos = [], 0
    for match in re.finditer(r"<\?(lua|=)?(.*?)\?>", text, re.S):
        if match.start() > pos:
            out.append(_long_string_write(text[pos:match.start()]))
        kind, code = match.group(1), match.group(2)
        out.append(f" write(tostring({code.strip()})) " if kind == "=" else f" {code} ")
        pos = match.end()
    if pos < len(text):
        out.append(_long_string_write(text[pos:]))
    return "\n".join(out)


def _long_string_write(text: str) -> str:
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    eq = "=" * level
    # a newline right after [[ is dropped by Lua: add one so a leading newline is kept
    return f"write([{eq}[\n{text}]{eq}])"


class Page:
    """One page run: the Lua state, the output buffer and the request table."""

    def __init__(self, ctx: WebContext, root: Path, request: dict, cgi: dict | None = None):
        from .scripts import lua_state
        self.ctx, self.root = ctx, root
        self.out: list[bytes] = []
        self.size = 0
        self.html_started = False
        self.state = lua_state(ctx)
        self.state.services.html_out = self.write      # servercommand(cmd, 'cgi'/'cgibinary') output
        g = self.state.lua.globals()
        from ..luabind.handles import Handle
        g.Data = self.state.wrap(self.state.data)              # as LuaState.run sets them
        g.Command = self.state.wrap(self.state.command)
        g.DicomObject = self.state.wrap(Handle())
        self.request = request
        g.write = self.write
        g.trace = lambda *args: ctx.logs.debug.printf(" ".join(str(a) for a in args) + "\n")
        g.include = self.include
        g.redirect = self.redirect
        g.writefile = self.writefile
        g.unlink = lambda name: Path(str(name)).unlink(missing_ok=True)
        g.request = _to_lua(self.state, request)
        g.config = _to_lua(self.state, {"hostname": "*", "port": ctx.web.port, "webroot": str(root) + "/"})
        g["__json_encode"] = lambda value: json.dumps(_from_lua(self.state, value))
        g["__json_decode"] = lambda text: _to_lua(self.state, json.loads(str(text)))
        # JSON.encode(v) and JSON:encode(v) both work (Conquest's pages use either); io.write
        # writes into the page, as print/write do (rquery.lua answers with io.write)
        self.state.lua.execute(PAGE_PRELUDE)
        from .ladleroutes import install_router
        install_router(self.state.lua)
        if cgi is not None:
            self._cgi(g, cgi)

    # -- the environment -------------------------------------------------------------------
    def write(self, *args) -> None:
        for arg in args:
            data = arg.encode("latin-1", "replace") if isinstance(arg, str) else \
                (bytes(arg) if isinstance(arg, (bytes, bytearray)) else str(arg).encode("latin-1", "replace"))
            self.size += len(data)
            if self.size > MAX_OUTPUT:
                raise RuntimeError("page output larger than 512 MB")
            self.out.append(data)

    def writefile(self, name, data) -> None:
        payload = data.encode("latin-1", "replace") if isinstance(data, str) else bytes(data or b"")
        Path(str(name)).write_bytes(payload)

    def include(self, name) -> None:
        target = safe_file(self.root, str(name).lstrip("/"))
        if target is None:
            raise RuntimeError(f"include: no file {name} in the web folder")
        self.run_file(target)

    def redirect(self, uri) -> None:
        raise _Redirect(str(uri))

    def _cgi(self, g, cgi: dict) -> None:
        query = self.request["query"]

        def cgi_value(name=None, default=""):
            if not name:
                return query.get("_upload_", default)
            return query.get(str(name), default)

        def gpps(section, key, default=""):
            key = str(key)
            if key == "viewer":
                return "wadoseriesviewer"
            if key == "studyviewer":
                return "wadostudyviewer"
            if key == "TCPPort":
                return str(self.ctx.dicom_port)
            if key == "WebServerFor":
                return "127.0.0.1"
            value = self.ctx.config.ini.get(str(section), key)
            return default if value in (None, "") else value

        def html(fmt, *args):
            if not self.html_started:
                self.html_started = True
                self.write("HTTP/1.1 200 OK\r\nServer: Ladle\r\n")
            # Ladle's HTML passes missing (nil) arguments as '' (start.lua's Global.WebCodeBase)
            args = tuple("" if a is None else a for a in args)
            text = g.string.format(fmt, *args) if args else str(fmt)
            self.write(text, "\r\n")

        g.print = lambda *args: self.write(args[0] if args else "", "\r\n")
        g.CGI = cgi_value
        g.gpps = gpps
        g.HTML = html
        for name, value in cgi.items():
            g[name] = value

    # -- running ---------------------------------------------------------------------------
    def run_file(self, path: Path) -> None:
        text = path.read_text(encoding="latin-1")
        code = lp_to_lua(text) if path.suffix == ".lp" else text
        fn, error = self.state.lua.globals().loadstring(code, "@" + path.name), None
        if isinstance(fn, tuple):
            fn, error = fn[0], fn[1] if len(fn) > 1 else None
        if fn is None:
            raise RuntimeError(f"syntax error in {path.name}: {error}")
        fn()

    def run_routes(self, method: str, orguri: str) -> bool:
        """Ladle's ``routes:execute(method, orguri)`` after a page ran: a route the page
        registered for this request runs now (``index.lua`` taken out of the path)."""
        g = self.state.lua.globals()
        done = g.routes.execute(g.routes, method, orguri.replace("index.lua", ""), g.request.query)
        return bool(done[0] if isinstance(done, tuple) else done)

    def response(self) -> Response:
        return raw_response(b"".join(self.out))


def raw_response(data: bytes) -> Response:
    """A page's output as an HTTP answer: an ``HTTP/1.x`` status line and headers, a CGI
    header block (``Status:`` honoured), or a bare body (``text/html``). A header without a
    ``Content-type`` gets none (Ladle sends what the page wrote: newweb's ``slice.lua``
    writes an image after ``HTML('')``, and the client sniffs it)."""
    status, headers, body, had_header = 200, {}, data, False
    head_end = -1
    for sep in (b"\r\n\r\n", b"\n\n", b"\n\r\n"):
        found = data.find(sep, 0, 8192)
        if found >= 0 and (head_end < 0 or found < head_end):
            head_end, sep_len = found, len(sep)
    lines: list[str] = []
    if data.startswith(b"HTTP/1.") and head_end >= 0:
        first, _, rest = data[:head_end].partition(b"\n")
        parts = first.decode("latin-1").split()
        if len(parts) >= 2 and parts[1].isdigit():
            status = int(parts[1])
        lines = rest.decode("latin-1").splitlines()
        body, had_header = data[head_end + sep_len:], True
    elif head_end >= 0 and re.match(rb"^[A-Za-z][A-Za-z0-9\-]*:", data):
        block = data[:head_end].decode("latin-1").splitlines()
        if all(re.match(r"^[A-Za-z][A-Za-z0-9\-]*:", line) for line in block if line.strip()):
            lines = block
            body, had_header = data[head_end + sep_len:], True
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon:
            continue                       # Ladle pages sometimes write a broken header line
        name, value = name.strip(), value.strip()
        if name.lower() == "status" and value[:3].isdigit():
            status = int(value[:3])
        elif name.lower() not in ("content-length", "transfer-encoding", "connection", "server"):
            headers[name] = value
    if not had_header:
        headers["Content-Type"] = "text/html"     # a bare body (as PHP/Apache label it)
    return Response(body, status_code=status, headers=headers)


async def _request_table(request: Request, uri: str, with_body: bool = True) -> dict:
    query = dict(parse_qsl(request.url.query, keep_blank_values=True))
    table = {"method": request.method, "uri": uri.lstrip("/"), "orguri": request.url.path,
             "query_string": request.url.query, "query": query}
    for name, value in request.headers.items():
        table[name] = value
        table["-".join(w.capitalize() for w in name.split("-"))] = value
    if with_body and request.method in ("POST", "PUT"):
        ctx: WebContext = request.scope["app"].state.ctx
        body = getattr(request.state, "page_body", None)     # read before (newweb's POST mode, a route)
        if body is None:
            body = b""
            async for chunk in request.stream():
                body += chunk
                if len(body) > ctx.web.max_upload:
                    raise HTTPProblem(413, "the upload is larger than the limit (WebMaxUpload)")
            request.state.page_body = body       # kept for a ladle route's redirect and the page
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("multipart/form-data"):
            _form(body, ctype, query)
        elif ctype.startswith("application/x-www-form-urlencoded"):
            query.update(dict(parse_qsl(body.decode("latin-1"), keep_blank_values=True)))
        elif ctype.startswith("multipart/") and _first_part(body, ctype, query):
            pass                                 # multipart/related (STOW): its first part, as Ladle takes it
        elif body:
            query["_upload_"] = body.decode("latin-1")
    return table


def _first_part(body: bytes, ctype: str, query: dict) -> bool:
    from .multipart import MultipartError, parse_buffer, parse_media_type
    _media, params = parse_media_type(ctype)
    try:
        parts = parse_buffer(body, params.get("boundary", ""))
    except MultipartError:
        return False
    if not parts:
        return False
    query["_upload_"] = parts[0].body.decode("latin-1")
    return True


def _form(body: bytes, ctype: str, query: dict) -> None:
    from .multipart import MultipartError, parse_buffer, parse_media_type
    _media, params = parse_media_type(ctype)
    try:
        parts = parse_buffer(body, params.get("boundary", ""))
    except MultipartError as exc:
        raise HTTPProblem(400, f"malformed form upload: {exc}")
    for part in parts:
        _d, disp = parse_media_type("x; " + part.headers.get("content-disposition", "").partition(";")[2])
        name = disp.get("name", "")
        if "filename" in disp:
            if "_upload_" not in query:
                query["_upload_"] = part.body.decode("latin-1")
                query["filename"] = disp["filename"]
        elif name:
            query[name] = part.body.decode("latin-1")


def _cgi_globals(ctx: WebContext, query: dict, query_string: str) -> dict:
    """The CGI globals of conquest-lua-web.md §10.6 as Ladle sets them."""
    def q(name: str) -> str:
        return str(query.get(name, ""))
    g = {name: q(name) for name in ("mode", "slice", "series", "study", "db", "lw", "source", "dest", "key",
                                     "compress", "viewer", "patientidmatch", "patientnamematch",
                                     "studydatematch", "startdatematch", "dsize", "query")}
    g.update(query_string=query_string, script_name="dgate.exe", extra="ladle=1", server_name="127.0.0.1",
             webscriptadress="dgate.exe", webscriptaddress="dgate.exe", webcodebase="/",
             port=str(ctx.dicom_port), address="127.0.0.1", size=q("size") or "512",
             iconsize=q("iconsize") or "56", graphic=q("graphic") or "jpg")
    from ..version import DGATE_VERSION
    g["version"] = DGATE_VERSION
    for name in ("series", "slice", "study"):
        g[name + "2"] = g[name]
        g[name] = g[name].replace(" ", "%20")
    patid, _, uid = q("study").partition(":")
    g.update(patid=patid, patid2=patid, studyuid=uid)
    g["seruid"] = q("series").partition(":")[2]
    g["sopuid"] = q("slice").partition(":")[2]
    return g


def _lua_role(request: Request) -> None:
    role = request.scope.get("state", {}).get("role", "full")
    if role != "full":
        raise HTTPProblem(403, f"Lua pages can send any server command: they need the full role; you have {role}")


PASS_THROUGH = ("servercommand", "serverpage")
"""newweb ``start.lua`` APIs that send an arbitrary server command from the browser
(conquest-lua-web.md §10.6; the original refuses them when ``readOnly``)."""


def _server_command_gate(ctx: WebContext, query: dict) -> None:
    """``parameter=servercommand``/``serverpage`` on a newweb page (query or form field)
    only with ``WebServerCommands = 1``; otherwise 403 and the page does not run."""
    wanted = str(query.get("parameter", "")).strip().lower()
    if wanted in PASS_THROUGH and not ctx.web.server_commands:
        raise HTTPProblem(403, f"newweb's {wanted} pass-through (an arbitrary server command from the browser) "
                               "is off: set WebServerCommands = 1 in dicom.ini to allow it")


async def serve(request: Request) -> Response:
    """Every URL no other route takes: a page, a newweb CGI page or a file of the web folder."""
    ctx: WebContext = request.app.state.ctx
    root = webroot(ctx)
    path = request.path_params.get("path", "")
    for _hop in range(5):
        segments = path.split("/")
        cgi_at = next((i for i, s in enumerate(segments)
                       if s == "dgate" or (s.startswith("dgate.") and not s.endswith(".php"))), -1)
        if cgi_at >= 0:
            answer = await _cgi_page(request, ctx, root, "/".join(segments[:cgi_at]))
        else:
            if not root.is_dir():
                raise HTTPProblem(404, "Not found!")
            target = safe_file(root, path)
            if target is None and path.strip("/") == "app/newweb":
                if not request.url.query:
                    return RedirectResponse("/app/newweb/dgate.exe?mode=start")     # as ladle_routes.lua
                # newweb's own links (listseries' "View"): /app/newweb/?mode=… is its CGI page
                answer = await _cgi_page(request, ctx, root, "app/newweb")
                if isinstance(answer, Response):
                    return answer
                path = answer.lstrip("/").partition("?")[0]
                continue
            if target is None:
                return Response("Not found!", status_code=404, media_type="text/plain")
            if target.suffix.lower() == ".php":
                return await _php(request, ctx, root, target)
            if target.suffix.lower() not in PAGE_SUFFIXES:
                ctype = LADLE_TYPES.get(target.suffix.lower().lstrip("."), "application/octet-stream")
                return FileResponse(target, media_type=ctype)
            answer = await _run(request, ctx, root, target, None)
        if isinstance(answer, Response):
            return answer
        path = answer.lstrip("/").partition("?")[0]      # redirect(uri): the same request, another page
    raise HTTPProblem(508, "too many redirects between pages")


async def _cgi_page(request: Request, ctx: WebContext, root: Path, folder: str) -> Response | str:
    query = dict(parse_qsl(request.url.query, keep_blank_values=True))
    if request.method in ("POST", "PUT") and not (query.get("mode") or query.get("requestType")):
        query = (await _request_table(request, request.url.path))["query"]      # a form's mode, as Ladle
    mode = query.get("mode", "")
    request_type = query.get("requestType", "")
    name = mode or request_type
    if not name:
        raise HTTPProblem(404, "Not found! (a newweb page needs mode= or requestType=)")
    if not PAGE_NAME.match(name):
        raise HTTPProblem(400, f"mode '{name[:80]}' is not a page name")
    target = None
    if root.is_dir():
        try:
            target = safe_file(root, f"{folder}/{name}.lua" if folder else f"{name}.lua")
        except HTTPProblem:
            target = None
    if target is None:
        if not mode and request_type == "WADO":
            from .wadouri import wado_uri
            return await wado_uri(request)
        raise HTTPProblem(404, f"Not found! (no page {folder + '/' if folder else ''}{name}.lua in the web folder)")
    return await _run(request, ctx, root, target, {})


async def _run(request: Request, ctx: WebContext, root: Path, target: Path, cgi: dict | None) -> Response | str:
    _lua_role(request)
    table = await _request_table(request, request.url.path)
    if cgi is not None:
        _server_command_gate(ctx, table["query"])
        cgi = _cgi_globals(ctx, table["query"], request.url.query)

    def work() -> Response | str:
        try:
            page = Page(ctx, root, table, cgi)
            with page.state.lock:
                page.run_file(target)
                page.run_routes(request.method, request.url.path)
        except Exception as exc:
            target_uri = redirect_target(exc)
            if target_uri is not None:
                return target_uri
            text = str(exc)
            ctx.logs.operator.printf(f"***web page {target.name}: {text}\n")
            return Response(f"error in page {target.name}: {text}\n", status_code=500, media_type="text/plain")
        return page.response()

    return await run_in_threadpool(work)


PHP_CGI = "php-cgi"
PHP_TIMEOUT = 300


async def _php(request: Request, ctx: WebContext, root: Path, target: Path) -> Response:
    """One PHP file through php-cgi (module docstring); needs the full role like Lua pages."""
    import shutil
    import subprocess
    _lua_role(request)
    exe = shutil.which(PHP_CGI)
    if exe is None:
        raise HTTPProblem(501, "PHP pages need php-cgi, which is not installed")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > ctx.web.max_upload:
            raise HTTPProblem(413, "the upload is larger than the limit (WebMaxUpload)")
    client = request.client.host if request.client else ""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GATEWAY_INTERFACE": "CGI/1.1", "REDIRECT_STATUS": "200",
           "SERVER_SOFTWARE": "dgate", "SERVER_NAME": request.url.hostname or "127.0.0.1",
           "SERVER_PORT": str(request.url.port or ctx.web.port), "SERVER_PROTOCOL": "HTTP/1.1",
           "REQUEST_METHOD": request.method, "REQUEST_URI": request.url.path + (f"?{request.url.query}"
                                                                               if request.url.query else ""),
           "QUERY_STRING": request.url.query, "SCRIPT_FILENAME": str(target), "SCRIPT_NAME": "/" +
           str(target.relative_to(root.resolve())), "DOCUMENT_ROOT": str(root.resolve()), "REMOTE_ADDR": client,
           "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": request.headers.get("content-type", ""),
           "PYTHONPATH": os.environ.get("PYTHONPATH", ""), "HOME": os.environ.get("HOME", "")}
    for name, value in request.headers.items():
        if name not in ("content-type", "content-length"):
            env["HTTP_" + name.upper().replace("-", "_")] = value

    def work() -> Response:
        try:
            done = subprocess.run([exe], input=body, env=env, cwd=target.parent, capture_output=True,
                                  timeout=PHP_TIMEOUT)
        except subprocess.TimeoutExpired:
            return Response(f"{target.name} ran longer than {PHP_TIMEOUT} s\n", status_code=504,
                            media_type="text/plain")
        if done.returncode != 0 and not done.stdout:
            ctx.logs.operator.printf(f"***web page {target.name}: php-cgi failed: {done.stderr[-300:]!r}\n")
            return Response(f"php-cgi failed on {target.name}\n", status_code=502, media_type="text/plain")
        return raw_response(done.stdout)

    return await run_in_threadpool(work)
