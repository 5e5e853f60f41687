"""The OpenAPI schema with the errors the server really answers.

FastAPI described every route's error as a 422 ``{"detail": [...]}`` (its own shape, which this server never
sends) and no other error at all: not the 401 of a missing token, the 404 of an unknown memory, the 413 of a
big body, the 415 of a form-encoded JSON body, the 403/503 of a write, nor the 202 of a background ingest.
Here each operation lists the ones it can answer, all in the one ``Error`` shape of :mod:`core.server.errors`.
"""
from __future__ import annotations

from fastapi.openapi.utils import get_openapi

ERROR = {
    "type": "object", "required": ["error", "fields"],
    "description": "Every error answer: `fields` names what the client sent wrong (a 422 names at least one), "
                   "empty when no field is at fault.",
    "properties": {
        "error": {"type": "string", "description": "what went wrong and, where there is one, the fix"},
        "fields": {"type": "array", "items": {
            "type": "object", "required": ["field", "message"],
            "properties": {"field": {"type": "string", "description": "a parameter, `body`, `file`, or a path "
                                                                      "into the body such as `0.text`"},
                           "message": {"type": "string"}}}},
    },
}
_REF = {"$ref": "#/components/schemas/Error"}
_WHY = {
    "401": "missing or wrong bearer token (when the server has one)",
    "403": "the memory's folder is not writable",
    "404": "no memory of that name (or no such document, job or event)",
    "409": "an uploaded file's id (file:NAME) names a stored document with other text; nothing was stored "
           "(replace=true replaces it)",
    "413": "request body over the server's --max-body-mb",
    "415": "the body was not sent with Content-Type: application/json",
    "422": "invalid input; `fields` names each field at fault",
    "500": "one of the memory's files could not be written (a full disk: \"No space left on device\"), named by "
           "its cause; what was committed before is kept",
    "503": "another process holds the memory's write lock (a write; retry after Retry-After seconds), or the "
           "memory's folder went missing under the server",
}
_JSON_BODY = {("post", "/v1/memories/{name}/recall"), ("post", "/v1/memories/{name}/forget"),
              ("post", "/v1/memories/{name}/reinforce")}


def _errors(method: str, path: str) -> list[str]:
    """The error statuses ``method path`` can answer."""
    codes = ["401", "422"]
    if "{name}" in path:
        codes += ["404", "503"]
    if method in ("post", "put", "patch"):
        codes.append("413")
    if (method, path) == ("post", "/v1/memories/{name}/documents"):
        codes.append("409")
    if (method, path) in _JSON_BODY:
        codes.append("415")
    if method == "delete" or (method == "post" and not path.endswith("/recall")):  # the writes
        codes += ["403", "500"]  # the 500 of a full disk was in the README, not in the schema
    return sorted(codes)


def _answers(schema: dict) -> None:
    """Each route's success answer by its model (:mod:`core.server.shapes`): every one was ``{}``, any JSON."""
    from pydantic.json_schema import models_json_schema

    from core.server.shapes import SHAPES

    models = list(dict.fromkeys(SHAPES.values()))
    _, defs = models_json_schema([(m, "serialization") for m in models], ref_template="#/components/schemas/{model}")
    for d in defs["$defs"].values():
        d.pop("additionalProperties", None)  # the tests' strictness, not a promise: a field may be added
    schema["components"]["schemas"].update(defs["$defs"])
    for (method, path, code), model in SHAPES.items():
        op = schema["paths"][path][method]  # a route renamed without its shape fails here, at the first request
        answer = op["responses"].setdefault(code, {"description": "Successful Response"})
        answer["content"] = {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}


def install_openapi(app) -> None:
    """Replace ``app.openapi`` by one that documents the real error answers and the bearer token."""

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        schemas["Error"] = ERROR
        components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer",
                                                    "description": "MYCELIAL_TOKEN or --token-file; none: local only"}}
        for path, ops in schema.get("paths", {}).items():
            if not path.startswith("/v1"):
                continue
            for method, op in ops.items():
                op["security"] = [{"bearer": []}]
                responses = op.setdefault("responses", {})
                for code in _errors(method, path):
                    responses[code] = {"description": _WHY[code],
                                       "content": {"application/json": {"schema": _REF}}}
                if code_503 := responses.get("503"):
                    code_503["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
                if method == "post" and path == "/v1/memories/{name}/documents":
                    responses["202"] = {"description": "background=true: the job, polled at its Location",
                                        "headers": {"Location": {"schema": {"type": "string"}}}}
        _answers(schema)  # the 202's content too
        app.openapi_schema = schema
        return schema

    app.openapi = openapi
