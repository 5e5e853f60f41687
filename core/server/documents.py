"""GET routes of what a served memory holds: its documents a page at a time, and one document's chunks.

The CLI had `mycelial list` and `mycelial get`; over HTTP both paths were a 405, so a program serving a
memory could not see what it held. A file's metadata is shown as hits show it (no server path:
:func:`core.server.public.file_metadata`), and a document's source is named by its kind, never its path.
"""
from __future__ import annotations

from fastapi import HTTPException, Query
from starlette.convertors import PathConvertor, register_url_convertor

from core.memory._formats import is_csv, is_json, is_jsonl, is_mbox, is_xlsx
from core.server.errors import shown

LIST_MAX = 1000


class _AnyId(PathConvertor):
    """A document id in a path, a newline too: ``{doc_id:path}``'s ``.*`` stops at one, so an id holding a
    newline was stored but GET and DELETE of its path answered 404 "no route" (``?id=`` and forget reached it)."""
    regex = r"[\s\S]*"


register_url_convertor("doc_id", _AnyId())
DOC_PATH = "/v1/memories/{name}/documents/{doc_id:doc_id}"  # one document's path, any id (the routes' pattern)


def source_kind(source: str, meta: dict) -> str:
    """``file`` (read from a file or uploaded as one), ``jsonl``, ``json``, ``mbox`` or ``csv`` (a record of such a file), ``stdin``
    (piped text) or ``records`` (given as records): the source itself may be a path of the server's disk."""
    if isinstance(meta.get("path"), str) and source == meta["path"]:
        return "file"
    if source == "<stdin>":
        return "stdin"
    if is_jsonl(source):
        return "jsonl"
    if is_json(source):
        return "json"
    if is_mbox(source):
        return "mbox"
    if is_csv(source):
        return "csv"
    if is_xlsx(source):
        return "xlsx"
    return "records"


def public_metadata(doc_id: str, source: str, meta: dict) -> dict:
    from core.server.public import file_metadata

    return file_metadata(doc_id, meta) if source_kind(source, meta) == "file" else meta


def document_routes(app, dependencies, slot) -> None:
    """Register ``GET /v1/memories/{name}/documents``, ``GET .../documents/{doc_id}`` (any id) and
    ``GET .../document?id=`` on ``app``; ``slot(name)`` is the served memory (404 for an unknown name)."""
    from core.memory._did_you_mean import did_you_mean
    from core.memory.documents import count_documents, get_document, list_documents

    from core.server.forget import ID_MAX

    def one_document(name: str, doc_id: str) -> dict:
        mem = slot(name).memory
        doc = get_document(mem, doc_id)
        if doc is None:
            raise HTTPException(404, f"no document {shown(doc_id)} in memory {name!r}{did_you_mean(mem, doc_id)}")
        meta = doc["meta"] if isinstance(doc["meta"], dict) else {}
        source = doc["source"] or ""
        return {"id": doc["id"], "title": doc["title"], "kind": source_kind(source, meta),
                "metadata": public_metadata(doc["id"], source, meta), "chunks": doc["chunks"]}

    @app.get("/v1/memories/{name}/documents", dependencies=dependencies)
    @app.get("/v1/memories/{name}/documents/", dependencies=dependencies, include_in_schema=False)  # was a 404
    def list_docs(name: str, limit: int = Query(100, ge=1, le=LIST_MAX), offset: int = Query(0, ge=0),
                  prefix: str = Query("", max_length=512)):
        """Documents sorted by id, ``limit`` at a time from ``offset``: id, title, chunks, kind; ``total``
        counts every document (with ``prefix``: every id starting with it)."""
        mem = slot(name).memory
        total = count_documents(mem, prefix)
        rows = list_documents(mem, prefix, limit, offset, with_meta=True) if offset < total else []
        return {"total": total, "offset": offset, "limit": limit,
                "documents": [{"id": d["id"], "title": d["title"], "chunks": d["chunks"],
                               "kind": source_kind(d["source"] or "", d["meta"])} for d in rows]}

    @app.get(DOC_PATH, dependencies=dependencies)
    def get_doc(name: str, doc_id: str):
        """One document: title, kind, metadata and its chunks' texts in reading order."""
        return one_document(name, doc_id)

    @app.get("/v1/memories/{name}/document", dependencies=dependencies)
    def get_doc_by_query(name: str, id: str = Query(min_length=1, max_length=ID_MAX,
                                                    description="the document's id, any id (also `.` or `..`)")):
        """One document, as ``.../documents/{doc_id}``, its id in the query: a browser resolves a path segment
        `.` or `..` (even written `%2E%2E`) before the request leaves, so such an id could not be opened."""
        return one_document(name, id)
