"""Windows (CRLF) and old-Mac (CR alone) line ends read as "\\n" line ends are.

Before: the readers split lines and paragraphs at "\\n" only, so a file saved with "\\r" line ends (classic Mac OS,
some exports) was one paragraph of glued lines: its Markdown front matter and headings went unseen, an e-mail's
paragraphs ran together, a <pre>'s lines were joined, and a JSONL or CSV record's "\\r\\r" broke no paragraph."""
from __future__ import annotations

import io

import pytest

from core.memory.chunking import chunk_text
from core.memory.readers import read_paths, read_stream
from core.text import newlines
from _memory_helpers import read_one

NOTE = "# Rivers\n\nThe Danube flows east.\nIt passes four capitals.\n\nThe Rhine flows north.\n"


def test_newlines_makes_every_line_end_a_newline():
    assert newlines("a\r\nb\rc\n\rd") == "a\nb\nc\n\nd" and newlines("plain\n") == "plain\n"


@pytest.mark.parametrize("name, end", [("rivers.txt", "\r"), ("rivers.txt", "\r\n"), ("rivers.md", "\r")])
def test_a_text_file_keeps_its_lines_and_paragraphs_whatever_its_line_ends(tmp_path, name, end):
    (tmp_path / name).write_bytes(NOTE.replace("\n", end).encode())
    rec = read_one(tmp_path / name)
    assert "\r" not in rec.text and rec.text.rstrip("\n") == NOTE.rstrip("\n")
    assert chunk_text(rec.text, target_tokens=None) == [
        "# Rivers", "The Danube flows east. It passes four capitals.", "The Rhine flows north."]


def test_a_markdown_notes_front_matter_is_its_title_with_old_mac_line_ends(tmp_path):
    (tmp_path / "n.md").write_bytes(b"---\rtitle: Danube notes\r---\rThe Danube flows east.\r")
    rec = read_one(tmp_path / "n.md")
    assert (rec.title, rec.text.strip()) == ("Danube notes", "The Danube flows east.")


def test_an_html_pages_preformatted_lines_stay_lines(tmp_path):
    (tmp_path / "p.html").write_bytes(b"<html><title>Cmds</title><body><pre>make\rmake install</pre></body></html>")
    assert read_one(tmp_path / "p.html").text == "    make\n    make install"


def test_an_e_mail_with_old_mac_line_ends_keeps_its_paragraphs(tmp_path):
    msg = b"From: ann@example.org\rTo: bob@example.org\rSubject: Rivers\r\rThe Danube.\r\rThe Rhine.\r"
    (tmp_path / "m.eml").write_bytes(msg)
    rec = read_one(tmp_path / "m.eml")
    assert rec.title == "Rivers" and rec.text.endswith("The Danube.\n\nThe Rhine.")
    errors: list = []  # piped: still an e-mail message, not a text of headers
    (piped,) = read_stream(io.TextIOWrapper(io.BytesIO(msg)), errors)
    assert errors == [] and piped.title == "Rivers" and piped.text.endswith("The Danube.\n\nThe Rhine.")


def test_piped_text_with_old_mac_line_ends_keeps_its_front_matter_title():
    for fh in (io.TextIOWrapper(io.BytesIO(b"---\rtitle: Rivers\r---\rThe Danube.\r")),
               io.StringIO("---\rtitle: Rivers\r---\rThe Danube.\r")):
        errors: list = []
        (rec,) = read_stream(fh, errors)
        assert errors == [] and (rec.title, rec.text.strip()) == ("Rivers", "The Danube.")


def test_a_records_carriage_returns_end_its_paragraphs():
    assert chunk_text("The Danube flows east.\r\rThe Rhine flows north.", target_tokens=None) == [
        "The Danube flows east.", "The Rhine flows north."]


def test_a_not_utf8_error_counts_old_mac_lines_and_names_the_word(tmp_path):
    (tmp_path / "old.txt").write_bytes(b"one\rtwo\rcaf\xe9\rfour\r")
    errors: list = []
    assert list(read_paths(tmp_path / "old.txt", errors)) == []
    assert "byte 11, line 3: 'caf\u00e9' if it is Windows-1252" in errors[0].message, errors


def test_a_large_jsonl_file_streamed_splits_records_at_every_line_end(tmp_path):
    # a JSONL file over the one-file limit is read a line at a time: it split at b"\n" only, so a file with
    # old-Mac line ends was one line over the limit ("line is longer than ... bytes; skipped"), all lost
    import gzip

    from core.memory.readers import read_file

    lines = [b'{"id": "a", "text": "The Danube flows east."}', b'{not json', b'',
             b'{"id": "b", "text": "The Rhine flows north."}', b'{"id": "c", "text": "The Elbe."}']
    for name, end in (("mac.jsonl", b"\r"), ("mixed.jsonl", b"\r\n"), ("mixed.jsonl.gz", b"\r")):
        data = lines[0] + b"\r\n" + end.join(lines[1:]) + end
        path = tmp_path / name
        path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
        (tmp_path / "whole.jsonl").write_bytes(data)
        got, want = [], []  # streamed (limit 60 bytes, each line under it), and read whole
        recs = [(r.doc_id, r.text) for r in read_file(path, got, max_bytes=60)]
        assert recs == [(r.doc_id, r.text) for r in read_file(tmp_path / "whole.jsonl", want)], name
        assert [r[0] for r in recs] == ["a", "b", "c"] and path.stat().st_size > 60, name
        assert [(e.line, e.message) for e in got] == [(e.line, e.message) for e in want] and got[0].line == 2, got
    # a CRLF cut between two blocks is one line end
    from core.memory._jsonl import ended_pieces

    pieces = list(ended_pieces([b"a\r", b"\nb\rc", b"\r", b"d"]))
    assert pieces == [(b"a\n", True), (b"b\n", True), (b"c", False), (b"\n", True), (b"d", False)]
