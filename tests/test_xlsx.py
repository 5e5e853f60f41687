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
