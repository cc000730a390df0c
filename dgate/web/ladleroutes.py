"""A site's ``webserver/htdocs/ladle_routes.lua`` in front of our routes (``WebLadleRoutes = 1``).

Ladle (conquest-lua-web.md §10.5) serves every request through that file when it exists:
the file runs as a page (``write``, ``request`` with ``orguri``, ``include``, …) with a
``routes`` router in its environment, registers handlers with ``routes:get(pattern, fn)``
(``post``, ``put``, ``delete``, ``patch``, ``options``, ``head``, ``any``,
``match(method, pattern, fn)`` or ``match({GET = {[pattern] = fn}})``), and
``routes:execute(method, orguri)`` then calls the handler with a table of the path
parameters (``:name`` one segment, ``*name`` the rest of the path) and the query/form
values. Here the file runs the same way for every HTTP request when ``WebLadleRoutes = 1``;
a matching route answers with what its handler wrote (status line and headers, a CGI
header block or a bare body, as for pages); no match, or a client without the ``full``
role (the file can send any server command), leaves the request to our own routes,
untouched. Of several matching patterns the one with most literal segments wins, then the
first registered.

Off by default: the ``ladle_routes.lua`` of Conquest's own web folder re-implements the
DICOMweb/WADO/newweb routes that this server serves natively, with Ladle internals
(its CGI handler, ``rquery.lua`` through ``include``); put in front of ours it would replace
them. A site with its own routes turns the switch on.
"""
from __future__ import annotations

from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from .context import WebContext

ROUTER_LUA = r"""
local Router = {}
Router.__index = Router
local METHODS = {"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "CONNECT"}

local function segments(path)
  local out = {}
  for part in string.gmatch(path, "[^/]+") do out[#out + 1] = part end
  return out
end

function Router.new()
  return setmetatable({byMethod = {}}, Router)
end

function Router:match(method, pattern, handler)
  if type(method) == "table" then
    for name, list in pairs(method) do
      for pat, fn in pairs(list) do self:match(name, pat, fn) end
    end
    return
  end
  method = string.upper(method)
  local list = self.byMethod[method]
  if not list then list = {}; self.byMethod[method] = list end
  list[#list + 1] = {parts = segments(pattern), handler = handler}
end

for _, name in ipairs(METHODS) do
  Router[string.lower(name)] = function(self, pattern, handler) self:match(name, pattern, handler) end
end

function Router:any(pattern, handler)
  for _, name in ipairs(METHODS) do self:match(name, pattern, handler) end
end

local function resolve(parts, segs)
  local params, literal = {}, 0
  for i, part in ipairs(parts) do
    local first = string.sub(part, 1, 1)
    if first == "*" then
      params[string.sub(part, 2)] = table.concat(segs, "/", i)
      return params, literal
    elseif first == ":" then
      if segs[i] == nil then return nil end
      params[string.sub(part, 2)] = segs[i]
    elseif segs[i] ~= part then
      return nil
    else
      literal = literal + 1
    end
  end
  if #segs ~= #parts then return nil end
  return params, literal
end

function Router:resolve(method, path)
  path = string.gsub(path or "", "%?.*$", "")
  local segs = segments(path)
  local best, bestParams, bestLiteral = nil, nil, -1
  for _, route in ipairs(self.byMethod[string.upper(method)] or {}) do
    local params, literal = resolve(route.parts, segs)
    if params and literal > bestLiteral then
      best, bestParams, bestLiteral = route.handler, params, literal
    end
  end
  return best, bestParams
end

function Router:execute(method, path, query)
  local handler, params = self:resolve(method, path)
  if not handler then return false, "Could not resolve " .. tostring(method) .. " " .. tostring(path) end
  for k, v in pairs(query or {}) do
    if params[k] == nil then params[k] = v end
  end
  return true, handler(params)
end

return Router
"""


def install_router(lua) -> None:
    """``routes`` (a new router) in a page's Lua state; ``require 'router'`` gives the module."""
    router = lua.execute(ROUTER_LUA)
    g = lua.globals()
    if g.package is not None:
        g.package.loaded.router = router
    g.routes = router.new()


def routes_file(ctx: WebContext) -> Path | None:
    from .pages import webroot
    if not ctx.web.ladle_routes:
        return None
    path = webroot(ctx) / "ladle_routes.lua"
    return path if path.is_file() else None


def route_path(request: Request) -> str:
    """The path the routes see: Ladle's ``orguri`` with ``index.lua`` taken out."""
    return request.url.path.replace("index.lua", "")


class LadleRoutes:
    """ASGI middleware: the site's routes first (module docstring), else the app."""

    def __init__(self, app, ctx: WebContext):
        self.app, self.ctx = app, ctx

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") == "OPTIONS":
            return await self.app(scope, receive, send)
        path = routes_file(self.ctx)
        if path is None or scope.get("state", {}).get("role", "full") != "full":
            return await self.app(scope, receive, send)
        request = Request(scope, receive)
        response = await answer(request, self.ctx, path)
        if response is None:
            return await self.app(scope, receive, send)
        if isinstance(response, Redirect):
            return await self.app(*await response.scope(request, scope, receive), send)
        await response(scope, receive, send)


class Redirect:
    """``redirect(uri)`` in a route: Ladle's ``servedirect`` serves ``uri`` at once, without
    the routes (so a route may redirect to its own URI, as Conquest's ``/app/newweb/dgate.exe``
    does); here our own routes serve it, with the request's method and body. A ``?query`` in
    ``uri`` replaces the query; without one the request keeps its own."""

    def __init__(self, uri: str):
        self.uri = uri

    async def scope(self, request: Request, scope, receive):
        body = getattr(request.state, "page_body", None)     # the form a POST route read
        if body is None:
            body = await request.body()
        path, mark, query = self.uri.partition("?")
        path = "/" + path.lstrip("/")
        inner = dict(scope, path=path, raw_path=path.encode("latin-1", "replace"))
        if mark:
            inner["query_string"] = query.encode("latin-1", "replace")
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()
        return inner, replay


async def answer(request: Request, ctx: WebContext, path: Path):
    """Run the routes file; None when no route takes ``request``."""
    from .pages import Page, _request_table, redirect_target, webroot
    root = webroot(ctx)
    table = await _request_table(request, "ladle_routes.lua", with_body=False)
    uri = route_path(request)

    def register():
        page = Page(ctx, root, table, None)          # with its routes (install_router)
        g = page.state.lua.globals()
        with page.state.lock:
            page.run_file(path)
            handler, _params = g.routes.resolve(g.routes, request.method, uri)
        return page, handler is not None

    try:
        page, matched = await run_in_threadpool(register)
    except Exception as exc:
        return _failed(ctx, exc)
    if not matched:
        return None
    if request.method in ("POST", "PUT"):
        fields = await _request_table(request, "ladle_routes.lua")
        extra = {k: v for k, v in fields["query"].items() if k not in table["query"]}
    else:
        extra = {}

    def run():
        g = page.state.lua.globals()
        for name, value in extra.items():
            g.request.query[name] = value
        with page.state.lock:
            g.routes.execute(g.routes, request.method, uri, g.request.query)
        return page.response()

    try:
        return await run_in_threadpool(run)
    except Exception as exc:
        target = redirect_target(exc)
        if target is not None:               # redirect(uri) in a route: served at once (Redirect)
            return Redirect(target)
        return _failed(ctx, exc)


def _failed(ctx: WebContext, exc: Exception):
    from starlette.responses import Response
    ctx.logs.operator.printf(f"***web: ladle_routes.lua: {exc}\n")
    return Response(f"error in ladle_routes.lua: {exc}\n", status_code=500, media_type="text/plain")
