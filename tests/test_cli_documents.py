"""Ids people can use: folder-relative ids, `list`, `get`, `forget man/kill.txt`, `ingest --sync`, stdin ids."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from core.cli import cli


@pytest.fixture()
def docs(tmp_path, wiki_docs):
    root = tmp_path / "docs"
    (root / "man").mkdir(parents=True)
    for i, name in enumerate(["kill", "gzip", "tar"]):
        (root / "man" / f"{name}.txt").write_text("\n\n".join(wiki_docs[i].sentences[:4]), encoding="utf-8")
    (root / "guide.md").write_text("# Guide\n\n" + "\n\n".join(wiki_docs[5].sentences[:4]), encoding="utf-8")
    (root / "notes.xlsx").write_bytes(b"PK\x03\x04 not read")
    return root


def _run(*args, input=None):
    result = CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)
    return result


def test_relative_ids_list_get_forget_and_sync(docs, tmp_path):
    mem = tmp_path / "mem"
    r = _run("ingest", docs, "--memory", mem, "-q")
    assert r.exit_code == 0, r.output
    assert "4 documents ingested" in r.output and "0 errors" in r.output
    assert "skipped 1 unsupported file (.xlsx 1)" in r.output  # reported, not silently dropped ("1 files")

    r = _run("list", "--memory", mem, "--json")
    listed = json.loads(r.stdout)
    assert [d["id"] for d in listed] == ["guide.md", "man/gzip.txt", "man/kill.txt", "man/tar.txt"]
    assert all(d["chunks"] >= 1 and d["root"] == str(docs.resolve()) for d in listed)
    assert listed[0]["title"] == "Guide"
    plain = _run("list", "--memory", mem, "--prefix", "man/").stdout.splitlines()
    assert [line.split("\t")[0] for line in plain] == ["man/gzip.txt", "man/kill.txt", "man/tar.txt"]

    got = json.loads(_run("get", "man/kill.txt", "--memory", mem, "--json").stdout)
    assert got["id"] == "man/kill.txt" and got["chunks"][0]["text"].startswith("Robert Boulter")
    # the plain listing names each chunk's id, the number recall prints and --exclude and reinforce take
    shown = _run("get", "man/kill.txt", "--memory", mem).stdout
    assert f"\n[0] chunk {got['chunks'][0]['chunk_id']}\nRobert Boulter" in shown
    assert shown.count(" chunk ") >= len(got["chunks"])
    r = _run("get", "man/nope.txt", "--memory", mem)
    assert r.exit_code == 1 and "no document 'man/nope.txt'" in r.output and "Traceback" not in r.output
    assert "did you mean" not in r.output  # no document is named like it
    # a file name without its folder or suffix, or a title in other case: the id is named, nothing is done
    r = _run("get", "kill", "--memory", mem)
    assert r.exit_code == 1 and "no document 'kill' in" in r.output and "did you mean 'man/kill.txt' (kill)?" in r.output
    r = _run("forget", "GUIDE", "--memory", mem)
    assert r.exit_code == 1 and "did you mean 'guide.md' (Guide)?" in r.output, r.output
    r = _run("forget", "guide.md", "tar", "--memory", mem)
    assert r.exit_code == 1 and "no document 'tar'" in r.output and "did you mean 'man/tar.txt'" in r.output
    assert "forgot none of the 2 ids" in r.output and "guide.md" in _run("list", "--memory", mem).stdout

    r = _run("forget", "man/kill.txt", "--memory", mem)
    assert r.exit_code == 0 and "forgot man/kill.txt" in r.output

    # a file deleted from the folder: plain re-ingest keeps it, --sync forgets it
    (docs / "man" / "tar.txt").unlink()
    _run("ingest", docs, "--memory", mem, "-q")
    assert "man/tar.txt" in _run("list", "--memory", mem).stdout
    r = _run("ingest", docs, "--memory", mem, "-q", "--sync")
    assert r.exit_code == 0 and "forgot man/tar.txt" in r.output and "1 document forgotten" in r.output
    ids = [d["id"] for d in json.loads(_run("list", "--memory", mem, "--json").stdout)]
    assert ids == ["guide.md", "man/gzip.txt", "man/kill.txt"]  # kill.txt came back with the re-ingest


def test_stdin_documents_do_not_replace_each_other(tmp_path, wiki_docs):
    mem = tmp_path / "mem"
    for i in (0, 1):
        r = _run("ingest", "-", "--memory", mem, "-q", input="\n\n".join(wiki_docs[i].sentences[:3]))
        assert r.exit_code == 0 and "1 document ingested" in r.output and "0 replaced" in r.output, r.output
    ids = [d["id"] for d in json.loads(_run("list", "--memory", mem, "--json").stdout)]
    assert len(ids) == 2 and all(i.startswith("stdin-") for i in ids)
    r = _run("ingest", "-", "--memory", mem, "-q", "--sync", input="x y z")
    assert r.exit_code == 2 and "--sync needs at least one folder" in r.output
    assert len(json.loads(_run("list", "--memory", mem, "--json").stdout)) == 2  # checked before ingesting


def test_odd_file_names_list_one_line_each_and_a_non_utf8_name_is_named(tmp_path):
    import os

    root = tmp_path / "odd"
    root.mkdir()
    (root / "new\nline.txt").write_text("The lighthouse of Vardø stands on an island.", encoding="utf-8")
    (root / "tab\there.md").write_text("# Tab\tTitle\n\nThe harbour of Tromsø freezes late.", encoding="utf-8")
    (root / os.fsdecode(b"bad\xffname.txt")).write_text("Kyoto has many temples.", encoding="utf-8")
    mem = tmp_path / "mem"
    r = _run("ingest", root, "--memory", mem, "-q")
    # the name, not "unpaired surrogate at character 3 of id+title+text"
    assert "file name is not valid UTF-8" in r.output and "2 documents ingested" in r.output
    lines = _run("list", "--memory", mem).stdout.splitlines()
    # a newline or tab in an id or title broke the one-document-a-line, tab-separated output
    assert len(lines) == 2 and all(len(line.split("\t")) == 3 for line in lines)
    assert sorted(line.split("\t")[0] for line in lines) == ["new\\nline.txt", "tab\\there.md"]
    # the ids as listed can be pasted back: `get 'new\nline.txt'` said "no document"
    got = json.loads(_run("get", "new\\nline.txt", "--memory", mem, "--json").stdout)
    assert got["id"] == "new\nline.txt" and "Vardø" in got["chunks"][0]["text"]
    r = _run("forget", "tab\\there.md", "new\\nline.txt", "--memory", mem)
    assert r.exit_code == 0 and _run("list", "--memory", mem).stdout == "", r.output
    # named as listed: "forgot new" / "line.txt" split the line; the error doubled the backslash
    assert r.stdout.splitlines()[:2] == ["forgot tab\\there.md", "forgot new\\nline.txt"], r.stdout
    for args in (["forget", "new\\nline.txt"], ["forget", "new\\nline.txt", "tab\\there.md"],
                 ["get", "new\\nline.txt"]):
        r = _run(*args, "--memory", mem)
        assert r.exit_code == 1 and "no document 'new\\nline.txt'" in r.output, r.output


def test_sync_of_an_emptied_folder_forgets_nothing(docs, tmp_path):
    import shutil

    # an unmounted mount point is an empty folder: `ingest /mnt/notes --sync` forgot every document of it
    mem = tmp_path / "mem"
    assert _run("ingest", docs, "--memory", mem, "-q").exit_code == 0
    shutil.move(str(docs), str(tmp_path / "elsewhere"))
    docs.mkdir()
    r = _run("ingest", docs, "--memory", mem, "-q", "--sync")
    assert r.exit_code == 1 and "forgets none" in r.output and "forgot " not in r.output
    assert len(json.loads(_run("list", "--memory", mem, "--json").stdout)) == 4


def test_sync_of_a_folder_with_no_documents_says_only_the_refusal(docs, tmp_path):
    # `ingest empty/ --sync` printed the folder's error, then "sync empty: 0 documents forgotten", then
    # "Error: nothing was ingested": the sync line read as if the refused run had done its work
    empty = tmp_path / "empty"
    empty.mkdir()
    mem = tmp_path / "mem"
    r = _run("ingest", empty, "--memory", mem, "-q", "--sync")
    assert r.exit_code == 1 and "forgotten" not in r.output
    assert r.output.strip().splitlines()[-1] == f"Error: nothing was ingested; no memory was made at {mem}"
    assert not mem.exists()
    assert _run("ingest", docs, "--memory", mem, "-q").exit_code == 0  # a memory that holds other documents
    r = _run("ingest", empty, "--memory", mem, "-q", "--sync")
    assert r.exit_code == 1 and "forgotten" not in r.output
    assert r.output.strip().splitlines()[-1] == "Error: nothing was ingested; --sync forgot nothing"
    assert len(json.loads(_run("list", "--memory", mem, "--json").stdout)) == 4


def _unreadable(folder, monkeypatch):
    """chmod 000; root reads through that, so for root os.scandir answers as the kernel does for a user."""
    import os

    folder.chmod(0)
    if os.geteuid() == 0:
        real = os.scandir

        def scandir(path="."):
            if os.path.abspath(path) == str(folder):
                raise PermissionError(13, "Permission denied", str(path))
            return real(path)

        monkeypatch.setattr(os, "scandir", scandir)


def test_sync_keeps_the_documents_of_a_folder_it_cannot_read(docs, tmp_path, monkeypatch):
    # `chmod 000 notes/man`, then `ingest notes --sync`: rglob skipped the folder without a word and
    # --sync forgot man/gzip.txt, man/kill.txt and man/tar.txt as if their files had been deleted
    mem = tmp_path / "mem"
    assert _run("ingest", docs, "--memory", mem, "-q").exit_code == 0
    _unreadable(docs / "man", monkeypatch)
    try:
        r = _run("ingest", docs, "--memory", mem, "-q", "--sync")
        assert r.exit_code == 0 and "forgot " not in r.output and "0 documents forgotten" in r.output, r.output
        assert "man (folder cannot be read (Permission denied)" in r.output, r.output
        r = _run("ingest", docs / "man", "--memory", mem, "-q")
        assert r.exit_code == 1 and "man: folder cannot be read (Permission denied)" in r.output, r.output
    finally:
        (docs / "man").chmod(0o755)
    assert len(json.loads(_run("list", "--memory", mem, "--json").stdout)) == 4


def test_a_moved_folder_records_its_new_place_and_sync_of_it_forgets_deleted_files(docs, tmp_path):
    import shutil

    # `mv notes notes2; rm notes2/man/tar.txt; ingest notes2 --sync`: "3 unchanged", the documents kept
    # root=notes, and --sync of notes2 forgot none, every run (then refused, naming the old place). Now the
    # folder's 4 documents move (tar.txt too: its folder is gone) and --sync forgets tar.txt
    mem = tmp_path / "mem"
    assert _run("ingest", docs, "--memory", mem, "-q").exit_code == 0
    moved = tmp_path / "notes2"
    shutil.move(str(docs), str(moved))
    (moved / "man" / "tar.txt").unlink()
    r = _run("ingest", moved, "--memory", mem, "-q", "--sync")
    assert r.exit_code == 0, r.output
    assert "3 unchanged, 4 moved (their new place recorded; 1 of them no longer there: --sync forgets it), " \
           "0 replaced" in r.output, r.output
    assert "forgot man/tar.txt (no longer in" in r.output and "1 document forgotten" in r.output, r.output
    listed = json.loads(_run("list", "--memory", mem, "--json").stdout)
    assert [d["id"] for d in listed] == ["guide.md", "man/gzip.txt", "man/kill.txt"]
    assert {d["root"] for d in listed} == {str(moved.resolve())}
    assert {d["source"] for d in listed} == {str(moved / d["id"]) for d in listed}
    r = _run("ingest", moved, "--memory", mem, "-q", "--sync")  # once recorded, a plain repeat
    assert "3 unchanged, 0 replaced" in r.output and "0 documents forgotten" in r.output, r.output


def test_a_copy_of_a_folder_leaves_the_documents_with_the_folder_still_there(docs, tmp_path):
    import shutil

    mem = tmp_path / "mem"
    assert _run("ingest", docs, "--memory", mem, "-q").exit_code == 0
    copy = tmp_path / "copy"
    shutil.copytree(docs, copy)
    r = _run("ingest", copy, "--memory", mem, "-q")
    assert "4 unchanged, 0 replaced" in r.output, r.output  # the original is where it was: nothing moved
    assert {d["root"] for d in json.loads(_run("list", "--memory", mem, "--json").stdout)} == {str(docs.resolve())}
    (docs / "man" / "gzip.txt").unlink()
    r = _run("ingest", docs, "--memory", mem, "-q", "--sync")
    assert "forgot man/gzip.txt" in r.output and "1 document forgotten" in r.output, r.output


def test_sync_saves_the_derived_state_once_for_all_it_forgets(docs, tmp_path):
    import shutil

    import numpy as np

    from core.memory import SemanticMemory

    # `ingest --sync` after 500 files were deleted forgot them one by one, saving the index and the network
    # (and checkpointing SQLite) after each: 103 s for 500 of 2,000 small documents, 14 s with one save
    mem = tmp_path / "mem"
    assert _run("ingest", docs, "--memory", mem, "-q").exit_code == 0
    gen = json.loads((mem / "state.json").read_text())["gen"]
    for name in ("kill", "gzip", "tar"):
        (docs / "man" / f"{name}.txt").unlink()
    r = _run("ingest", docs, "--memory", mem, "-q", "--sync")
    assert r.exit_code == 0 and "3 documents forgotten" in r.output, r.output
    assert json.loads((mem / "state.json").read_text())["gen"] == gen + 1
    with SemanticMemory(mem, read_only=True) as m:
        assert [d for d, in m.store_._conn.execute("SELECT doc_key FROM documents")] == ["guide.md"]
        assert m.index_.ntotal == m.store_.count_chunks()
        live = m.network_
    shutil.copytree(mem, tmp_path / "copy")
    with SemanticMemory(tmp_path / "copy") as m:  # the network equals one rebuilt from SQLite, bit for bit
        m.repair()
        for k in ("keys_", "counts_", "node_counts_", "cx_keys_", "cx_counts_"):
            np.testing.assert_array_equal(getattr(live, k), getattr(m.network_, k), err_msg=k)


def test_linked_files_are_named_by_the_link_and_sync_forgets_a_removed_link(docs, tmp_path):
    # a link in the folder to a file elsewhere got the target's absolute path as its id and no root, so
    # `--sync` never forgot it once the link was removed; a link to a folder was dropped without a word
    shared = tmp_path / "shared"
    (shared / "deep").mkdir(parents=True)
    (shared / "plan.txt").write_text("The ferry to Vask leaves the harbour of Tessary at dawn.", encoding="utf-8")
    (shared / "deep" / "x.txt").write_text("Orla Finch designed the copper aqueduct of Tessary.", encoding="utf-8")
    (docs / "plan-link.txt").symlink_to(shared / "plan.txt")
    (docs / "man" / "kill-again.txt").symlink_to(docs / "man" / "kill.txt")  # a second name inside the folder
    (docs / "shared-folder").symlink_to(shared, target_is_directory=True)
    mem = tmp_path / "mem"
    r = _run("ingest", docs, "--memory", mem, "-q")
    assert r.exit_code == 0 and "5 documents ingested" in r.output and "0 errors" in r.output, r.output
    assert "shared-folder (link to a folder, not followed" in r.output, r.output
    # the second name of a file read here is not a second document (every hit came twice)
    assert "skipped 2 entries that are not regular files: man/kill-again.txt (link to man/kill.txt, read under " \
           "that name), shared-folder" in r.output, r.output
    listed = {d["id"]: d for d in json.loads(_run("list", "--memory", mem, "--json").stdout)}
    assert "plan-link.txt" in listed and "man/kill-again.txt" not in listed, sorted(listed)
    assert listed["plan-link.txt"]["root"] == str(docs.resolve())
    (docs / "plan-link.txt").unlink()
    r = _run("ingest", docs, "--memory", mem, "-q", "--sync")
    assert r.exit_code == 0 and "forgot plan-link.txt" in r.output and "1 document forgotten" in r.output, r.output
    assert "plan-link.txt" not in _run("list", "--memory", mem).stdout
    assert (shared / "plan.txt").exists()  # the target is the user's: never touched


def test_the_skip_line_counts_the_entries_it_does_not_name_and_v_names_them_all(tmp_path, wiki_docs):
    # "skipped 6 entries that are not regular files: broken.txt (...), ..., loop/self (...) ..." never named the
    # sixth, not even with -v, nor said how many were left out
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text(wiki_docs[0].sentences[0], encoding="utf-8")
    for i in range(8):
        (docs / f"gone{i}.txt").symlink_to(tmp_path / f"nowhere{i}")
    r = _run("ingest", docs, "--memory", tmp_path / "mem", "-q")
    line = next(x for x in r.output.splitlines() if "not regular files" in x)
    assert line.startswith(f"skipped: {docs}: skipped 8 entries that are not regular files: gone0.txt (broken")
    assert line.endswith("gone4.txt (broken symbolic link (its target does not exist)) and 3 more (-v lists them)")
    r = _run("ingest", docs, "--memory", tmp_path / "mem", "-q", "-v")
    named = [x for x in r.output.splitlines() if x.startswith("skipped: ")]
    assert named == [f"skipped: {docs / f'gone{i}.txt'}: broken symbolic link (its target does not exist)"
                     for i in range(8)], r.output


def test_forget_takes_several_ids_all_or_none(docs, tmp_path):
    from core.memory import SemanticMemory

    # `mycelial forget` took one id: removing 3 files' documents meant 3 runs, 3 saves of the derived state
    mem = tmp_path / "mem"
    assert _run("ingest", docs, "--memory", mem, "-q").exit_code == 0
    gen = json.loads((mem / "state.json").read_text())["gen"]
    r = _run("forget", "man/kill.txt", "man/nope.txt", "man/tar.txt", "gone.md", "--memory", mem)
    assert r.exit_code == 1 and "'man/nope.txt', 'gone.md'" in r.output and "forgot none of the 4" in r.output
    assert "forgot man/" not in r.output and "Traceback" not in r.output
    assert len(json.loads(_run("list", "--memory", mem, "--json").stdout)) == 4  # nothing forgotten
    r = _run("forget", "man/kill.txt", "man/tar.txt", "man/kill.txt", "--memory", mem)
    assert r.exit_code == 0, r.output
    assert r.output.splitlines() == ["forgot man/kill.txt", "forgot man/tar.txt", "2 documents forgotten"]
    assert json.loads((mem / "state.json").read_text())["gen"] == gen + 1  # one save for both
    assert [d["id"] for d in json.loads(_run("list", "--memory", mem, "--json").stdout)] == ["guide.md",
                                                                                          "man/gzip.txt"]
    with SemanticMemory(mem, read_only=True) as m:
        assert m.index_.ntotal == m.store_.count_chunks()
    r = _run("forget", "man/kill.txt", "--memory", mem)  # one id: the message it always gave
    assert r.exit_code == 1 and f"no document 'man/kill.txt' in {mem}" in r.output
    assert "ID [ID ...]" in _run("forget", "--help").output and "all or none" in _run("forget", "--help").output


def test_recall_and_get_print_no_terminal_escapes_from_ids(tmp_path):
    # `list` removed them, but `recall` and `get` printed a stored id raw: a file or record named with
    # ESC ] 0;...BEL retitled the terminal (OSC 52 would write the clipboard)
    evil = "n\x1b]0;pwned\x07\x1b[2Jote"
    (tmp_path / "r.jsonl").write_text(json.dumps({"id": evil, "text": "Wrens nest in the ivy of Pellow.",
                                                  "tag": "t\x9b2J"}) + "\n", encoding="utf-8")
    mem = tmp_path / "mem"
    assert _run("ingest", tmp_path / "r.jsonl", "--memory", mem, "-q").exit_code == 0
    runner = CliRunner()
    outputs = [runner.invoke(cli, ["recall", "wrens", "--memory", str(mem), "-q"], color=True).stdout,
               runner.invoke(cli, ["get", evil, "--memory", str(mem)], color=True).stdout]
    for out in outputs:
        assert "note" in out and not any(c in out for c in "\x1b\x07\x9b"), repr(out)
    assert json.loads(_run("list", "--memory", mem, "--json").stdout)[0]["id"] == evil  # the id itself is kept


def test_ingest_reports_a_file_name_without_its_terminal_escapes(tmp_path):
    # a downloaded folder's file named with ESC ] 0;... BEL retitled the terminal through "error: <path>: ..."
    folder = tmp_path / "dl"
    folder.mkdir()
    (folder / "b\x1b]0;pwned\x07.txt").write_bytes(b"a\x00b")
    (folder / "ok.txt").write_text("Wrens nest in the ivy.", encoding="utf-8")
    r = CliRunner().invoke(cli, ["ingest", str(folder), "--memory", str(tmp_path / "mem"), "-q"], color=True)
    assert r.exit_code == 0 and "binary file" in r.stderr and "b.txt" in r.stderr, r.output
    assert "\x1b" not in r.stderr and "\x07" not in r.stderr, repr(r.stderr)


@pytest.mark.parametrize("args", [["get", "caf\udce9.txt"], ["list", "--prefix", "caf\udce9"],
                                  ["recall", "caf\udce9", "-q"], ["forget", "caf\udce9.txt"],
                                  ["recall", "x", "--where", "caf\udce9=x"], ["reinforce", "caf\udce9", "1"]])
def test_an_argument_that_is_not_utf8_is_one_clear_error(args, tmp_path):
    # a Latin-1 terminal's bytes reach Python's argv as lone surrogates: `get` and `list --prefix` printed a
    # UnicodeEncodeError traceback, the others "'utf-8' codec can't encode character '\udce9'"
    mem = tmp_path / "mem"
    assert _run("ingest", "-", "--memory", mem, "-q", input="Wrens nest in the ivy.").exit_code == 0
    r = CliRunner().invoke(cli, [*args, "--memory", str(mem)])
    assert r.exit_code == 2 and r.exception is not None and isinstance(r.exception, SystemExit), r.output
    assert "'caf\\xe9" in r.output and "is not valid UTF-8 (byte 0xe9 at character 3)" in r.output, r.output
    assert "Traceback" not in r.output and "codec" not in r.output


def test_a_non_utf8_folder_or_a_surrogate_in_metadata_costs_those_records_only(tmp_path):
    # a folder whose own name is not UTF-8 (its files' source and root), or one JSONL record with "\ud800" in
    # its metadata, failed the whole ingest at the INSERT: "Error: 'utf-8' codec can't encode character"
    import os

    bad = tmp_path / os.fsdecode(b"caf\xe9")
    bad.mkdir()
    (bad / "a.txt").write_text("The lighthouse of Vardø stands on an island.", encoding="utf-8")
    good = tmp_path / "good.txt"
    good.write_text("Kyoto has many temples.", encoding="utf-8")
    recs = tmp_path / "r.jsonl"
    recs.write_text('{"id": "s1", "text": "Graz.", "note": "x \\ud800"}\n{"id": "s2", "text": "Linz."}\n',
                    encoding="utf-8")
    mem = tmp_path / "mem"
    r = _run("ingest", bad, good, recs, "--memory", mem, "-q")
    assert r.exit_code == 0 and "2 documents ingested" in r.output and "2 errors" in r.output, r.output
    assert "a.txt: path is not valid UTF-8 (byte 0xe9); rename it; skipped" in r.output, r.output
    assert "r.jsonl:1: metadata 'note' holds an unpaired surrogate" in r.output, r.output
    ids = sorted(d["id"] for d in json.loads(_run("list", "--memory", mem, "--json").stdout))
    assert ids == sorted([good.resolve().as_posix(), "s2"])


def test_sync_forgets_the_records_of_a_deleted_jsonl_file_and_of_deleted_lines(docs, tmp_path):
    import os

    # records of a JSONL file in the folder kept no trace of it: after `rm notes/a.jsonl` (or deleting a
    # line), `ingest notes --sync` forgot none of its records, every run
    line = '{{"id": "{}", "text": "The ferry to Pellow ran {} times a day in summer."}}\n'
    (docs / "a.jsonl").write_text(line.format("r1", 1) + line.format("r2", 2), encoding="utf-8")
    (docs / "man" / "b.jsonl").write_text(line.format("r3", 3) + line.format("r4", 4), encoding="utf-8")
    (docs / "c.jsonl").write_text(line.format("r5", 5) + line.format("r6", 6), encoding="utf-8")
    mem = tmp_path / "mem"
    cwd = os.getcwd()
    os.chdir(tmp_path)  # a relative folder, then --sync from another working directory: the same files
    try:
        assert _run("ingest", "docs", "--memory", mem, "-q").exit_code == 0
    finally:
        os.chdir(cwd)
    (docs / "a.jsonl").unlink()
    (docs / "man" / "b.jsonl").write_text(line.format("r3", 3), encoding="utf-8")
    (docs / "c.jsonl").write_text(line.format("r5", 5) + "{not json\n", encoding="utf-8")  # r6 may be that line
    r = _run("ingest", docs, "--memory", mem, "-q", "--sync")
    assert r.exit_code == 0, r.output
    assert "forgot r1 " in r.output and "forgot r2 " in r.output and "forgot r4 " in r.output
    held = {d["id"] for d in json.loads(_run("list", "--memory", mem, "--json").stdout)}
    assert held == {"man/kill.txt", "man/gzip.txt", "man/tar.txt", "guide.md", "r3", "r5", "r6"}
    assert json.loads(_run("get", "r3", "--memory", mem, "--json").stdout)["source"] == str(
        (docs / "man" / "b.jsonl").resolve())


def test_sync_keeps_records_whose_own_metadata_names_the_folder(docs, tmp_path):
    # `mycelial list --json` gives every file's "root": ingested back as records (an export, a CRM's rows with a
    # "path" column), their metadata was taken for a file's place, and `ingest docs --sync` forgot them
    mem = tmp_path / "mem"
    assert _run("ingest", docs, "--memory", mem, "-q").exit_code == 0
    listed = json.loads(_run("list", "--memory", mem, "--json").stdout)
    back = [{"id": f"copy/{d['id']}", "text": json.loads(_run("get", d["id"], "--memory", mem, "--json").stdout)[
        "chunks"][0]["text"], "root": d["root"], "path": str(docs / d["id"])} for d in listed]
    (tmp_path / "export.jsonl").write_text("".join(json.dumps(b) + "\n" for b in back), encoding="utf-8")
    assert _run("ingest", tmp_path / "export.jsonl", "--memory", mem, "-q").exit_code == 0
    (docs / "guide.md").unlink()
    r = _run("ingest", docs, "--memory", mem, "-q", "--sync")
    assert r.exit_code == 0 and "forgot guide.md" in r.output and "copy/" not in r.output, r.output
    held = json.loads(_run("list", "--memory", mem, "--json").stdout)
    assert sorted(d["id"] for d in held) == sorted(["man/gzip.txt", "man/kill.txt", "man/tar.txt"]
                                                   + [b["id"] for b in back])
    assert all(d["root"] is None for d in held if d["id"].startswith("copy/"))  # a record is no file of a folder
    got = json.loads(_run("get", "copy/guide.md", "--memory", mem, "--json").stdout)
    assert got["meta"]["root"] == str(docs.resolve())  # its own metadata, kept as given


def test_a_non_utf8_file_name_is_shown_as_the_upload_error_shows_it(tmp_path):
    # the CLI showed the byte as Python's surrogate escape ("caf\udce9.txt"), the HTTP upload as "caf\xe9.txt"
    import os

    root = tmp_path / "odd"
    root.mkdir()
    (root / os.fsdecode(b"caf\xe9.txt")).write_text("Kyoto has many temples.", encoding="utf-8")
    (root / "ok.txt").write_text("Paris is a city on the Seine.", encoding="utf-8")
    r = _run("ingest", root, "--memory", tmp_path / "mem", "-q")
    line = next(x for x in r.output.splitlines() if "not valid UTF-8" in x)
    assert "caf\\xe9.txt: file name is not valid UTF-8 (byte 0xe9)" in line, line
    assert "\udce9" not in r.output


def test_a_record_replacing_another_files_document_is_named(docs, tmp_path):
    # two exports both numbering their rows from 1: the second replaced the first's rows, reported as "1 replaced"
    mem = tmp_path / "mem"
    a, b = tmp_path / "expA.jsonl", tmp_path / "expB.jsonl"
    a.write_text('{"id": 1, "text": "Invoices for the Berlin office are due in May."}\n'
                 '{"id": 2, "text": "Payroll runs on the last Friday."}\n', encoding="utf-8")
    b.write_text('{"id": 1, "text": "A kayak trip along the Norwegian fjords."}\n'
                 '{"id": "guide.md", "text": "A record that takes the id of a file."}\n', encoding="utf-8")
    assert _run("ingest", docs, a, "--memory", mem, "-q").exit_code == 0
    r = _run("ingest", b, "--memory", mem, "-q")
    assert r.exit_code == 0 and "2 replaced" in r.output, r.output
    assert f"note: 1 document of {a} replaced by {b}'s with the same id" in r.output, r.output
    assert f"note: 1 document of {docs / 'guide.md'} replaced by {b}'s with the same id" in r.output, r.output
    a.write_text('{"id": 2, "text": "Payroll runs on the first Friday."}\n', encoding="utf-8")  # its own edit
    r = _run("ingest", a, "--memory", mem, "-q")
    assert "1 replaced" in r.output and "note:" not in r.output, r.output
