"""Turn paths, folders, standard input and record streams into :class:`Record` objects.

Readers never stop a whole ingest for one bad input: each problem (missing path, binary or
non-UTF-8 file, a file over the size limit, a malformed JSONL line) becomes a
:class:`ReadError` naming the file and line, appended to the caller's ``errors`` list,
and reading goes on with the rest. An empty file (0 bytes, only whitespace, a Markdown note's front matter
alone) or standard input holds nothing to store: it is a skip (``skipped=True``), not an error (it failed an
ingest of nothing else). Which files of a folder are read, and why a file given by name is not: core.memory._scan.
"""
from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import IO, Iterator

from core.memory._checks import empty_path
from core.memory._csv import read_csv
from core.memory._docx import read_docx
from core.memory._eml import looks_like_email, read_eml
from core.memory._epub import read_epub
from core.memory._mbox import read_mbox
from core.memory._odt import read_odp, read_odt
from core.memory._pptx import read_pptx
from core.memory._xlsx import read_xlsx
from core.memory._files import decode_text as _decode, read_pdf as _read_pdf
from core.memory._formats import (SUFFIXES, content_bytes, file_title, head_bytes, is_csv, is_gzip, is_json,
                                  is_jsonl, is_mbox, is_xlsx, kind, named_kind, not_a_file, skip_label,
                                  unreadable_folder)
from core.memory._html import declared_charset, html_parts, looks_like_html
from core.memory._json import json_records, read_json
from core.memory._jsonl import bounded_lines, decoded_lines, read_gz_jsonl, whole_text_problem
from core.memory._markdown import front_matter, markdown_parts
from core.memory._markdown_text import markdown_text
from core.memory._names import name_title, nfc
from core.memory._scan import folder_files, path_problem, scan_folder, unsupported
from core.memory.records import EMPTY_FILE, EMPTY_INPUT, ReadError, Record, parse_record, read_jsonl_lines
from core.text import newlines

# Record, ReadError and parse_record live in records.py; the rest of the package imports them from here too
__all__ = ["MAX_BYTES", "MAX_INPUT_BYTES", "SUFFIXES", "ReadError", "Record", "document_id", "folder_files",
           "is_blank", "not_a_file", "parse_record", "path_problem", "read_file", "read_paths", "read_stream",
           "scan_folder", "unreadable_folder", "unsupported"]

MAX_BYTES = 50 * 1024 * 1024  # one file; larger inputs should be split or sent as JSONL
# documents with a title of their own, if any (their metadata, a subject line)
_BOOK = {"docx": "Word document", "pptx": "presentation", "odt": "text document", "odp": "presentation",
         "epub": "e-book", "eml": "e-mail message"}

def document_id(path: Path, root: Path | None = None) -> tuple[str, dict]:
    """(id, meta) of a file: its path relative to the ingested folder ``root`` (recorded in
    the meta, so ``ingest --sync`` can find what disappeared), else relative to the working
    directory, else absolute; always with ``/`` separators, in Unicode NFC (core.memory._names)."""
    doc_id, meta = _document_id(path, root)
    return nfc(doc_id), meta


def _document_id(path: Path, root: Path | None) -> tuple[str, dict]:
    base = (root if root is not None else Path.cwd()).resolve()
    if root is not None:
        try:  # a file found in the folder is named by where it lies there, a link by its own name, not
            rel = path.relative_to(root).as_posix()  # its target's (--sync checks the link; two names, two ids)
            return rel, {"path": str(path), "root": str(base)}
        except ValueError:
            pass
    full = path.resolve()
    try:
        rel = full.relative_to(base).as_posix()
    except ValueError:
        return full.as_posix(), {"path": str(path)}
    return rel, ({"path": str(path), "root": str(base)} if root is not None else {"path": str(path)})


def _jsonl_stream(path: Path, source: str, errors: list, max_line: int) -> Iterator[str]:
    """The lines of a large JSONL file, decoded one by one (see ``_jsonl.decoded_lines``), each of at most
    ``max_line`` bytes."""
    with open(path, "rb") as fh:
        yield from decoded_lines(bounded_lines(fh, max_line, source, errors), source, errors)


def read_file(path: Path, errors: list, max_bytes: int = MAX_BYTES, root: Path | None = None, *,
              folder_title: bool = True, fields=None) -> Iterator[Record]:
    """Records of one file (one for text/PDF, one per line for JSONL); ids as in :func:`document_id`.

    A JSONL file's records keep their own ids; read from a folder, their source is the file's absolute
    path (the folder resolved), so ``ingest --sync`` can tell when the file or a line of it is gone.
    ``folder_title=False``: the file's folder is not its (an upload's temporary one), see ``file_title``.
    ``fields``: the keys of a JSONL record's text, id and title (`records.Fields`)."""
    if root is not None and is_jsonl(path):
        where = str(root.resolve() / path.relative_to(root))
        yield from (replace(rec, source=where) for rec in read_file(path, errors, max_bytes, fields=fields))
        return
    source = str(path)
    doc_id, meta = document_id(path, root)
    try:
        size = path.stat().st_size
        if size == 0:
            errors.append(ReadError(source, f"{EMPTY_FILE} (0 bytes); nothing to store", skipped=True))
            return
        if is_json(path):  # given by name: a folder's are not listed
            yield from read_json(path, source, errors, max_bytes, fields)
            return
        if is_mbox(path):  # given by name too
            yield from read_mbox(path, source, errors, max_bytes)
            return
        if is_csv(path):  # given by name too
            yield from read_csv(path, source, errors, max_bytes, fields)
            return
        if is_xlsx(path):  # given by name too
            yield from read_xlsx(path, source, errors, max_bytes, fields)
            return
        what = kind(path) if root is not None else named_kind(path)
        if what is None:  # given directly (path_problem said why) or changed since the folder was listed
            raise ValueError(f"not a file ingest reads ({skip_label(path)})")
        if what == "jsonl" and is_gzip(path):  # streamed, whatever its size (gzip holds no size to trust)
            yield from read_gz_jsonl(path, source, errors, max_bytes, fields)
            return
        if size > max_bytes and what == "jsonl":  # records are small: read one line at a time
            yield from read_jsonl_lines(_jsonl_stream(path, source, errors, max_bytes), source, errors, fields)
            return
        if size > max_bytes:
            raise ValueError(f"file is {size:,} bytes, over the {max_bytes:,}-byte limit; split it "
                             f"(JSONL records have no such limit)")
        if what == "pdf":
            title, text = _read_pdf(path)  # its own title (/Title of its information dictionary), if any
            if not text.strip():
                raise ValueError("PDF has no extractable text (scanned images?)")
            name = nfc(path.stem)
            yield Record(doc_id, text, nfc(title) if title else name_title(name), meta, source, merge=True,
                         name="" if title else name)
            return
        if what in _BOOK:
            title, text = _titled(what, path, max_bytes)
            if not text.strip():  # a template, text only in shapes and images, a book of pictures
                article = "an" if _BOOK[what][0] in "aeiou" else "a"  # "a e-book", "a e-mail message"
                errors.append(ReadError(source, f"{EMPTY_FILE} ({article} {_BOOK[what]} with no paragraph of text); "
                                                f"nothing to store", skipped=True))
                return
            name = nfc(path.stem)
            yield Record(doc_id, text, nfc(title) if title else name_title(name), meta, source, merge=True,
                         name="" if title else name)
            return
        text = _decode_as(what, content_bytes(path, max_bytes), source)
        if not text.strip():  # a JSONL file's too: it gave no record and no word
            errors.append(ReadError(source, f"{EMPTY_FILE} (only whitespace); nothing to store", skipped=True))
            return
        if what == "jsonl":
            if (problem := whole_text_problem(text)) is not None:  # one error, not one a line
                raise ValueError(problem)
            yield from read_jsonl_lines(text.split("\n"), source, errors, fields)
            return
        title, text = markdown_parts(text) if what == "md" else html_parts(text) if what == "html" else ("", text)
        if not text.strip():  # a note made from a template: as empty as a blank file (it was an error)
            why = "only front matter" if what == "md" else "no text outside its tags" if what == "html" else "?"
            errors.append(ReadError(source, f"{EMPTY_FILE} ({why}); nothing to store", skipped=True))
            return
        if not title:  # titled by its name: Du_Fu.txt is "Du Fu", bash/README.gz is "bash README"
            name = nfc(file_title(path, folder_title))
            yield Record(doc_id, text, name_title(name), meta, source, merge=True, name=name)
            return
        yield Record(doc_id, text, nfc(title), meta, source, merge=True)
    except ValueError as exc:
        errors.append(ReadError(source, str(exc)))
    except OSError as exc:  # it said "[Errno 13] Permission denied: '/the/path/again'"
        errors.append(ReadError(source, f"cannot be read ({exc.strerror})" if exc.strerror else str(exc)))


def _titled(what: str, path: Path, max_bytes: int) -> tuple[str, str]:
    """(title, text) of a document of `_BOOK`'s kinds."""
    if what == "eml":
        return read_eml(content_bytes(path, max_bytes))
    read = {"docx": read_docx, "pptx": read_pptx, "odt": read_odt, "odp": read_odp, "epub": read_epub}[what]
    return read(path, max_bytes)


def _decode_as(what: str, data: bytes, source: str) -> str:
    try:
        return _decode(data, source)
    except ValueError:  # an HTML page in the encoding it declares
        if what != "html" or (charset := declared_charset(data)) in (None, "utf-8"):
            raise
        # a UTF-8 byte order mark before text that is not UTF-8 (an editor's): it was stored as "ï»¿"
        return newlines(data.removeprefix(b"\xef\xbb\xbf").decode(charset, "replace"))


def is_blank(path: Path) -> bool:
    """Does the file hold nothing to store, as `read_file` judges (0 bytes, only whitespace, a note's front
    matter alone)? ``ingest --sync`` forgets the documents of a file emptied since its ingest. Reads a text
    file's start only, unless that start holds no visible ASCII character (whitespace, or UTF-16 or non-Latin
    text) or is a Markdown note's front matter without text after it."""
    try:
        size = path.stat().st_size
        if size == 0:
            return True
        what = kind(path)
        if size > MAX_BYTES or what in ("pdf", None, *_BOOK):
            return False
        head = head_bytes(path, 4096)
        if what == "md" and head.removeprefix(b"\xef\xbb\xbf").startswith((b"---", b"+++")):  # text after it?
            front = front_matter(head.decode("utf-8-sig", "replace"))
            if front is not None and markdown_text(front[1]).strip():  # closed within the head, text after it
                return False
            return not markdown_parts(_decode(content_bytes(path, MAX_BYTES), str(path)))[1].strip()
        if what == "html":
            return not html_parts(_decode_as(what, content_bytes(path, MAX_BYTES), str(path)))[1].strip()
        if not head.startswith((b"\xff\xfe", b"\xfe\xff")) and any(0x21 <= b <= 0x7E for b in head):
            return False
        return not _decode(content_bytes(path, MAX_BYTES), str(path)).strip()
    except (OSError, ValueError):  # unreadable, binary, not UTF-8: an error of the ingest, not an empty file
        return False


MAX_INPUT_BYTES = 64 * 1024 * 1024  # standard input; MYCELIAL_MAX_INPUT_BYTES raises it


def _max_input_bytes() -> int:
    raw = os.environ.get("MYCELIAL_MAX_INPUT_BYTES", "")
    try:
        return int(raw) if raw else MAX_INPUT_BYTES
    except ValueError:
        raise ValueError(f"MYCELIAL_MAX_INPUT_BYTES must be a number of bytes, got {raw!r}") from None


def read_stream(fh: IO[str], errors: list, source: str = "<stdin>", fields=None) -> Iterator[Record]:
    """Standard input: JSONL when the first non-blank character is ``{`` (its keys named by ``fields``), JSON
    when it is one JSON array or object over several lines (as a named .json file), an e-mail message when it
    opens with a message's headers (as a .eml file), else one text document.

    At most ``MYCELIAL_MAX_INPUT_BYTES`` (64 MB) are read: stdin is held in memory whole.
    """
    limit = _max_input_bytes()
    if _is_terminal(fh):  # `mycelial ingest -` typed without a pipe waited in silence
        from core.log import get_logger

        get_logger("memory.ingest").warning("reading the text to ingest from the terminal: paste or type it, then "
                                            "Ctrl-D on a line of its own (or pipe it: cat notes.md | mycelial "
                                            "ingest - ...)")
    buf = getattr(fh, "buffer", None)
    data = buf.read(limit + 1) if buf is not None else fh.read(limit + 1)
    if len(data) > limit:
        errors.append(ReadError(source, f"input is larger than {limit} bytes; split it, or set "
                                        f"MYCELIAL_MAX_INPUT_BYTES to raise the limit"))
        return
    if looks_like_email(data):  # `cat msg.eml | mycelial ingest -` stored its headers, MIME parts and base64
        raw = data if isinstance(data, bytes) else data.encode("utf-8")
        try:
            title, body = read_eml(raw)
        except ValueError as exc:
            errors.append(ReadError(source, str(exc)))
            return
        yield Record(f"stdin-{hashlib.sha1(raw).hexdigest()[:16]}", body, nfc(title), {}, source, merge=True)
        return
    try:  # a piped page is read in the charset it declares, as an HTML file is
        text = newlines(data) if isinstance(data, str) else \
            _decode_as("html" if looks_like_html(data[:64].decode("latin-1")) else "text", data, source)
    except ValueError as exc:
        errors.append(ReadError(source, str(exc)))
        return
    if not text.strip():  # skipped as an empty file is (it was an error: `: | mycelial ingest -` exited 1)
        errors.append(ReadError(source, f"{EMPTY_INPUT} ({'0 bytes' if not text else 'only whitespace'}); "
                                        f"nothing to store", skipped=True))
        return
    if whole_text_problem(text) is not None:  # piped JSON has no name to be told by (a file's says JSONL)
        yield from json_records(text, source, errors, fields)
        return
    if text.lstrip().startswith("{"):
        yield from read_jsonl_lines(text.split("\n"), source, errors, fields)
    else:
        # a content hash, so a second piped document does not replace the first
        digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]
        # no placeholder title: a title is embedded with every chunk and becomes a concept
        page = looks_like_html(text)  # `curl URL | mycelial ingest -`: its markup was stored as text
        title, body = html_parts(text) if page else markdown_parts(text)
        if not body.strip():  # only front matter (it was stored as text: "--- title: x ---"), or only tags
            why = "no text outside its tags" if page else "only front matter"
            errors.append(ReadError(source, f"{EMPTY_INPUT} ({why}); nothing to store", skipped=True))
            return
        yield Record(f"stdin-{digest}", body, title, {}, source, merge=True)


def _is_terminal(fh) -> bool:
    try:
        return bool(fh.isatty())
    except (AttributeError, ValueError, OSError):  # a closed or custom stream
        return False


def read_paths(paths, errors: list, max_bytes: int = MAX_BYTES, fields=None) -> Iterator[Record]:
    """Records from files, folders (recursively, supported suffixes only) and ``-`` (stdin) of ``paths``
    (a str, Path or iterable of them). ``errors`` receives a :class:`ReadError` for each problem (a file
    over ``max_bytes`` too); reading continues. ``fields``: the keys of JSONL records (`records.Fields`)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    for raw in paths:
        if str(raw) == "-":
            yield from read_stream(sys.stdin, errors, fields=fields)
            continue
        if (problem := empty_path(raw)) is not None:
            errors.append(problem)
            continue
        path = Path(raw)
        if path.is_dir():
            files, notes = scan_folder(path)
            errors.extend(notes)
            for f in files:
                yield from read_file(f, errors, max_bytes, root=path, fields=fields)
            continue
        problem = path_problem(path)
        if problem is not None:
            errors.append(problem)
            continue
        yield from read_file(path, errors, max_bytes, fields=fields)
