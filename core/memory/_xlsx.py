"""Excel workbooks (``.xlsx``) given by name: a record a row of every sheet, its first row naming the columns, read
as a CSV file's rows are (``id`` and ``text`` columns, ``title`` optional, the rest metadata; ``--fields`` names
other columns).

An .xlsx is a zip of XML (Office Open XML): ``xl/workbook.xml`` lists the sheets, each sheet's cells are numbers,
booleans, formula results or strings (most in ``xl/sharedStrings.xml``). Read with the standard library: a cell
shows what Excel shows for it, a date as ``2024-05-01`` (its number formatted as a date: Excel stores days since
1900) and a boolean as ``TRUE``. A row's number is its line in errors; a sheet after the first is named in them.
In a folder, workbooks stay unread (data, as .csv files). Members are read as `core.memory._zipxml` reads them
(bounded, the whole workbook within the one-file limit, no DTD).
"""
from __future__ import annotations

import datetime
import re
import zipfile
from pathlib import Path
from typing import Iterator

from core.memory._zipxml import Package
from core.memory.records import EMPTY_FILE, ReadError, Record, records_of

_S = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_DATE_IDS = set(range(14, 23)) | {45, 46, 47}  # Excel's built-in date and time formats
_QUOTED = re.compile(r'"[^"]*"|\[[^\]]*\]|\\.')  # literal text and colours in a format code: no date letters
_CELL = re.compile(r"([A-Z]+)(\d+)")


def read_xlsx(path: Path, source: str, errors: list, max_bytes: int, fields=None) -> Iterator[Record]:
    """Records of a workbook's rows; a bad row is an error naming its row (and sheet), a damaged file one error."""
    try:
        with zipfile.ZipFile(path) as zf:
            book = _Book(zf, max_bytes, ".xlsx")
            sheets = book.sheets()
            rows = 0
            for i, (name, member) in enumerate(sheets):
                found: list = []
                table = list(book.rows(member))
                rows += len(table)
                yield from records_of(_records(table), source, found, fields)
                errors.extend(e if i == 0 else ReadError(e.source, f"sheet {name!r}: {e.message}", e.line, e.skipped)
                              for e in found)
            if not rows:
                errors.append(ReadError(source, f"{EMPTY_FILE} (a workbook with no row); nothing to store",
                                        skipped=True))
    except zipfile.BadZipFile as exc:
        errors.append(ReadError(source, f"not a readable .xlsx (a zip of XML): {exc}"))
    except ValueError as exc:
        errors.append(ReadError(source, str(exc)))


def _records(table) -> Iterator[tuple[int, dict]]:
    """(row number, {column: cell}) of a sheet's rows under its first row, the header; empty cells left out."""
    header = None
    for no, cells in table:
        if header is None:
            header = cells
            continue
        row = {header.get(col) or _letters(col): value for col, value in cells.items() if value != ""}
        if row:
            yield no, row


def _letters(col: int) -> str:
    """The column's letters (a cell under no header is named by its column, as Excel shows it: "F")."""
    out = ""
    while col >= 0:
        col, rest = divmod(col, 26)
        out = chr(65 + rest) + out
        col -= 1
    return out


class _Book(Package):
    """One open workbook: its sheets in order, shared strings, and which cell styles are dates."""

    def sheets(self) -> list[tuple[str, str]]:
        book = self.xml("xl/workbook.xml")
        if book is None:
            raise ValueError("no xl/workbook.xml: not an Excel workbook (.xlsx), or a damaged one")
        targets = self.relations("xl/workbook.xml")
        pr = book.find(f"{_S}workbookPr")
        self.epoch = datetime.date(1904, 1, 1) if pr is not None and pr.get("date1904") in ("1", "true") \
            else datetime.date(1899, 12, 30)  # 1900 system: Excel counts a 29 February 1900 that never was
        self.strings = self._shared_strings(next((t for kind, t in targets.values()
                                                  if kind.endswith("/sharedStrings")), None))
        self.dates = self._date_styles(next((t for kind, t in targets.values() if kind.endswith("/styles")), None))
        return [(s.get("name", ""), targets[s.get(f"{_R}id")][1]) for s in book.iter(f"{_S}sheet")
                if s.get(f"{_R}id") in targets]

    def _shared_strings(self, name: str | None) -> list[str]:
        root = self.xml(name) if name else None
        return [_text(si) for si in root.iter(f"{_S}si")] if root is not None else []

    def _date_styles(self, name: str | None) -> set[int]:
        """Indexes of the cell styles whose number format is a date or a time."""
        root = self.xml(name) if name else None
        if root is None:
            return set()
        custom = {int(f.get("numFmtId", -1)) for f in root.iter(f"{_S}numFmt")
                  if re.search(r"[dmyhs]", _QUOTED.sub("", f.get("formatCode", "")), re.I)}
        xfs = root.find(f"{_S}cellXfs")
        return {i for i, xf in enumerate(xfs if xfs is not None else [])
                if int(xf.get("numFmtId", 0)) in _DATE_IDS | custom}

    def rows(self, name: str) -> Iterator[tuple[int, dict[int, str]]]:
        """(row number, {column index: cell as shown}) of a sheet's rows with a cell."""
        sheet = self.xml(name)
        data = sheet.find(f"{_S}sheetData") if sheet is not None else None
        for row in (data if data is not None else []):
            cells, col = {}, -1
            for c in row.iter(f"{_S}c"):
                m = _CELL.fullmatch(c.get("r", ""))
                col = _column(m.group(1)) if m else col + 1
                if (value := self._value(c)) != "":
                    cells[col] = value
            if cells:
                yield int(row.get("r", 0)) or 0, cells

    def _value(self, c) -> str:
        kind, v = c.get("t", "n"), c.find(f"{_S}v")
        raw = (v.text or "") if v is not None else ""
        if kind == "inlineStr":
            node = c.find(f"{_S}is")
            return _text(node) if node is not None else ""
        if kind == "s":
            i = int(raw) if raw.isdigit() else -1
            return self.strings[i] if 0 <= i < len(self.strings) else ""
        if kind == "b":
            return "TRUE" if raw == "1" else "FALSE" if raw == "0" else raw
        if kind == "n" and raw and int(c.get("s", 0)) in self.dates:
            return self._date(raw)
        if kind == "n" and raw.endswith(".0"):
            return raw[:-2]
        return raw  # a number as stored, a formula's text result ("str"), an error ("#DIV/0!")

    def _date(self, raw: str) -> str:
        try:
            days = float(raw)
            when = datetime.datetime.combine(self.epoch, datetime.time()) + datetime.timedelta(days=days)
        except (ValueError, OverflowError):
            return raw
        return when.date().isoformat() if days == int(days) else when.isoformat(sep=" ", timespec="seconds")


def _column(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


def _text(node) -> str:
    """A string item's text: its runs' ``t`` joined, phonetic guides (``rPh``) left out."""
    guides = {id(t) for ph in node.iter(f"{_S}rPh") for t in ph.iter(f"{_S}t")}
    return "".join(t.text or "" for t in node.iter(f"{_S}t") if id(t) not in guides)
