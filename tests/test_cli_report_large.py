"""`mycelial ingest`'s report on a large folder: 65 /usr/share/doc package folders printed "14949 chunks",
`--sync` printed one line per forgotten document (hundreds), and said "no longer in" the folder of files
still there but now skipped (a link to a file read under its own name, an emptied or re-encoded file)."""
from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from core.cli import cli

PACKAGES = 1030  # one README each: over a thousand documents and chunks


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def doc(tmp_path_factory, wiki_sample):
    """A /usr/share/doc of 1,030 package folders holding a README of one real WikiText sentence, beside
    1,000 files it does not read (.awk examples) and 1,000 empty ones. The sentences are wiki_sample's, whose
    vectors the session's cache holds: two sentences a README were new text, ~1,030 embedded each session."""
    sentences = list(dict.fromkeys(s for s in wiki_sample[0] if len(s) > 40))
    assert len(sentences) >= PACKAGES
    root = tmp_path_factory.mktemp("large") / "doc"
    for i in range(PACKAGES):
        (root / f"pkg{i:04d}").mkdir(parents=True)
        (root / f"pkg{i:04d}" / "README").write_text(f"{sentences[i]}\n", encoding="utf-8")
    (root / "mawk" / "examples").mkdir(parents=True)
    for i in range(1000):
        (root / "mawk" / "examples" / f"ex{i}.awk").write_text("{ print $1 }\n", encoding="utf-8")
        (root / "mawk" / f"TODO{i}").write_bytes(b"")
    return root


@pytest.fixture(scope="module")
def ingested(doc):
    """The memory of ``doc`` and its first ingest's result, made once (the sync test changes both last)."""
    mem = doc.parent / "mem"
    r = _run("ingest", doc, "--memory", mem, "-q")
    assert r.exit_code == 0, r.output
    return mem, r


def test_the_summary_and_skip_lines_separate_thousands(ingested):
    r = ingested[1]
    assert re.search(r"^1,030 documents ingested \((1,0\d\d) chunks: \1 new, 0 duplicates\), 0 unchanged, 0 replaced, "
                     r"0 errors, skipped 1,000 empty files, ", r.output, re.M), r.output  # "1030 documents (1046 ..."
    assert "skipped 1,000 unsupported files (.awk 1,000)" in r.output, r.output
    assert "skipped: 997 more empty files" in r.output, r.output


def test_repair_separates_thousands(ingested):
    r = _run("repair", "--memory", ingested[0])
    assert r.exit_code == 0, r.output
    assert re.search(r"rebuilt .*: 1,030 documents, (1,0\d\d) chunks, \1 index vectors, \d{1,3}(,\d{3})* network "
                     r"events", r.output), r.output  # "1046 index vectors, 2092 network events"


def test_sync_names_ten_counts_the_rest_and_tells_deleted_from_now_skipped(doc, ingested):
    mem = ingested[0]
    for i in range(25):  # deleted for real
        (doc / f"pkg{i:04d}" / "README").unlink()
    for i in (100, 101):  # dpkg's way: a package's file replaced by a link to another package's
        (doc / f"pkg{i:04d}" / "README").unlink()
        (doc / f"pkg{i:04d}" / "README").symlink_to(f"../pkg{i + 100:04d}/README")
    (doc / "pkg0300" / "README").write_bytes(b"")  # emptied
    (doc / "pkg0301" / "README").write_bytes("Caf\u00e9 Tacuba toured Mexico in 1996.\n".encode("latin-1"))
    r = _run("ingest", doc, "--memory", mem, "-q", "--sync")
    assert r.exit_code == 0, r.output
    deleted = re.findall(r"^forgot (\S+) \(no longer in ", r.output, re.M)
    assert deleted == [f"pkg{i:04d}/README" for i in range(10)], r.output  # ten named, not 25 lines
    assert f"forgot 15 more documents no longer in {doc} (-v names them all)" in r.output, r.output
    assert "forgot pkg0100/README (now skipped: link to pkg0200/README, read under that name)" in r.output, r.output
    assert "forgot pkg0101/README (now skipped: link to pkg0201/README, read under that name)" in r.output
    assert "forgot pkg0300/README (now skipped: empty file)" in r.output, r.output
    assert "forgot pkg0301/README (now skipped: not UTF-8 text)" in r.output, r.output
    assert f"sync {doc}: 29 documents forgotten (4 still in it, now skipped)" in r.output, r.output
    assert "0 documents ingested (0 chunks: 0 new, 0 duplicates), 1,001 unchanged, 0 replaced" in r.output, r.output

    for i in range(25, 40):  # -v: every one named
        (doc / f"pkg{i:04d}" / "README").unlink()
    r = _run("ingest", doc, "--memory", mem, "-q", "--sync", "-v")
    assert r.exit_code == 0, r.output
    deleted = re.findall(r"^forgot (\S+) \(no longer in ", r.output, re.M)
    assert deleted == [f"pkg{i:04d}/README" for i in range(25, 40)], r.output
    assert "more documents" not in r.output and f"sync {doc}: 15 documents forgotten\n" in r.output, r.output
    assert "986 unchanged" in r.output, r.output


def test_eleven_are_all_named_and_an_emptied_jsonl_files_records_are_now_skipped(tmp_path, wiki_docs):
    notes = tmp_path / "notes"
    notes.mkdir()
    for i in range(12):
        (notes / f"n{i:02d}.txt").write_text(" ".join(wiki_docs[i].sentences[:2]), encoding="utf-8")
    (notes / "r.jsonl").write_text("".join(json.dumps({"id": f"r{i}", "text": wiki_docs[20 + i].sentences[0]}) + "\n"
                                           for i in range(2)), encoding="utf-8")
    mem = tmp_path / "mem"
    r = _run("ingest", notes, "--memory", mem, "-q")
    assert r.exit_code == 0 and "14 documents ingested" in r.output, r.output
    for i in range(11):
        (notes / f"n{i:02d}.txt").unlink()
    (notes / "r.jsonl").write_bytes(b"\n")
    r = _run("ingest", notes, "--memory", mem, "-q", "--sync")
    assert r.exit_code == 0, r.output
    assert len(re.findall(r"^forgot n\d\d\.txt \(no longer in ", r.output, re.M)) == 11, r.output  # not "1 more"
    assert "more document" not in r.output, r.output
    assert "forgot r0 (now skipped: empty file)" in r.output and "forgot r1 (now skipped: empty file)" in r.output
    assert f"sync {notes}: 13 documents forgotten (2 still in it, now skipped)" in r.output, r.output
