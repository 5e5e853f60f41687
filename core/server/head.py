"""HEAD answered as GET without a body, on every GET route.

FastAPI routes answer only the methods they declare: `curl -I .../healthz`, the way many uptime
monitors probe, got a 405. A HEAD request runs the GET route (its status and headers, Content-Length
included, are the GET's) and the body is dropped.
"""
from __future__ import annotations


class HeadAsGet:
    """ASGI middleware: a HEAD request is served by the GET route of its path, without the body."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "HEAD":
            return await self.app(scope, receive, send)

        async def without_body(message):
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        # marked: a 405 names the HEAD the client sent ("GET is not allowed" answered `curl -I` on a POST route)
        await self.app({**scope, "method": "GET", "mycelial.head": True}, receive, without_body)
