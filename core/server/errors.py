"""Error answers without stack traces, in one shape, and a request body size limit.

Every error the server answers is ``{"error": text, "fields": [{"field", "message"}, ...]}``: ``fields``
names what the client sent wrong (a 422 always names at least one: a parameter, ``body``, ``file`` or a
document's ``0.text``) and is empty when no field is at fault (401, 404, 405, 413, 415, 500, 503; reinforce's
404 for chunk ids it does not know names ``chunk_ids``). Some 422s raised inside routes (uploads, "nothing was
ingested", the engine's value errors) had no ``fields``, and the 401/413/404/405 answers were bare
``{"error"}``: a client had to branch on the status to read them.
"""
from __future__ import annotations

import json
import logging
import re
import sqlite3

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

log = logging.getLogger("mycelial.server")


def error_body(message: str, fields=()) -> dict:
    """The one JSON shape of every error answer (see the module docstring)."""
    return {"error": message, "fields": [dict(f) for f in fields]}


def error_bytes(message: str) -> bytes:
    """An error body written by a middleware, in JSONResponse's compact form: the 401/403/413/500 bodies were
    ``{"error": ..., "fields": []}`` with spaces, every other answer without."""
    return json.dumps(error_body(message), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def shown(value: str, limit: int = 200) -> str:
    """``repr(value)`` for an error message, cut to ``limit`` characters: a 5,000-character id was echoed whole."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(value):,} characters)"


def error_json(message: str, status: int, headers=None) -> JSONResponse:
    return JSONResponse(error_body(message), status_code=status, headers=headers)


class Invalid(Exception):
    """A 422 raised inside a route with its own wording and the fields at fault: ``fields`` is a list of
    (field, message) pairs, ``message`` the whole error (default: "invalid request: field: message; ...")."""

    def __init__(self, fields, message: str | None = None):
        self.fields = [{"field": f, "message": m} for f, m in fields]
        self.message = message or "invalid request: " + "; ".join(f"{f}: {m}" for f, m in fields)
        super().__init__(self.message)


def ingest_error_field(error: str) -> tuple[str, str]:
    """(field, message) of one ingest error: a posted document's ("<records>:2: "text" ..." -> "1.text", its index
    in the list, as validation names it), else the uploaded file's (``file``)."""
    m = re.match(r'<records>:(\d+): (.*)', error, re.S)
    if m is None:
        return "file", error
    key = re.match(r'"(id|title|text)"', m[2])
    return f"{int(m[1]) - 1}" + (f".{key[1]}" if key else ""), m[2]


def check_question(loc: tuple, text: str) -> None:
    """422 naming the field for a question the model cannot embed: a NUL or a lone surrogate answered
    a 422 without ``fields`` naming "texts[0]" (the embedder's words), not ``q``."""
    msg = None
    if not text.strip():
        msg = "the question is blank"
    elif "\x00" in text:
        msg = "the question contains a NUL character"
    else:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            msg = f"the question holds an unpaired surrogate at character {exc.start}; it is not valid Unicode text"
    if msg:
        raise RequestValidationError([{"loc": loc, "msg": msg}])


def _field(loc) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path"):  # where it came from; a field may be named "query"
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_error(e: dict) -> dict:
    """One validation error as {field, message}; a body that is not JSON is the body's fault, with the reason."""
    if e.get("type") == "missing" and tuple(e.get("loc") or ()) == ("body",) or e.get("type") == "json_invalid" \
            and str((e.get("ctx") or {}).get("error", "")).startswith("EOF while parsing a value at line 1 column 0"):
        return {"field": "body", "message": "the body is empty"}  # "Field required", "invalid JSON: EOF while ..."
    if e.get("type") == "json_invalid":
        reason = _json_reason((e.get("ctx") or {}).get("error", ""))
        loc = e.get("loc") or ()
        at = f" (at character {loc[-1]})" if loc and isinstance(loc[-1], int) else ""
        return {"field": "body", "message": f"invalid JSON: {reason}{at}" if reason else "invalid JSON"}
    return {"field": _field(e.get("loc", ())), "message": e.get("msg", "invalid")}


def _json_reason(reason: str) -> str:
    """The JSON parser's words for a ``\\ud800`` escape without its pair ("unexpected end of hex escape",
    "lone leading surrogate") said nothing of what was wrong with a document's text."""
    if "surrogate" in reason or "end of hex escape" in reason:
        at = f" ({reason[reason.find(' at line') + 1:]})" if " at line" in reason else ""
        return ("a \\u escape names an unpaired surrogate (\\ud800-\\udfff without its pair), which is not "
                "text; send the character itself or its valid pair" + at)
    return reason


def install_error_handlers(app: FastAPI) -> None:
    """422 names the field; a memory's folder or file that fails is a 503 or a 500 naming the cause (an
    unexpected error is `Crashes`'s)."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        errors = [validation_error(e) for e in exc.errors()]
        msg = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return JSONResponse(error_body(f"invalid request: {msg}", errors), status_code=422)

    @app.exception_handler(Invalid)
    async def _invalid_here(request: Request, exc: Invalid):
        return JSONResponse(error_body(exc.message, exc.fields), status_code=422)

    @app.exception_handler(StarletteHTTPException)  # FastAPI's HTTPException and the router's 404/405
    async def _http(request: Request, exc: StarletteHTTPException):
        cause = exc.__cause__  # FastAPI's 400 "There was an error parsing the body" hides why; the documents
        if exc.status_code == 400 and isinstance(cause, (RecursionError, UnicodeDecodeError)):  # route says 422
            why = "invalid JSON: nested too deeply" if isinstance(cause, RecursionError) else \
                f"not valid {cause.encoding} text ({cause.reason} at byte {cause.start})"
            return await _invalid(request, RequestValidationError([{"loc": ("body",), "msg": why}]))
        headers = exc.headers
        if exc.status_code == 405 and exc.detail == "Method Not Allowed":
            headers = {**(headers or {}), "Allow": _allowed(request)}
            exc.headers = headers
        return error_json(_router_words(request, exc), exc.status_code, headers)

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, exc: ClientDisconnect):
        # a client that hangs up mid-body (a cancelled upload) left two tracebacks in the server log, ours and
        # uvicorn's "Exception in ASGI application", as if the server had failed; nothing was stored
        log.warning("%s %s: the client closed the connection before sending its whole body; nothing of it was "
                    "stored", request.method, request.url.path)  # a warning: `mycelial serve` shows no info lines
        return error_json("the client closed the connection before sending its whole body", 400)

    async def _folder_error(request: Request, exc: Exception):
        # a served memory's folder deleted, moved or unmounted under the server: stats and every write answered
        # "internal server error", with two tracebacks in the log (ours and uvicorn's: Exception re-raises)
        name = request.path_params.get("name")
        registry = getattr(request.app.state, "registry", None)
        slot = registry.get(name) if registry is not None and isinstance(name, str) else None
        if slot is not None and not slot.memory.folder.is_dir():
            log.error("memory %r: its folder %s is missing (%s: %s)", name, slot.memory.folder, type(exc).__name__, exc)
            return error_json(f"memory {name!r} is unavailable: its folder is missing (deleted, moved or on a disk "
                              "that was unmounted); put it back, or restart the server without it", 503)
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        if slot is not None and isinstance(exc, OSError) and exc.strerror:  # the cause in words, not its path
            return error_json(f"memory {name!r} could not use one of its files: {exc.strerror}; what was committed "
                              "before it is kept (the server log names the file)", 500)
        return error_json("internal server error (details are in the server log)", 500)

    app.add_exception_handler(OSError, _folder_error)  # the files of its folder, or SQLite's "unable to open"
    app.add_exception_handler(sqlite3.Error, _folder_error)
    # any other error: the `Crashes` middleware (a handler for Exception answered, then Starlette re-raised it
    # and uvicorn logged it again: two tracebacks for one failure)


class Crashes:
    """ASGI middleware: an unexpected error is logged once, with its traceback, and answered with a 500 in the
    one shape. Starlette calls a handler of ``Exception`` and then re-raises, so uvicorn logged every 500 a
    second time ("Exception in ASGI application"). Once the answer has started only the server can end the
    connection: the error goes on to uvicorn, which logs it (then this logs nothing)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        sent = _Tracked(send)
        try:
            await self.app(scope, receive, sent)
        except Exception:
            if sent.started:
                raise
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            body = error_bytes("internal server error (details are in the server log)")
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 500, "headers": headers})
            await send({"type": "http.response.body", "body": body})


class _Tracked:
    """An ASGI ``send`` that remembers whether the answer has started: after that, no other answer can be sent."""

    def __init__(self, send):
        self.send, self.started = send, False

    async def __call__(self, msg):
        if msg["type"] == "http.response.start":
            self.started = True
        await self.send(msg)


def _allowed(request: Request) -> str:
    """Every method some route takes on this path: the router's 405 named only the first route's (`PUT .../recall`
    said "it takes GET", though POST, a batch, is taken too), HEAD as GET's (`head.py`)."""
    from starlette.routing import Match

    scope = {**request.scope, "method": "GET"}
    methods = set()
    for route in request.app.router.routes:
        if getattr(route, "methods", None) and route.matches(scope)[0] != Match.NONE:
            methods |= set(route.methods)
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


def _router_words(request: Request, exc: StarletteHTTPException) -> str:
    """The router's bare "Not Found" / "Method Not Allowed" in words a first-time caller can act on. The path
    as it came (``url.path`` drops a newline or a tab: "no route .../documents/newline" for ``new%0Aline``)."""
    path = request.scope.get("path") or request.url.path
    path = path if path.isprintable() else repr(path)
    method = "HEAD" if request.scope.get("mycelial.head") else request.method
    if exc.status_code == 404 and exc.detail == "Not Found":
        return f"no route {method} {path}; the routes are listed at /openapi.json"
    if exc.status_code == 405 and exc.detail == "Method Not Allowed":
        allow = (exc.headers or {}).get("Allow", "")
        return f"{method} is not allowed on {path}" + (f"; it takes {allow}" if allow else "")
    return str(exc.detail)


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
        sent = _Tracked(send)

        async def limited_receive():
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge(self.max_bytes)
            return msg

        try:
            await self.app(scope, limited_receive, sent)
        except _TooLarge:
            if not sent.started:
                await self._reject(send)

    async def _reject(self, send):
        body = error_bytes(_too_large(self.max_bytes))
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
