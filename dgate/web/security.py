"""Who may use the web server (ours; Ladle and the PHP API have no access control).

* Clients not on this machine get 403 unless ``WebRemoteAccess = 1``.
* Roles: ``read`` (GET/HEAD) and ``full`` (also POST/PUT/DELETE, ``…/move`` and any request
  with a ``script`` parameter: converter scripts can run programs).
  With a users file, credentials are HTTP Basic (name and secret) or
  ``Authorization: Bearer <secret>``; requests without them get 401. Without a users file
  every allowed client has ``WebAnonymousRole`` (default ``full``).
* CORS preflight (OPTIONS) needs no credentials.
"""
from __future__ import annotations

import base64
import ipaddress

from .errors import problem_response
from .settings import ROLES, WebSettings

WRITE_METHODS = {"POST", "PUT", "DELETE", "PATCH"}


def is_local(host: str) -> bool:
    if host in ("testclient", "localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def needed_role(method: str, path: str, query: bytes = b"") -> str:
    if method in WRITE_METHODS or path.rstrip("/").endswith("/move"):
        return "full"
    from urllib.parse import parse_qsl
    if any(name == "script" for name, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True)):
        return "full"
    return "read"


def role_of(web: WebSettings, authorization: str) -> str | None:
    """The role given by an Authorization header; None = no or wrong credentials."""
    if not web.users:
        return web.anonymous_role
    scheme, _, value = authorization.partition(" ")
    scheme = scheme.lower()
    if scheme == "basic":
        try:
            name, _, secret = base64.b64decode(value.strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        for user in web.users:
            if user.name == name and user.matches(secret):
                return user.role
    elif scheme == "bearer":
        for user in web.users:
            if user.matches(value.strip()):
                return user.role
    return None


class Guard:
    """ASGI middleware applying the rules above."""

    def __init__(self, app, web: WebSettings):
        self.app = app
        self.web = web

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        host = (scope.get("client") or ("", 0))[0]
        if not self.web.remote_access and not is_local(host):
            return await problem_response(403, "remote HTTP access is off (WebRemoteAccess = 0)")(scope, receive, send)
        method = scope["method"]
        if method == "OPTIONS":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        role = role_of(self.web, headers.get("authorization", ""))
        need = needed_role(method, scope.get("path", ""), scope.get("query_string", b""))
        if role is None:
            response = problem_response(401, "credentials are needed (HTTP Basic or Bearer token)")
            response.headers["WWW-Authenticate"] = 'Basic realm="dgate"'
            return await response(scope, receive, send)
        if ROLES.index(role) < ROLES.index(need):
            return await problem_response(403, f"this needs the {need} role; you have {role}")(scope, receive, send)
        scope.setdefault("state", {})["role"] = role
        return await self.app(scope, receive, send)
