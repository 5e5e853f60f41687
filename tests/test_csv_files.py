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
    assert recs == [] and errors[0].message.startswith("not valid UTF-8 (byte 14, line 2: 'Café' if it is")
    (tmp_path / "empty.csv").write_text("\n\n", encoding="utf-8")
    (tmp_path / "spaces.csv").write_text("  \n", encoding="utf-8")  # it gave no record and no word
    recs, errors = _read([tmp_path / "empty.csv", tmp_path / "spaces.csv"])
    assert [e.message for e in errors] == ["empty file (only whitespace); nothing to store"] * 2


def test_an_uploaded_table_keeps_its_ids(tmp_path, wiki_docs):
    from core.server.documents import source_kind
    from core.server.uploads import files_records

    path = _table(tmp_path / "t.csv", [["u1", "One", wiki_docs[39].sentences[0], "2001"]])
    recs, errors, skipped = files_records([("t.csv", path.read_bytes())])
    assert [(r.doc_id, r.source, r.meta) for r in recs] == [("u1", "t.csv", {"year": "2001"})]
    assert not errors and not skipped and source_kind("t.csv", recs[0].meta) == "csv"


def test_a_gzipped_table_gives_a_record_a_row_streamed(tmp_path, wiki_docs):
    import gzip

    arts = wiki_docs[40:44]
    rows = [[f"g{i}", a.title, a.sentences[0], str(2000 + i)] for i, a in enumerate(arts)]
    for name, delimiter, part in (("data.csv.gz", ",", rows[:2]), ("data.tsv.gz", "\t", rows[2:])):
        with gzip.open(tmp_path / name, "wt", encoding="utf-8", newline="") as fh:
            csv.writer(fh, delimiter=delimiter).writerows([HEADER, *part])
    recs, errors = _read([tmp_path / "data.csv.gz", tmp_path / "data.tsv.gz"])
    # it was one text document of all its rows, titled "data"
    assert errors == [] and [(r.doc_id, r.title, r.text, r.meta) for r in recs] == [(i, t, x, {"year": y})
                                                                                  for i, t, x, y in rows]
    many = [[f"m{i}", "", " ".join(wiki_docs[i % 100].sentences[:3]), ""] for i in range(3000)]
    with gzip.open(tmp_path / "cut.csv.gz", "wt", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([HEADER, *many])
    data = (tmp_path / "cut.csv.gz").read_bytes()
    (tmp_path / "cut.csv.gz").write_bytes(data[:len(data) // 2])
    recs, errors = _read(tmp_path / "cut.csv.gz")  # the rows before the damage are kept
    assert 0 < len(recs) < 3000 and [r.doc_id for r in recs] == [f"m{i}" for i in range(len(recs))]
    assert [e.message for e in errors] == ["damaged gzip file (Compressed file ended before the end-of-stream "
                                           "marker was reached); check it with `gzip -t`"]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "t.csv.gz").write_bytes((tmp_path / "data.csv.gz").read_bytes())
    recs, errors = _read(tmp_path / "data")  # in a folder: data, as a .csv
    assert recs == [] and "; .csv, .tsv and .xlsx files are read when named" in errors[0].message, errors


def test_a_gzipped_workbook_is_told_to_gunzip_it(tmp_path):
    import gzip
    import zipfile

    from core.memory._formats import READS_NAMED

    with zipfile.ZipFile(tmp_path / "book.xlsx", "w") as zf:
        zf.writestr("xl/workbook.xml", "<workbook/>")
    (tmp_path / "book.xlsx.gz").write_bytes(gzip.compress((tmp_path / "book.xlsx").read_bytes()))
    recs, errors = _read(tmp_path / "book.xlsx.gz")
    # it said "its start is binary (NUL bytes); expected ... .xlsx or other UTF-8 text, gzipped too"
    assert recs == [] and [e.message for e in errors] == [
        f"unsupported file type '.xlsx.gz'; expected {READS_NAMED}; .xlsx.gz files are read only decompressed: "
        f"`gunzip -k FILE` first"]


def test_a_utf16_table_is_read_and_a_windows_1252_one_names_its_line(tmp_path, wiki_docs):
    a = wiki_docs[44]
    with open(tmp_path / "unicode.csv", "w", encoding="utf-16", newline="") as fh:  # Excel's "Unicode Text"
        csv.writer(fh, delimiter="\t").writerows([["id", "text"], ["z1", "Zürich, 日本: " + a.sentences[0]]])
    recs, errors = _read(tmp_path / "unicode.csv")
    # it was "not valid UTF-8 (invalid start byte) after line 0"
    assert errors == [] and [(r.doc_id, r.text) for r in recs] == [("z1", "Zürich, 日本: " + a.sentences[0])]
    (tmp_path / "cp1252.csv").write_bytes("id,text\nw1,plain words\nw2,Café crème\n".encode("cp1252"))
    recs, errors = _read(tmp_path / "cp1252.csv")
    assert recs == [] and [e.message for e in errors] == [  # it said "after line 0"
        "not valid UTF-8 (byte 29, line 3: 'Café' if it is Windows-1252 or Latin-1); re-encode the file as UTF-8: "
        "iconv -f CP1252 -t UTF-8 in.csv > out.csv"]


def test_a_table_of_only_its_header_is_skipped_as_empty_with_its_reason(tmp_path, wiki_docs):
    from click.testing import CliRunner

    from core.cli import cli

    _table(tmp_path / "head.csv", [])  # an export of an empty sheet: it gave no record and no word
    _table(tmp_path / "blank.tsv", [["", "", "", ""]], delimiter="\t")  # a row without a cell is no row
    _table(tmp_path / "real.csv", [["k1", "Kept", wiki_docs[45].sentences[0], ""]])
    recs, errors = _read([tmp_path / "head.csv", tmp_path / "blank.tsv", tmp_path / "real.csv"])
    assert [r.doc_id for r in recs] == ["k1"]
    assert [(e.source, e.message, e.skipped) for e in errors] == [
        (str(tmp_path / name), "empty file (a header row and no rows under it); nothing to store", True)
        for name in ("head.csv", "blank.tsv")]
    r = CliRunner().invoke(cli, ["ingest", str(tmp_path / "head.csv"), "--memory", str(tmp_path / "mem"), "-q"])
    assert r.exit_code == 0 and "skipped 1 empty file" in r.output, r.output
    assert f"skipped: {tmp_path / 'head.csv'}: empty file (a header row and no rows under it)" in r.output


def test_a_semicolon_table_with_one_ragged_row_keeps_its_good_rows(tmp_path, wiki_docs):
    # rows of unequal lengths defeat csv.Sniffer, and the fallback ',' made every row one cell: all were refused
    arts = wiki_docs[40:42]
    rows = [[f"s{i}", a.title, a.sentences[0], "1990"] for i, a in enumerate(arts)] + [["s9", "Wide", "x", "1", "5"]]
    recs, errors = _read(_table(tmp_path / "semi.csv", rows, delimiter=";"))
    assert [r.doc_id for r in recs] == ["s0", "s1"]
    assert [(e.line, e.message) for e in errors] == [(4, "5 cells under 4 columns")]
