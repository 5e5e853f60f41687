"""Excel workbooks (.xlsx) named to `ingest`, or uploaded, give a record a row of every sheet, read as a CSV file's
rows (they were refused as "no prose"); cells as Excel shows them (dates, booleans, formula results). The workbooks
are written by XlsxWriter (a real writer of the format, a dev dependency) from real Brown texts."""
from __future__ import annotations

import datetime
import zipfile

import xlsxwriter  # XlsxWriter, a dev dependency: it writes the test workbooks as Excel does (shared strings)

from core.datasets import brown_documents
from core.memory.readers import ReadError, read_paths


def _read(paths, **kw):
    errors: list[ReadError] = []
    return list(read_paths(paths, errors, **kw)), errors


def _texts(n: int = 4):
    return [d for d in brown_documents() if d.meta["category"] in ("news", "religion")][::9][:n]


def _workbook(path, docs, notes=True):
    """Sheet "Texts": id, text, category, added (a date), reviewed (a boolean), a row without an id, an empty row;
    sheet "Notes": a formula's text result, a cell under no header."""
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Texts")
    day = book.add_format({"num_format": "dd/mm/yyyy"})
    sheet.write_row(0, 0, ["id", "text", "category", "added", "reviewed"])
    for i, d in enumerate(docs, 1):
        sheet.write_row(i, 0, [d.doc_id, " ".join(d.sentences[:3]), d.meta["category"]])
        sheet.write_datetime(i, 3, datetime.datetime(2024, 5, i), day)
        sheet.write_boolean(i, 4, i % 2 == 1)
    sheet.write(len(docs) + 2, 1, "a row with no id")  # after an empty row
    if notes:
        other = book.add_worksheet("Notes")
        other.write_row(0, 0, ["id", "text"])
        other.write(1, 0, "note-1")
        other.write_formula(1, 1, '="Reviewed by " & "the desk"', None, "Reviewed by the desk")
        other.write(1, 3, "beside")
    book.close()
    return path


def test_a_workbook_gives_a_record_a_row_of_every_sheet(tmp_path):
    docs = _texts()
    recs, errors = _read(_workbook(tmp_path / "texts.xlsx", docs))
    assert [r.doc_id for r in recs] == [d.doc_id for d in docs] + ["note-1"]
    first = recs[0]
    assert first.text == " ".join(docs[0].sentences[:3]) and first.title == ""
    assert first.meta == {"category": docs[0].meta["category"], "added": "2024-05-01", "reviewed": "TRUE"}
    assert recs[1].meta["reviewed"] == "FALSE" and recs[1].meta["added"] == "2024-05-02"
    assert recs[-1].text == "Reviewed by the desk" and recs[-1].meta == {"D": "beside"}  # no header: its column
    assert [(e.line, e.message) for e in errors] == [(len(docs) + 3, 'missing "id"')], errors  # its row
    recs, errors = _read(tmp_path / "texts.xlsx", fields="id=category")  # --fields names another column
    cats = list(dict.fromkeys(d.meta["category"] for d in docs))
    assert [r.doc_id for r in recs] == cats and len(errors) == len(docs) - len(cats) + 2, errors
    assert errors[-1].message.startswith("sheet 'Notes': missing \"category\"") and errors[-1].line == 2, errors


def test_a_bad_or_empty_workbook_is_one_clear_error(tmp_path):
    from _peak import traced_peak

    good = _workbook(tmp_path / "good.xlsx", _texts(2)).read_bytes()
    (tmp_path / "cut.xlsx").write_bytes(good[:len(good) // 2])
    with zipfile.ZipFile(tmp_path / "other.xlsx", "w") as zf:
        zf.writestr("word/document.xml", "<x/>")
    with zipfile.ZipFile(tmp_path / "good.xlsx") as src, \
            zipfile.ZipFile(tmp_path / "bomb.xlsx", "w", zipfile.ZIP_DEFLATED) as zf:
        for info in src.infolist():
            if info.filename != "xl/sharedStrings.xml":
                zf.writestr(info, src.read(info))
        with zf.open("xl/sharedStrings.xml", "w") as fh:  # 60 MB of zeros in 60 KB
            for _ in range(60):
                fh.write(b"0" * (1 << 20))
    book = xlsxwriter.Workbook(str(tmp_path / "empty.xlsx"))
    book.add_worksheet()
    book.close()
    names = ["cut.xlsx", "other.xlsx", "bomb.xlsx", "empty.xlsx"]
    (recs, errors), peak = traced_peak(lambda: _read([tmp_path / n for n in names], max_bytes=8 << 20))
    got = {e.source.rsplit("/", 1)[1]: e.message for e in errors}
    assert recs == [] and got["cut.xlsx"].startswith("not a readable .xlsx (a zip of XML)"), got
    assert got["other.xlsx"] == "no xl/workbook.xml: not an Excel workbook (.xlsx), or a damaged one"
    assert got["bomb.xlsx"].startswith("xl/sharedStrings.xml inflates to more than") and "zip bomb" in got["bomb.xlsx"]
    assert got["empty.xlsx"] == "empty file (a workbook with no row); nothing to store"
    assert [e.skipped for e in errors] == [False, False, False, True]
    assert peak < 24 << 20, peak


def test_a_workbook_is_recalled_uploaded_and_left_unread_in_a_folder(tmp_path, embedder):
    from core.memory import SemanticMemory
    from core.server.uploads import files_records

    docs = _texts()
    (tmp_path / "data").mkdir()
    path = _workbook(tmp_path / "data" / "texts.xlsx", docs, notes=False)
    recs, errors = _read(tmp_path / "data")  # in a folder: data, as a .csv; the skip line says how to read it
    assert recs == [] and ".xlsx files are read when named" in errors[0].message, errors
    with SemanticMemory(tmp_path / "m", embedder=embedder) as mem:
        rep = mem.ingest(str(path))
        assert rep.documents == len(docs), rep.to_dict()
        hit = mem.recall(docs[2].sentences[1], k=1, mode="similar", where={"reviewed": "TRUE"})[0]
        assert hit.doc_id == docs[2].doc_id and hit.metadata["added"] == "2024-05-03"
    recs, errors, skipped = files_records([("texts.xlsx", path.read_bytes())])
    assert [r.doc_id for r in recs] == [d.doc_id for d in docs] and len(errors) == 1 and not skipped


def _formatted(path, cells, date_1904=False):
    """A sheet "Cells" of rows (id, value, format): each value written as XlsxWriter writes it (a date, a time,
    a duration as Excel's number of days) under its number format (a code, or a built-in format's number)."""
    book = xlsxwriter.Workbook(str(path), {"date_1904": date_1904})
    sheet = book.add_worksheet("Cells")
    sheet.write_row(0, 0, ["id", "text", "shown"])
    for i, (key, value, code) in enumerate(cells, 1):
        sheet.write_row(i, 0, [key, f"cell {key}"])
        style = book.add_format({"num_format": code})
        if isinstance(value, (datetime.date, datetime.time, datetime.timedelta)):
            sheet.write_datetime(i, 2, value, style)
        else:
            sheet.write_number(i, 2, value, style)
    book.close()
    return path


def _shown(path) -> dict:
    recs, errors = _read(path)
    assert errors == []
    return {r.doc_id: r.meta["shown"] for r in recs}


def test_dates_and_times_are_shown_by_their_format_rounded_to_the_second(tmp_path):
    half_past_two = datetime.datetime(2024, 6, 15, 14, 30)  # stored as 45458.604166666664: a hair below 14:30
    cells = [("datetime", half_past_two, "yyyy-mm-dd hh:mm"), ("seconds", half_past_two, "yyyy-mm-dd hh:mm:ss"),
             ("date", half_past_two, "dd/mm/yyyy"), ("iso", datetime.date(2024, 5, 1), "yyyy-mm-dd"),
             ("builtin", datetime.date(2024, 5, 2), 14), ("time", datetime.time(14, 30), "hh:mm"),
             ("early", datetime.date(1900, 1, 15), "yyyy-mm-dd"), ("march", datetime.date(1900, 3, 1), "yyyy-mm-dd"),
             ("late", datetime.datetime(2023, 12, 31, 23, 59, 59, 600000), "yyyy-mm-dd hh:mm:ss"),
             ("hours", datetime.timedelta(hours=36, minutes=15), "[h]:mm")]
    # they were 2024-06-15 14:29:59 (cut, not rounded) thrice, 1899-12-30 14:30:00, 1900-01-14 (Excel's
    # 29 February 1900 counted before March), 2023-12-31 23:59:59 and 1900-01-01 12:15:00
    assert _shown(_formatted(tmp_path / "dates.xlsx", cells)) == {
        "datetime": "2024-06-15 14:30", "seconds": "2024-06-15 14:30:00", "date": "2024-06-15",
        "iso": "2024-05-01", "builtin": "2024-05-02", "time": "14:30", "early": "1900-01-15", "march": "1900-03-01",
        "late": "2024-01-01 00:00:00", "hours": "36:15"}
    cells = [("datetime", half_past_two, "yyyy-mm-dd hh:mm"), ("time", datetime.time(9, 5), "hh:mm"),
             ("early", datetime.date(1904, 1, 15), "yyyy-mm-dd"), ("before", datetime.date(1900, 1, 15), "yyyy-mm-dd")]
    assert _shown(_formatted(tmp_path / "mac.xlsx", cells, date_1904=True)) == {  # time was 1904-01-01 09:05:00
        "datetime": "2024-06-15 14:30", "time": "09:05", "early": "1904-01-15", "before": "1900-01-15"}


def test_percentages_are_shown_as_excel_shows_them_and_other_numbers_as_stored(tmp_path):
    cells = [("tenths", 0.25, "0.0%"), ("whole", 0.5, "0%"), ("half", 0.125, "0%"), ("builtin", 0.03333, 10),
             ("red", -0.075, "[Red]0.0%"), ("money", 1234.5, "$#,##0.00"), ("plain", 7, "0.00")]
    assert _shown(_formatted(tmp_path / "shares.xlsx", cells)) == {  # they were 0.25, 0.5, 0.125, 0.03333, -0.075
        "tenths": "25.0%", "whole": "50%", "half": "13%", "builtin": "3.33%", "red": "-7.5%", "money": "1234.5",
        "plain": "7"}


def test_a_duplicate_id_on_another_sheet_names_both_sheets_and_rows(tmp_path, wiki_docs):
    a = wiki_docs[45]
    book = xlsxwriter.Workbook(str(tmp_path / "two.xlsx"))
    for name, ids in (("Projects", ["p1", "p2"]), ("Notes", ["n1", "p1"])):
        sheet = book.add_worksheet(name)
        sheet.write_row(0, 0, ["id", "text"])
        for i, key in enumerate(ids, 1):
            sheet.write_row(i, 0, [key, a.sentences[i]])
    book.close()
    recs, errors = _read(tmp_path / "two.xlsx")
    assert [(r.doc_id, r.text) for r in recs] == [("p1", a.sentences[1]), ("p2", a.sentences[2]),
                                                  ("n1", a.sentences[1])]
    # it was "duplicate id 'p1' in this ingest (first from two.xlsx)", naming neither sheet nor row
    assert [(e.line, e.message) for e in errors] == [
        (3, "sheet 'Notes': duplicate id 'p1' (first on sheet 'Projects', row 2); skipped")]


def test_a_workbook_of_only_header_rows_is_skipped_as_empty_with_its_reason(tmp_path):
    # a sheet of only its header row gave no record and no word (as a .csv of only its header did)
    book = xlsxwriter.Workbook(str(tmp_path / "head.xlsx"))
    for name in ("One", "Two"):
        book.add_worksheet(name).write_row(0, 0, ["id", "title", "text"])
    book.close()
    recs, errors = _read(tmp_path / "head.xlsx")
    assert recs == [] and [(e.message, e.skipped) for e in errors] == [
        ("empty file (a header row and no rows under it); nothing to store", True)]
