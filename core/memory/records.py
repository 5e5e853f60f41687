"""Records: a document to ingest (:class:`Record`), an input problem (:class:`ReadError`), and the
checks that turn a JSON object or a JSONL line into a record (`parse_record`, `read_jsonl_lines`), and the
record keys of another schema (:class:`Fields`, `ingest --fields`).

Files, folders and standard input become records in :mod:`core.memory.readers`.
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from core.memory._checks import json_metadata, plain, unicode_problem

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
    # a skip line that names some entries of a folder: all of them, (path in the folder, why), for `ingest -v`
    entries: tuple = ()

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        return f"{where}: {self.message}"


EMPTY_FILE = "empty file"  # the start of an empty file's skip message (0 bytes, only whitespace or front matter)
EMPTY_INPUT = "empty input"  # the same of standard input


def is_empty_file(err) -> bool:
    """Is ``err`` the skip of an empty file (or stdin)? (counted apart in a summary: "skipped 2 empty files")"""
    return bool(getattr(err, "skipped", False)) and str(getattr(err, "message", "")).startswith((EMPTY_FILE,
                                                                                                 EMPTY_INPUT))


# how a reader names the keys of another schema: the CLI's words; the HTTP route and the web page put theirs
FIELDS_OPTION = "--fields "
FIELDS_HINT = f"name the keys with {FIELDS_OPTION}text=KEY,id=KEY"


def parse_record(obj, source: str, line: int | None = None, fields: "Fields | dict | str | None" = None) -> Record:
    """Validate one JSON object (``id``, ``text``, optional ``title``; the rest is metadata).

    ``fields`` names other keys for those roles (:class:`Fields`); the text may be a list of paragraphs."""
    f = Fields.of(fields)
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object (a record with an id and a text), got {_a(obj)}")
    roles = (f.id, f.text, f.title, "metadata")
    if obj.get(f.text) is None:
        # a file of another schema ({"doc_id", "paragraphs"}) said only this on every line
        hint = _keys_hint(obj, roles) if f.text not in obj else ""
        raise ValueError(f'missing "{f.text}" (a string or a list of paragraphs){hint}')
    text = joined_text(obj[f.text], f.text)
    if not text.strip():
        raise ValueError(f'"{f.text}" is empty')
    doc_id = plain(obj.get(f.id))  # np.int64(7) (a DataFrame's row) is an integer id
    if doc_id is None or (isinstance(doc_id, str) and not doc_id.strip()):
        # records without ids ({"title", "text"}: 2WikiMultihopQA's and MuSiQue's corpora) said only this
        raise ValueError(f'missing "{f.id}"' + (_keys_hint(obj, (f.id, f.text, "metadata")) if f.id not in obj else ""))
    if not isinstance(doc_id, (str, int)) or isinstance(doc_id, bool):
        raise ValueError(f'"{f.id}" must be a string or integer, got {type(doc_id).__name__}')
    title = obj.get(f.title) or ""
    if not isinstance(title, str):
        raise ValueError(f'"{f.title}" must be a string, got {type(title).__name__}')
    for name, value in ((f.id, str(doc_id)), (f.title, title), (f.text, text)):
        # the title is embedded with the text: the model refuses NUL (the whole batch)
        if (why := unicode_problem(value)) is not None:
            raise ValueError(f'"{name}" {why}')
    meta = {k: v for k, v in obj.items() if k not in roles}
    extra = obj.get("metadata") if "metadata" not in (f.id, f.text, f.title) else None
    if not isinstance(extra or {}, dict):  # was dropped without a word
        raise ValueError(f'"metadata" must be a JSON object of keys and values, got {type(extra).__name__}')
    meta.update(extra or {})
    if _depth(meta) > META_DEPTH:  # a hit's metadata is copied and encoded recursively: one such record
        raise ValueError(f"metadata nested more than {META_DEPTH} levels deep")  # was a 500 on every recall
    # numpy values as JSON numbers, not their str() (where={"year": 1990} found none); a set or a tuple key refused
    meta = json_metadata(meta)
    for key, value in meta.items():  # an unpaired surrogate here failed the whole batch at its INSERT (HTTP 500)
        try:
            json.dumps({key: value}, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"metadata {ascii(key)} holds an unpaired surrogate; it is not valid Unicode text") \
                from None
    try:  # SQLite's JSON functions refuse NaN: one such value broke every where= recall of the memory
        json.dumps(meta, allow_nan=False)
    except ValueError:
        key = next((k for k, v in meta.items() if _has_nan(v)), "?")
        raise ValueError(f'metadata "{key}" holds NaN or Infinity, which JSON cannot store; use null or a string') \
            from None
    return Record(str(doc_id), text, title, meta, source)


def _keys_hint(obj: dict, roles) -> str:
    """What a record missing a role's key holds instead, and how to name it: "" when it holds nothing else."""
    other = [k for k in obj if k not in roles]
    return (f"; the object has {', '.join(json.dumps(k) for k in other[:8])}{' ...' if len(other) > 8 else ''}"
            f" ({FIELDS_HINT})") if other else ""


TEXT_FORMS = "a string, a list of paragraphs (strings) or a list of paragraphs of sentences (lists of strings)"


def joined_text(value, key: str = "text") -> str:
    """A record's text: a string as it is; paragraphs (a list of strings) joined with a blank line, and
    paragraphs of sentences (lists of strings) with one space first (Brown's ``paragraphs``); blank ones left out."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):  # it said "missing" of a list of paragraphs once
        raise ValueError(f'"{key}" must be {TEXT_FORMS}, got {type(value).__name__}')
    paragraphs = []
    for i, para in enumerate(value):
        if isinstance(para, list):
            for j, sentence in enumerate(para):
                if not isinstance(sentence, str):
                    raise ValueError(f'"{key}"[{i}][{j}] is {_a(sentence)}; "{key}" must be {TEXT_FORMS}')
            para = " ".join(s for s in para if s.strip())
        elif not isinstance(para, str):
            raise ValueError(f'"{key}"[{i}] is {_a(para)}; "{key}" must be {TEXT_FORMS}')
        if para.strip():
            paragraphs.append(para)
    return "\n\n".join(paragraphs)


def _a(value) -> str:
    """The JSON name of ``value``'s type, with its article ("a list", "an object", "a number")."""
    name = {dict: "object", list: "list", str: "string", bool: "boolean", int: "number", float: "number",
            type(None): "null"}.get(type(value), type(value).__name__)
    return name if name == "null" else f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


ROLES = ("text", "id", "title")


@dataclass(frozen=True)
class Fields:
    """Which keys of a JSON record hold its text, id and title (``--fields text=paragraphs,id=doc_id``).

    A file of another schema ({"doc_id", "category", "paragraphs"}) was 500 errors. With a mapping the
    mapped keys are the roles and every other key (one named "text" too) is metadata."""

    text: str = "text"
    id: str = "id"
    title: str = "title"

    def __post_init__(self):
        for role in ROLES:
            key = getattr(self, role)
            if not isinstance(key, str) or not key.strip():
                raise ValueError(f"fields: {role} needs a key (the name of a record's key), got {key!r}")
        # a title may be the id too ({"title", "text"} records: id=title); the text is neither
        for role in ("id", "title"):
            if getattr(self, role) == self.text:
                raise ValueError(f'fields: text and {role} both name the key "{self.text}"; give the text its own '
                                 f'key (a role not given keeps its default: text=text,id=id,title=title)')

    @classmethod
    def of(cls, value) -> "Fields":
        """``value`` as Fields: None (the defaults), a Fields, a dict {role: key} or a spec string."""
        if value is None:
            return DEFAULT_FIELDS
        if isinstance(value, Fields):
            return value
        if isinstance(value, str):
            return cls.parse(value)
        if not isinstance(value, dict):
            raise ValueError(f"fields must be a dict of roles to keys, e.g. {{'text': 'paragraphs', 'id': 'doc_id'}}, "
                             f"got {type(value).__name__}")
        unknown = [r for r in value if r not in ROLES]
        if unknown:
            raise ValueError(f"fields: unknown role {unknown[0]!r}; the roles are {', '.join(ROLES)}")
        return cls(**value)

    @classmethod
    def parse(cls, spec: str) -> "Fields":
        """``"text=paragraphs,id=doc_id"`` (roles not given keep their default key)."""
        given: dict[str, str] = {}
        for part in spec.split(","):
            role, sep, key = (x.strip() for x in part.partition("="))
            if not sep or not role:
                raise ValueError(f"fields: {part.strip()!r} is not ROLE=KEY; e.g. text=paragraphs,id=doc_id "
                                 f"(roles: {', '.join(ROLES)})")
            if role not in ROLES:
                raise ValueError(f"fields: unknown role {role!r}; the roles are {', '.join(ROLES)}")
            if not key:
                raise ValueError(f"fields: {role}= names no key; e.g. {role}=KEY")
            if role in given:
                raise ValueError(f"fields: {role} is given twice ({role}={given[role]} and {role}={key})")
            given[role] = key
        return cls(**given)


DEFAULT_FIELDS = Fields()


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


def read_jsonl_lines(lines: Iterable[str], source: str, errors: list, fields=None) -> Iterator[Record]:
    """Records from JSONL lines; a bad line becomes a ReadError with its 1-based number.

    Split a file at ``\n`` only: JSON strings may hold U+2028, U+2029 and U+0085 raw, where
    ``str.splitlines()`` would cut a record (``\r`` of CRLF is JSON whitespace). ``fields``: see `parse_record`."""
    return records_of(_parsed_lines(lines, source, errors), source, errors, fields)


def _parsed_lines(lines: Iterable[str], source: str, errors: list) -> Iterator[tuple[int, object]]:
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield no, json.loads(line)
        except RecursionError:  # json.loads of a line nested ~1000 deep: was an unhandled error (HTTP 500)
            errors.append(ReadError(source, "malformed JSON: nested too deeply", no))
        except ValueError as exc:
            msg = f"malformed JSON: {exc.msg}" if isinstance(exc, json.JSONDecodeError) else str(exc)
            errors.append(ReadError(source, msg, no))


def records_of(objects: Iterable[tuple[int, object]], source: str, errors: list, fields=None) -> Iterator[Record]:
    """Records of parsed JSON values with the line each starts on (JSONL lines, a JSON file's items); a value
    that is no record, or repeats an id, becomes a ReadError of its line (a repeated id is not silently replaced)."""
    fields = Fields.of(fields)
    first: dict[str, int] = {}  # id -> line
    for no, obj in objects:
        try:
            rec = parse_record(obj, source, no, fields)
        except (ValueError, TypeError) as exc:
            errors.append(ReadError(source, str(exc), no))
            continue
        if rec.doc_id in first:
            where = f"line {first[rec.doc_id]}" if first[rec.doc_id] != no else "this line"  # one-line JSON
            errors.append(ReadError(source, f"duplicate id {rec.doc_id!r} (first on {where}); skipped", no))
            continue
        first[rec.doc_id] = no
        yield rec
