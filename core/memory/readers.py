"""Turn paths, folders, standard input and record streams into :class:`Record` objects.

Readers never stop a whole ingest for one bad input: each problem (missing path, empty,
binary or non-UTF-8 file, a file over the size limit, a malformed JSONL line) becomes a
:class:`ReadError` naming the file and line, appended to the caller's ``errors`` list,
and reading goes on with the rest.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterable, Iterator

SUFFIXES = (".txt", ".md", ".pdf", ".jsonl")
MAX_BYTES = 50 * 1024 * 1024  # one file; larger inputs should be split or sent as JSONL
_SNIFF = 8192


@dataclass
class Record:
    """One document to ingest: a stable id, its text, an optional title and metadata."""

    doc_id: str
    text: str
    title: str = ""
    meta: dict = field(default_factory=dict)
    source: str = ""


@dataclass
class ReadError:
    """A problem with one input; ``line`` is 1-based for JSONL, ``None`` for whole files."""

    source: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        return f"{where}: {self.message}"


def _decode(data: bytes, source: str) -> str:
    if b"\x00" in data[:_SNIFF]:
        raise ValueError("binary file (NUL bytes); expected UTF-8 text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ValueError(f"not valid UTF-8 (byte {exc.start}, line {line}); re-encode the file as UTF-8") from None


def _markdown_title(text: str) -> str:
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("#"):
            return s.lstrip("#").strip()
        if s:
            return ""
    return ""


def parse_record(obj, source: str, line: int | None = None) -> Record:
    """Validate one JSON object (``id``, ``text``, optional ``title``; the rest is metadata)."""
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    if "text" not in obj or not isinstance(obj["text"], str):
        raise ValueError('missing "text" (a string)')
    if not obj["text"].strip():
        raise ValueError('"text" is empty')
    if "\x00" in obj["text"]:
        raise ValueError('"text" contains a NUL byte')
    doc_id = obj.get("id")
    if doc_id is None or (isinstance(doc_id, str) and not doc_id.strip()):
        raise ValueError('missing "id"')
    if not isinstance(doc_id, (str, int)) or isinstance(doc_id, bool):
        raise ValueError(f'"id" must be a string or integer, got {type(doc_id).__name__}')
    title = obj.get("title") or ""
    if not isinstance(title, str):
        raise ValueError(f'"title" must be a string, got {type(title).__name__}')
    meta = {k: v for k, v in obj.items() if k not in ("id", "text", "title", "metadata")}
    if isinstance(obj.get("metadata"), dict):
        meta.update(obj["metadata"])
    return Record(str(doc_id), obj["text"], title, meta, source)


def read_jsonl_lines(lines: Iterable[str], source: str, errors: list) -> Iterator[Record]:
    """Records from JSONL lines; a bad line becomes a ReadError with its 1-based number."""
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield parse_record(json.loads(line), source, no)
        except (ValueError, TypeError) as exc:
            msg = f"malformed JSON: {exc.msg}" if isinstance(exc, json.JSONDecodeError) else str(exc)
            errors.append(ReadError(source, msg, no))


def _read_pdf(path: Path) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        pages = [page.extract_text() or "" for page in PdfReader(str(path)).pages]
    except (PdfReadError, OSError, ValueError, KeyError) as exc:
        raise ValueError(f"unreadable PDF ({exc})") from None
    return "\n\n".join(p.strip() for p in pages if p.strip())


def read_file(path: Path, errors: list, max_bytes: int = MAX_BYTES) -> Iterator[Record]:
    """Records of one file (one for text/PDF, one per line for JSONL)."""
    source = str(path)
    try:
        size = path.stat().st_size
        if size == 0:
            raise ValueError("empty file")
        if size > max_bytes:
            raise ValueError(f"file is {size:,} bytes, over the {max_bytes:,}-byte limit; split it")
        suffix = path.suffix.lower()
        if suffix == ".pdf":
            text = _read_pdf(path)
            if not text.strip():
                raise ValueError("PDF has no extractable text (scanned images?)")
            yield Record(str(path.resolve()), text, path.stem, {"path": source}, source)
            return
        text = _decode(path.read_bytes(), source)
        if suffix == ".jsonl":
            yield from read_jsonl_lines(text.splitlines(), source, errors)
            return
        if not text.strip():
            raise ValueError("file holds only whitespace")
        title = _markdown_title(text) if suffix == ".md" else ""
        yield Record(str(path.resolve()), text, title or path.stem, {"path": source}, source)
    except (ValueError, OSError) as exc:
        errors.append(ReadError(source, str(exc)))


def read_stream(fh: IO[str], errors: list, source: str = "<stdin>") -> Iterator[Record]:
    """Standard input: JSONL when the first non-blank character is ``{``, else one text document."""
    text = fh.read()
    if not text.strip():
        errors.append(ReadError(source, "no input"))
        return
    if text.lstrip().startswith("{"):
        yield from read_jsonl_lines(text.splitlines(), source, errors)
    else:
        yield Record("stdin", text, "stdin", {}, source)


def read_paths(paths, errors: list, max_bytes: int = MAX_BYTES) -> Iterator[Record]:
    """Records from files, folders (recursively, supported suffixes only) and ``-`` (stdin).

    Parameters
    ----------
    paths : str, Path or iterable of them
    errors : list
        Receives a :class:`ReadError` for each problem; reading continues.
    max_bytes : int
        Files larger than this are reported and skipped.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    for raw in paths:
        if str(raw) == "-":
            yield from read_stream(sys.stdin, errors)
            continue
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
            if not files:
                errors.append(ReadError(str(path), f"folder holds no {', '.join(SUFFIXES)} files"))
            for f in files:
                yield from read_file(f, errors, max_bytes)
        elif path.is_file():
            if path.suffix.lower() not in SUFFIXES:
                errors.append(ReadError(str(path), f"unsupported file type {path.suffix!r}; "
                                                   f"expected one of {', '.join(SUFFIXES)}"))
                continue
            yield from read_file(path, errors, max_bytes)
        else:
            errors.append(ReadError(str(path), "no such file or folder"))
