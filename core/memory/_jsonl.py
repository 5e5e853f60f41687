"""JSONL files: the checks of a small file's whole text, and the streamed lines of a large or gzipped one.

A gzipped JSONL file (``records.jsonl.gz``: corpora come gzipped) is read as the same ``.jsonl`` would be,
but streamed: JSONL has no size limit, so it is never inflated whole. Its lines are cut from 1 MB steps of
the decompressed stream, so memory is bounded by the longest line: a line longer than the one-file limit (a
gzip bomb of one line, 10 GB of ``a`` in 10 MB) is one error once that limit is passed, not an unbounded
``readline``. A file damaged mid-stream gives its records before the damage, then one error naming
``gzip -t`` (the cut line is dropped: it would be a second, "malformed JSON", error).
"""
from __future__ import annotations

import gzip
import json
import re
import zlib
from collections import deque
from pathlib import Path
from typing import Iterator

from core.memory._files import decode_text, legacy_word
from core.memory._formats import damaged_message
from core.memory.records import EMPTY_FILE, ReadError, Record, read_jsonl_lines

STEP = 1 << 20  # decompressed bytes read at a time
SMALL = 16 << 20  # a gzipped text up to this is read whole and checked, as a plain JSONL file up to 50 MB is

JQ = "convert it with `jq -c '.[]' FILE > records.jsonl`"
ARRAY = f"holds a JSON array, not JSON Lines (one object a line); {JQ}, or name it .json (read as JSON)"
# a corpus keyed by id ({"doc1": {"text": ...}}): `.[]` would drop the ids
JQ_OBJECT = ("convert its entries with `jq -c 'to_entries[] | {id: .key} + .value' FILE > records.jsonl` "
             "(values that are plain text: `{id: .key, text: .value}`)")


def is_json_array(text: str) -> bool:
    try:
        return isinstance(json.loads(text), list)
    except (ValueError, RecursionError):
        return False


def one_object_problem(text: str) -> str | None:
    """A pretty-printed JSON object given as JSONL (a .json renamed .jsonl) made one error a line (6,129 for
    HotpotQA's corpus): say what it is, once. None when the first line is JSON of its own."""
    head = text.lstrip()
    if not head.startswith("{"):
        return None
    try:
        json.loads(head.split("\n", 1)[0])
        return None
    except (ValueError, RecursionError):
        pass
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    fix = "convert it with `jq -c . FILE > records.jsonl`" if isinstance(value.get("text"), str) else JQ_OBJECT
    return (f"holds one JSON object over several lines, not JSON Lines (one object a line); {fix}, or name it .json "
            f"(read as JSON)")


def whole_text_problem(text: str) -> str | None:
    """Why a whole JSONL text is one error rather than one a line (a JSON array, a pretty-printed object)."""
    if text.lstrip().startswith("[") and is_json_array(text):
        return ARRAY
    return one_object_problem(text)


def decoded_lines(lines, source: str, errors: list) -> Iterator[str]:
    """Raw lines decoded one by one; a line that is not UTF-8 is reported and read as blank (so the numbers
    of the lines after it stay right). A LineError of ``lines`` ends them, reported."""
    no = 0
    try:
        for no, raw in enumerate(lines, 1):  # binary files split at b"\n" only
            try:
                yield (raw[3:] if no == 1 and raw.startswith(b"\xef\xbb\xbf") else raw).decode("utf-8")
            except UnicodeDecodeError as exc:
                word = legacy_word(raw, exc.start)
                seen = f": {word!r} if it is Windows-1252 or Latin-1" if word is not None else ""
                errors.append(ReadError(source, f"not valid UTF-8 (byte {exc.start} of the line{seen}); "
                                                f"re-encode the file as UTF-8", no))
                yield ""
    except LineError as exc:
        errors.append(ReadError(source, str(exc), exc.line))


_END = re.compile(rb"\r\n?|\n")


def ended_pieces(blocks) -> Iterator[tuple[bytes, bool]]:
    """``(piece, ended)`` of a stream of byte blocks: a piece runs to a line end (``\\n``, ``\\r\\n`` or an old-Mac
    ``\\r`` alone, as `core.text.newlines` reads them; given as ``\\n``) or to its block's end. A file read whole
    has its ``\\r`` line ends made ``\\n``; streamed, a ``\\r``-only file was one line over the limit, lost."""
    after_cr = False  # the last block ended in \r: a \n opening the next one is the same line end
    for data in blocks:
        start = 1 if after_cr and data.startswith(b"\n") else 0
        for m in _END.finditer(data, start):
            yield data[start:m.start()] + b"\n", True
            start = m.end()
        if start < len(data):
            yield data[start:], False
        after_cr = data.endswith(b"\r")


def bounded_lines(fh, max_line: int, source: str, errors: list) -> Iterator[bytes]:
    """The lines of a binary file (`ended_pieces`), each of at most ``max_line`` bytes: a longer one is reported
    and read as blank, passed over in ``STEP`` pieces. A JSONL file over the one-file limit was split by iterating
    it, so one line of several GB (a dump without newlines) was read into memory whole."""
    no, pending, held = 0, [], 0
    for piece, ended in ended_pieces(iter(lambda: fh.read(STEP), b"")):
        held += len(piece) - ended  # the line's bytes, its end left out
        if held <= max_line:
            pending.append(piece)
        if ended:
            no += 1
            yield _line_or_blank(pending, held, max_line, source, errors, no)
            pending, held = [], 0
    if held:
        yield _line_or_blank(pending, held, max_line, source, errors, no + 1)


def _line_or_blank(pieces: list, held: int, max_line: int, source: str, errors: list, no: int) -> bytes:
    if held <= max_line:
        return b"".join(pieces)
    errors.append(ReadError(source, f"line is longer than {max_line:,} bytes, the limit for one record; "
                                    f"skipped", no))
    return b""


def read_gz_jsonl(path: Path, source: str, errors: list, max_bytes: int, fields=None) -> Iterator[Record]:
    """The records of a gzipped JSONL file: a text up to ``SMALL`` bytes whole (its array or object checked,
    its encoding decoded, as a plain file's), a larger one streamed; ValueError when the whole text is one error.
    ``fields``: the record keys (`records.Fields`)."""
    lines = gz_lines(path, max_bytes)
    head: list[bytes] = []
    size = 0
    try:
        for line in lines:
            head.append(line)
            size += len(line)
            if size > min(SMALL, max_bytes):
                break
        else:
            text = decode_text(b"".join(head), source)
            if not text.strip():  # as a plain file of whitespace: a skip
                errors.append(ReadError(source, f"{EMPTY_FILE} (only whitespace); nothing to store", skipped=True))
                return
            if (problem := whole_text_problem(text)) is not None:
                raise ValueError(problem)
            yield from read_jsonl_lines(text.split("\n"), source, errors, fields)
            return
    except LineError as exc:  # within the head: its lines, then the error
        yield from read_jsonl_lines(decoded_lines(_chain(head, (), exc), source, errors), source, errors, fields)
        return
    yield from read_jsonl_lines(decoded_lines(_chain(head, lines), source, errors), source, errors, fields)


def _chain(head: list[bytes], rest, error: Exception | None = None) -> Iterator[bytes]:
    """The head's lines, let go of as they are read, then ``error`` or the rest."""
    queue = deque(head)
    head.clear()
    while queue:
        yield queue.popleft()
    if error is not None:
        raise error
    yield from rest


class LineError(ValueError):
    """Reading stopped at line ``line`` (too long, or the gzip stream is damaged there)."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


def gz_lines(path: Path, max_line: int) -> Iterator[bytes]:
    """The lines of a gzip file's content (`ended_pieces`: each ending in ``\\n`` but maybe the last); LineError
    after the lines read when one is longer than ``max_line`` bytes or the stream is damaged."""
    no = 1
    pending: list[bytes] = []  # the pieces of the line not yet ended
    held = 0
    with gzip.open(path, "rb") as fh:
        # read1: one step of the decompressor; what it gave before a damaged spot comes first
        for piece, ended in ended_pieces(_gz_blocks(fh, lambda: no)):
            held += len(piece)
            if held > max_line:
                raise _too_long(no, max_line)
            pending.append(piece)
            if ended:
                yield b"".join(pending)
                pending, held, no = [], 0, no + 1
    if pending:
        yield b"".join(pending)


def _gz_blocks(fh, line) -> Iterator[bytes]:
    """The decompressed blocks of ``fh``; LineError at line ``line()`` where the stream is damaged."""
    while True:
        try:
            data = fh.read1(STEP)
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise LineError(damaged_message(exc), line()) from None
        if not data:
            return
        yield data


def _too_long(no: int, max_line: int) -> LineError:
    return LineError(f"line is longer than {max_line:,} bytes, the limit for one file (a gzip bomb?); reading "
                     f"stopped there: decompress the file and check that line", no)
