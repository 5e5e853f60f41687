"""Records: a document to ingest (:class:`Record`), an input problem (:class:`ReadError`), and the
checks that turn a JSON object or a JSONL line into a record (`parse_record`, `read_jsonl_lines`).

Files, folders and standard input become records in :mod:`core.memory.readers`.
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from core.memory._checks import plain, unicode_problem

@dataclass
class Record:
    """One document to ingest: a stable id, its text, an optional title and metadata.

    ``merge``: small paragraphs may share a chunk (files and piped text, whose blank lines
    are layout); a JSONL/dict record's paragraphs are its producer's units and stay apart.
    ``name``: a memory made before file names became readable titles stored it as the title
    (`_admit.kept_title` keeps that title for an unchanged file).
    """

    doc_id: str
    text: str
    title: str = ""
    meta: dict = field(default_factory=dict)
    source: str = ""
    merge: bool = False
    name: str = ""  # the file name the title was made from (``Du_Fu`` of "Du Fu"), "" for a title of its own

    def __post_init__(self):
        if isinstance(self.doc_id, str) and not self.doc_id.isascii():  # one form of a name (core.memory._names)
            self.doc_id = unicodedata.normalize("NFC", self.doc_id)
        # terminal escape sequences in a title or text would drive the terminal that prints a hit
        if isinstance(self.title, str) and _TERMINAL.search(self.title):
            self.title = _TERMINAL.sub("", self.title)
        if isinstance(self.text, str) and _TERMINAL.search(self.text):
            self.text = _TERMINAL.sub("", self.text)


# ESC/CSI/OSC sequences, a lone ESC, BEL, DEL and the C1 controls (backspace stays: man overstrike)
_TERMINAL = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?|[\x07\x7f-\x9f]")


@dataclass
class ReadError:
    """A problem with one input; ``line`` is 1-based for JSONL, ``None`` for whole files."""

    source: str
    message: str
    line: int | None = None
    skipped: bool = False  # files left out on purpose (unsupported types): reported, not an error

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        return f"{where}: {self.message}"


EMPTY_FILE = "empty file"  # the start of an empty file's skip message (0 bytes, only whitespace or front matter)
EMPTY_INPUT = "empty input"  # the same of standard input


def is_empty_file(err) -> bool:
    """Is ``err`` the skip of an empty file (or stdin)? (counted apart in a summary: "skipped 2 empty files")"""
    return bool(getattr(err, "skipped", False)) and str(getattr(err, "message", "")).startswith((EMPTY_FILE,
                                                                                                 EMPTY_INPUT))


def parse_record(obj, source: str, line: int | None = None) -> Record:
    """Validate one JSON object (``id``, ``text``, optional ``title``; the rest is metadata)."""
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    if obj.get("text") is None:
        other = [k for k in obj if k not in ("id", "text", "title", "metadata")]
        # a file of another schema ({"doc_id", "paragraphs"}) said only this on every line
        hint = f"; the object has {', '.join(json.dumps(k) for k in other[:8])}{' ...' if len(other) > 8 else ''}" \
            if other and "text" not in obj else ""
        raise ValueError(f'missing "text" (a string){hint}')
    if not isinstance(obj["text"], str):  # it said "missing" of a list of paragraphs too
        hint = '; join its paragraphs with blank lines ("\\n\\n")' if isinstance(obj["text"], list) else ""
        raise ValueError(f'"text" must be a string, got {type(obj["text"]).__name__}{hint}')
    if not obj["text"].strip():
        raise ValueError('"text" is empty')
    doc_id = plain(obj.get("id"))  # np.int64(7) (a DataFrame's row) is an integer id
    if doc_id is None or (isinstance(doc_id, str) and not doc_id.strip()):
        raise ValueError('missing "id"')
    if not isinstance(doc_id, (str, int)) or isinstance(doc_id, bool):
        raise ValueError(f'"id" must be a string or integer, got {type(doc_id).__name__}')
    title = obj.get("title") or ""
    if not isinstance(title, str):
        raise ValueError(f'"title" must be a string, got {type(title).__name__}')
    for name, value in (("id", str(doc_id)), ("title", title), ("text", obj["text"])):
        # the title is embedded with the text: the model refuses NUL (the whole batch)
        if (why := unicode_problem(value)) is not None:
            raise ValueError(f'"{name}" {why}')
    meta = {k: v for k, v in obj.items() if k not in ("id", "text", "title", "metadata")}
    if not isinstance(obj.get("metadata") or {}, dict):  # was dropped without a word
        raise ValueError(f'"metadata" must be a JSON object of keys and values, got {type(obj["metadata"]).__name__}')
    meta.update(obj.get("metadata") or {})
    if _depth(meta) > META_DEPTH:  # a hit's metadata is copied and encoded recursively: one such record
        raise ValueError(f"metadata nested more than {META_DEPTH} levels deep")  # was a 500 on every recall
    meta = plain(meta)  # numpy values as JSON numbers, not their str() (where={"year": 1990} found none)
    for key, value in meta.items():  # an unpaired surrogate here failed the whole batch at its INSERT (HTTP 500)
        try:
            json.dumps({key: value}, ensure_ascii=False, default=str).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"metadata {ascii(key)} holds an unpaired surrogate; it is not valid Unicode text") \
                from None
    try:  # SQLite's JSON functions refuse NaN: one such value broke every where= recall of the memory
        json.dumps(meta, allow_nan=False, default=str)
    except ValueError:
        key = next((k for k, v in meta.items() if _has_nan(v)), "?")
        raise ValueError(f'metadata "{key}" holds NaN or Infinity, which JSON cannot store; use null or a string') \
            from None
    return Record(str(doc_id), obj["text"], title, meta, source)


META_DEPTH = 128  # levels of lists and objects in a record's metadata (serde_json's default limit)


def _depth(value) -> int:
    """How deeply ``value`` nests lists and dicts (a dict of scalars is 1), counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        items = v.values() if isinstance(v, dict) else v if isinstance(v, (list, tuple)) else None
        if items is not None:
            deepest = max(deepest, d)
            if d <= META_DEPTH:  # deeper than the limit is enough to know
                stack.extend((x, d + 1) for x in items)
    return deepest


def _has_nan(value) -> bool:
    if isinstance(value, float):
        return value != value or value in (float("inf"), float("-inf"))
    if isinstance(value, dict):
        return any(_has_nan(v) for v in value.values())
    return isinstance(value, (list, tuple)) and any(_has_nan(v) for v in value)


def read_jsonl_lines(lines: Iterable[str], source: str, errors: list) -> Iterator[Record]:
    """Records from JSONL lines; a bad line becomes a ReadError with its 1-based number.

    Split a file at ``\n`` only: JSON strings may hold U+2028, U+2029 and U+0085 raw, where
    ``str.splitlines()`` would cut a record (``\r`` of CRLF is JSON whitespace)."""
    first: dict[str, int] = {}  # id -> line: a repeated id is reported, not silently replaced
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = parse_record(json.loads(line), source, no)
        except RecursionError:  # json.loads of a line nested ~1000 deep: was an unhandled error (HTTP 500)
            errors.append(ReadError(source, "malformed JSON: nested too deeply", no))
            continue
        except (ValueError, TypeError) as exc:
            msg = f"malformed JSON: {exc.msg}" if isinstance(exc, json.JSONDecodeError) else str(exc)
            errors.append(ReadError(source, msg, no))
            continue
        if rec.doc_id in first:
            errors.append(ReadError(source, f"duplicate id {rec.doc_id!r} (first on line {first[rec.doc_id]}); "
                                            f"skipped", no))
            continue
        first[rec.doc_id] = no
        yield rec
