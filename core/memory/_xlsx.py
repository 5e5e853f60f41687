"""Excel workbooks (``.xlsx``) given by name: a record a row of every sheet, its first row naming the columns, read
as a CSV file's rows are (``id`` and ``text`` columns, ``title`` optional, the rest metadata; ``--fields`` names
other columns).

An .xlsx is a zip of XML (Office Open XML): ``xl/workbook.xml`` lists the sheets, each sheet's cells are numbers,
booleans, formula results or strings (most in ``xl/sharedStrings.xml``). Read with the standard library: a cell
shows what Excel shows for it, a date as ``2024-05-01`` (its number formatted as a date: Excel stores days since
1900), a time as ``14:30``, a percentage as ``25.0%`` (`core.memory._numfmt`) and a boolean as ``TRUE``. A row's
number is its line in errors; a sheet after the first is named in them, and both places of a repeated id.
In a folder, workbooks stay unread (data, as .csv files). Members are read as `core.memory._zipxml` reads them
(bounded, the whole workbook within the one-file limit, no DTD).
"""
from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Iterator

from core.memory._numfmt import BUILTIN, Shown, show, shown_as
from core.memory._zipxml import Package
from core.memory.records import EMPTY_FILE, Fields, ReadError, Record, parse_record

_S = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_CELL = re.compile(r"([A-Z]+)(\d+)")


def read_xlsx(path: Path, source: str, errors: list, max_bytes: int, fields=None) -> Iterator[Record]:
    """Records of a workbook's rows; a bad row is an error naming its row (and sheet), a damaged file one error."""
    fields = Fields.of(fields)
    try:
        with zipfile.ZipFile(path) as zf:
            book = _Book(zf, max_bytes, ".xlsx")
            first: dict[str, tuple[str, int]] = {}  # id -> (sheet, row) of its record
            rows = headers = 0  # rows under a sheet's first (its header), and sheets with a header
            for i, (name, member) in enumerate(book.sheets()):
                table = list(book.rows(member))
                rows += max(0, len(table) - 1)
                headers += bool(table)
                yield from _sheet_records(table, name, i == 0, first, source, errors, fields)
            if not rows:  # a header and no row under it was read as nothing, silently (as a .csv's)
                why = "a header row and no rows under it" if headers else "a workbook with no row"
                errors.append(ReadError(source, f"{EMPTY_FILE} ({why}); nothing to store", skipped=True))
    except zipfile.BadZipFile as exc:
        errors.append(ReadError(source, f"not a readable .xlsx (a zip of XML): {exc}"))
    except ValueError as exc:
        errors.append(ReadError(source, str(exc)))


def _sheet_records(table, sheet: str, is_first: bool, first: dict, source: str, errors: list,
                   fields: Fields) -> Iterator[Record]:
    """Records of one sheet's rows; an error names the row, and the sheet after the first. An id met before,
    on this sheet or an earlier one (``first``), is an error naming where: across sheets, it was told by the
    ingest alone ("duplicate id 'p1' in this ingest"), naming neither sheet nor row."""
    said = "" if is_first else f"sheet {sheet!r}: "
    for no, row in _records(table):
        try:
            rec = parse_record(row, source, no, fields)
        except (ValueError, TypeError) as exc:
            errors.append(ReadError(source, said + str(exc), no))
            continue
        if rec.doc_id in first:
            where, line = first[rec.doc_id]
            at = f"row {line}" if where == sheet else f"sheet {where!r}, row {line}"
            errors.append(ReadError(source, f"{said}duplicate id {rec.doc_id!r} (first on {at}); skipped", no))
            continue
        first[rec.doc_id] = (sheet, no)
        yield rec


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
        self.date1904 = pr is not None and pr.get("date1904") in ("1", "true")
        self.strings = self._shared_strings(next((t for kind, t in targets.values()
                                                  if kind.endswith("/sharedStrings")), None))
        self.shown = self._styles(next((t for kind, t in targets.values() if kind.endswith("/styles")), None))
        return [(s.get("name", ""), targets[s.get(f"{_R}id")][1]) for s in book.iter(f"{_S}sheet")
                if s.get(f"{_R}id") in targets]

    def _shared_strings(self, name: str | None) -> list[str]:
        root = self.xml(name) if name else None
        return [_text(si) for si in root.iter(f"{_S}si")] if root is not None else []

    def _styles(self, name: str | None) -> dict[int, Shown]:
        """{cell style index: how its number format shows a number} of the styles of a date, a time or a
        percentage (a percentage was shown as its fraction: 0.25 for 25%)."""
        root = self.xml(name) if name else None
        if root is None:
            return {}
        codes = {**BUILTIN, **{int(f.get("numFmtId", -1)): f.get("formatCode", "") for f in root.iter(f"{_S}numFmt")}}
        xfs = root.find(f"{_S}cellXfs")
        styles = {i: shown_as(codes.get(int(xf.get("numFmtId", 0)), "")) for i, xf in
                  enumerate(xfs if xfs is not None else [])}
        return {i: how for i, how in styles.items() if how is not None}

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
        if kind == "n" and raw and (how := self.shown.get(int(c.get("s", 0)))) is not None:
            return show(raw, how, self.date1904)
        if kind == "n" and raw.endswith(".0"):
            return raw[:-2]
        return raw  # a number as stored, a formula's text result ("str"), an error ("#DIV/0!")


def _column(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


def _text(node) -> str:
    """A string item's text: its runs' ``t`` joined, phonetic guides (``rPh``) left out."""
    guides = {id(t) for ph in node.iter(f"{_S}rPh") for t in ph.iter(f"{_S}t")}
    return "".join(t.text or "" for t in node.iter(f"{_S}t") if id(t) not in guides)
