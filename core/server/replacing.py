"""Uploaded files whose id (``file:`` and the bare file name) names a stored document with other text.

An upload has no folder, so avahi's README and bc's README are both ``file:README``: the second one replaced
the first with a 201 and "replaced": 1, and the first document was lost. The server cannot tell an edited
version of a file from another file of the same name, so either is refused (409) unless the client asks for the
replacement (``replace=true``); the same text again stays a harmless "unchanged".
"""
from __future__ import annotations

import time
from dataclasses import replace as with_fields

from fastapi.responses import JSONResponse

from core.server.errors import error_body, shown


def uploaded_file(rec) -> bool:
    """Is ``rec`` an uploaded file named by its file name (not a record of an uploaded JSONL, CSV, ... file,
    whose id is its producer's update key)?"""
    return (not isinstance(rec, dict) and rec.doc_id.startswith("file:") and rec.meta == {"path": rec.source})


def clashes(store, records) -> list[tuple[str, float | None]]:
    """(stored id, when it was stored) of each uploaded file in ``records`` whose id names a stored document with
    other text; the same text (a file sent again) is no clash."""
    from core.memory._admit import _content_hash

    out = []
    for rec in records:
        if not uploaded_file(rec):
            continue
        doc = store.document(rec.doc_id)  # any Unicode form of the name
        same = {_content_hash(rec)} | ({_content_hash(with_fields(rec, title=rec.name))} if rec.name else set())
        if doc is not None and doc["content_hash"] not in same:
            out.append((doc["doc_key"], doc.get("created")))
    return out


def _when(created: float | None) -> str:
    return "" if created is None else time.strftime(" (stored %Y-%m-%d %H:%M:%S UTC)", time.gmtime(created))


def conflict(found: list[tuple[str, float | None]]) -> JSONResponse:
    """The 409 naming each stored document an upload would replace, when it was stored, and how to replace it."""
    ids = ", ".join(f"{shown(i)}{_when(c)}" for i, c in found[:5]) + (f" and {len(found) - 5:,} more"
                                                                    if len(found) > 5 else "")
    one = len(found) == 1
    words = (f"{ids} {'is' if one else 'are'} already stored with other text: an upload is named by its file name "
             f"alone, so this may be another file of the same name (or an edited version); nothing was stored. "
             f"To replace {'it' if one else 'them'}, send the upload again with ?replace=true; to keep both, rename "
             f"the file")
    fields = [{"field": "file", "message": f"{shown(i)}{_when(c)} is stored with other text"} for i, c in found[:100]]
    return JSONResponse(error_body(words, fields), status_code=409)


def same_names(files) -> list[str]:
    """The file names given to more than one uploaded file of a request (named by their ids, ``file:NAME``):
    one was stored and the other only listed in ``errors``."""
    seen, twice = set(), []
    for name in files:
        if name in seen and name not in twice:
            twice.append(name)
        seen.add(name)
    return twice


def replaced_now(store, found: list[tuple[str, float | None]]) -> list[str]:
    """The ids of ``found`` (clashes, sent with ``replace=true``) the ingest did replace (stored anew)."""
    out = []
    for doc_id, created in found:
        doc = store.document(doc_id)
        if doc is not None and doc.get("created") != created:
            out.append(doc_id)
    return out
