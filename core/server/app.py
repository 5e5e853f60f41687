"""The HTTP API (FastAPI) over one or more named memories, and the web page at ``/``.

Endpoints are plain ``def`` functions, so FastAPI runs them in its thread pool: recalls run
concurrently, writes to one memory wait for each other (its write lock). This module makes the app: its
middleware, the dependencies every /v1 route shares, and the routes of the other modules (``*_routes``).
"""
from __future__ import annotations

import sys
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from core.server.auth import UNAUTHORIZED, BearerAuth, bearer_ok
from core.server.checks import json_body, known_params
from core.server.documents import document_routes
from core.server.head import HeadAsGet
from core.server.ingest import ingest_routes
from core.server.jobs import Jobs
from core.server.learning import learning_routes
from core.server.network import network_routes
from core.server.origin import SameOrigin
from core.server.errors import BodyLimit, Crashes, Invalid, install_error_handlers, shown
from core.server.forget import forget_routes
from core.server.recall import recall_routes
from core.server.registry import Registry
from core.server.schema import install_openapi
from core.server.writing import writing
from core.text import count

STATIC = Path(__file__).resolve().parent / "static"
MAX_BODY = 20 * 1024 * 1024


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
        await run_in_threadpool(jobs.wait, True)  # running jobs end at their next commit before their memories close
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

    def slot(name: str):
        s = registry.get(name)
        if s is None:
            raise HTTPException(404, f"no memory named {shown(name)}; served: {sorted(registry.slots)}")
        s.refresh()
        return s

    def writable_slot(name: str):
        """The slot of a memory this request will change: 403 when its folder is not writable."""
        from core.memory._folder import unwritable_reason

        s = slot(name)
        if s.memory.read_only:
            reason = unwritable_reason(s.memory) if s.memory.unwritable else "it is open read-only"
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

    ingest_routes(app, v1, slot, writable_slot, jobs)  # POST documents (or a job), a job's status

    document_routes(app, v1, slot)  # GET: list (paginated) and one document's chunks

    forget_routes(app, v1, v1_json, writable_slot, writing)  # DELETE one document, POST .../forget many

    recall_routes(app, v1, v1_json, slot, value_error)  # GET one question, POST a batch

    network_routes(app, v1, slot, value_error)  # associations, graph, bridges

    learning_routes(app, v1, v1_json, slot, writable_slot, value_error)  # reinforce, undo, list

    return app


