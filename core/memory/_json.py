"""JSON files given by name: corpora come as JSON (HotpotQA's ``{title: [sentences]}``, 2WikiMultihopQA's and
MuSiQue's ``[{title, text}]``), and `mycelial ingest corpus.json` was refused with a jq command to run first.

Read are a list of records, one record, and an object of records keyed by id (its values records, text, or
paragraphs: the key is then the id and the title). A folder's ``.json`` files stay unread: there they are
mostly configuration (package.json, tsconfig.json). The file is parsed whole (at most the one-file limit; JSONL
has none), and a malformed one gives no record, only an error naming its line: half a download is not stored
as if it were all of it. Each item's errors name the line it starts on, as a JSONL line's do.
"""
from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Iterator

from core.memory._files import decode_text
from core.memory._formats import content_bytes, is_gzip
from core.memory._jsonl import JQ, JQ_OBJECT
from core.memory._names import nfc
from core.memory.records import EMPTY_FILE, Fields, ReadError, Record, _a, records_of

_SPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
SHAPES = "a list of records, one record, or an object of records or texts keyed by id"


def read_json(path: Path, source: str, errors: list, max_bytes: int, fields=None) -> Iterator[Record]:
    """Records of a ``.json`` (or ``.json.gz``) file; a problem with the whole file is one error."""
    fields = Fields.of(fields)
    if not is_gzip(path) and (size := path.stat().st_size) > max_bytes:
        raise ValueError(f"file is {size:,} bytes, over the {max_bytes:,}-byte limit of a JSON file (read whole); "
                         f"as JSON Lines it has none: {too_big_fix(path)}")
    text = decode_text(content_bytes(path, max_bytes), source)
    if not text.strip():
        errors.append(ReadError(source, f"{EMPTY_FILE} (only whitespace); nothing to store", skipped=True))
        return
    yield from json_records(text, source, errors, fields)


def json_records(text: str, source: str, errors: list, fields=None) -> Iterator[Record]:
    """Records of a JSON text that is not blank (a file's, or piped: `cat corpus.json | mycelial ingest -`)."""
    fields = Fields.of(fields)
    opening = text[_SPACE.match(text).end():][:1]
    try:
        items = list(members(text))
    except RecursionError:
        raise ValueError("malformed JSON: nested too deeply") from None
    except json.JSONDecodeError as exc:
        errors.append(ReadError(source, f"malformed JSON: {exc.msg} (column {exc.colno}); no record of the file "
                                        f"was read", exc.lineno))
        return
    if not items:
        what = "list" if opening == "[" else "object"
        errors.append(ReadError(source, f"{EMPTY_FILE} (an empty JSON {what}); nothing to store", skipped=True))
        return
    if opening == "{" and any(key == fields.text for _, key, _ in items):  # one record
        items = [(1, None, {key: value for _, key, value in items})]
    elif opening == "{":
        # a list under a key is a text's parts, sentences as often as paragraphs (HotpotQA's): small ones share a
        # chunk, as a file's paragraphs do (a record's list stays its producer's units, one chunk each)
        merged = {nfc(key) for _, key, value in items if isinstance(value, list)}  # as Record names its id
        items = [(line, key, _keyed(key, value, fields)) for line, key, value in items]
        for rec in records_of(((line, value) for line, _, value in items), source, errors, fields):
            yield replace(rec, merge=True) if rec.doc_id in merged else rec
        return
    yield from records_of(((line, value) for line, _, value in items), source, errors, fields)


def _keyed(key: str, value, fields: Fields):
    """The record of an object's member: its key is the id (a value's own id wins), and the title of a text."""
    if isinstance(value, dict):
        return {fields.id: key} | value
    if isinstance(value, (str, list)):
        return {fields.id: key, fields.title: key, fields.text: value}
    return value  # refused by parse_record, naming its type


def members(text: str) -> Iterator[tuple[int, str | None, object]]:
    """(line, key, value) of the top-level list's items (key None) or object's members, each parsed on its own
    so that it knows the line it starts on. JSONDecodeError for malformed JSON (absolute line and column),
    ValueError for a top-level value that is neither a list nor an object."""
    pos = _SPACE.match(text, 0).end()
    opening = text[pos:pos + 1]
    if opening not in ("[", "{"):
        value = json.loads(text)  # malformed JSON raises here, with its place
        raise ValueError(f"holds {_a(value)}, not records; expected {SHAPES}")
    closing = "]" if opening == "[" else "}"
    line, counted = 1, 0
    pos = _SPACE.match(text, pos + 1).end()
    if text[pos:pos + 1] == closing:
        _end(text, pos + 1)
        return
    while True:
        line += text.count("\n", counted, pos)
        counted, key = pos, None
        if opening == "{":
            if text[pos:pos + 1] != '"':
                raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, pos)
            key, pos = json.decoder.scanstring(text, pos + 1)
            pos = _SPACE.match(text, pos).end()
            if text[pos:pos + 1] != ":":
                raise json.JSONDecodeError("Expecting ':' delimiter", text, pos)
            pos = _SPACE.match(text, pos + 1).end()
        value, pos = _DECODER.raw_decode(text, pos)
        yield line, key, value
        pos = _SPACE.match(text, pos).end()
        if text[pos:pos + 1] == closing:
            _end(text, pos + 1)
            return
        if text[pos:pos + 1] != ",":
            raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)
        pos = _SPACE.match(text, pos + 1).end()


def _end(text: str, pos: int) -> None:
    if _SPACE.match(text, pos).end() != len(text):
        raise json.JSONDecodeError("Extra data", text, _SPACE.match(text, pos).end())


def too_big_fix(path: Path) -> str:
    """The jq command that turns a JSON file into JSON Lines, told by its first character."""
    from core.memory._formats import head_bytes

    try:
        head = head_bytes(path, 4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    except (OSError, ValueError):
        head = b""
    return JQ_OBJECT if head[:1] == b"{" else JQ
