"""The checks every /v1 route runs before its own work: the query parameters and path it takes, in UTF-8, and
a JSON route's body type (FastAPI dependencies that need nothing of the app)."""
from __future__ import annotations

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError

from core.server.recall import REPEATABLE
from core.server.records import duplicate_key_error


def known_params(request: Request) -> None:
    """422 for a query parameter the route does not take: `recall?q=...&where=category=news` answered
    unfiltered hits as if filtered, and a typo (`mdoe=similar`) was as quiet."""
    from urllib.parse import unquote_to_bytes

    try:  # Starlette decodes with replacement: `recall?q=%FF%FE` was answered as the question "\ufffd\ufffd"
        unquote_to_bytes(request.scope.get("query_string", b"").replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestValidationError([{"loc": ("query", "query_string"), "msg": f"not valid UTF-8 (byte {exc.object[exc.start]:#x}"
                                       f"); percent-encode the UTF-8 bytes of the text"}]) from None
    try:  # and the path: `documents/%FF` answered 404 "no document '\ufffd'"
        unquote_to_bytes(request.scope.get("raw_path", b"")).decode("utf-8")
    except UnicodeDecodeError as exc:
        param = next((k for k, v in request.path_params.items() if "\ufffd" in str(v)), "path")
        raise RequestValidationError([{"loc": ("path", param), "msg": f"not valid UTF-8 (byte {exc.object[exc.start]:#x}"
                                       f"); percent-encode the UTF-8 bytes of the text"}]) from None
    route = request.scope.get("route")
    takes = {p.alias for p in getattr(getattr(route, "dependant", None), "query_params", ())}
    unknown = [k for k in request.query_params if k not in takes]
    if route is not None and unknown:
        raise RequestValidationError([{"loc": ("query", k), "msg": "unknown parameter; this route takes "
                                       + (", ".join(sorted(takes)) or "none")} for k in unknown])
    twice = [k for k in dict.fromkeys(request.query_params)
             if len(request.query_params.getlist(k)) > 1 and k not in REPEATABLE]
    if twice:  # `recall?q=rivers&q=Graz` answered for "Graz" alone: the last one won, quietly
        raise RequestValidationError([{"loc": ("query", k), "msg": f"given {len(request.query_params.getlist(k))} "
                                       "times; give it once"} for k in twice])


async def json_body(request: Request) -> None:
    """415 for a JSON route's body sent as a form or text: `curl -d '{"queries": [...]}'` (a form) was
    answered "body: Input should be a valid dictionary", though the body is one (so was a body without a
    type: FastAPI reads only a JSON-typed body, which a cross-site form cannot send)."""
    ctype = request.headers.get("content-type")
    main, _, sub = (ctype or "").split(";")[0].strip().lower().partition("/")
    if main != "application" or not (sub == "json" or sub.endswith("+json")):  # what FastAPI parses
        got = repr(ctype) if ctype else "no Content-Type"
        raise HTTPException(415, f"send the body as JSON with 'Content-Type: application/json' (got {got})")
    if (dup := duplicate_key_error(await request.body())) is not None:  # the last one won, quietly
        raise dup
