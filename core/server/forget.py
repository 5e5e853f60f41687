"""POST /v1/memories/{name}/forget: forget many documents in one request, as `mycelial forget ID [ID ...]` does.

Over HTTP a client cleaning up 500 documents sent 500 DELETEs, each its own transaction, save of the
derived state and checkpoint; a crash halfway left half of them. Here they go in one
:meth:`SemanticMemory.forget_many` transaction: all the found ones, or none.

An id that names no document is reported in ``missing``, not refused: a client retrying a request whose
answer it lost gets 200 and every id in ``missing``, not a 404 for work already done (the CLI, which a
person reruns by hand, refuses instead). An id given twice is forgotten and listed once, as on the CLI.
"""
from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

FORGET_MAX = 1000  # ids per request, as reinforce's chunk_ids and a documents page
ID_MAX = 4096  # a file's id is its relative path (the CLI ingests paths longer than ingest's 512 over HTTP)


def _id(value):
    """A string; an integer is its decimal string, as ingest takes ``{"id": 5}`` (stored as "5")."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"must be a string or integer document id, got {type(value).__name__}")
    return str(value)


class ForgetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # {"id": [...]} or {"doc_ids": [...]} is named, not an empty forget
    # the constraints before the validator: after it, pydantic words a string's length in "items"
    ids: list[Annotated[str, StringConstraints(min_length=1, max_length=ID_MAX), BeforeValidator(_id)]] = Field(
        min_length=1, max_length=FORGET_MAX)


def forget_routes(app, v1, dependencies, writable_slot, writing) -> None:
    """Register ``DELETE /v1/memories/{name}/documents/{doc_id}`` (``v1``: its dependencies) and ``POST
    /v1/memories/{name}/forget`` on ``app``. ``writable_slot(name)`` is the memory to change (404 unknown, 403
    read-only); ``writing(slot)`` holds its write lock (503 while another process holds it)."""
    from fastapi import HTTPException

    from core.memory._did_you_mean import did_you_mean
    from core.server.documents import DOC_PATH
    from core.server.errors import shown

    @app.delete(DOC_PATH, dependencies=v1)
    def delete_document(name: str, doc_id: str):
        s = writable_slot(name)
        with writing(s):
            found = s.memory.forget(doc_id)
            hint = "" if found else did_you_mean(s.memory, doc_id)
        if not found:
            raise HTTPException(404, f"no document {shown(doc_id)} in memory {name!r}{hint}")
        return {"deleted": doc_id}

    # POST .../forget {"ids": [...]}: many at once

    @app.post("/v1/memories/{name}/forget", dependencies=dependencies)
    def forget_documents(name: str, body: ForgetIn):
        """Forget ``{"ids": [...]}`` (1-1000) in one transaction: ``forgotten`` (request order) and ``missing``."""
        ids = list(dict.fromkeys(body.ids))  # an id given twice is forgotten once
        s = writable_slot(name)
        with writing(s):
            done = s.memory.forget_many(ids)
        gone = set(done)
        return {"forgotten": [i for i in ids if i in gone], "missing": [i for i in ids if i not in gone]}
