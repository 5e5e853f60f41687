"""CSV and TSV files given by name, gzipped too: a record a row, its header naming the columns, read as a JSONL
line is (``id`` and ``text`` columns, ``title`` optional, the rest metadata; ``--fields`` names other columns).

A spreadsheet export is a table of records; named to `ingest`, a .csv was read as one text document of all its
rows (and refused before that), a .csv.gz so until now. In a folder, .csv and .tsv files stay unread: there they
are mostly data. The file is read a row at a time (no size limit, as JSONL; a line is within the one-file
limit, so a gzip bomb of one line costs that at most); the delimiter of a .csv is sniffed from its start among
``, ; TAB |`` (European exports use ``;``); a .tsv is tab-separated. The text is UTF-8, or UTF-16 with its byte
order mark (Excel's "Unicode Text" export: it was refused as not UTF-8).
"""
from __future__ import annotations

import codecs
import csv
import gzip
import io
import zlib
from pathlib import Path
from typing import IO, Iterator

from core.memory._files import bom_encoding, decode_text, legacy_word
from core.memory._formats import damaged_message
from core.memory.records import EMPTY_FILE, ReadError, Record, records_of

_HEAD = 8192  # characters the delimiter is sniffed from


def read_csv(path: Path, source: str, errors: list, max_bytes: int, fields=None) -> Iterator[Record]:
    """Records of a CSV/TSV file's rows; a bad row is an error naming its line, a file without rows one error."""
    csv.field_size_limit(max(max_bytes, csv.field_size_limit()))  # a long text cell (131,072 characters by default)
    reader = None
    try:
        with _text(path) as fh:
            head = fh.read(_HEAD)
            fh.seek(0)
            if not head.strip() and len(head) < _HEAD:  # "  \n" was a header of one column, and no word said
                errors.append(ReadError(source, f"{EMPTY_FILE} (only whitespace); nothing to store", skipped=True))
                return
            reader = csv.DictReader(_lines(fh, max_bytes), delimiter=_delimiter(head, path))  # the rest as Excel's
            if not reader.fieldnames:
                raise ValueError("no header row: a CSV file is read as records, its first row naming the columns")
            yield from records_of(_rows(reader, source, errors), source, errors, fields)
    except UnicodeDecodeError as exc:
        read = reader.line_num if reader is not None else 0
        errors.append(ReadError(source, _not_utf8(path, read) if exc.encoding.startswith("utf-8") else
                                f"not valid {exc.encoding[:6].upper()} ({exc.reason}); re-encode the file as UTF-8"))
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:  # the rows before the damage are kept
        errors.append(ReadError(source, damaged_message(exc)))
    except _TooLong:
        errors.append(ReadError(source, f"line is longer than {max_bytes:,} characters, the limit for one file (a "
                                        f"gzip bomb?); reading stopped there", (reader.line_num if reader else 0) + 1))


def _binary(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def _text(path: Path) -> IO[str]:
    """The file's text stream: UTF-16 or UTF-32 after its byte order mark, else UTF-8 (a BOM dropped). UTF-16 without a
    mark, or a binary file, is told as a text file's is (`decode_text`)."""
    raw = _binary(path)
    try:
        start = raw.read(_HEAD)
        raw.seek(0)
        wide = bom_encoding(start)  # UTF-16 or UTF-32 after its byte order mark
        if wide is None and b"\x00" in start:
            decode_text(start, str(path))  # raises: "UTF-16 text without a byte order mark, it seems; ..."
        return io.TextIOWrapper(raw, encoding=wide or "utf-8-sig", newline="")
    except BaseException:
        raw.close()
        raise


class _TooLong(Exception):
    pass


def _lines(fh: IO[str], limit: int) -> Iterator[str]:
    """The stream's lines, none longer than ``limit`` characters (`_TooLong`): the csv module read a line whole,
    and a gzip bomb of one line is 10 GB of it."""
    while line := fh.readline(limit + 1):
        if len(line) > limit:
            raise _TooLong
        yield line


def _not_utf8(path: Path, read: int) -> str:
    """Where the file stops being UTF-8, and the word there as Windows-1252 reads it: it said "after line 0",
    the lines the csv module had parsed before the block it decoded. ``read``: the lines whose rows were read
    (the text is decoded a block at a time: the rows just before the bad one were not)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = 1
    with _binary(path) as fh:
        while block := fh.read(1 << 16):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:  # exc.object: the bytes held back from the last block, then this one
                at = fh.tell() - len(exc.object) + exc.start
                lines += exc.object[:exc.start].count(b"\n")
                word = _cell(legacy_word(exc.object, exc.start))
                said = f"byte {at}, line {lines}" + (f": {word!r} if it is Windows-1252 or Latin-1" if word else "")
                rows = f"; the rows up to line {read:,} were read" if read > 1 else ""
                return (f"not valid UTF-8 ({said}){rows}; re-encode the file as UTF-8: iconv -f CP1252 -t UTF-8 "
                        f"in.csv > out.csv")
            lines += block.count(b"\n")
    return "not valid UTF-8; re-encode the file as UTF-8: iconv -f CP1252 -t UTF-8 in.csv > out.csv"


def _cell(word: str | None) -> str | None:
    """The piece of ``word`` between delimiters that holds the letter (``w2,Café``: ``Café``)."""
    if word is None:
        return None
    for sep in ",;\t|":
        word = next((p for p in word.split(sep) if not p.isascii()), word)
    return word.strip("\"'") or None


def _rows(reader: csv.DictReader, source: str, errors: list):
    """(line, row) of each row with a cell, the row's cells by column; a row with more cells than columns, or a
    cell the csv module refuses, is an error of its line. A header over no row (or only blank ones) is skipped
    as an empty file is: it was read as nothing, and no word said so."""
    told = len(errors)
    found = False
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(ReadError(source, f"malformed CSV: {exc}", reader.line_num))
            continue
        if None in row:  # DictReader's key for cells past the header's columns
            errors.append(ReadError(source, f"{len(row) - 1 + len(row[None])} cells under {len(row) - 1} columns",
                                    reader.line_num))
            continue
        if any(v for v in row.values()):
            found = True
            yield reader.line_num, {k: v for k, v in row.items() if v not in (None, "")}
    if not found and len(errors) == told:
        errors.append(ReadError(source, f"{EMPTY_FILE} (a header row and no rows under it); nothing to store",
                                skipped=True))


def _delimiter(head: str, path: Path) -> str:
    """A .tsv's tab, else the delimiter the sniffer finds in the file's start (its other guesses, such as
    ``doublequote``, misread quoted cells holding quotes: Excel's are kept)."""
    if path.name.lower().removesuffix(".gz").endswith(".tsv"):
        return "\t"
    try:
        return csv.Sniffer().sniff(head, delimiters=",;\t|").delimiter
    except csv.Error:  # rows of unequal lengths (one bad row) defeat the sniffer: the header row decides
        header = head.split("\n", 1)[0]
        return max(",;\t|", key=header.count) if any(d in header for d in ",;\t|") else ","
