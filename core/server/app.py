"""The HTTP API (FastAPI) over one or more named memories, and the web page at ``/``.

Endpoints are plain ``def`` functions, so FastAPI runs them in its thread pool: recalls run
concurrently, writes to one memory wait for each other (its write lock).
"""
from __future__ import annotations

import sys
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, TypeAdapter
from pydantic_core import PydanticCustomError

from core.memory._did_you_mean import did_you_mean
from core.server.auth import UNAUTHORIZED, BearerAuth, bearer_ok
from core.server.documents import document_routes
from core.server.head import HeadAsGet
from core.server.jobs import Jobs
from core.server.network import network_routes
from core.server.origin import SameOrigin
from core.server.errors import (BodyLimit, Crashes, Invalid, check_question, error_body, ingest_error_field,
                                install_error_handlers, shown)
from core.server.forget import forget_routes
from core.server.public import without_folder
from core.server.records import duplicate_key_error, posted_records
from core.server.recall import QUESTION_MAX, REPEATABLE, recall_routes
from core.server.registry import Registry
from core.server.replacing import clashes, conflict, replaced_now
from core.server.schema import install_openapi
from core.server.uploads import (files_records, multipart_form, no_file_field, not_json, record_fields,
                                 upload_name, utf8_body)
from core.text import count

STATIC = Path(__file__).resolve().parent / "static"
MAX_BODY = 20 * 1024 * 1024


def _doc_id(value):
    """An integer id is taken as its decimal string, as a JSONL line's ``"id": 5`` is on the CLI."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"must be a string or integer, got {type(value).__name__}")
    if isinstance(value, str) and value and not value.strip():  # was 'missing "id"', though it was given
        raise PydanticCustomError("blank", "is blank (only white space); give the document an id")
    return str(value)


def _paragraphs(value):
    """A text given as paragraphs (a list of strings, or of lists of sentences) joined as a JSONL line's are:
    the CLI and Python took Brown's ``paragraphs``, the API answered "Input should be a valid string"."""
    from core.memory.records import joined_text

    text = joined_text(value) if isinstance(value, list) else value
    if isinstance(text, str) and not text.strip():  # `"text": []` was "String should have at least 1 character"
        raise PydanticCustomError("blank", "must be a non-empty string (or a list of paragraphs); this one holds "
                                           "no text")
    return text


class DocumentIn(BaseModel):
    """Keys besides id/title/text/metadata are metadata, as in a JSONL line (they were dropped without a word)."""
    model_config = ConfigDict(extra="allow")

    id: Annotated[str, BeforeValidator(_doc_id)] = Field(min_length=1, max_length=512)
    title: str = Field(default="", max_length=2000)
    text: Annotated[str, BeforeValidator(_paragraphs)] = Field(min_length=1)
    metadata: dict = Field(default_factory=dict)


class ReinforceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field (a misspelt "chunks") is named, not dropped
    query: str = Field(min_length=1, max_length=QUESTION_MAX)
    chunk_ids: list[StrictInt] = Field(min_length=1, max_length=1000)
    rate: float = Field(default=0.5, gt=0, lt=1, allow_inf_nan=False)  # NaN was "should be less than 1"


_DOC = TypeAdapter(DocumentIn)


def create_app(memories: dict, token: str | None = None, embedder=None, codec=None,
               max_body: int = MAX_BODY, loopback_only: bool = False) -> FastAPI:
    """The app serving ``memories`` ({name: folder}); every /v1 route needs ``token`` when one is given.
    ``loopback_only`` (a server bound to 127.0.0.1): it answers only to loopback names (`origin.py`).

    Memories open now (so a bad folder fails at start, not on the first request) with one
    shared embedder and codec; they are saved and closed when the app shuts down.
    """
    if token is not None and not (token.isascii() and token.isprintable()):
        # an HTTP header carries it: curl sends UTF-8 bytes, a browser Latin-1 (or refuses), and the
        # server compared Latin-1: a token like "pässwort" never matched from curl
        raise ValueError("the bearer token must be printable ASCII characters (an HTTP header carries it)")
    registry = Registry(dict(memories), embedder=embedder, codec=codec)
    jobs = Jobs()

    @asynccontextmanager
    async def lifespan(app):
        yield
        n, left = jobs.running()
        if n:
            print(f"mycelial serve: stopping {count(n, 'background ingest job')} at its next commit "
                  f"({count(left, 'document')} left)", file=sys.stderr, flush=True)
        await _run(jobs.wait, True)  # running jobs end at their next commit before their memories close
        registry.close()
        print(f"mycelial serve: saved and closed {count(len(registry.slots), 'memory', 'memories')}", file=sys.stderr, flush=True)

    app = FastAPI(title="Mycelial", version="0.1.0", lifespan=lifespan,
                  description="An associative memory: ingest documents, recall by similarity and association.")
    app.state.registry, app.state.jobs = registry, jobs
    install_error_handlers(app)
    install_openapi(app)  # the errors it really answers, in their one shape
    app.add_middleware(BodyLimit, max_bytes=max_body)
    app.add_middleware(BearerAuth, token=token)  # outside the body limit: 401 before a body is read
    app.add_middleware(Crashes)  # an unexpected error: one log entry and a 500 (inside HeadAsGet: no body on HEAD)
    app.add_middleware(HeadAsGet)  # `curl -I .../healthz` (uptime monitors) was a 405
    # other web pages' writes, rebinding, framing; a token is no ambient credential (a page elsewhere has none),
    # and a proxy in front of a token server may send its own Host and Origin
    app.add_middleware(SameOrigin, checked=token is None, loopback_only=loopback_only)

    def auth(request: Request) -> None:  # also per route, whatever path reached it
        if not bearer_ok(token, request.headers.get("authorization", "")):
            raise HTTPException(401, UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"})

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

    def slot(name: str):
        s = registry.get(name)
        if s is None:
            raise HTTPException(404, f"no memory named {shown(name)}; served: {sorted(registry.slots)}")
        s.refresh()
        return s

    def writable_slot(name: str):
        """The slot of a memory this request will change: 403 when its folder is not writable."""
        s = slot(name)
        if s.memory.read_only:
            reason = ("its folder is not writable (a read-only mount or no write permission)"
                      if s.memory.unwritable else "it is open read-only")
            raise HTTPException(403, f"memory {name!r} cannot be changed: {reason}; recall and stats still answer")
        return s

    def value_error(exc: ValueError, field: str):
        """The engine's refusal of an input, named as the field it came from (it had no ``fields``)."""
        return Invalid([(field, str(exc))], f"invalid request: {exc}")

    # -- the page -------------------------------------------------------------------------
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC / "index.html")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon():  # browsers ask for it on every page load; an SVG (every current browser reads it)
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")

    @app.get("/healthz")
    def healthz():
        """Liveness: no auth, no memory access."""
        return {"status": "ok", "memories": len(registry.slots)}

    # -- memories -------------------------------------------------------------------------
    def known_memory(request: Request) -> None:
        """404 for an unknown memory before the body is judged: POST .../nope/recall with a body to fix was a
        422 about the body, then, once fixed, the 404."""
        name = request.path_params.get("name")
        if name is not None and registry.get(name) is None:
            raise HTTPException(404, f"no memory named {shown(name)}; served: {sorted(registry.slots)}")

    v1 = [Depends(auth), Depends(known_memory), Depends(known_params)]
    v1_json = v1 + [Depends(json_body)]  # the routes whose body is a JSON model

    @app.get("/v1/memories", dependencies=v1)
    def list_memories():
        return {"memories": [{"name": n, "documents": s.memory.store_.count_documents(),
                              "chunks": s.memory.store_.count_chunks()} for n, s in registry.slots.items()]}

    @app.get("/v1/memories/{name}/stats", dependencies=v1)
    def stats(name: str):
        s = slot(name)
        st = s.memory.stats()
        st.pop("folder", None)  # the server's file layout is not the client's business
        return {"name": name, **st}

    @app.post("/v1/memories/{name}/documents", dependencies=v1, status_code=201,
              openapi_extra={"requestBody": {"content": {
                  "application/json": {"schema": {"type": "array", "items": DocumentIn.model_json_schema()}},
                  "multipart/form-data": {"schema": {"type": "object", "properties": {
                      "file": {"type": "string", "format": "binary"}}}}}}})
    async def add_documents(name: str, request: Request, background: bool = False, fields: str | None = None,
                            replace: bool = False):
        """Ingest a JSON list of ``{id, title, text, metadata}`` or uploaded files (``file`` fields).

        A file is read as `mycelial ingest` reads a file named to it: .txt .md .rst .html .pdf .docx .pptx .odt .odp
        .epub .eml .mbox .jsonl .json .csv .xlsx or other text, gzipped too; one it refuses (a binary, a man page) is
        a 422 naming it and why.

        ``background=true``: answer 202 with a job at once; poll ``.../jobs/{id}``.
        ``fields=text=paragraphs,id=doc_id``: an uploaded JSONL, JSON or CSV file's keys of another schema
        (`ingest --fields`).
        ``replace=true``: an uploaded file whose id (``file:NAME``) names a stored document with other text replaces
        it; without it that is a 409 naming the document, and nothing is stored.
        """
        s = writable_slot(name)
        mapping = record_fields(fields)
        ctype = request.headers.get("content-type", "").strip().lower()  # a media type is case-insensitive
        if mapping is not None and not ctype.startswith("multipart/form-data"):  # a posted list has its schema
            raise Invalid([("fields", "applies to uploaded record files (JSONL, JSON, CSV); a posted list's documents "
                                      "are {id, title, text, metadata}")])
        if "replace" in request.query_params and not ctype.startswith("multipart/form-data"):
            raise Invalid([("replace", "applies to uploaded files (named file:NAME); a posted list's id is its update "
                                       "key: the same id again replaces that document")])
        if ctype.startswith("multipart/form-data"):
            form = await multipart_form(request)
            uploads = [u for u in form.getlist("file") if hasattr(u, "read")]  # every one: curl -F file=@a -F file=@b
            if not uploads:
                raise Invalid([("file", no_file_field(form))])
            files = [(upload_name(u, request.headers.get("content-type", "")), await u.read()) for u in uploads]
            records, errors, skipped = await _run(files_records, files, mapping)
            if background:
                return await _run(_submit_files, s, records, errors, skipped, replace)
            return await _run(_ingest, s, records, errors, skipped, replace)
        # all or nothing: a bad record refuses the whole list, each named by its index (`posted_records`)
        records = posted_records(utf8_body(await request.body()), _DOC, ctype, not_json)
        if background:
            return _submit(s, records)
        return await _run(_ingest, s, records)

    def _submit(s, records, errors=(), skipped=(), replacing=()):
        job = jobs.submit(s, records, errors, skipped, replacing)
        return JSONResponse(job, status_code=202, headers={"Location": f"/v1/memories/{s.name}/jobs/{job['id']}"})

    def _submit_files(s, records, errors, skipped, replace: bool):
        """A background upload: its clashes are judged before the 202 (the page asks the user at once)."""
        with writing(s):
            found = clashes(s.memory.store_, records)
        if found and not replace:
            return conflict(found)
        return _submit(s, records, errors, skipped, found)

    @app.get("/v1/memories/{name}/jobs/{job_id}", dependencies=v1)
    def job_status(name: str, job_id: str):
        """A background ingest: status (queued, running, waiting for another process's lock, done, failed), done/total, report."""
        slot(name)
        job = jobs.get(name, job_id)
        if job is None:
            raise HTTPException(404, f"no job {shown(job_id)} for memory {name!r}")
        return job

    document_routes(app, v1, slot)  # GET: list (paginated) and one document's chunks

    @app.delete("/v1/memories/{name}/documents/{doc_id:path}", dependencies=v1)
    def delete_document(name: str, doc_id: str):
        s = writable_slot(name)
        with writing(s):
            found = s.memory.forget(doc_id)
            hint = "" if found else did_you_mean(s.memory, doc_id)
        if not found:
            raise HTTPException(404, f"no document {shown(doc_id)} in memory {name!r}{hint}")
        return {"deleted": doc_id}

    # POST .../forget {"ids": [...]}: many at once
    forget_routes(app, v1_json, writable_slot, writing)

    recall_routes(app, v1, v1_json, slot, value_error)  # GET one question, POST a batch

    network_routes(app, v1, slot, value_error)  # associations, graph, bridges

    # -- learning from use ----------------------------------------------------------------
    @app.post("/v1/memories/{name}/reinforce", dependencies=v1_json, status_code=201)
    def reinforce(name: str, body: ReinforceIn):
        """Strengthen the query's concepts and codes with the chosen chunks; returns the event id (undo: DELETE)."""
        s = writable_slot(name)
        check_question(("body", "query"), body.query)
        from core.memory.learning import UnknownChunkError

        try:
            with writing(s):
                eid = s.memory.reinforce(body.query, body.chunk_ids, rate=body.rate)
        except UnknownChunkError as exc:  # the client sent them: named in fields, which were [] ("no field at fault")
            words = str(exc.args[0] if exc.args else exc)
            return JSONResponse(error_body(words, [{"field": "chunk_ids", "message": words}]), status_code=404)
        except ValueError as exc:
            raise value_error(exc, "query") from None
        # as stored (an id given twice once): the answer echoed [7, 7] where GET .../reinforcements said [7]
        return {"event": eid, "query": body.query, "chunk_ids": list(dict.fromkeys(body.chunk_ids)), "rate": body.rate}

    @app.delete("/v1/memories/{name}/reinforce/{event_id}", dependencies=v1)
    def unreinforce(name: str, event_id: int):
        """Undo one reinforcement event."""
        s = writable_slot(name)
        with writing(s):
            found = s.memory.unreinforce(event_id)
        if not found:
            raise HTTPException(404, f"no reinforcement event {event_id} in memory {name!r}")
        return {"undone": event_id}

    @app.get("/v1/memories/{name}/reinforcements", dependencies=v1)
    def reinforcements(name: str):
        """Every reinforcement event with its current (decayed) weight."""
        s = slot(name)
        return {"half_life_days": s.memory.reinforcement_half_life, "events": s.memory.reinforcements()}

    return app


async def _run(fn, *args):
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args)


try:  # another process writing the same folder (inter-process lock, newer SemanticMemory)
    from core.memory.lock import MemoryBusyError
except ImportError:  # pragma: no cover - older SemanticMemory without the lock
    class MemoryBusyError(RuntimeError):
        pass


def _busy(exc, s) -> HTTPException:
    return HTTPException(503, f"memory busy, retry later: {without_folder(str(exc), s)}", headers={"Retry-After": "5"})


@contextmanager
def writing(s):
    """The served memory's write lock; another process holding the folder's lock is a 503 with Retry-After."""
    try:
        with s.write_lock:
            yield
    except MemoryBusyError as exc:
        raise _busy(exc, s) from None


def _ingest(s, records, read_errors=(), skipped=(), replace: bool = False):
    """Ingest ``records``; ``read_errors`` (an uploaded file's unreadable lines) open the report, and the 422 of
    an ingest that stored nothing (they were left out of it: only the records' errors were named). ``skipped``:
    the uploaded files that were empty (nothing to store; alone, a 201 storing nothing). An uploaded file naming a
    stored document with other text is a 409 unless ``replace`` (judged under the write lock, with the ingest)."""
    from core.memory.types import IngestReport

    found = []
    if records:
        with writing(s):
            found = clashes(s.memory.store_, records)
            if found and not replace:
                return conflict(found)
            rep = s.memory.ingest(records)
    else:
        rep = IngestReport()
    out = rep.to_dict()
    out["replaced_files"] = replaced_now(s.memory.store_, found)
    del out["replaced_across"]  # files of the server's disk, named by their paths: not a client's to read
    out["errors"] = list(read_errors) + out["errors"]
    out["skipped"] = list(skipped)
    if rep.errors and not rep.documents and not rep.unchanged:
        raise Invalid([ingest_error_field(e) for e in out["errors"][:100]],
                      "nothing was ingested: " + "; ".join(out["errors"][:5]))
    return out
