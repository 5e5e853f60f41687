"""GET and POST /v1/memories/{name}/recall: one question, or a batch of them.

``exclude`` leaves chunk ids out of the hits, as ``recall(exclude=)`` does in Python (a client paging
through results, or an evaluation leaving out the question's own passage): over HTTP the engine's
argument had no way in. GET takes it as ``exclude=12,40`` or ``exclude=12&exclude=40``. ``where``
(metadata filter), ``context`` (neighbouring chunks) and ``min_score`` are the engine's and the CLI's too
(they were refused as unknown parameters): GET takes ``where=category=news`` (repeatable, as ``--where``),
POST ``{"where": {"category": "news"}}``.
"""
from __future__ import annotations

import logging
import math
from functools import partial
from typing import Annotated, Literal

from fastapi import Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StringConstraints, model_validator
from starlette.concurrency import run_in_threadpool

from core._validation import EXCLUDE_MAX, parse_chunk_ids
from core.memory._hitinfo import allowed_chunks, check_where, metadata_there, where_of
from core.server.errors import Invalid, check_question
from core.server.public import public_hits

log = logging.getLogger("mycelial.server")

QUESTION_MAX = 4000  # characters of a question (the model reads its first 256 word pieces)
Mode = Literal["similar", "associative", "hybrid"]
REPEATABLE = frozenset({"exclude", "where"})  # query parameters that may be given more than once (a list)
CONTEXT_MAX = 10  # neighbouring chunks a side: 100 hits x 2 x 10 chunks of text is the largest answer
SLICE = 8  # queries of a batch ranked between two looks at the client (~1 s at k=100 on 44k chunks)
BATCH_TEXTS_MAX = 25_600  # chunk texts in one batch's answer: 256 queries x k=100, or 12 x 100 x 21 (~30 MB)


class RecallIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # {"queries", "where": ...} answered unfiltered hits
    # each as GET's q and reinforce's query: a 1 MB question was embedded (1.7 s) and echoed back whole
    queries: list[Annotated[str, StringConstraints(max_length=QUESTION_MAX)]] = Field(min_length=1, max_length=256)
    # strict, as reinforce's chunk_ids: {"k": true} answered one hit, {"per_document": "no"} was False, quietly
    k: StrictInt = Field(default=10, ge=1, le=100)
    mode: Mode = "hybrid"
    per_document: StrictBool = False
    exclude: list[Annotated[StrictInt, Field(ge=0)]] = Field(default_factory=list, max_length=EXCLUDE_MAX,
                                     description="chunk ids never to return, for every query")
    where: dict | None = Field(None, description='metadata filter, e.g. {"category": "news"} or '
                                                 '{"lang": ["en", "fr"]} (any of)')
    context: StrictInt = Field(0, ge=0, le=CONTEXT_MAX, description="neighbouring chunks a side for each hit")
    min_score: float | None = Field(None, description="hits scoring below it are left out")

    @model_validator(mode="after")
    def _bounded(self):
        """Each limit alone allowed 256 queries x 100 hits x 21 chunks: a 193 MB answer, 3 GB of server memory."""
        texts = len(self.queries) * self.k * (1 + 2 * self.context)
        if texts > BATCH_TEXTS_MAX:
            raise ValueError(f"the answer would hold {texts:,} chunk texts (queries x k x (1 + 2 x context)); at most "
                             f"{BATCH_TEXTS_MAX:,}: send fewer queries at a time, or a smaller k or context")
        return self


def _checked(where, min_score) -> dict | None:
    """``where`` as the engine takes it and ``min_score`` checked: a 422 naming the field otherwise."""
    if min_score is not None and not math.isfinite(min_score):  # ?min_score=nan kept every hit, quietly
        raise Invalid([("min_score", f"must be a finite number, got {min_score!r}")])
    try:
        return check_where(where)
    except ValueError as exc:
        raise Invalid([("where", str(exc))]) from None


def recall_routes(app, v1, v1_json, slot, value_error) -> None:
    """Register the recall routes; ``slot(name)`` is the served memory (404 unknown), ``value_error(exc, field)``
    the 422 of the engine's refusal of a field."""

    @app.get("/v1/memories/{name}/recall", dependencies=v1)
    def recall(name: str, q: str = Query(min_length=1, max_length=QUESTION_MAX), k: int = Query(10, ge=1, le=100),
               mode: Mode = "hybrid", per_document: bool = False,
               exclude: list[str] = Query([], description="chunk ids never to return: `exclude=12,40` or "
                                                            "`exclude=12&exclude=40`"),
               where: list[str] = Query([], description="metadata filter KEY=VALUE, repeatable: "
                                                          "`where=category=news&where=lang=en`"),
               context: int = Query(0, ge=0, le=CONTEXT_MAX, description="neighbouring chunks a side"),
               min_score: float | None = Query(None, description="hits scoring below it are left out")):
        s = slot(name)
        check_question(("query", "q"), q)
        try:
            excluded = parse_chunk_ids(exclude)
        except ValueError as exc:
            raise Invalid([("exclude", str(exc))]) from None
        try:
            filters = where_of(where)
        except ValueError as exc:
            raise Invalid([("where", str(exc))]) from None
        filters = _checked(filters, min_score)
        try:
            hits = s.memory.recall(q, k=k, mode=mode, per_document=per_document, exclude=excluded, context=context,
                                   where=filters, min_score=min_score)
        except ValueError as exc:
            raise value_error(exc, "q") from None
        out = {"query": q, "mode": mode, "hits": public_hits(s.memory.store_, hits, s.memory)}
        return _with_note(out, s.memory, filters)

    @app.post("/v1/memories/{name}/recall", dependencies=v1_json)
    async def recall_batch(name: str, body: RecallIn, request: Request):
        s = await run_in_threadpool(slot, name)  # it catches up with other processes' writes: not in the loop
        for i, q in enumerate(body.queries):
            check_question(("body", "queries", i), q)
        where = _checked(body.where, body.min_score)
        try:
            each = await run_in_threadpool(partial(
                s.memory.recall_each, body.queries, k=body.k, mode=body.mode, per_document=body.per_document,
                exclude=body.exclude, where=where, context=body.context, min_score=body.min_score))
            answers = []
            for at in range(0, len(body.queries), SLICE):
                if await request.is_disconnected():
                    return _abandoned(request, name, at, len(body.queries))
                answers += await run_in_threadpool(_answers, s.memory, body.queries[at:at + SLICE], each, where)
        except ValueError as exc:
            raise value_error(exc, "queries") from None
        return {"mode": body.mode, "results": answers}


def _answers(memory, queries: list, each, where) -> list[dict]:
    """The answers of ``queries``, ranked by advancing ``each`` (`SemanticMemory.recall_each`) once for each."""
    return [_with_note({"query": q, "hits": public_hits(memory.store_, next(each), memory)}, memory, where)
            for q in queries]


def _abandoned(request, name: str, done: int, total: int):
    """A batch whose client hung up ends between two slices (it ran to the end: 54 s for 256 queries at k=100 on
    44k chunks, for nobody); one log line says so."""
    from core.server.errors import error_json

    log.warning("%s %s: the client closed the connection; its batch recall of memory %r was stopped after %d of %d "
                "queries", request.method, request.url.path, name, done, total)
    return error_json("the client closed the connection; the batch was stopped", 400)


def _with_note(answer: dict, memory, where) -> dict:
    """``answer`` with a ``note`` when ``where`` matched no document: the CLI and the page said why, the API
    answered a bare `{"hits": []}` (a key written `Category` or a value that is not there looked like no match)."""
    if answer["hits"] or not where or len(allowed_chunks(memory.store_, where)):
        return answer
    keys = list(where)
    shown = "; ".join(f"{k}={'|'.join(map(str, v))}" for k, v in where.items())
    answer["note"] = f"no document's metadata matches where {shown}{metadata_there(memory.store_, keys)}"
    return answer
