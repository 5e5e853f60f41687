"""Request bodies the documents route reads: a JSON body in any Unicode encoding json.loads reads, and
uploaded files turned into records (named by the client's file name, cut to what a file system takes).

An upload is read as `mycelial ingest` reads that file (core.memory.readers): the same kinds (.rst, .html,
gzipped, README without a suffix), text and title; a file ingest skips is refused saying why. It accepted
.txt .md .pdf .jsonl only: a README.gz the CLI read was "unsupported type '.gz'"."""
from __future__ import annotations

import logging
import tempfile
from contextvars import ContextVar
from dataclasses import replace
from pathlib import Path

from fastapi.exceptions import RequestValidationError

from core.server.errors import Invalid, validation_error

log = logging.getLogger("mycelial.server")
# python-multipart's words about the body being parsed (its logger's name, then its older one)
_PARSER_LOGGERS = ("python_multipart.multipart", "multipart.multipart")
_parser_notes: ContextVar[list | None] = ContextVar("mycelial_multipart_notes", default=None)


class _ParserNotes(logging.Filter):
    """Keeps python-multipart's warnings about a request's body for that request's own log line: they were
    logged alone ("Expected boundary character 45, got 103 at index 2"), without the method and path every
    other line of the server's log has."""

    def filter(self, record: logging.LogRecord) -> bool:
        notes = _parser_notes.get()
        if notes is None or record.levelno < logging.WARNING:
            return True
        notes.append(record.getMessage())
        return False


def _keep_parser_notes() -> None:
    for name in _PARSER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _ParserNotes) for f in logger.filters):
            logger.addFilter(_ParserNotes())


def utf8_body(body: bytes) -> bytes:
    """A JSON body with a byte-order mark or in UTF-16/32 (PowerShell 5 writes such files) as UTF-8, as
    json.loads reads it for the other routes (this one answered 'invalid JSON ... at line 1 column 1')."""
    import json

    enc = json.detect_encoding(body)
    try:
        if enc == "utf-8":
            body.decode("utf-8")  # as the other routes: the JSON parser said "invalid unicode code point at line 1"
            return body
        return body.decode(enc).encode("utf-8", "surrogatepass")
    except UnicodeDecodeError as exc:
        raise RequestValidationError([{"loc": ("body",), "msg": f"not valid {enc} text ({exc.reason} at byte "
                                                                f"{exc.start})"}]) from None


class _Refused(ValueError):
    """An uploaded file that gives no document."""


async def multipart_form(request):
    """The request's multipart form; a body it cannot parse is a 422 naming ``body`` (Starlette answered
    400 "Missing boundary in multipart." with no field, a status the API does not otherwise use)."""
    from starlette.exceptions import HTTPException

    _keep_parser_notes()
    notes: list[str] = []
    token = _parser_notes.set(notes)
    try:
        form = await request.form()
    except HTTPException as exc:
        if exc.status_code != 400:  # the body limit's 413 passes
            raise
        why = f"not a readable multipart/form-data body: {exc.detail}"
        log.warning("%s %s: %s%s", request.method, request.url.path, why, f" ({'; '.join(notes)})" if notes else "")
        raise Invalid([("body", f"{why} (curl -F file=@notes.md sends one)")]) from None
    finally:
        _parser_notes.reset(token)
    if notes:  # read all the same (data after the closing boundary, ...)
        log.warning("%s %s: multipart/form-data body: %s", request.method, request.url.path, "; ".join(notes))
    return form


def not_json(errors: list, ctype: str) -> Exception:
    """The 422 of a documents body that is not a valid JSON list. Sent as something else (`curl -d @notes.md`, a
    form, text), it says how to upload a file: it said "invalid JSON: expected value at line 1 column 1" alone."""
    main = ctype.split(";")[0].strip()
    sent_as_json = main == "application/json" or main.endswith("+json")
    if sent_as_json or not any(e.get("type") == "json_invalid" for e in errors):
        return RequestValidationError(errors)
    came = f"came as {main!r}" if main else "came without a Content-Type"
    why = validation_error(errors[0])["message"]
    return Invalid([("body", f"{why}; this body {came}: the route reads a JSON list of documents (Content-Type: "
                             "application/json) or files as multipart/form-data (curl -F file=@notes.md)")])


def no_file_field(form) -> str:
    """Why a multipart body gave no file: other fields came, or none did (a body cut short before its closing
    boundary gives no field at all; it was told "a file field is required" as if the field were missing)."""
    if "file" in form:  # a part without filename= is read as text: curl -F 'file=<notes.md', or filename*= alone
        return ("the 'file' field came as text, not a file: its part has no filename= (curl -F file=@notes.md sends "
                "one; a filename*= alone is not read)")
    if len(form):
        return (f"a field named 'file' holding a file is required (curl -F file=@notes.md); got "
                f"{', '.join(sorted(set(form.keys())))}")
    return ("a field named 'file' holding a file is required; no complete field came (a body cut short "
            "before its closing boundary?)")


def upload_name(upload, content_type: str) -> str | bytes:
    """The client's name of an uploaded file, or its raw bytes when they are not text in the body's charset
    (UTF-8 unless the Content-Type says otherwise). Starlette read such a name as Latin-1, a guess: a Cyrillic
    Windows (CP1251) name 'При.txt' sent by curl was stored as the id 'file:Ïðè.txt', a name no file had."""
    import codecs

    from starlette.formparsers import parse_options_header

    raw = next((v for k, v in upload.headers.raw if k.lower() == b"content-disposition"), None)
    name = parse_options_header(raw)[1].get(b"filename") if raw is not None else None
    if name is None:
        return upload.filename or "upload.txt"
    charset = parse_options_header(content_type)[1].get(b"charset", b"utf-8").decode("latin-1")
    try:
        codec = codecs.lookup(charset).name
    except LookupError:
        codec = "utf-8"  # Starlette fell back to Latin-1, which reads any bytes
    try:
        return name.decode(codec) or "upload.txt"
    except UnicodeDecodeError:
        return bytes(name)


def record_fields(spec: str | None):
    """The ``fields`` parameter (``text=paragraphs,id=doc_id``) as `records.Fields`, None when not given;
    a bad one is a 422 naming ``fields``."""
    if spec is None:
        return None
    from core.memory.records import Fields

    try:
        return Fields.parse(spec)
    except ValueError as exc:
        raise Invalid([("fields", str(exc).removeprefix("fields: "))]) from None


def files_records(files, fields=None) -> tuple[list, list[str], list[str]]:
    """Records, read errors and skips (empty files) of uploaded (filename, bytes) pairs; 422 naming every file
    with no document (field ``file``), and then none is ingested: it named the first one only, so a user fixed
    one file a try. An empty file is skipped, not refused: it refused the request's other files too."""
    from core.memory._formats import has_own_ids
    from core.memory._names import nfc

    from core.server.replacing import same_names

    records, errors, skipped, refused, named = [], [], [], [], []
    for filename, data in files:
        try:
            safe, recs, errs, skips = _file_records(filename, data, fields)
        except _Refused as exc:
            refused += [("file", m) for m in exc.args]
            continue
        named += [] if has_own_ids(safe) else [nfc(safe)]
        records += recs
        errors += errs
        skipped += skips
    # two READMEs of one request are one id (file:README): one was stored, the other only listed in errors
    refused += [("file", f"{n}: {named.count(n)} files of this request have this name, and an upload is named by "
                         f"its file name alone (file:{n}); rename all but one") for n in same_names(named)]
    if refused:  # a file of 300 bad lines made a 51 KB message (and the page showed it whole): five, then a count
        tail = f"; none of the {len(files)} files was ingested" if len(files) > 1 else ""
        more = f"; and {len(refused) - 5:,} more" if len(refused) > 5 else ""
        raise Invalid(refused[:100], "invalid request: " + "; ".join(f"file {m}" for _, m in refused[:5]) + more + tail)
    return records, errors, skipped


def _file_records(filename: str, data: bytes, fields=None) -> tuple[str, list, list[str], list[str]]:
    """(safe name, records, read errors and skips as text) of one uploaded file; 422 when it holds no document
    and is not empty."""
    from core.memory._formats import has_own_ids
    from core.memory.readers import read_file, unsupported
    from core.memory.records import FIELDS_HINT, FIELDS_OPTION

    if isinstance(filename, bytes):  # as the CLI reports a file whose name is not UTF-8 (`mycelial ingest`)
        filename = filename.rsplit(b"/", 1)[-1].rsplit(b"\\", 1)[-1]  # as Path(name).name below
        bad = filename.decode("utf-8", "backslashreplace")
        try:
            filename.decode("utf-8")
        except UnicodeDecodeError as exc:
            byte = filename[exc.start]
        raise _Refused(f"{bad}: the file name is not valid UTF-8 (byte 0x{byte:02x}); rename the file")
    name = Path(filename).name  # "..": Path's name of a parent; written to, it raised IsADirectoryError (a 500)
    safe = _short_name(name if name not in ("", "..") else "upload.txt")
    if "\x00" in safe:  # no file system takes it: writing the temporary file raised (HTTP 500)
        raise _Refused(f"{safe!r}: the file name holds a NUL character")
    errors: list = []
    with tempfile.TemporaryDirectory(prefix="mycelial-upload-") as tmp:  # kind() may read its start (README)
        path = Path(tmp) / safe
        path.write_bytes(data)
        if (why := unsupported(path, "type")) is not None:  # a binary, a man page, an image, a .pdf.gz
            raise _Refused(f"{safe}: {why}")
        # the temporary folder is not the file's: bash/README.gz uploaded is "README", not "mycelial-upload-x README"
        records = list(read_file(path, errors, folder_title=False, fields=fields))
    if not has_own_ids(safe):
        records = [replace(r, doc_id=f"file:{safe}", source=safe, meta={"path": safe}) for r in records]
    else:  # a record's id is its own; its source is the uploaded file, not the temporary one
        records = [replace(r, source=safe) for r in records]
    # the library's hint names the CLI's option; here it is this route's parameter
    shown = [f"{safe}:{e.line}: {e.message}" if e.line else f"{safe}: {e.message}" for e in errors]
    shown = [m.replace(FIELDS_HINT, FIELDS_HINT.replace(FIELDS_OPTION, "?fields=")) for m in shown]
    skips = [m for m, e in zip(shown, errors) if e.skipped]
    shown = [m for m, e in zip(shown, errors) if not e.skipped]
    if not records and not skips:  # each unreadable line with its number (they were joined without one)
        raise _Refused(*(shown or [f"{safe}: no document in the file"]))
    return safe, records, shown, skips


def _short_name(name: str, limit: int = 200) -> str:
    """``name`` cut to ``limit`` UTF-8 bytes, suffix kept: it becomes a temporary file (Linux allows 255
    bytes; 120 Japanese characters are 360) and the document id."""
    if len(name.encode("utf-8")) <= limit:
        return name
    suffix = Path(name).suffix[:16]
    if suffix.lower() == ".gz" and len(inner := Path(name[:-3]).suffix) <= 12:  # .txt.gz: read as text
        suffix = inner + suffix
    stem = name[:len(name) - len(suffix)] if suffix else name
    cut = stem.encode("utf-8")[:limit - len(suffix.encode("utf-8"))].decode("utf-8", "ignore")
    return cut + suffix
