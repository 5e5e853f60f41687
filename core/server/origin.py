"""Requests other web pages make refused: cross-site writes (CSRF), other host names (DNS rebinding), framing.

A server on 127.0.0.1 without a token trusted whatever reached it, and a browser reaches it for any page the
user visits: a page elsewhere POSTed a multipart upload (a form needs no CORS preflight) and replaced a
document, and a page on a domain re-pointed at 127.0.0.1 (DNS rebinding) is same-origin with the server, so it
could read and forget everything. So a request that changes something and comes from another origin (its
``Origin`` names another host, or ``Sec-Fetch-Site: cross-site``) is a 403; a server bound to a loopback address
answers only to loopback names in ``Host`` (403 otherwise); and no page may frame this one (clickjacking).
Clients that are not browsers (curl, httpx) send no ``Origin`` and pass as before. A server with a token needs
neither check (a page elsewhere does not hold the token: it is no cookie), and a proxy in front of it may send
its own ``Host`` and ``Origin``.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from core.server.errors import error_bytes

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
SECURITY_HEADERS = [(b"x-frame-options", b"DENY"), (b"content-security-policy", b"frame-ancestors 'none'"),
                    (b"x-content-type-options", b"nosniff")]


def host_name(host: str) -> str:
    """The name in a ``Host`` header: ``127.0.0.1:8470`` -> ``127.0.0.1``, ``[::1]:8470`` -> ``::1``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def refusal(method: str, headers: dict, loopback_only: bool) -> str | None:
    """Why a request is refused (None: it is not), from its method and headers (lower-case names)."""
    host = headers.get("host")
    if loopback_only and host is not None and host_name(host) not in LOOPBACK_HOSTS:
        return (f"this server answers only to 127.0.0.1, localhost or [::1], not to Host {host[:100]!r} (a page "
                f"on another domain pointed at this machine?); serve with a token to be reached by other names")
    if method in SAFE_METHODS:
        return None
    origin = headers.get("origin")
    if origin is not None and (origin == "null" or host is None or urlsplit(origin).netloc.lower() != host.lower()):
        return (f"a request from another web page ({origin[:100]}) may not change this server's memories; "
                f"use this server's own page, or a client that sends no Origin header")
    if headers.get("sec-fetch-site") == "cross-site":
        return "a request from another web site may not change this server's memories"
    return None


class SameOrigin:
    """ASGI middleware: 403 (the error shape of every answer) for the requests `refusal` names, before anything
    reads the body, when ``checked`` (a server without a token); every answer says no page may frame it."""

    def __init__(self, app, checked: bool = True, loopback_only: bool = False):
        self.app, self.checked, self.loopback_only = app, checked, loopback_only

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        why = refusal(scope["method"], headers, self.loopback_only) if self.checked else None
        if why is not None:
            body = error_bytes(why)
            await send({"type": "http.response.start", "status": 403, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                *SECURITY_HEADERS]})
            await send({"type": "http.response.body", "body": body})
            return

        async def framed_by_none(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, framed_by_none)
