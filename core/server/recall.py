"""GET and POST /v1/memories/{name}/recall: one question, or a batch of them.

``exclude`` leaves chunk ids out of the hits, as ``recall(exclude=)`` does in Python (a client paging
through results, or an evaluation leaving out the question's own passage): over HTTP the engine's
argument had no way in. GET takes it as ``exclude=12,40`` or ``exclude=12&exclude=40``.
"""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StringConstraints

from core._validation import EXCLUDE_MAX, parse_chunk_ids
from core.server.errors import Invalid, check_question
from core.server.public import public_hits

QUESTION_MAX = 4000  # characters of a question (the model reads its first 256 word pieces)
Mode = Literal["similar", "associative", "hybrid"]
REPEATABLE = frozenset({"exclude"})  # query parameters that may be given more than once (a list)


class RecallIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # {"queries", "where": ...} answered unfiltered hits
    # each as GET's q and reinforce's query: a 1 MB question was embedded (1.7 s) and echoed back whole
    queries: list[Annotated[str, StringConstraints(max_length=QUESTION_MAX)]] = Field(min_length=1, max_length=256)
    # strict, as reinforce's chunk_ids: {"k": true} answered one hit, {"per_document": "no"} was False, quietly
    k: StrictInt = Field(default=10, ge=1, le=100)
    mode: Mode = "hybrid"
    per_document: StrictBool = False
    exclude: list[StrictInt] = Field(default_factory=list, max_length=EXCLUDE_MAX,
                                     description="chunk ids never to return, for every query")


def recall_routes(app, v1, v1_json, slot, value_error) -> None:
    """Register the recall routes; ``slot(name)`` is the served memory (404 unknown), ``value_error(exc, field)``
    the 422 of the engine's refusal of a field."""

    @app.get("/v1/memories/{name}/recall", dependencies=v1)
    def recall(name: str, q: str = Query(min_length=1, max_length=QUESTION_MAX), k: int = Query(10, ge=1, le=100),
               mode: Mode = "hybrid", per_document: bool = False,
               exclude: list[str] = Query([], description="chunk ids never to return: `exclude=12,40` or "
                                                            "`exclude=12&exclude=40`")):
        s = slot(name)
        check_question(("query", "q"), q)
        try:
            excluded = parse_chunk_ids(exclude)
        except ValueError as exc:
            raise Invalid([("exclude", str(exc))]) from None
        try:
            hits = s.memory.recall(q, k=k, mode=mode, per_document=per_document, exclude=excluded)
        except ValueError as exc:
            raise value_error(exc, "q") from None
        return {"query": q, "mode": mode, "hits": public_hits(s.memory.store_, hits)}

    @app.post("/v1/memories/{name}/recall", dependencies=v1_json)
    def recall_batch(name: str, body: RecallIn):
        s = slot(name)
        for i, q in enumerate(body.queries):
            check_question(("body", "queries", i), q)
        try:
            results = s.memory.recall_batch(body.queries, k=body.k, mode=body.mode, per_document=body.per_document,
                                            exclude=body.exclude)
        except ValueError as exc:
            raise value_error(exc, "queries") from None
        return {"mode": body.mode, "results": [{"query": q, "hits": public_hits(s.memory.store_, hits)}
                                               for q, hits in zip(body.queries, results)]}
