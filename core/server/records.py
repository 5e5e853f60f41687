"""A posted JSON list of documents, judged whole before anything is stored.

A record of the wrong type (``"text": 5``) made the whole POST a 422, while a blank text, NaN metadata or a
repeated id answered 201 storing the others, the bad one only in ``errors`` and numbered from 1
(``<records>:2``) where the 422 numbered from 0 (``1.text``). A client checking the status lost records without
knowing. Now any invalid record refuses the request (422, nothing stored), every bad record named by its
0-based index in the list, as validation names it.
"""
from __future__ import annotations

import json
import re

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from core.server.errors import Invalid

ROLES = ("id", "title", "text", "metadata")


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs):
    """A JSON object's pairs as a dict; a key given twice is refused (json.loads kept the last quietly)."""
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


def duplicate_key_error(body: bytes) -> RequestValidationError | None:
    """The 422 of a JSON body holding one object key twice (``{"queries": [..], "queries": [..]}`` took the
    last one silently, while ``q=a&q=b`` is refused); None for a body without one (or not JSON at all: the
    parser's own error names that)."""
    try:
        json.loads(body, object_pairs_hook=_no_duplicates)
    except _DuplicateKey as exc:
        key = exc.args[0]
        return RequestValidationError([{"loc": ("body", key), "msg": f"the key {json.dumps(key)} is given twice in "
                                                                      f"one object; give it once"}])
    except (ValueError, RecursionError):
        return None
    return None


def _field(index: int, message: str) -> str:
    """The field of an engine message about record ``index``: ``2.text`` for '"text" is empty'."""
    if key := re.match(r'"(id|title|text|metadata)"', message):
        return f"{index}.{key[1]}"
    if message.startswith("metadata"):
        return f"{index}.metadata"
    return str(index)


def _record_problems(index: int, doc, first: dict) -> list[tuple[str, str]]:
    """Why the validated document ``doc`` (the ``index``-th) would not be stored, as ingest judges it."""
    from core.memory._admit import record_problem
    from core.memory.records import parse_record

    extra = doc.model_extra or {}
    clash = sorted(set(extra) & set(doc.metadata))
    if clash:  # {"metadata": {"year": 1}, "year": 2} kept year 1 and dropped 2 without a word
        return [(f"{index}.{k}", 'given both as a key of the document and in its "metadata"; give it once')
                for k in clash]
    record = {"id": doc.id, "title": doc.title, "text": doc.text, "metadata": {**extra, **doc.metadata}}
    try:
        rec = parse_record(record, "<records>", index + 1)
    except (ValueError, TypeError) as exc:
        return [(_field(index, str(exc)), str(exc))]
    if rec.doc_id in first:
        return [(f"{index}.id", f"duplicate id {rec.doc_id!r} (first at {first[rec.doc_id]}); an id is given once "
                                f"per request")]
    first[rec.doc_id] = index
    problem = record_problem(rec, {})
    if problem is not None:
        words = problem.message.removesuffix("; skipped")
        return [(_field(index, words), words)]
    return []


def posted_records(body: bytes, adapter, ctype: str, not_json) -> list[dict]:
    """The records of a posted JSON list of documents, or a 422 naming every bad one (nothing is stored).

    ``adapter`` validates one document (``DocumentIn``); ``not_json`` words a body that is not JSON."""
    from pydantic import TypeAdapter

    try:
        data = TypeAdapter(object).validate_json(body)  # the JSON parser's own words for a body that is no JSON
    except ValidationError as exc:
        raise not_json(exc.errors(), ctype) from None
    if (dup := duplicate_key_error(body)) is not None:
        raise dup
    if not isinstance(data, list):
        raise RequestValidationError([{"loc": ("body",), "msg": "expected a JSON list of documents "
                                                                "[{\"id\", \"text\", ...}]"}])
    if not data:
        raise RequestValidationError([{"loc": ("body",), "msg": "the list of documents is empty"}])
    bad, records, first = [], [], {}
    for i, item in enumerate(data):
        try:
            doc = adapter.validate_python(item)
        except ValidationError as exc:
            from core.server.errors import validation_error

            bad += [(f["field"], f["message"]) for f in
                    (validation_error({**e, "loc": (i, *e["loc"])}) for e in exc.errors())]
            continue
        if problems := _record_problems(i, doc, first):
            bad += problems
            continue
        records.append({"id": doc.id, "title": doc.title, "text": doc.text,
                        "metadata": {**(doc.model_extra or {}), **doc.metadata}})
    if bad:
        n = len({f.split(".")[0] for f, _ in bad})
        shown = "; ".join(f"{f}: {m}" for f, m in bad[:5]) + (" ..." if len(bad) > 5 else "")
        raise Invalid(bad, f"nothing was ingested: {n} of {len(data)} documents are invalid (numbered from 0): {shown}")
    return records
