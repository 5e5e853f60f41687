"""CSV and TSV files named to `ingest` (or uploaded) are read as records, a row each, their header naming the
columns (``id``, ``text``, ``title``; ``--fields`` names others; the rest metadata). A named .csv was read as one
text document of all its rows, and refused before that; a folder's stay unread (data).

The files are written by the standard library's csv module from real WikiText articles.
"""
from __future__ import annotations

import csv

from core.memory.readers import ReadError, read_paths

HEADER = ["id", "title", "text", "year"]


def _read(paths, **kw):
    errors: list[ReadError] = []
    return list(read_paths(paths, errors, **kw)), errors


def _table(path, rows, header=HEADER, **kw):
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, **kw)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_a_table_gives_a_record_a_row(tmp_path, wiki_docs):
    arts = wiki_docs[30:36]
    rows = [[f"a{i}", a.title, "\n\n".join(a.sentences[:2]), str(1900 + i)] for i, a in enumerate(arts)]
    _table(tmp_path / "notes.csv", rows[:2])
    _table(tmp_path / "semi.csv", rows[2:4], delimiter=";")  # a European export
    _table(tmp_path / "tabs.tsv", rows[4:], delimiter="\t")
    recs, errors = _read([tmp_path / "notes.csv", tmp_path / "semi.csv", tmp_path / "tabs.tsv"])
    assert errors == []
    assert [(r.doc_id, r.title, r.text, r.meta) for r in recs] == [(i, t, x, {"year": y}) for i, t, x, y in rows]
    assert not any(r.merge for r in recs)  # a cell's paragraphs are its writer's, as a JSONL record's


def test_bad_rows_name_their_line_and_other_columns_are_named_with_fields(tmp_path, wiki_docs):
    a = wiki_docs[36]
    rows = [["r1", a.title, "\n".join(a.sentences[:2]), "1990"],  # lines 2-3: a cell over two lines
            ["r2", "No text", "", ""], ["r3", "Wide", "x", "1", "extra"], ["r1", "Again", "y", ""]]
    recs, errors = _read(_table(tmp_path / "t.csv", rows))
    assert [r.doc_id for r in recs] == ["r1"]
    assert [(e.line, e.message) for e in errors] == [
        (4, 'missing "text" (a string or a list of paragraphs)'), (5, "5 cells under 4 columns"),
        (6, "duplicate id 'r1' (first on line 3); skipped")]
    _table(tmp_path / "other.csv", [["k1", a.sentences[0]]], header=["key", "body"])
    recs, errors = _read(tmp_path / "other.csv")
    assert recs == [] and errors[0].message == ('missing "text" (a string or a list of paragraphs); the object has '
                                                '"key", "body" (name the keys with --fields text=KEY,id=KEY)')
    recs, errors = _read(tmp_path / "other.csv", fields="text=body,id=key")
    assert errors == [] and [(r.doc_id, r.text) for r in recs] == [("k1", a.sentences[0])]


def test_a_folder_leaves_tables_out_and_a_latin1_table_is_one_error(tmp_path, wiki_docs):
    from core.memory._ingest_progress import _expected_documents

    (tmp_path / "data").mkdir()
    _table(tmp_path / "data" / "t.csv", [["a", "T", wiki_docs[37].sentences[0], ""]])
    (tmp_path / "data" / "n.txt").write_text(wiki_docs[38].sentences[0], encoding="utf-8")
    recs, errors = _read(tmp_path / "data")
    assert [r.doc_id for r in recs] == ["n.txt"]
    assert "; .csv, .tsv and .xlsx files are read when named (`mycelial ingest notes.csv`: a record a row)" \
        in errors[0].message
    assert _expected_documents([str(tmp_path / "data" / "t.csv")]) is None
    (tmp_path / "latin.csv").write_bytes("id,text\nl1,Caf\u00e9 notes\n".encode("latin-1"))
    recs, errors = _read(tmp_path / "latin.csv")
    assert recs == [] and errors[0].message.startswith("not valid UTF-8 (invalid continuation byte) after line")
    (tmp_path / "empty.csv").write_text("\n\n", encoding="utf-8")
    recs, errors = _read(tmp_path / "empty.csv")
    assert errors[0].message == "empty file (only whitespace); nothing to store"


def test_an_uploaded_table_keeps_its_ids(tmp_path, wiki_docs):
    from core.server.documents import source_kind
    from core.server.uploads import files_records

    path = _table(tmp_path / "t.csv", [["u1", "One", wiki_docs[39].sentences[0], "2001"]])
    recs, errors, skipped = files_records([("t.csv", path.read_bytes())])
    assert [(r.doc_id, r.source, r.meta) for r in recs] == [("u1", "t.csv", {"year": "2001"})]
    assert not errors and not skipped and source_kind("t.csv", recs[0].meta) == "csv"
