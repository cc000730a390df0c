"""Gzip for responses that shrink (JSON, text, HTML, JS, CSS, XML), never for DICOM,
pixel data or images, which would cost time and gain little."""
from __future__ import annotations

import zlib

COMPRESSIBLE = ("application/json", "application/dicom+json", "text/", "application/javascript",
                "application/xml", "application/vnd.sun.wadl+xml", "image/svg+xml")
MINIMUM = 1024


class Gzip:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        accept = b""
        for k, v in scope.get("headers", []):
            if k == b"accept-encoding":
                accept = v
        if b"gzip" not in accept:
            return await self.app(scope, receive, send)
        state: dict = {"start": None, "gzip": None, "sent_start": False}

        async def wrapped(message):
            if message["type"] == "http.response.start":
                headers = dict((k.lower(), v) for k, v in message.get("headers", []))
                ctype = headers.get(b"content-type", b"").decode("latin-1").lower()
                if b"content-encoding" in headers or not ctype.startswith(COMPRESSIBLE):
                    state["sent_start"] = True
                    await send(message)
                    return
                state["start"] = message
                return
            if message["type"] != "http.response.body" or state["sent_start"] and state["gzip"] is None:
                await send(message)
                return
            body = message.get("body", b"")
            more = message.get("more_body", False)
            if state["gzip"] is None:
                start = state["start"]
                if not more and len(body) < MINIMUM:
                    state["sent_start"] = True
                    await send(start)
                    await send(message)
                    return
                headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
                headers += [(b"content-encoding", b"gzip"), (b"vary", b"Accept-Encoding")]
                state["gzip"] = zlib.compressobj(6, zlib.DEFLATED, 31)
                state["sent_start"] = True
                await send({**start, "headers": headers})
            z = state["gzip"]
            data = z.compress(body)
            if not more:
                data += z.flush()
            await send({"type": "http.response.body", "body": data, "more_body": more})

        await self.app(scope, receive, wrapped)
