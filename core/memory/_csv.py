"""CSV and TSV files given by name: a record a row, its header naming the columns, read as a JSONL line is
(``id`` and ``text`` columns, ``title`` optional, the rest metadata; ``--fields`` names other columns).

A spreadsheet export is a table of records; named to `ingest`, a .csv was read as one text document of all its
rows (and refused before that). In a folder, .csv and .tsv files stay unread: there they are mostly data. The
file is read a row at a time (no size limit, as JSONL); the delimiter of a .csv is sniffed from its start among
``, ; TAB |`` (European exports use ``;``); a .tsv is tab-separated.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterator

from core.memory.records import EMPTY_FILE, ReadError, Record, records_of


def read_csv(path: Path, source: str, errors: list, max_bytes: int, fields=None) -> Iterator[Record]:
    """Records of a CSV/TSV file's rows; a bad row is an error naming its line, a file without rows one error."""
    csv.field_size_limit(max(max_bytes, csv.field_size_limit()))  # a long text cell (131,072 characters by default)
    reader = None
    with open(path, encoding="utf-8-sig", newline="") as fh:
        try:
            head = fh.read(8192)
            fh.seek(0)
            reader = csv.DictReader(fh, delimiter=_delimiter(head, path))  # the rest as Excel writes CSV
            if not reader.fieldnames:
                if not head.strip() and len(head) < 8192:
                    errors.append(ReadError(source, f"{EMPTY_FILE} (only whitespace); nothing to store", skipped=True))
                    return
                raise ValueError("no header row: a CSV file is read as records, its first row naming the columns")
            yield from records_of(_rows(reader, source, errors), source, errors, fields)
        except UnicodeDecodeError as exc:
            line = reader.line_num if reader is not None else 0
            errors.append(ReadError(source, f"not valid UTF-8 ({exc.reason}) after line {line}; re-encode the file "
                                            f"as UTF-8 (iconv -f CP1252 -t UTF-8 in.csv > out.csv)"))


def _rows(reader: csv.DictReader, source: str, errors: list):
    """(line, row) of each row with a cell, the row's cells by column; a row with more cells than columns, or a
    cell the csv module refuses, is an error of its line."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            errors.append(ReadError(source, f"malformed CSV: {exc}", reader.line_num))
            continue
        if None in row:  # DictReader's key for cells past the header's columns
            errors.append(ReadError(source, f"{len(row) - 1 + len(row[None])} cells under {len(row) - 1} columns",
                                    reader.line_num))
            continue
        if any(v for v in row.values()):
            yield reader.line_num, {k: v for k, v in row.items() if v not in (None, "")}


def _delimiter(head: str, path: Path) -> str:
    """A .tsv's tab, else the delimiter the sniffer finds in the file's start (its other guesses, such as
    ``doublequote``, misread quoted cells holding quotes: Excel's are kept)."""
    if path.name.lower().endswith(".tsv"):
        return "\t"
    try:
        return csv.Sniffer().sniff(head, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","
