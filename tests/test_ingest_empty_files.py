"""An empty file (0 bytes, only whitespace, a note's front matter alone) or stdin is a skip with its reason, not
an error: it made `mycelial ingest` of a folder holding nothing else exit 1 ("nothing was ingested"), and an HTTP
upload of it a 422 that refused the request's other files too. `ingest --sync` forgets the documents of a file
emptied since (they stayed for good)."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from core.cli import cli


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def _ids(mem):
    return [d["id"] for d in json.loads(_run("list", "--memory", mem, "--json").stdout)]


@pytest.fixture()
def notes(tmp_path, wiki_docs):
    root = tmp_path / "notes"
    root.mkdir()
    for i, name in enumerate(["a.txt", "b.md", "c.txt"]):
        (root / name).write_text("\n\n".join(wiki_docs[i].sentences[:3]), encoding="utf-8")
    (root / "recs.jsonl").write_text("".join(json.dumps({"id": f"r{i}", "text": wiki_docs[10 + i].sentences[0]}) + "\n"
                                             for i in range(2)), encoding="utf-8")
    return root


def test_empty_files_of_a_folder_are_skipped_with_their_reason_and_the_ingest_succeeds(notes, tmp_path):
    (notes / "zero.txt").write_bytes(b"")
    (notes / "blank.md").write_text("  \n\n\t\n", encoding="utf-8")
    (notes / "none.jsonl").write_text("\n \n", encoding="utf-8")  # gave no record and no word
    mem = tmp_path / "mem"
    r = _run("ingest", notes, "--memory", mem, "-q")
    assert r.exit_code == 0, r.output
    assert f"skipped: {notes / 'zero.txt'}: empty file (0 bytes); nothing to store" in r.output
    assert f"skipped: {notes / 'blank.md'}: empty file (only whitespace); nothing to store" in r.output
    assert f"skipped: {notes / 'none.jsonl'}: empty file (only whitespace)" in r.output
    assert "5 documents ingested" in r.output and "0 errors, skipped 3 empty files, " in r.output, r.output
    assert _ids(mem) == ["a.txt", "b.md", "c.txt", "r0", "r1"]


def test_a_folder_of_only_empty_files_stores_nothing_and_exits_0(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_bytes(b"")
    r = _run("ingest", tmp_path / "notes", "--memory", tmp_path / "mem", "-q")
    assert r.exit_code == 0, r.output
    assert "0 documents ingested" in r.output and "0 errors, skipped 1 empty file, " in r.output
    assert "nothing to store; no memory was made at" in r.output and not (tmp_path / "mem").exists()
    # an empty file given by its path, into an existing memory: the same
    (tmp_path / "real.txt").write_text("Lichens are symbioses of fungi and algae.", encoding="utf-8")
    assert _run("ingest", tmp_path / "real.txt", "--memory", tmp_path / "mem", "-q").exit_code == 0
    r = _run("ingest", tmp_path / "notes" / "todo.txt", "--memory", tmp_path / "mem", "-q")
    assert r.exit_code == 0 and "skipped 1 empty file" in r.output and "no memory was made" not in r.output
    # an error beside it still fails the ingest of nothing else
    (tmp_path / "notes" / "bad.txt").write_bytes(b"\x00\x01binary")
    r = _run("ingest", tmp_path / "notes", "--memory", tmp_path / "mem", "-q")
    assert r.exit_code == 1 and "1 error, skipped 1 empty file" in r.output and "nothing was ingested" in r.output


def test_a_note_of_only_front_matter_and_empty_stdin_are_skipped_too(tmp_path, wiki_docs):
    # a note made from an Obsidian/Hugo template is as empty as a blank file: it was an error (exit 1 alone);
    # `: | mycelial ingest -` said "no input" and exited 1, while the same empty file given by its path exits 0
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "new.md").write_text("---\ntitle: Untitled\ntags: []\n---\n\n", encoding="utf-8")
    mem = tmp_path / "mem"
    r = _run("ingest", tmp_path / "notes", "--memory", mem, "-q")
    assert r.exit_code == 0, r.output
    assert f"skipped: {tmp_path / 'notes' / 'new.md'}: empty file (only front matter); nothing to store" in r.output
    assert "0 errors, skipped 1 empty file, " in r.output and not mem.exists()
    (tmp_path / "real.txt").write_text(wiki_docs[0].sentences[0], encoding="utf-8")
    assert _run("ingest", tmp_path / "real.txt", "--memory", mem, "-q").exit_code == 0
    for piped, why in [("", "0 bytes"), (" \n\n", "only whitespace"), ("---\ntitle: x\n---\n", "only front matter")]:
        r = CliRunner().invoke(cli, ["ingest", "-", "--memory", str(mem), "-q"], input=piped)
        assert r.exit_code == 0, r.output
        assert f"skipped: <stdin>: empty input ({why}); nothing to store" in r.output
        assert "0 errors, skipped 1 empty file, " in r.output
    assert len(_ids(mem)) == 1  # the front matter was stored as the text "--- title: x ---"


def test_sync_forgets_a_note_emptied_to_its_front_matter(notes, tmp_path):
    mem = tmp_path / "mem"
    (notes / "d.md").write_text("---\ntitle: Dee\n---\nSome text about lichens.\n", encoding="utf-8")
    assert _run("ingest", notes, "--memory", mem, "-q").exit_code == 0
    (notes / "d.md").write_text("---\ntitle: Dee\n---\n", encoding="utf-8")
    (notes / "b.md").write_text("---\ntitle: Bee\n---\n" + "x" * 5000, encoding="utf-8")  # text after the head
    r = _run("ingest", notes, "--memory", mem, "-q", "--sync")
    assert r.exit_code == 0 and "forgot d.md" in r.output and "1 document forgotten" in r.output, r.output
    assert _ids(mem) == ["a.txt", "b.md", "c.txt", "r0", "r1"]


def test_many_empty_files_are_named_three_times_then_counted(tmp_path, wiki_docs):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "real.txt").write_text(wiki_docs[0].sentences[0], encoding="utf-8")
    for i in range(7):
        (tmp_path / "notes" / f"e{i}.txt").write_bytes(b"")
    r = _run("ingest", tmp_path / "notes", "--memory", tmp_path / "mem", "-q")
    assert r.exit_code == 0, r.output
    lines = [line for line in r.output.splitlines() if line.startswith("skipped: ")]
    assert len(lines) == 4 and lines[-1] == "skipped: 4 more empty files", lines
    assert "skipped 7 empty files" in r.output


def test_sync_forgets_the_documents_of_a_file_emptied_since(notes, tmp_path):
    mem = tmp_path / "mem"
    assert _run("ingest", notes, "--memory", mem, "-q").exit_code == 0
    (notes / "a.txt").write_bytes(b"")
    (notes / "b.md").write_text("\n   \n", encoding="utf-8")
    (notes / "recs.jsonl").write_bytes(b"")  # a 0-byte JSONL file kept its records; a blank one lost them
    r = _run("ingest", notes, "--memory", mem, "-q")  # without --sync: kept, as a deleted file's are
    assert r.exit_code == 0 and "skipped 3 empty files" in r.output, r.output
    assert _ids(mem) == ["a.txt", "b.md", "c.txt", "r0", "r1"]
    r = _run("ingest", notes, "--memory", mem, "-q", "--sync")
    assert r.exit_code == 0, r.output
    assert "forgot a.txt" in r.output and "forgot b.md" in r.output and "4 documents forgotten" in r.output
    assert _ids(mem) == ["c.txt"]


def test_sync_of_a_folder_whose_every_file_was_emptied_forgets_nothing(notes, tmp_path):
    # as an unmounted or emptied folder: a tool that truncated every file is not a deletion of every note
    mem = tmp_path / "mem"
    assert _run("ingest", notes, "--memory", mem, "-q").exit_code == 0
    for f in notes.iterdir():
        f.write_bytes(b"")
    r = _run("ingest", notes, "--memory", mem, "-q", "--sync")
    assert r.exit_code == 1 and "holds no file with text to read" in r.output, r.output
    assert "forgets none" in r.output and len(_ids(mem)) == 5


@pytest.fixture()
def client(tmp_path, embedder):
    from fastapi.testclient import TestClient

    from core.reasoning.mycelial import MycelialVQVAE
    from core.server import create_app

    app = create_app({"m": tmp_path / "m"}, embedder=embedder, codec=MycelialVQVAE.load_default())
    with TestClient(app) as c:
        yield c


def test_an_empty_upload_is_skipped_and_the_others_are_ingested(client, wiki_docs):
    text = "\n\n".join(wiki_docs[0].sentences[:3]).encode()
    files = [("file", ("notes.txt", text)), ("file", ("empty.txt", b"")), ("file", ("blank.md", b" \n\n "))]
    r = client.post("/v1/memories/m/documents", files=files)
    assert r.status_code == 201, r.text
    rep = r.json()
    assert rep["documents"] == 1 and rep["errors"] == []
    assert rep["skipped"] == ["empty.txt: empty file (0 bytes); nothing to store",
                              "blank.md: empty file (only whitespace); nothing to store"]
    # a note of only front matter too: it was a 422 refusing the request's other files
    r = client.post("/v1/memories/m/documents", files=[("file", ("new.md", b"---\ntitle: x\n---\n")),
                                                       ("file", ("notes.txt", text))])
    assert r.status_code == 201 and r.json()["skipped"] == ["new.md: empty file (only front matter); nothing to store"]
    r = client.post("/v1/memories/m/documents", files=[("file", ("empty.txt", b""))])  # alone: nothing stored
    assert r.status_code == 201 and r.json()["documents"] == 0 and len(r.json()["skipped"]) == 1, r.text
    assert [d["id"] for d in client.get("/v1/memories/m/documents").json()["documents"]] == ["file:notes.txt"]
    r = client.post("/v1/memories/m/documents?background=true", files=[("file", ("empty.txt", b""))])
    assert r.status_code == 202, r.text
    from _server_helpers import finished_job

    job = finished_job(client.get, r.headers["location"])
    assert job["status"] == "done" and job["report"]["skipped"] == ["empty.txt: empty file (0 bytes); nothing to store"]
    # a file that is not empty but holds nothing readable is still refused, naming it
    r = client.post("/v1/memories/m/documents", files=[("file", ("bad.txt", b"\x00\x01binary"))])
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "file"
