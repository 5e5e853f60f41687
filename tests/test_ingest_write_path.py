"""Ingest's write path: the network observes the batch's codes from memory, the vector file is
written a few thousand rows at a time, and SQLite checkpoints its WAL less often; the memory
must be the one SQLite describes."""
from __future__ import annotations

import numpy as np
import pytest
from _memory_helpers import wiki_records

from core.memory import SemanticMemory, _commit, _ingest_progress, _vecfile
from core.reasoning.mycelial import MycelialVQVAE


@pytest.fixture(scope="module")
def codec():
    return MycelialVQVAE.load_default()


def _network_arrays(net) -> dict:
    return {k: np.array(getattr(net, k)) for k in ("keys_", "counts_", "group_counts_", "node_counts_",
                                                     "cx_keys_", "cx_counts_", "cx_group_counts_")}


def test_network_and_vector_file_equal_what_sqlite_holds(tmp_path, embedder, codec, wiki_docs, monkeypatch):
    monkeypatch.setattr(_commit, "KEEP_UP_ROWS", 20)
    recs = wiki_records(wiki_docs, n_docs=8, n_sents=10)
    # a record repeating stored sentences (chunks only referenced) and a changed one (replaced)
    dup = {"id": "dup", "title": "Dup", "text": "\n\n".join(recs[0]["text"].split("\n\n")[:3] + ["A new line."])}
    changed = dict(recs[2], text=recs[2]["text"] + "\n\nOne more sentence about Paris.")
    with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec, chunks_per_commit=16) as mem:
        writes = []
        keep_up = _commit.keep_up
        monkeypatch.setattr(_commit, "keep_up", lambda st: (writes.append(st.count_chunks()), keep_up(st)))
        mem.ingest(recs)
        mem.ingest([dup])  # no replace in its batch: the referenced chunks' codes come from SQLite
        mem.ingest([changed])
        n = mem.stats()["chunks"]
        assert 0 < len(writes) < n / 16  # batches of ~16 chunks; the file is written every >= 20 rows
        vf = _vecfile.vector_file(mem.store_, create=False)
        assert vf.covered() == mem.store_.last_ids()["chunk"]  # every row written once the ingest returns
        ids = np.arange(1, vf.covered() + 1)
        a_ids, a = mem.store_.vectors(ids)
        b_ids, b = mem.store_.embeddings(ids)
        np.testing.assert_array_equal(a_ids, b_ids)
        np.testing.assert_array_equal(a, b)
        assert mem.store_._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000  # restored
        live = _network_arrays(mem.network_)
        assert mem.network_.n_events_ == mem.store_.observed_chunks()
        mem._reset_network()  # observe every stored document again, codes read from SQLite
        for docs in mem.store_.iter_documents(0):
            mem._observe_docs(docs)
        again = _network_arrays(mem.network_)
    for k in live:
        np.testing.assert_array_equal(live[k], again[k], err_msg=k)


def test_the_progress_bar_ends_on_the_reports_counts(tmp_path, embedder, codec, wiki_docs, capsys):
    # the bar's chunks=/new= were set after full batches only: `mycelial ingest` ended on
    # "6/6 ... chunks=285, new=285" while its report said 402 chunks (the last batch never counted)
    recs = wiki_records(wiki_docs, n_docs=5, n_sents=6)
    with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec, chunks_per_commit=16) as mem:
        rep = mem.ingest(recs, progress=True)
    last = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert f"{rep.documents}/{rep.documents}" in last and f"chunks={rep.chunks}, new={rep.new_chunks}" in last, last


def _bar_lines(err: str) -> list[str]:
    return [line for line in err.replace("\r", "\n").splitlines() if line.startswith("ingest:")]


def test_a_finished_ingest_with_bad_inputs_ends_its_bar_at_100_percent(tmp_path, embedder, codec, wiki_docs, capsys):
    # the total counts files and JSONL lines that fail or are found empty, and they never advanced the bar:
    # a folder of 18 good files, 3 bad ones and a JSONL file with 3 bad lines ended at "92%| 69/75"
    import json

    notes = tmp_path / "notes"
    notes.mkdir()
    for i in range(2):
        (notes / f"good{i}.txt").write_text(" ".join(wiki_docs[i].sentences[:2]), encoding="utf-8")
    (notes / "binary.txt").write_bytes(b"\x00\x01" * 40)
    (notes / "latin.txt").write_bytes("Caf\xe9 de la Gare, Orla.".encode("latin-1"))
    (notes / "empty.txt").write_text("  \n", encoding="utf-8")
    (notes / "records.jsonl").write_text(json.dumps({"id": "r1", "text": wiki_docs[2].sentences[0]}) + "\n{bad\n"
                                         + json.dumps({"text": "no id"}) + "\n", encoding="utf-8")
    (notes / "broken.txt").symlink_to(tmp_path / "nowhere")  # a skip note: not in the total
    with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec) as mem:
        rep = mem.ingest(notes, progress=True)
    last = _bar_lines(capsys.readouterr().err)[-1]
    assert rep.documents == 3 and len([e for e in rep.errors if not e.skipped]) == 4, rep.errors  # as they were
    assert "100%" in last and "8/8" in last and f"chunks={rep.chunks}," in last, last


def test_the_bar_shows_the_chunks_of_the_documents_it_counts(tmp_path, embedder, codec, wiki_docs, capsys,
                                                              monkeypatch):
    # chunks= was set after the bar's update, so each line showed the chunks of the commit before:
    # "15%| 30/200" with no chunks, then "32%| 63/200 ... chunks=1034"
    from functools import partialmethod

    import tqdm

    # every update printed, as commits seconds apart are (tqdm skips those within 0.1 s of the last)
    monkeypatch.setattr(tqdm.tqdm, "__init__", partialmethod(tqdm.tqdm.__init__, mininterval=0))
    recs = wiki_records(wiki_docs, n_docs=6, n_sents=1)  # a chunk a document
    with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec, chunks_per_commit=2) as mem:
        rep = mem.ingest(recs, progress=True)
    assert rep.documents == rep.chunks == 6
    lines = [line for line in _bar_lines(capsys.readouterr().err) if not line.startswith("ingest:   0%")]
    assert len(lines) >= 3, lines
    for line in lines:
        done = line.split("/6")[0].rsplit(" ", 1)[-1]
        assert f"chunks={done}," in line, lines


def test_the_progress_bar_shows_chunk_counts_in_full(capsys):
    # `mycelial ingest` of a 5 MB file ended on "chunks=1e+4, new=2690": tqdm shortens a number
    # whose 3-digit form is shorter, so 10,009 chunks read as ten thousand
    from tqdm import tqdm

    from core.memory._ingest_progress import _progress
    from core.memory.types import IngestReport

    bar = tqdm(total=8, unit="doc", desc="ingest")
    _progress(bar, 5, IngestReport(chunks=10009, new_chunks=20000))
    bar.close()
    last = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert "chunks=10009, new=20000" in last, last


def test_an_unreadable_jsonl_file_does_not_stop_an_ingest_with_a_progress_bar(tmp_path, embedder, codec, monkeypatch):
    # `mycelial ingest notes` (the bar is on by default) with one unreadable .jsonl in notes: counting its lines
    # for the bar's total raised, so the command said only "Error: Permission denied: 'notes/r.jsonl'" and
    # ingested nothing; with -q (no bar) the rest was ingested and the file reported
    import builtins
    import os

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.txt").write_text("Pell Marrow tuned the organ of Quillan chapel.", encoding="utf-8")
    locked = notes / "r.jsonl"
    locked.write_text('{"id": "r1", "text": "record one"}\n', encoding="utf-8")
    locked.chmod(0)
    if os.geteuid() == 0:  # root reads through chmod 000: the file answers as it does for a user
        def refuse(path, *args, **kwargs):
            if str(path) == str(locked):
                raise PermissionError(13, "Permission denied", str(path))
            return builtins.open(path, *args, **kwargs)

        monkeypatch.setattr(_ingest_progress, "open", refuse, raising=False)  # where the bar counts JSONL lines
    try:
        with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec) as mem:
            rep = mem.ingest(notes, progress=True)
            assert mem.store_.document("a.txt") is not None
    finally:
        locked.chmod(0o644)
    if os.geteuid() != 0:  # (root's reader still reads r.jsonl: only the count was refused above)
        assert rep.documents == 1 and [e.source for e in rep.errors] == [str(locked)], rep.errors
        assert "Permission denied" in rep.errors[0].message
