"""The bearer token of every /v1 route, checked before the request's body is read.

As a route dependency alone it ran after FastAPI had parsed a JSON body: a client without the token
sending malformed JSON to recall, forget or reinforce got a 422 about its body, not the 401.
"""
from __future__ import annotations

import hmac

from core.server.errors import error_bytes

UNAUTHORIZED = "missing or wrong bearer token: send 'Authorization: Bearer <token>'"


def bearer_ok(token: str | None, header: str) -> bool:
    """Does ``Authorization: <header>`` carry ``token`` (any when there is no token)?"""
    if token is None:
        return True
    scheme, _, value = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


class BearerAuth:
    """ASGI middleware: 401 for a /v1 request without the token, before anything reads its body."""

    def __init__(self, app, token: str | None):
        self.app, self.token = app, token

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and self.token is not None and scope["path"].startswith("/v1"):
            header = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), "")
            if not bearer_ok(self.token, header):
                body = error_bytes(UNAUTHORIZED)  # the shape of every error answer
                await send({"type": "http.response.start", "status": 401, "headers": [
                    (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b"Bearer")]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
