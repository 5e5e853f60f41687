"""Issue 11: a memory owns only its files, serialises writers, never trusts derived state built
from another store, never writes on reads, and bounds k and stdin. Real SQLite, FAISS and model."""
from __future__ import annotations

import io
import os
import shutil
import sys

import numpy as np
import pytest
from _memory_helpers import wiki_records
from click.testing import CliRunner

from core.cli import cli
from core.memory import SemanticMemory
from core.memory.index import VectorIndex
from core.memory.lock import MemoryBusyError, WriteLock
from core.memory.store import StoreError
from core.reasoning.mycelial import MycelialVQVAE


@pytest.fixture(scope="module")
def codec():
    return MycelialVQVAE.load_default()


@pytest.fixture(scope="module")
def records(wiki_docs):
    return wiki_records(wiki_docs, n_docs=8, n_sents=8)


def _open(folder, embedder, codec, **kw):
    return SemanticMemory(folder, embedder=embedder, codec=codec, **kw)


def _consistent(m):
    """Derived state holds exactly the store: one vector per chunk, one network event per occurrence."""
    assert m.index_.ntotal == m.store_.count_chunks()
    assert m.network_.n_events_ == m.store_.observed_chunks()


def _files(folder):
    return {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.iterdir()}


# -- 1. a memory owns only the files it created ---------------------------------------------
def test_save_keeps_user_npz_files_and_drops_only_old_generations(tmp_path, embedder, codec, records):
    folder = tmp_path / "m"
    with _open(folder, embedder, codec) as m:
        m.ingest(records[:4])
        user = folder / "my_experiment_results.npz"
        np.savez(user, a=np.arange(3))
        also = folder / "index.backup.npz"
        np.savez(also, a=np.arange(3))
        m.ingest(records[4:])
        m.save()
    with _open(folder, embedder, codec) as m:
        m.forget(records[0]["id"])
    assert user.is_file() and also.is_file()
    gens = sorted(p.name for p in folder.glob("index.*.npz") if p.name != "index.backup.npz")
    assert len(gens) == 1 and (folder / "mycelial.json").is_file()


def test_non_memory_folder_is_refused_and_untouched(tmp_path, embedder, codec):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "results.npz").write_bytes(b"user data")
    before = _files(folder)
    with pytest.raises(ValueError, match="is not a Mycelial memory"):
        _open(folder, embedder, codec)
    assert _files(folder) == before
    r = CliRunner().invoke(cli, ["stats", "--memory", str(folder)])
    assert r.exit_code == 1 and "is not a Mycelial memory" in r.output and "Traceback" not in r.output
    # a read command makes no memory: it said "give a new or empty folder so none of its files are touched"
    assert "give the folder a memory was made in" in r.output and "new or empty" not in r.output, r.output
    assert _files(folder) == before


@pytest.mark.parametrize("what", ["database", "link", "text", "empty"])
def test_a_folder_holding_another_programs_memory_sqlite_is_refused_and_untouched(tmp_path, embedder, codec, what):
    # a memory.sqlite was proof enough: our tables were added to a user's database, its state.json and write.lock
    # overwritten and its index.7.npz deleted
    import sqlite3

    folder = tmp_path / "project"
    folder.mkdir()
    db = tmp_path / "contacts.sqlite" if what == "link" else folder / "memory.sqlite"
    if what == "text":
        db.write_text("not a database at all, just notes\n" * 200)
    elif what == "empty":
        db.write_bytes(b"")
    else:
        conn = sqlite3.connect(db)
        conn.execute("CREATE TABLE contacts (name TEXT, phone TEXT)")
        conn.execute("INSERT INTO contacts VALUES ('Bob', '555')")
        conn.commit()
        conn.close()
    if what == "link":
        (folder / "memory.sqlite").symlink_to(db)
    (folder / "state.json").write_text('{"my": "settings"}')
    (folder / "write.lock").write_text("mine")
    np.savez(folder / "index.7.npz", a=np.arange(3))
    before, db_bytes = _files(folder), db.read_bytes()
    with pytest.raises(ValueError, match="is not a Mycelial memory: its memory.sqlite"):
        _open(folder, embedder, codec)
    for args in (["stats"], ["ingest", str(db)], ["repair"], ["forget", "x"]):
        r = CliRunner().invoke(cli, [*args, "--memory", str(folder)])
        assert r.exit_code != 0 and "is not a Mycelial memory" in r.output and "Traceback" not in r.output, r.output
    assert _files(folder) == before and db.read_bytes() == db_bytes
    said = str(pytest.raises(ValueError, _open, folder, embedder, codec).value)
    assert {"database": "(its tables: contacts)", "link": "(its tables: contacts)", "text": "is not a database",
            "empty": "is an empty database"}[what] in said, said


def test_old_memory_without_marker_is_adopted(tmp_path, embedder, codec, records):
    folder = tmp_path / "old"
    with _open(folder, embedder, codec) as m:
        m.ingest(records[:3])
    (folder / "mycelial.json").unlink()
    with _open(folder, embedder, codec) as m:
        assert m.store_.count_documents() == 3
    assert (folder / "mycelial.json").is_file()


def test_read_commands_never_create_a_folder(tmp_path):
    missing = tmp_path / "nope"
    for args in (["stats"], ["recall", "anything"]):
        r = CliRunner().invoke(cli, [*args, "--memory", str(missing)])
        assert r.exit_code == 1 and "no memory at" in r.output, r.output
        assert not missing.exists()
    with pytest.raises(FileNotFoundError, match="no memory at"):
        SemanticMemory(missing, read_only=True)
    assert not missing.exists()


# -- 2. writers are serialised ------------------------------------------------------------------
def test_second_writer_waits_then_fails_naming_the_pid(tmp_path, embedder, codec, records, monkeypatch):
    folder = tmp_path / "m"
    _open(folder, embedder, codec).close()
    holder = WriteLock(folder)
    holder.acquire()
    try:
        monkeypatch.setenv("MYCELIAL_LOCK_TIMEOUT", "0.3")
        with pytest.raises(MemoryBusyError, match=f"being written by pid {os.getpid()}"):
            _open(folder, embedder, codec)
    finally:
        holder.release()
    with _open(folder, embedder, codec) as m:  # free again
        assert m.ingest(records[:1]).documents == 1


def test_stale_writer_catches_up_before_writing(tmp_path, embedder, codec, records):
    """A writer opened before another one committed must not save derived state missing those chunks."""
    folder = tmp_path / "m"
    a = _open(folder, embedder, codec)
    a.ingest(records[:2])
    with _open(folder, embedder, codec) as b:
        b.ingest(records[2:6])
        b.forget(records[0]["id"])
    a.ingest(records[6:])
    _consistent(a)
    assert a.store_.count_documents() == 7
    a.close()
    with _open(folder, embedder, codec) as m:
        _consistent(m)
        hit = m.recall(records[3]["text"].split("\n\n")[0], k=1, mode="similar")[0]
        assert hit.doc_id == records[3]["id"]


# -- 3. derived state carries the fingerprint of its store --------------------------------------
def test_store_settings_uuid_full_sync_and_ids_never_reused(tmp_path, embedder, codec, records):
    with _open(tmp_path / "a", embedder, codec) as a, _open(tmp_path / "b", embedder, codec) as b:
        assert a.store_.uuid and a.store_.uuid != b.store_.uuid
        assert a.store_._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        a.ingest(records[:2])
        top = a.store_.last_ids()["chunk"]
        a.forget(records[1]["id"])
        a.ingest(records[2:3])
        doc = a.store_.document(records[2]["id"])
        assert doc["chunk_ids"].min() > top


def test_another_stores_sqlite_beside_derived_files_starts_clean(tmp_path, embedder, codec, records):
    # a deleted store is refused (tests/test_lost_store.py); a store put in its place is not the one the
    # derived files were built from (its uuid): none of their vectors may answer for it
    folder, other = tmp_path / "m", tmp_path / "other"
    with _open(folder, embedder, codec) as m:
        m.ingest(records[:5])
    with _open(other, embedder, codec):
        pass
    for name in ("memory.sqlite", "memory.sqlite-wal", "memory.sqlite-shm"):
        (folder / name).unlink(missing_ok=True)
    with pytest.raises(StoreError, match="memory.sqlite is missing"):
        _open(folder, embedder, codec)
    shutil.copy(other / "memory.sqlite", folder / "memory.sqlite")
    with _open(folder, embedder, codec) as m:
        assert m.store_.count_documents() == 0 and m.index_.ntotal == 0
        m.ingest(records[5:6])
        _consistent(m)
        hits = m.recall(records[0]["text"].split("\n\n")[0], k=3, mode="similar")
        assert {h.doc_id for h in hits} == {records[5]["id"]}


def test_an_emptied_sqlite_is_named_lost_not_sent_to_repair(tmp_path, embedder, codec, records):
    # "is not a Mycelial store ... run `mycelial repair`", and repair rebuilt an empty memory without a word
    folder = tmp_path / "m"
    with _open(folder, embedder, codec) as m:
        m.ingest(records[:2])
    for name in ("memory.sqlite-wal", "memory.sqlite-shm"):
        (folder / name).unlink(missing_ok=True)
    (folder / "memory.sqlite").write_bytes(b"")
    before = _files(folder)
    for cmd in (["stats"], ["list"], ["recall", "anything"]):
        r = CliRunner().invoke(cli, [*cmd, "--memory", str(folder)])
        assert r.exit_code == 1 and "is empty (0 bytes): the documents it held are gone" in r.output, r.output
        assert "restore memory.sqlite from a backup" in r.output and "Traceback" not in r.output
    assert _files(folder) == before


def test_derived_state_ahead_of_sqlite_is_rebuilt(tmp_path, embedder, codec, records):
    """The WAL lost after the index saw a commit: no stale vector may answer for another document."""
    folder = tmp_path / "m"
    with _open(folder, embedder, codec) as m:
        m.ingest(records[:3])
    shutil.copy(folder / "memory.sqlite", tmp_path / "old.sqlite")  # closed: fully checkpointed
    with _open(folder, embedder, codec) as m:
        m.ingest(records[3:])
    for name in ("memory.sqlite-wal", "memory.sqlite-shm"):
        (folder / name).unlink(missing_ok=True)
    shutil.copy(tmp_path / "old.sqlite", folder / "memory.sqlite")
    with _open(folder, embedder, codec) as m:
        assert m.store_.count_documents() == 3
        _consistent(m)
        m.ingest(records[3:4])  # reuses the lost ids in SQLite: must not hit a stale vector
        _consistent(m)
        for r in records[3:]:
            hit = m.recall(r["text"].split("\n\n")[0], k=1, mode="similar")[0]
            assert hit.doc_id in {x["id"] for x in records[:4]}
            if r is not records[3]:
                assert hit.score < 0.99


def test_index_and_network_missing_entries_under_a_high_mark_are_rebuilt(tmp_path, embedder, codec, records):
    """What the two-writer race left: marks claim every chunk, the files hold half (never repaired)."""
    folder = tmp_path / "m"
    with _open(folder, embedder, codec) as m:
        m.ingest(records[:4])
        net_early = folder / "network.early"
        m.network_.save(net_early)
        m.ingest(records[4:])
        n_chunks = m.store_.count_chunks()
    state = __import__("json").loads((folder / "state.json").read_text())
    path = folder / state["index"]["file"]
    idx, header = VectorIndex.read(path)
    idx.remove(np.arange(1, 10, dtype=np.int64))
    idx.write(path, header)
    shutil.copy(net_early, folder / state["network"]["file"])
    with _open(folder, embedder, codec) as m:
        assert m.index_.ntotal == n_chunks
        _consistent(m)


# -- 4. reads never write ----------------------------------------------------------------------
def test_recall_and_stats_write_nothing(tmp_path, embedder, codec, records):
    folder = tmp_path / "m"
    with _open(folder, embedder, codec) as m:
        m.ingest(records)
    before = _files(folder)
    query = records[2]["text"].split("\n\n")[0]
    with _open(folder, embedder, codec) as m:  # writable, but only read
        assert m.recall(query, k=1)[0].doc_id == records[2]["id"]
        m.stats()
    with _open(folder, embedder, codec, read_only=True) as m:
        assert m.recall(query, k=1)[0].doc_id == records[2]["id"]
        with pytest.raises(ValueError, match="read-only"):
            m.ingest(records[:1])
        with pytest.raises(ValueError, match="read-only"):
            m.forget(records[0]["id"])
    after = {k: v for k, v in _files(folder).items() if k not in ("memory.sqlite-shm", "memory.sqlite-wal",
                                                                      "write.lock")}
    assert after == {k: v for k, v in before.items() if k in after} and set(after) <= set(before)


def test_read_only_answers_with_missing_derived_state_and_writes_nothing(tmp_path, embedder, codec, records):
    folder = tmp_path / "m"
    with _open(folder, embedder, codec) as m:
        m.ingest(records)
    (folder / "state.json").unlink()
    before = set(os.listdir(folder))
    with _open(folder, embedder, codec, read_only=True) as m:
        _consistent(m)
        r = records[5]
        assert m.recall(r["text"].split("\n\n")[1], k=1)[0].doc_id == r["id"]
    assert set(os.listdir(folder)) - {"memory.sqlite-shm", "memory.sqlite-wal"} <= before
    assert not (folder / "state.json").exists()


# -- 5. bounds ---------------------------------------------------------------------------------
def test_recall_k_rejects_bool_and_huge(tmp_path, embedder, codec, records):
    with _open(tmp_path / "m", embedder, codec) as m:
        m.ingest(records[:2])
        for bad in (True, 0, 10_001, 10**9, 2.5):
            with pytest.raises(ValueError, match="k"):
                m.recall("a query", k=bad)
        with pytest.raises(ValueError, match="cap of 10000"):
            m.recall_vector(np.ones(384, np.float32) / np.sqrt(384), k=10**8)
        assert len(m.recall("a query", k=10_000)) <= m.store_.count_chunks()


def test_stdin_is_capped(tmp_path, embedder, codec, monkeypatch):
    monkeypatch.setenv("MYCELIAL_MAX_INPUT_BYTES", "1000")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"word " * 400)))
    with _open(tmp_path / "m", embedder, codec) as m:
        rep = m.ingest("-")
        assert rep.documents == 0 and "larger than 1000 bytes" in str(rep.errors[0])
        assert "MYCELIAL_MAX_INPUT_BYTES" in str(rep.errors[0])
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"Rush is a Canadian rock band.")))
        assert m.ingest("-").documents == 1


# -- 6. edited or damaged state, and `mycelial repair` ------------------------------------------
@pytest.mark.parametrize("edit", ["state_list", "gen_text", "last_doc", "last_chunk", "garbage_index"])
def test_edited_or_damaged_state_never_double_counts(tmp_path, embedder, codec, records, edit):
    import json

    folder = tmp_path / "m"
    with _open(folder, embedder, codec) as m:
        m.ingest(records)
        n_chunks, n_events = m.store_.count_chunks(), m.store_.observed_chunks()
    path = folder / "state.json"
    state = json.loads(path.read_text())
    if edit == "state_list":
        path.write_text("[]")
    elif edit == "gen_text":
        path.write_text(json.dumps({**state, "gen": "seven"}))
    elif edit == "last_doc":
        state["network"]["last_doc"] = 2
        path.write_text(json.dumps(state))
    elif edit == "last_chunk":
        idx, header = VectorIndex.read(folder / state["index"]["file"])
        idx.write(folder / state["index"]["file"], {**header, "last_chunk": 3})
    else:
        (folder / state["index"]["file"]).write_bytes(b"PK\x03\x04 not an index")
    with _open(folder, embedder, codec) as m:
        assert m.index_.ntotal == n_chunks and m.network_.n_events_ == n_events
        assert m.recall(records[4]["text"].split("\n\n")[0], k=1)[0].doc_id == records[4]["id"]


def test_cli_repair_rebuilds_derived_state_from_sqlite(tmp_path, embedder, codec, records):
    folder = tmp_path / "m"
    with _open(folder, embedder, codec) as m:
        m.ingest(records)
        n_chunks = m.store_.count_chunks()
    (folder / "notes.npz").write_bytes(b"user file")
    r = CliRunner().invoke(cli, ["repair", "--memory", str(folder)])
    assert r.exit_code == 0, r.output
    assert f"{len(records):,} documents, {n_chunks:,} chunks, {n_chunks:,} index vectors" in r.output
    assert (folder / "notes.npz").read_bytes() == b"user file"
    assert len(list(folder.glob("index.*.npz"))) == 1
    r = CliRunner().invoke(cli, ["repair", "--memory", str(tmp_path / "none")])
    assert r.exit_code == 1 and "no memory at" in r.output


# -- 7. one bad record is one error, the rest is ingested ----------------------------------------
def test_bad_records_become_errors_with_file_and_line(tmp_path, embedder, codec):
    good = ["Rush is a Canadian rock band.", "Emus are large flightless birds.", "Nerva adopted Trajan."]
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("\n".join([
        '{"id": "a", "text": "%s"}' % good[0],
        '{"id": "s", "text": "lone \\ud800 surrogate"}',
        '{"id": "a", "text": "same id again"}',
        '{"id": "b", "text": "%s"}' % good[1]]) + "\n")
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "fine.txt").write_text(good[2])
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.txt"), "w") as fh:
        fh.write("A file whose name is latin-1 bytes.")
    with _open(tmp_path / "m", embedder, codec) as m:
        rep = m.ingest([str(jsonl), str(folder), {"id": "b", "text": "dict with a repeated id"}])
        errors = [str(e) for e in rep.errors]
        assert rep.documents == 3, errors  # a, b, fine.txt
        assert any(e.startswith(f"{jsonl}:2:") and "surrogate" in e for e in errors), errors
        assert any(e.startswith(f"{jsonl}:3:") and "duplicate id 'a' (first on line 1)" in e for e in errors)
        assert any("file name is not valid UTF-8" in e and "caf" in e for e in errors), errors
        assert any("duplicate id 'b'" in e for e in errors), errors
        assert len(errors) == 4
        assert m.store_.document("a") is not None and m.store_.document("b") is not None
        _consistent(m)


def test_unwritable_folder_opens_read_only_and_answers(tmp_path, embedder, codec, records, monkeypatch):
    """A read-only mount: os.access says no (root ignores chmod, so the answer is patched here)."""
    folder = tmp_path / "m"
    with _open(folder, embedder, codec) as m:
        m.ingest(records[:3])
    before = _files(folder)
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if mode & os.W_OK else real(p, mode, **kw))
    with _open(folder, embedder, codec) as m:
        assert m.read_only and m.store_.read_only
        assert m.recall(records[1]["text"].split("\n\n")[0], k=1)[0].doc_id == records[1]["id"]
        with pytest.raises(ValueError, match="read-only"):
            m.ingest(records[3:4])
    assert _files(folder) == before


def test_a_new_memory_in_an_unwritable_folder_says_the_folder_is_not_writable(tmp_path, embedder, codec,
                                                                              monkeypatch):
    # `mycelial ingest notes --memory shared` into an empty folder owned by someone else said
    # "no memory at shared; create one with `mycelial ingest PATH --memory shared`": the command it was
    folder = tmp_path / "shared"
    folder.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if mode & os.W_OK else real(p, mode, **kw))
    with pytest.raises(ValueError, match="cannot make a memory in .*shared: the folder is not writable"):
        _open(folder, embedder, codec)
    assert list(folder.iterdir()) == []


def test_a_folder_of_documents_given_as_a_memory_says_ingest_it_first(tmp_path, embedder, codec):
    # `mycelial serve --memory notes/` said only "not a Mycelial memory ... give a new or empty folder"
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "vask.txt").write_text("Zebulon Quartz kept the Vask light.", encoding="utf-8")
    before = _files(notes)
    for command in (["serve", "--memory", str(notes), "--port", "1"], ["recall", "who", "--memory", str(notes)]):
        r = CliRunner().invoke(cli, command)
        assert r.exit_code == 1 and "holds documents (vask.txt)" in r.output, r.output
        assert f"mycelial ingest {notes} --memory notes-memory" in r.output, r.output
    with pytest.raises(ValueError, match="make a memory of them first"):
        _open(notes, embedder, codec)
    assert _files(notes) == before



def test_a_folder_of_gzipped_or_suffixless_documents_given_as_a_memory_says_ingest_it_first(tmp_path):
    # only .txt .md .pdf .jsonl were seen as documents: a package's doc folder got "give a new or empty folder"
    import gzip

    docs = tmp_path / "bash"
    docs.mkdir()
    (docs / "README.gz").write_bytes(gzip.compress(b"Bash is the GNU Project's shell.\n"))
    (docs / "copyright").write_text("Files: *\nCopyright: 1987-2022 Free Software Foundation\n", encoding="utf-8")
    r = CliRunner().invoke(cli, ["recall", "who", "--memory", str(docs)])
    assert r.exit_code == 1 and "holds documents (README.gz, copyright)" in r.output, r.output


def test_the_working_folder_of_documents_given_as_a_memory_suggests_a_usable_name(tmp_path, monkeypatch):
    # `mycelial list --memory .` in a notes folder suggested `--memory -memory`, which click reads as an option
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "vask.txt").write_text("Zebulon Quartz kept the Vask light.", encoding="utf-8")
    monkeypatch.chdir(notes)
    for folder in (".", "sub/.."):
        (notes / "sub").mkdir(exist_ok=True)
        r = CliRunner().invoke(cli, ["recall", "who", "--memory", folder])
        assert r.exit_code == 1 and "holds documents (vask.txt" in r.output, r.output
        assert f"--memory {tmp_path / 'notes-memory'}`" in r.output and "-memory -memory" not in r.output, r.output
