"""Readers: each format, folders, stdin, and every kind of bad input reported with its place."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.memory.readers import ReadError, parse_record, read_paths, read_stream
from _memory_helpers import write_pdf


def _read(paths, **kw):
    errors: list[ReadError] = []
    return list(read_paths(paths, errors, **kw)), errors


def test_txt_and_md(tmp_path):
    (tmp_path / "a.txt").write_text("Plain text about rivers.", encoding="utf-8")
    (tmp_path / "b.md").write_text("# Mountains\n\nThe Alps are high.", encoding="utf-8")
    recs, errors = _read([tmp_path / "a.txt", tmp_path / "b.md"])
    assert errors == []
    assert [r.title for r in recs] == ["a", "Mountains"]
    assert recs[0].text == "Plain text about rivers."
    assert recs[0].doc_id == str((tmp_path / "a.txt").resolve())


def test_pdf_text_is_extracted(tmp_path):
    write_pdf(tmp_path / "p.pdf", ["The Danube flows east.", "Vienna lies on it."])
    recs, errors = _read(tmp_path / "p.pdf")
    assert errors == []
    assert "Danube flows east" in recs[0].text and "Vienna" in recs[0].text


def test_broken_pdf_is_reported(tmp_path):
    (tmp_path / "x.pdf").write_bytes(b"%PDF-1.4\nthis is not a pdf body")
    recs, errors = _read(tmp_path / "x.pdf")
    assert recs == [] and len(errors) == 1 and "x.pdf" in str(errors[0])


def test_a_password_protected_pdf_says_so(tmp_path):
    # was "unreadable PDF (File has not been decrypted)", as if the file were damaged
    from pypdf import PdfReader, PdfWriter

    write_pdf(tmp_path / "p.pdf", ["The Danube flows east."])
    w = PdfWriter()
    for page in PdfReader(tmp_path / "p.pdf").pages:
        w.add_page(page)
    w.encrypt(user_password="secret", owner_password="owner")
    w.write(tmp_path / "locked.pdf")
    recs, errors = _read(tmp_path / "locked.pdf")
    assert recs == [] and len(errors) == 1 and "PDF is password-protected" in errors[0].message, errors


def test_utf16_without_a_byte_order_mark_is_named(tmp_path):
    # was "binary file (NUL bytes); expected UTF-8 text" for a text file written as UTF-16 without a BOM
    (tmp_path / "le.txt").write_bytes("Die Straße führt nach München.".encode("utf-16-le"))
    (tmp_path / "be.txt").write_bytes("Plain text about rivers.".encode("utf-16-be"))
    (tmp_path / "bin.txt").write_bytes(bytes(range(256)) * 4)
    _, errors = _read(tmp_path)
    by = {e.source.rsplit("/", 1)[-1]: e.message for e in errors}
    assert "UTF-16 text without a byte order mark" in by["le.txt"] and "UTF-16LE" in by["le.txt"], by
    assert "UTF-16BE" in by["be.txt"] and by["bin.txt"] == "binary file (NUL bytes); expected UTF-8 text", by


def test_broken_pdf_prints_nothing_but_its_error(tmp_path):
    # pypdf logs "invalid pdf header" / "EOF marker not found"; with no logging configured Python's
    # last-resort handler printed them to the user's terminal beside our one-line error
    (tmp_path / "x.pdf").write_bytes(b"not a pdf")
    code = ("import sys; from pathlib import Path; from core.memory.readers import read_paths; e = []; "
            "list(read_paths([Path(sys.argv[1])], e)); print(len(e))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "x.pdf")], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "1"
    assert out.stderr == ""


def test_jsonl_bad_lines_reported_with_line_numbers_rest_ingested(tmp_path):
    lines = [json.dumps({"id": "a", "text": "first", "title": "A", "year": 1999}),
             "{not json",
             json.dumps({"id": "b"}),
             "",
             json.dumps({"text": "no id"}),
             json.dumps([1, 2]),
             json.dumps({"id": "c", "text": "third", "metadata": {"k": 1}})]
    (tmp_path / "r.jsonl").write_text("\n".join(lines), encoding="utf-8")
    recs, errors = _read(tmp_path / "r.jsonl")
    assert [r.doc_id for r in recs] == ["a", "c"]
    assert recs[0].meta == {"year": 1999} and recs[1].meta == {"k": 1}
    assert [e.line for e in errors] == [2, 3, 5, 6]
    assert "malformed JSON" in errors[0].message and '"text"' in errors[1].message
    assert str(errors[0]).startswith(str(tmp_path / "r.jsonl") + ":2:")


def test_metadata_that_is_not_an_object_is_an_error_not_dropped():
    # {"id", "text", "metadata": "news"} was stored with no metadata and no word (the string was dropped)
    with pytest.raises(ValueError, match='"metadata" must be a JSON object of keys and values, got str'):
        parse_record({"id": "a", "text": "x", "metadata": "news"}, "r.jsonl", 1)
    with pytest.raises(ValueError, match="got list"):
        parse_record({"id": "a", "text": "x", "metadata": ["news"]}, "r.jsonl", 1)
    assert parse_record({"id": "a", "text": "x", "year": 1, "metadata": None}, "r.jsonl", 1).meta == {"year": 1}
    assert parse_record({"id": "a", "text": "x", "year": 1, "metadata": {"k": 2}}, "r.jsonl", 1).meta == \
        {"year": 1, "k": 2}


def test_markdown_front_matter_is_neither_text_nor_hides_the_title(tmp_path):
    # a Jekyll/Hugo/Obsidian note: its front matter became a chunk of its own ("--- title: Copper Aqueduct
    # tags: [history] ---", embedded and mined for concepts) and the file's stem became the title
    (tmp_path / "aq.md").write_text("---\ntitle: \"Copper Aqueduct\"\ntags: [history]\n---\n\n# The aqueduct\n\n"
                                    "Orla Finch designed it in 1821.\n", encoding="utf-8")
    (tmp_path / "bell.md").write_text("---\nlayout: post\n---\n# Harbour bell\nVask rings it.\n", encoding="utf-8")
    (tmp_path / "rule.md").write_text("---\nSome prose\n---\nMore.\n", encoding="utf-8")  # rules, not YAML
    (tmp_path / "only.md").write_text("---\ntitle: Empty\n---\n", encoding="utf-8")
    recs, errors = _read(tmp_path)
    by_id = {r.doc_id: r for r in recs}
    assert by_id["aq.md"].title == "Copper Aqueduct" and by_id["aq.md"].text.strip().startswith("# The aqueduct")
    assert by_id["bell.md"].title == "Harbour bell" and "layout" not in by_id["bell.md"].text
    assert by_id["rule.md"].text.startswith("---\nSome prose") and by_id["rule.md"].title == "rule"
    # a note made from a template holds only its front matter: skipped as an empty file (it was an error)
    assert [e.message for e in errors if e.skipped] == ["empty file (only front matter); nothing to store"]
    assert [e for e in errors if not e.skipped] == [] and "only.md" not in by_id
    piped = list(read_stream(io.StringIO((tmp_path / "aq.md").read_text(encoding="utf-8")), []))
    assert piped[0].title == "Copper Aqueduct" and "tags:" not in piped[0].text
    # piped, it was stored as the text "--- title: Empty ---"
    errors = []
    assert list(read_stream(io.StringIO((tmp_path / "only.md").read_text(encoding="utf-8")), errors)) == []
    assert [(e.message, e.skipped) for e in errors] == [("empty input (only front matter); nothing to store", True)]


def test_folder_is_recursive_and_skips_other_suffixes(tmp_path):
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / "sub" / "deeper" / "n.md").write_text("Deep note.", encoding="utf-8")
    (tmp_path / "top.txt").write_text("Top note.", encoding="utf-8")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\x00\x00")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref: x", encoding="utf-8")  # hidden: neither read nor counted
    recs, errors = _read(tmp_path)
    assert sorted(r.text for r in recs) == ["Deep note.", "Top note."]
    # the unsupported file is counted and reported, as skipped (not an error)
    assert [(e.skipped, e.message.split(";")[0]) for e in errors] == [(True, "skipped 1 unsupported file (.png 1)")]
    # ids are relative to the ingested folder, which the meta records
    assert sorted(r.doc_id for r in recs) == ["sub/deeper/n.md", "top.txt"]
    assert {r.meta["root"] for r in recs} == {str(tmp_path.resolve())}


@pytest.mark.parametrize("content, message", [
    (b"", "empty file"),
    (b"   \n\t\n", "only whitespace"),
    (b"abc\x00\x01\x02binary", "binary"),
    (b"caf\xe9 au lait\nsecond line \xff", "not valid UTF-8"),
])
def test_bad_files_are_reported(tmp_path, content, message):
    p = tmp_path / "bad.txt"
    p.write_bytes(content)
    (tmp_path / "good.txt").write_text("Fine text.", encoding="utf-8")
    recs, errors = _read([p, tmp_path / "good.txt"])
    assert [r.text for r in recs] == ["Fine text."]
    assert len(errors) == 1 and message in errors[0].message and errors[0].source == str(p)


def test_utf16_text_with_a_byte_order_mark_is_read(tmp_path):
    # Windows PowerShell 5 writes `Get-Content a.txt > notes.txt` as UTF-16 LE with a BOM: it was
    # "binary file (NUL bytes); expected UTF-8 text"
    text = "Caf\u00e9 notes: the cr\u00e8me br\u00fbl\u00e9e of Z\u00fcrich.\r\nSecond line."
    (tmp_path / "le.txt").write_bytes(text.encode("utf-16"))  # BOM + native (little-endian) order
    (tmp_path / "be.md").write_bytes(b"\xfe\xff" + ("# Title\n\n" + text).encode("utf-16-be"))
    (tmp_path / "recs.jsonl").write_bytes('{"id": "r1", "text": "Z\u00fcrich trams"}\n'.encode("utf-16"))
    (tmp_path / "odd.txt").write_bytes(b"\xff\xfe" + "ab".encode("utf-16-le") + b"\x00")  # odd length: not UTF-16
    recs, errors = _read(tmp_path)
    by_id = {r.doc_id: r for r in recs}
    assert by_id["le.txt"].text == text.replace("\r\n", "\n")  # line ends as "\n" (core.text.newlines)
    assert by_id["be.md"].title == "Title" and by_id["r1"].text == "Z\u00fcrich trams"
    assert [(e.source, e.message) for e in errors] == [(str(tmp_path / "odd.txt"), "not valid UTF-16 (truncated data)")]


def test_utf32_with_its_byte_order_mark_is_read_not_taken_for_utf16(tmp_path):
    # UTF-32's little-endian mark opens with UTF-16's: the text was stored with a NUL between each two letters
    (tmp_path / "le.txt").write_bytes("Z\u00fcrich trams.\r\n".encode("utf-32"))
    (tmp_path / "rows.csv").write_bytes("id,text\r\nr1,Z\u00fcrich trams\r\n".encode("utf-32"))
    errors: list = []
    recs = list(read_paths([tmp_path / "le.txt", tmp_path / "rows.csv"], errors))
    assert errors == [] and [r.text for r in recs] == ["Z\u00fcrich trams.\n", "Z\u00fcrich trams"]


def test_a_json_array_in_a_jsonl_file_is_one_error(tmp_path):
    import json

    # a pretty-printed JSON array saved as .jsonl gave one "malformed JSON" error per line (6 a record:
    # 60,000 lines of errors for 10,000 records), a compact one "expected a JSON object, got list"
    recs = [{"id": f"r{i}", "text": f"Record {i} about the trams of Lisbon."} for i in range(3)]
    (tmp_path / "pretty.jsonl").write_text(json.dumps(recs, indent=2), encoding="utf-8")
    (tmp_path / "compact.jsonl").write_text(json.dumps(recs) + "\n", encoding="utf-8")
    got, errors = _read(tmp_path)
    assert got == [] and len(errors) == 2, [str(e) for e in errors]
    assert all("a JSON array, not JSON Lines" in e.message and "jq -c" in e.message for e in errors)


def test_a_pretty_printed_json_object_in_a_jsonl_file_is_one_error(tmp_path):
    # a .json renamed .jsonl (HotpotQA's corpus: 6,129 errors) or one pretty-printed record gave a
    # "malformed JSON" error a line
    corpus = {"d1": {"title": "Graz", "text": "Graz lies on the Mur."}, "d2": {"text": "Wien lies on the Danube."}}
    (tmp_path / "corpus.jsonl").write_text(json.dumps(corpus, indent=2), encoding="utf-8")
    (tmp_path / "record.jsonl").write_text(json.dumps(corpus["d1"] | {"id": "g"}, indent=2), encoding="utf-8")
    (tmp_path / "ok.jsonl").write_text('{"id": "w",\n"text": "x"}\n{"id": "v", "text": "Vaduz."}\n', encoding="utf-8")
    got, errors = _read(sorted(tmp_path.iterdir()))
    msgs = [e.message for e in errors]
    assert [r.doc_id for r in got] == ["v"] and len(msgs) == 4, msgs  # real JSONL keeps its line errors
    assert msgs[0].startswith("holds one JSON object over several lines") and "to_entries[]" in msgs[0], msgs
    assert msgs[1].startswith("malformed JSON") and msgs[2].startswith("malformed JSON"), msgs
    assert msgs[3].startswith("holds one JSON object over several lines") and "jq -c . FILE" in msgs[3], msgs
    assert "or name it .json (read as JSON)" in msgs[0]


def test_non_utf8_names_the_line_and_the_word_as_windows_1252_reads_it(tmp_path):
    # 15 files of /usr/share/doc are Latin-1 (ed's AUTHORS: "François"); the error named a byte alone
    (tmp_path / "latin.txt").write_bytes("line one\nline two by François Pinard\n".encode("latin-1"))
    (tmp_path / "odd.txt").write_bytes(b"line one\nbytes \x81\x8d here\n")  # no Windows-1252 text either
    (tmp_path / "r.jsonl").write_bytes('{"id": "a", "text": "Müller"}\n'.encode("cp1252"))
    lines = "".join(f'{{"id": "b{i}", "text": "x"}}\n' for i in range(50)) + '{"id": "c", "text": "Sören"}\n'
    (tmp_path / "big.jsonl").write_bytes(lines.encode("latin-1"))  # over max_bytes: read a line at a time
    _, errors = _read(sorted(tmp_path.iterdir()), max_bytes=1000)
    assert [(e.source.rsplit("/", 1)[1], e.line, e.message) for e in errors] == [
        ("big.jsonl", 51, "not valid UTF-8 (byte 22 of the line: 'Sören' if it is Windows-1252 or Latin-1); "
                          "re-encode the file as UTF-8"),
        ("latin.txt", None, "not valid UTF-8 (byte 25, line 2: 'François' if it is Windows-1252 or Latin-1); "
                            "re-encode the file as UTF-8: iconv -f CP1252 -t UTF-8 in.txt > out.txt"),
        ("odd.txt", None, "not valid UTF-8 (byte 15, line 2); re-encode the file as UTF-8"),
        ("r.jsonl", None, "not valid UTF-8 (byte 22, line 1: 'Müller' if it is Windows-1252 or Latin-1); "
                          "re-encode the file as UTF-8: iconv -f CP1252 -t UTF-8 in.txt > out.txt")]


def test_huge_file_missing_path_and_unsupported_type(tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("word " * 1000, encoding="utf-8")
    (tmp_path / "x.ods").write_bytes(b"PK")
    recs, errors = _read([big, tmp_path / "missing.md", tmp_path / "x.ods"], max_bytes=1000)
    assert recs == []
    msgs = [e.message for e in errors]
    assert "over the 1,000-byte limit" in msgs[0]
    assert msgs[1] == "no such file or folder"
    assert "unsupported file type '.ods'" in msgs[2] and "jq" not in msgs[2]


def test_a_file_of_another_schema_is_told_what_it_holds(tmp_path):
    # Brown's {"doc_id", "category", "paragraphs"} said only 'missing "text" (a string)' on each of 500 lines;
    # 2WikiMultihopQA's {"title", "text"} only 'missing "id"'
    (tmp_path / "brown.jsonl").write_text(json.dumps({"doc_id": "ca01", "category": "news", "paragraphs": [["A."]]}))
    (tmp_path / "wiki.jsonl").write_text(json.dumps({"title": "Graz", "text": "Graz lies on the Mur."}))
    recs, errors = _read([tmp_path / "brown.jsonl", tmp_path / "wiki.jsonl"])
    assert recs == []
    assert errors[0].message == ('missing "text" (a string or a list of paragraphs); the object has "doc_id", '
                                 '"category", "paragraphs" (name the keys with --fields text=KEY,id=KEY)')
    assert errors[1].message == 'missing "id"; the object has "title" (name the keys with --fields text=KEY,id=KEY)'
    recs, errors = _read([tmp_path / "wiki.jsonl"], fields="id=title")
    assert errors == [] and [(r.doc_id, r.title) for r in recs] == [("Graz", "Graz")]
    with pytest.raises(ValueError, match=r'^missing "id"$'):  # nothing else to name
        parse_record({"text": "x"}, "s")
    # no hint when only the text is missing
    with pytest.raises(ValueError, match=r'^missing "text" \(a string or a list of paragraphs\)$'):
        parse_record({"id": "a", "title": "T"}, "s")


def test_stdin_text_and_jsonl():
    errors: list = []
    recs = list(read_stream(io.StringIO("Some piped text."), errors))
    assert recs[0].text == "Some piped text." and recs[0].doc_id.startswith("stdin-")
    # no placeholder title (a title is embedded with every chunk); a Markdown heading is one
    assert recs[0].title == ""
    assert list(read_stream(io.StringIO("# Rush\n\nA band."), errors))[0].title == "Rush"
    # each piped document gets its own id (a content hash): a second one no longer replaces the first
    other = list(read_stream(io.StringIO("Other piped text."), errors))[0]
    again = list(read_stream(io.StringIO("Some piped text."), errors))[0]
    assert other.doc_id != recs[0].doc_id and again.doc_id == recs[0].doc_id
    recs = list(read_stream(io.StringIO('{"id": 1, "text": "x"}\n{bad\n'), errors))
    assert recs[0].doc_id == "1" and errors[0].line == 2
    list(read_stream(io.StringIO("  "), errors))  # skipped as an empty file is (it was an error)
    assert errors[-1].message == "empty input (only whitespace); nothing to store" and errors[-1].skipped
    list(read_stream(io.StringIO(""), errors))
    assert errors[-1].message == "empty input (0 bytes); nothing to store" and errors[-1].skipped
    # `cat records.json | mycelial ingest -`: a JSON array was stored as one text document holding the JSON
    n = len(errors)  # now its records, as a named .json file's (tests/test_json_files.py)
    assert [r.doc_id for r in read_stream(io.StringIO('[{"id": "a", "text": "x"}]'), errors)] == ["a"]
    assert len(errors) == n


def test_parse_record_rejects_bad_types():
    with pytest.raises(ValueError, match='"title" must be a string'):
        parse_record({"id": "a", "text": "t", "title": 3}, "s")
    with pytest.raises(ValueError, match='"id" must be'):
        parse_record({"id": [1], "text": "t"}, "s")
    with pytest.raises(ValueError, match="empty"):
        parse_record({"id": "a", "text": "  "}, "s")
    # a list of paragraphs is text now (it said 'missing "text"', then "join its paragraphs")
    assert parse_record({"id": "a", "text": ["Graz.", "Linz."]}, "s").text == "Graz.\n\nLinz."
    with pytest.raises(ValueError, match=r'"text" must be a string, a list of paragraphs .*, got int$'):
        parse_record({"id": "a", "text": 7}, "s")
    with pytest.raises(ValueError, match='missing "text"'):
        parse_record({"id": "a", "text": None}, "s")


def test_jsonl_lines_are_split_at_newlines_only(tmp_path, monkeypatch):
    # json.dumps(ensure_ascii=False) writes U+2028, U+2029 and U+0085 raw (valid JSON); str.splitlines()
    # split records there: each became "malformed JSON" and the line numbers after it were wrong
    rows = [{"id": "a", "text": "Vienna.\u2028Graz."}, {"id": "b", "text": "Linz \u0085 Wels."},
            {"id": "c", "text": "Salzburg \u2029 Innsbruck."}, {"id": "d"}]
    body = "\r\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n"
    (tmp_path / "r.jsonl").write_text(body, encoding="utf-8", newline="")
    recs, errors = _read(tmp_path / "r.jsonl")
    assert [r.doc_id for r in recs] == ["a", "b", "c"] and recs[0].text == "Vienna.\u2028Graz."
    assert [(e.line, e.message) for e in errors] == [(4, 'missing "text" (a string or a list of paragraphs)')]
    monkeypatch.setattr("sys.stdin", io.StringIO(body))
    recs, errors = _read(["-"])
    assert [r.doc_id for r in recs] == ["a", "b", "c"] and [e.line for e in errors] == [4]


def test_jsonl_over_the_file_limit_is_read_line_by_line(tmp_path):
    # a JSONL corpus over the 50 MB file limit was refused whole ("split it"), though its records are
    # small and read one by one; a bad line in it costs that line only
    lines = [json.dumps({"id": f"r{i}", "text": f"Record {i} about the river Inn."}) for i in range(40)]
    body = "\ufeff" + "\n".join(lines[:10]) + "\n{bad\n" + "\n".join(lines[10:]) + "\n"
    path = tmp_path / "big.jsonl"
    path.write_bytes(body.encode("utf-8")[:-200] + b"\xff" + body.encode("utf-8")[-200:])
    recs, errors = _read(path, max_bytes=500)
    assert len(recs) == 39 and recs[0].doc_id == "r0"
    assert [e.line for e in errors] == [11, body.encode("utf-8")[:-200].count(b"\n") + 1]
    assert "UTF-8" in errors[1].message
    (tmp_path / "big.txt").write_text("x" * 600, encoding="utf-8")
    recs, errors = _read(tmp_path / "big.txt", max_bytes=500)
    assert recs == [] and "limit" in errors[0].message


@pytest.mark.parametrize("front, title", [
    ("title: 'It''s Rome'", "It's Rome"),  # was "It''s Rome"
    ('title: "Say \\"ave\\""', 'Say "ave"'),  # was 'Say \\"ave\\"'
    ("title: >\n  The folded\n  title", "The folded title"),  # was ">"
    ("title: |-\n  Literal", "Literal"),  # was "|-"
    ("title: Rome # draft", "Rome"),  # a YAML comment
    ("title: C# in Rome", "C# in Rome"),
    ('title: "Nero: the last"\r\ntags: [a]', "Nero: the last"),  # CRLF
    ("title: Plain", "Plain"),
])
def test_front_matter_title_is_read_as_yaml_reads_it(front, title):
    from core.memory._markdown import markdown_parts

    text = f"---\n{front}\n---\nBody about the Senate.\n"
    assert markdown_parts(text) == (title, "Body about the Senate.\n")


def test_a_json_file_over_the_limit_is_told_the_jq_that_keeps_its_keys(tmp_path):
    # a corpus keyed by id ({"d1": {...}}) must not be told `jq -c '.[]'`, the array fix, which drops the ids
    corpus = {"d1": {"title": "Graz", "text": "Graz lies on the Mur."}, "d2": {"text": "Wien lies on the Danube."}}
    (tmp_path / "corpus.json").write_text(json.dumps(corpus, indent=2), encoding="utf-8")
    (tmp_path / "list.json").write_bytes(b"\xef\xbb\xbf \n" + json.dumps([{"id": "a", "text": "Graz."}] * 9).encode())
    big = tmp_path / "big.json"  # 8 GB, sparse: the hint reads its head only
    with open(big, "wb") as f:
        f.write(b'{"x": "')
        f.truncate(8 << 30)
    _, errors = _read([tmp_path / "corpus.json", tmp_path / "list.json", big], max_bytes=100)
    obj, arr, huge = (e.message for e in errors)
    size = (tmp_path / "corpus.json").stat().st_size
    assert obj.startswith(f"file is {size} bytes, over the 100-byte limit of a JSON file (read whole)"), obj
    assert "to_entries[] | {id: .key} + .value" in obj and "'.[]'" not in obj
    assert "jq -c '.[]'" in arr and "to_entries" not in arr
    assert huge.startswith(f"file is {8 << 30:,} bytes") and huge.endswith(obj.split("none: ")[1])
    jq = __import__("shutil").which("jq")
    if jq is None:
        return
    command = obj.split("`")[1].replace("FILE > records.jsonl", str(tmp_path / "corpus.json"))
    out = subprocess.run(command, shell=True, capture_output=True, text=True, check=True).stdout
    (tmp_path / "records.jsonl").write_text(out, encoding="utf-8")
    recs, errors = _read([tmp_path / "records.jsonl"])
    assert errors == [] and [(r.doc_id, r.title) for r in recs] == [("d1", "Graz"), ("d2", "")]


def test_a_huge_line_of_a_large_jsonl_file_is_one_error_in_bounded_memory(tmp_path):
    # a JSONL file over the one-file limit was split by iterating it: a line of 100 MB (a dump without newlines)
    # was read into memory whole, and one of several GB took the machine down
    from _peak import traced_peak

    path = tmp_path / "dump.jsonl"
    with open(path, "wb") as fh:
        fh.write(b'{"id": "a", "text": "Before the long line."}\n')
        for _ in range(100):
            fh.write(b"x" * (1 << 20))
        fh.write(b'\n{"id": "b", "text": "After it."}\n' + b'{"id": "c", "text": "' + b"y" * 900 + b'"}\n')
    (recs, errors), peak = traced_peak(lambda: _read(path, max_bytes=1 << 20))
    assert [r.doc_id for r in recs] == ["a", "b", "c"]  # a line up to the limit is read
    assert [(e.line, e.message) for e in errors] == [
        (2, "line is longer than 1,048,576 bytes, the limit for one record; skipped")]
    assert peak < 8 << 20, peak
