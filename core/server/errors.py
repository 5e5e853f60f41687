"""Error responses without stack traces, a request body size limit, and hits in words."""
from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("mycelial.server")


def _field(loc) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path"):  # where it came from; a field may be named "query"
        parts = parts[1:]
    return ".".join(parts) or "body"


def _error(e: dict) -> dict:
    """One validation error as {field, message}; a body that is not JSON is the body's fault, with the reason."""
    if e.get("type") == "json_invalid":
        reason = (e.get("ctx") or {}).get("error", "")
        loc = e.get("loc") or ()
        at = f" (at character {loc[-1]})" if loc and isinstance(loc[-1], int) else ""
        return {"field": "body", "message": f"invalid JSON: {reason}{at}" if reason else "invalid JSON"}
    return {"field": _field(e.get("loc", ())), "message": e.get("msg", "invalid")}


def install_error_handlers(app: FastAPI) -> None:
    """422 names the field; any unexpected error is logged here and answered with a bare 500."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        errors = [_error(e) for e in exc.errors()]
        msg = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return JSONResponse({"error": f"invalid request: {msg}", "fields": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)  # FastAPI's HTTPException and the router's 404/405
    async def _http(request: Request, exc: StarletteHTTPException):
        cause = exc.__cause__  # FastAPI's 400 "There was an error parsing the body" hides why; the documents
        if exc.status_code == 400 and isinstance(cause, (RecursionError, UnicodeDecodeError)):  # route says 422
            why = "invalid JSON: nested too deeply" if isinstance(cause, RecursionError) else \
                f"not valid {cause.encoding} text ({cause.reason} at byte {cause.start})"
            return await _invalid(request, RequestValidationError([{"loc": ("body",), "msg": why}]))
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"error": "internal server error (details are in the server log)"}, status_code=500)


class BodyLimit:
    """ASGI middleware: 413 for a body over ``max_bytes`` (by Content-Length, or while streaming)."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for k, v in scope.get("headers", ()):
            if k == b"content-length" and v.isdigit() and int(v) > self.max_bytes:
                return await self._reject(send)
        seen = 0
        started = False

        async def limited_receive():
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge(self.max_bytes)
            return msg

        async def tracking_send(msg):
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._reject(send)

    async def _reject(self, send):
        body = json.dumps({"error": _too_large(self.max_bytes)}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def _too_large(max_bytes: int) -> str:
    # an upload of one big file cannot be "fewer documents": name the file split and the server's option
    return (f"request body over the {max_bytes:,}-byte limit (the server's --max-body-mb); send fewer documents "
            "per request, or split a large file")


class _TooLarge(StarletteHTTPException):
    """An HTTPException, so FastAPI passes it on while reading a route's JSON body: as a plain exception a
    chunked body over the limit became its 400 "There was an error parsing the body"."""

    def __init__(self, max_bytes: int):
        super().__init__(413, _too_large(max_bytes))
