"""Removing chunks and dropping them from reinforcement events happen in one transaction, on every
path that removes chunks (re-ingest of an edited document, forget, ``ingest --sync``): a kill or a
failing statement leaves the old memory or the new one, never events naming chunks that are gone.
Forgetting several documents in one call is one transaction and leaves the memory one-by-one
forgetting leaves."""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from _memory_helpers import KILL_AFTER_FORGET_COMMIT
from core.memory import SemanticMemory
from core.memory.documents import sync_folder
from core.reasoning.mycelial import MycelialVQVAE

PARAS = ["Zebulon Quartz kept the lighthouse of Vask for forty years.",
         "Storm petrels nest on the cliffs below the lighthouse.",
         "The ferry from Tessary calls at Vask twice a week."]
DOC = {"id": "vask", "title": "Vask", "text": "\n\n".join(PARAS)}
OTHER = {"id": "pellow", "title": "Pellow", "text": "The harbour of Pellow freezes late in winter."}
EDITED = dict(DOC, text="\n\n".join(PARAS[:2] + ["The ferry from Tessary calls at Vask every week."]))
QUERY = "who kept the lighthouse"

# dies at the first statement after the commit that wrote a forget-log entry: before anything else runs
CHILD = KILL_AFTER_FORGET_COMMIT + textwrap.dedent("""
    if sys.argv[2] == "ingest":
        mem.ingest([json.loads(sys.argv[3])])
    else:
        mem.forget(sys.argv[3])
    os._exit(0)
""")


@pytest.fixture(scope="module")
def codec():
    return MycelialVQVAE.load_default()


def _chunk_by_text(mem, doc_id: str, text: str) -> int:
    ids = mem.store_.document(doc_id)["chunk_ids"].tolist()
    rows = dict(mem.store_._reader.execute(f"SELECT id, text FROM chunks WHERE id IN ({','.join('?' * len(ids))})",
                                           ids).fetchall())
    return next(c for c in ids if rows.get(c) == text)


def _dead_ids(mem) -> list[int]:
    """Chunk ids reinforcement events name that no chunk has."""
    named = sorted({c for e in mem.reinforcements() for c in e["chunk_ids"]})
    alive = {r[0] for r in mem.store_._reader.execute("SELECT id FROM chunks")}
    return [c for c in named if c not in alive]


def _run_child(folder, *args):
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", CHILD, str(folder), *args], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 70, proc.stderr[-2000:]  # died right after the commit


def test_a_kill_after_an_edited_documents_commit_keeps_the_reinforcement_on_its_kept_chunk(tmp_path, embedder,
                                                                                          codec):
    import json

    folder = tmp_path / "m"
    with SemanticMemory(folder, embedder=embedder, codec=codec) as m:
        m.ingest([DOC, OTHER])
        old = _chunk_by_text(m, "vask", PARAS[0])
        eid = m.reinforce(QUERY, [old, m.store_.document("pellow")["chunk_ids"][0].item()])
    _run_child(folder, "ingest", json.dumps(EDITED))
    with SemanticMemory(folder, embedder=embedder, codec=codec) as m:
        assert m.store_.content_hashes(["vask"])  # the edit was committed
        new = _chunk_by_text(m, "vask", PARAS[0])
        assert new != old
        event = next(e for e in m.reinforcements() if e["id"] == eid)
        # was: the event still named the old id (the update came in a later transaction), so the
        # reinforcement lifted nothing; a reopen did not mend it
        assert new in event["chunk_ids"] and old not in event["chunk_ids"], event
        assert _dead_ids(m) == []
        assert next(h for h in m.recall(QUERY, k=5) if h.chunk_id == new).why.get("reinforcement", 0) > 0


def test_a_kill_after_a_forgets_commit_leaves_no_event_naming_its_chunks(tmp_path, embedder, codec):
    folder = tmp_path / "m"
    with SemanticMemory(folder, embedder=embedder, codec=codec) as m:
        m.ingest([DOC, OTHER])
        only = m.reinforce(QUERY, m.store_.document("pellow")["chunk_ids"].tolist())
        both = m.reinforce(QUERY, [_chunk_by_text(m, "vask", PARAS[0]),
                                   *m.store_.document("pellow")["chunk_ids"].tolist()])
    _run_child(folder, "forget", "pellow")
    with SemanticMemory(folder, embedder=embedder, codec=codec) as m:
        assert m.store_.document("pellow") is None
        events = {e["id"]: e for e in m.reinforcements()}
        assert _dead_ids(m) == [] and only not in events, events  # was: both kept pellow's chunk id
        assert events[both]["chunk_ids"] == [_chunk_by_text(m, "vask", PARAS[0])]


def _files(folder: Path, n: int) -> list[str]:
    folder.mkdir()
    for i in range(n):
        (folder / f"f{i}.txt").write_text(f"Harbour note {i}: the ferry number {i} leaves Pellow at {i + 6} o'clock.\n")
    return [f"f{i}.txt" for i in range(n)]


def test_a_failing_statement_in_sync_keeps_every_document_and_event(tmp_path, embedder, codec):
    notes = tmp_path / "notes"
    names = _files(notes, 4)
    mem = SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec)
    mem.ingest([str(notes)])
    eid = mem.reinforce("ferry", [int(mem.store_.document(n)["chunk_ids"][0]) for n in names])
    before = [(h.doc_id, h.chunk_id) for h in mem.recall("ferry from Pellow", k=4, mode="similar")]
    n_index = mem.index_.ntotal
    for n in names[:2]:
        (notes / n).unlink()
    # a real SQLite failure while the removed chunks leave the events
    mem.store_._conn.execute("CREATE TEMP TRIGGER boom BEFORE UPDATE ON reinforcements "
                             "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END")
    with pytest.raises(sqlite3.IntegrityError, match="disk on fire"):
        sync_folder(mem, notes)
    # was: f0 and f1 were forgotten (committed) and the event kept naming their chunks
    assert mem.store_.count_documents() == 4 and mem.index_.ntotal == n_index and not mem.store_.forget_log()
    assert _dead_ids(mem) == [] and len(mem.reinforcements()[0]["chunk_ids"]) == 4
    assert [(h.doc_id, h.chunk_id) for h in mem.recall("ferry from Pellow", k=4, mode="similar")] == before
    mem.store_._conn.execute("DROP TRIGGER boom")
    assert sorted(sync_folder(mem, notes)) == names[:2]
    assert [e["chunk_ids"] for e in mem.reinforcements() if e["id"] == eid][0] == \
        [int(mem.store_.document(n)["chunk_ids"][0]) for n in names[2:]]
    assert _dead_ids(mem) == [] and mem.index_.ntotal == n_index - 2
    mem.close()


def test_forgetting_several_ids_is_all_or_nothing(tmp_path, embedder, codec):
    mem = SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec)
    mem.ingest([{"id": f"d{i}", "text": f"Harbour note {i}: the ferry number {i} leaves at {i + 6}."} for i in range(5)])
    mem.store_._conn.execute("CREATE TEMP TRIGGER boom BEFORE DELETE ON documents WHEN old.doc_key = 'd3' "
                             "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END")
    with pytest.raises(sqlite3.IntegrityError, match="disk on fire"):
        mem.forget_many(["d0", "d1", "d3"])
    assert mem.store_.count_documents() == mem.index_.ntotal == 5  # was: d0 and d1 gone, d3 kept
    mem.store_._conn.execute("DROP TRIGGER boom")
    assert mem.forget_many(["d0", "nope", "d1", "d3", "d1"]) == ["d0", "d1", "d3"]
    assert mem.store_.count_documents() == mem.index_.ntotal == 2
    with pytest.raises(TypeError, match=r"forget\('d2'\)"):  # a lone id, not its letters
        mem.forget_many("d2")
    assert mem.store_.count_documents() == 2
    mem.close()


def _snapshot(mem) -> dict:
    """What two ways of forgetting must agree on."""
    r = mem.store_._reader
    X = np.ones((1, 384), dtype=np.float32) / np.sqrt(384)
    _, ids = mem.index_.search(X, mem.index_.ntotal)
    return {"docs": r.execute("SELECT id, doc_key, chunk_ids FROM documents ORDER BY id").fetchall(),
            "chunks": r.execute("SELECT id, hash, doc_id, position, refs, text, codes, embedding, phrases"
                                " FROM chunks ORDER BY id").fetchall(),
            "concepts": r.execute("SELECT id, text, df FROM concepts ORDER BY id").fetchall(),
            "index": sorted(ids[0].tolist()), "graph": len(mem.graph_),
            "events": [(e["id"], e["chunk_ids"]) for e in mem.reinforcements()],
            "recall": [[(h.doc_id, h.chunk_id, round(h.score, 5)) for h in mem.recall(q, k=8, mode=m)]
                       for q in ("Which emperor adopted Trajan?", "a ship in a storm") for m in ("similar", "hybrid")]}


def test_forgetting_many_at_once_equals_forgetting_them_one_by_one(tmp_path, embedder, codec, wiki_docs):
    docs = [{"id": f"w{i}", "title": d.title, "text": " ".join(d.sentences[:12])} for i, d in enumerate(wiki_docs[:10])]
    docs.append({"id": "twin", "title": docs[2]["title"], "text": docs[2]["text"]})  # shares all of w2's chunks
    folder = tmp_path / "a"
    with SemanticMemory(folder, embedder=embedder, codec=codec) as m:
        m.ingest(docs)
        hits = m.recall("Which emperor adopted Trajan?", k=6, mode="similar")
        m.reinforce("Which emperor adopted Trajan?", [h.chunk_id for h in hits[:3]])
        m.reinforce("a ship in a storm", [int(m.store_.document("w2")["chunk_ids"][0]),
                                          int(m.store_.document("w5")["chunk_ids"][0])])
    shutil.copytree(folder, tmp_path / "b")
    gone = ["w1", "w2", "w5", "twin", "w8", "missing"]
    with SemanticMemory(tmp_path / "a", embedder=embedder, codec=codec) as one:
        assert [d for d in gone if one.forget(d)] == gone[:-1]
        net_one, snap_one = one.network_, _snapshot(one)
    with SemanticMemory(tmp_path / "b", embedder=embedder, codec=codec) as many:
        assert many.forget_many(gone) == gone[:-1]
        assert many.network_ == net_one
        assert _snapshot(many) == snap_one
    with SemanticMemory(tmp_path / "a", embedder=embedder, codec=codec) as one, \
            SemanticMemory(tmp_path / "b", embedder=embedder, codec=codec) as many:  # as saved
        assert many.network_ == one.network_ and _snapshot(many) == _snapshot(one)
        assert not many.store_.forget_log() and _dead_ids(many) == []


def test_a_writable_open_drops_the_dead_ids_an_older_crash_left(tmp_path, embedder, codec):
    folder = tmp_path / "m"
    with SemanticMemory(folder, embedder=embedder, codec=codec) as m:
        m.ingest([DOC, OTHER])
        alive = _chunk_by_text(m, "vask", PARAS[0])
        keep, gone = m.reinforce(QUERY, [alive]), m.reinforce(QUERY, [alive])
        with m.store_.atomic():  # what a kill between the forget's commit and the events' update left
            m.store_._conn.execute("UPDATE reinforcements SET chunk_ids = ? WHERE id = ?", (f"[{alive}, 999]", keep))
            m.store_._conn.execute("UPDATE reinforcements SET chunk_ids = '[998, 999]' WHERE id = ?", (gone,))
    with SemanticMemory(folder, embedder=embedder, codec=codec, read_only=True) as ro:  # reads write nothing
        assert [e["chunk_ids"] for e in ro.reinforcements()] == [[alive, 999], [998, 999]]
    with SemanticMemory(folder, embedder=embedder, codec=codec) as m:  # was: both kept their dead ids
        assert [(e["id"], e["chunk_ids"]) for e in m.reinforcements()] == [(keep, [alive])]


SECRET = "Zebulon Quartz hid the key under the ninth stone"


def _memory_with_a_secret(tmp_path, X):
    """A memory of 8 notes, the fourth (id "3") naming ``SECRET``; returns (memory, folder)."""
    folder = tmp_path / "m"
    mem = SemanticMemory(folder)
    mem.ingest_vectors([str(i) for i in range(8)], X[:8], texts=[f"{SECRET} {i}." if i == 3 else f"note {i}."
                                                                  for i in range(8)])
    return mem, folder


def test_a_forget_beside_a_reader_in_a_read_transaction_does_not_wait_for_it(tmp_path, wiki_sample):
    # the checkpoint waited out SQLite's 60 s busy timeout for the reader, twice (the save's and the
    # forget's): the forget took 122 s, holding the write lock; now it leaves the WAL for the next checkpoint
    import time

    X = wiki_sample[2]
    mem, folder = _memory_with_a_secret(tmp_path, X)
    assert any(SECRET.encode() in f.read_bytes() for f in folder.glob("memory.sqlite*"))
    reader = sqlite3.connect(folder / "memory.sqlite", timeout=0)  # another process's, in a read transaction
    reader.execute("BEGIN")
    held = reader.execute("SELECT count(*) FROM chunks").fetchone()[0]
    t0 = time.perf_counter()
    assert mem.forget("3")
    assert time.perf_counter() - t0 < 10
    assert reader.execute("SELECT count(*) FROM chunks").fetchone()[0] == held == 8  # its snapshot, intact
    reader.execute("COMMIT")
    assert [h.doc_id for h in mem.recall_vector(X[3], k=8, mode="similar")].count("3") == 0
    mem.close()  # the checkpoint the reader kept from finishing: no trace of the text in the file or a WAL
    for f in folder.glob("memory.sqlite*"):
        assert SECRET.encode() not in f.read_bytes(), f.name
    reader.close()


def test_a_forget_beside_a_short_read_leaves_no_trace_before_the_memory_closes(tmp_path, wiki_sample):
    # a recall in flight (a server's) holds its snapshot for milliseconds: the forget's checkpoint waits
    # that out (up to a second) instead of leaving the forgotten text in the WAL until the next one
    import threading
    import time

    X = wiki_sample[2]
    mem, folder = _memory_with_a_secret(tmp_path, X)
    reader = sqlite3.connect(folder / "memory.sqlite", timeout=0, check_same_thread=False)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM chunks").fetchone()
    ends = threading.Timer(0.3, lambda: reader.execute("COMMIT"))
    ends.start()
    t0 = time.perf_counter()
    assert mem.forget("3")
    assert time.perf_counter() - t0 < 10
    ends.join()
    for f in folder.glob("memory.sqlite*"):  # the memory still open: the checkpoint finished all the same
        assert SECRET.encode() not in f.read_bytes(), f.name
    mem.close()
    reader.close()
