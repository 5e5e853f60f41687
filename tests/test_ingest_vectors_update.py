"""`ingest_vectors` with a known id and a moved vector replaces the document (it was kept as "unchanged",
stale), atomically: the old version or the new one, in SQLite, the index and the network, never a mix."""
from __future__ import annotations

import copy
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
from core.memory._vectors import VECTOR_ATOL
from core.reasoning.mycelial import MycelialVQVAE

# dies at the first statement after the commit of the replacing transaction: before any derived save
CHILD = KILL_AFTER_FORGET_COMMIT + textwrap.dedent("""
    mem.ingest_vectors(["5"], np.load(sys.argv[2]))
    os._exit(0)
""")


@pytest.fixture(scope="module")
def codec():
    return MycelialVQVAE.load_default()


def _rebuilt_network(folder, tmp_path, codec):
    """The network SQLite describes (a repaired copy): what exact forgetting must leave."""
    shutil.copytree(folder, tmp_path / "copy")
    with SemanticMemory(tmp_path / "copy", codec=codec) as m:
        m.repair()
        return m.network_


def _stored_vector(mem, doc_id: str) -> np.ndarray:
    ids, V = mem.store_.embeddings(mem.store_.document(doc_id)["chunk_ids"])
    assert len(ids) == 1
    return V[0]


def test_a_moved_vector_replaces_the_document_and_a_repeat_does_not(tmp_path, wiki_sample, codec):
    sentences, _, X = wiki_sample
    folder = tmp_path / "m"
    mem = SemanticMemory(folder, codec=codec)
    mem.ingest_vectors(range(20), X[:20], texts=sentences[:20])
    old_chunk, n = int(mem.store_.document("5")["chunk_ids"][0]), mem.store_.count_chunks()  # 19: a repeated line
    jitter = np.where(np.arange(384) % 2, 1, -1).astype(np.float32) * (VECTOR_ATOL / 5)  # float noise
    rep = mem.ingest_vectors([3, 4, 5], np.stack([X[3], X[4] + jitter, X[100]]),
                             texts=[sentences[3], sentences[4], sentences[100]])
    assert (rep.documents, rep.unchanged, rep.replaced, rep.new_chunks) == (1, 2, 1, 1)  # was (0, 3, 0, 0)
    assert np.abs(_stored_vector(mem, "4") - X[4]).max() < 1e-3  # a repeat keeps what was stored
    assert np.abs(_stored_vector(mem, "5") - X[100]).max() < 1e-3  # the new vector, not the old one
    new_chunk = mem.store_.document("5")["chunk_ids"]
    assert np.array_equal(mem.store_.codes(new_chunk), codec.encode(X[100:101]))
    assert mem.store_.count_chunks() == mem.index_.ntotal == len(mem.graph_) == n
    hit = mem.recall_vector(X[100], k=1, mode="similar")[0]
    assert (hit.doc_id, hit.text) == ("5", sentences[100]) and hit.score > 0.99
    assert old_chunk not in {h.chunk_id for h in mem.recall_vector(X[5], k=20, mode="similar")}
    assert mem.network_ == _rebuilt_network(folder, tmp_path, codec)  # the old contribution went exactly
    mem.close()
    with SemanticMemory(folder, codec=codec, read_only=True) as m:  # saved derived state matches the store
        assert m.index_.ntotal == n and m.recall_vector(X[100], k=1, mode="similar")[0].doc_id == "5"


def test_a_failed_update_keeps_the_old_version(tmp_path, wiki_sample, codec):
    _, _, X = wiki_sample
    mem = SemanticMemory(tmp_path / "m", codec=codec)
    mem.ingest_vectors(range(10), X[:10])
    net = copy.deepcopy(mem.network_)
    # a real SQLite failure after the old version's forget ran inside the transaction
    mem.store_._conn.execute("CREATE TEMP TRIGGER boom BEFORE INSERT ON documents "
                             "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END")
    with pytest.raises(sqlite3.IntegrityError, match="disk on fire"):
        mem.ingest_vectors(["5"], X[100:101])
    assert np.abs(_stored_vector(mem, "5") - X[5]).max() < 1e-3
    assert mem.store_.count_chunks() == mem.index_.ntotal == 10 and not mem.store_.forget_log()
    assert mem.network_ == net
    assert mem.recall_vector(X[5], k=1, mode="similar")[0].doc_id == "5"
    mem.store_._conn.execute("DROP TRIGGER boom")
    assert mem.ingest_vectors(["5"], X[100:101]).replaced == 1
    assert mem.recall_vector(X[100], k=1, mode="similar")[0].doc_id == "5"
    mem.close()


def test_a_crash_after_the_commit_reopens_as_the_new_version(tmp_path, wiki_sample, codec):
    _, _, X = wiki_sample
    folder = tmp_path / "m"
    with SemanticMemory(folder, codec=codec) as mem:
        mem.ingest_vectors(range(10), X[:10])
    np.save(tmp_path / "new.npy", X[100:101])
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", CHILD, str(folder), str(tmp_path / "new.npy")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 70, proc.stderr[-2000:]  # died after the commit, derived state unsaved
    with SemanticMemory(folder, codec=codec) as mem:  # catches up from the forget log and the new rows
        assert np.abs(_stored_vector(mem, "5") - X[100]).max() < 1e-3
        assert mem.store_.count_chunks() == mem.index_.ntotal == len(mem.graph_) == 10
        assert mem.recall_vector(X[100], k=1, mode="similar")[0].doc_id == "5"
        assert mem.recall_vector(X[5], k=1, mode="similar")[0].doc_id != "5"
        net = mem.network_
    assert net == _rebuilt_network(folder, tmp_path, codec)


def test_a_moved_vector_of_a_shared_text_gets_its_own_chunk(tmp_path, wiki_sample, codec):
    sentences, _, X = wiki_sample
    folder = tmp_path / "m"
    mem = SemanticMemory(folder, codec=codec)
    mem.ingest_vectors(["a", "b"], X[[30, 30]], texts=[sentences[30]] * 2)  # one text: one chunk for both
    assert mem.store_.count_chunks() == 1
    rep = mem.ingest_vectors(["a"], X[101:102], texts=[sentences[30]])
    assert (rep.replaced, rep.new_chunks) == (1, 1)  # was: "a" referenced b's chunk, its old vector
    assert np.abs(_stored_vector(mem, "a") - X[101]).max() < 1e-3
    assert np.abs(_stored_vector(mem, "b") - X[30]).max() < 1e-3
    assert mem.recall_vector(X[101], k=1, mode="similar")[0].doc_id == "a"
    assert mem.store_.count_chunks() == mem.index_.ntotal == 2
    assert mem.network_ == _rebuilt_network(folder, tmp_path, codec)
    mem.close()
