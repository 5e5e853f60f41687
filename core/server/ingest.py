"""Adding documents over HTTP: ``POST /v1/memories/{name}/documents`` (a JSON list or uploaded files, in the
request or as a background job) and the job's status; the engine's ingest does the work."""
from __future__ import annotations

from typing import Annotated

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter
from pydantic_core import PydanticCustomError
from starlette.concurrency import run_in_threadpool

from core.server.errors import Invalid, ingest_error_field, shown
from core.server.records import posted_records
from core.server.replacing import clashes, conflict, replaced_now
from core.server.stopping import ingest_stoppable
from core.server.uploads import (files_records, multipart_form, no_file_field, not_json, record_fields,
                                 upload_name, utf8_body)
from core.server.writing import writing


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


_DOC = TypeAdapter(DocumentIn)


def ingest_routes(app, v1, slot, writable_slot, jobs) -> None:
    """Register ``POST /v1/memories/{name}/documents`` and ``GET .../jobs/{job_id}`` on ``app``. ``slot(name)`` is
    the served memory (404 unknown), ``writable_slot(name)`` one to change (403 read-only); ``jobs`` runs the
    background ingests."""

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
            records, errors, skipped = await run_in_threadpool(files_records, files, mapping)
            if background:
                return await run_in_threadpool(_submit_files, s, records, errors, skipped, replace)
            return await run_in_threadpool(_ingest, s, records, errors, skipped, replace, jobs.stop_signal)
        # all or nothing: a bad record refuses the whole list, each named by its index (`posted_records`)
        records = posted_records(utf8_body(await request.body()), _DOC, ctype, not_json)
        if background:
            return _submit(s, records)
        return await run_in_threadpool(_ingest, s, records, stop=jobs.stop_signal)

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


def _ingest(s, records, read_errors=(), skipped=(), replace: bool = False, stop=None):
    """Ingest ``records``; ``read_errors`` (an uploaded file's unreadable lines) open the report, and the 422 of
    an ingest that stored nothing (they were left out of it: only the records' errors were named). ``skipped``:
    the uploaded files that were empty (nothing to store; alone, a 201 storing nothing). An uploaded file naming a
    stored document with other text is a 409 unless ``replace`` (judged under the write lock, with the ingest).
    ``stop`` (an Event set at the server's stop signal): the ingest ends at its next commit, a 503 (`stopping.py`)."""
    from core.memory.types import IngestReport

    found = []
    if records:
        with writing(s):
            found = clashes(s.memory.store_, records)
            if found and not replace:
                return conflict(found)
            rep = ingest_stoppable(s, records, stop) if stop is not None else s.memory.ingest(records)
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
