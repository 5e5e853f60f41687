"""An index outgrown during its own training is retrained again at once, not on the next ingest.

The 1M benchmark found it: the first training (at 50k) swapped in after the last ingest batch,
leaving an index trained at 50k holding 1M vectors until something ingested again. Here the
ordering is made certain without touching the builder: the test holds the memory's lock (as a
long writer does), so the first build cannot swap until the memory is 8x past its size.
Synthetic clustered unit vectors: these tests check mechanics, not recall quality.
"""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import faiss
import numpy as np

from core.memory import SemanticMemory
from core.memory._retrain import wait_for_retrain

faiss.omp_set_num_threads(1)
TRAIN_AT, N = 256, 2400  # trained at 256, outgrown at 8 x 256 = 2048 < 2400
NPROBE = 64
ROOT = Path(__file__).resolve().parent.parent


def clustered(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, 384))
    X = centres[rng.integers(0, 40, n)] + 0.6 * rng.standard_normal((n, 384))
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


X = clustered(N + 100)


def wait_until(cond, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.002)


def first_build_started(mem) -> bool:
    events = getattr(mem, "retrain_events_", [])
    return bool(events) and events[0].get("n") is not None


def outgrow_during_first_training(mem) -> None:
    """Ingest TRAIN_AT vectors (the first training starts), then the rest before it can swap."""
    with mem._lock:
        mem.ingest_vectors(range(TRAIN_AT), X[:TRAIN_AT])
        wait_until(lambda: first_build_started(mem))  # it counted the memory at TRAIN_AT
        for s in range(TRAIN_AT, N, 512):  # many batches while it trains
            mem.ingest_vectors(range(s, min(s + 512, N)), X[s:min(s + 512, N)])
        assert mem.index_.is_exact  # the first build is still waiting for the lock


def recall_at_10(mem, Q) -> float:
    exact = np.argsort(-(Q @ X[:N].T), axis=1)[:, :10]
    got = [[int(h.doc_id) for h in mem.recall_vector(q, 10, "similar", explain=False)] for q in Q]
    return float(np.mean([len(set(g) & set(e.tolist())) / 10 for g, e in zip(got, exact)]))


def self_hits(mem, ids) -> bool:
    return all(mem.recall_vector(X[i], 1, "similar", explain=False)[0].doc_id == str(i) for i in ids)


def test_outgrown_during_training_retrains_without_another_ingest(tmp_path):
    mem = SemanticMemory(tmp_path / "m", train_at=TRAIN_AT, nprobe=NPROBE)
    outgrow_during_first_training(mem)
    assert wait_for_retrain(mem, timeout=120)  # the whole chain, no further ingest
    idx = mem.index_
    assert idx.ntotal == N and idx.trained_on_ == N and not idx.needs_training(N)
    assert [e["n"] for e in mem.retrain_events_] == [TRAIN_AT, N]
    assert all(e["swapped"] is not None for e in mem.retrain_events_)
    assert not mem._retrain_thread.is_alive()
    assert self_hits(mem, range(0, N, 97)) and recall_at_10(mem, X[N:N + 50]) >= 0.9
    mem.close()
    again = SemanticMemory(tmp_path / "m", train_at=TRAIN_AT, nprobe=NPROBE, read_only=True)
    assert again.index_.trained_on_ == N and again.index_.ntotal == N  # the chained index was saved
    again.close()


def test_recall_and_forget_while_the_chained_build_runs(tmp_path):
    """The second build replays a forget made before its swap; recall answers throughout."""
    mem = SemanticMemory(tmp_path / "m", train_at=TRAIN_AT, nprobe=NPROBE)
    outgrow_during_first_training(mem)
    wait_until(lambda: len(mem.retrain_events_) == 2 and mem.retrain_events_[1]["n"] is not None)
    with mem._lock:  # the second build cannot swap before this forget
        assert mem.index_.trained_on_ == TRAIN_AT  # still the first link's index
        assert mem.forget("5")
        assert self_hits(mem, range(1, N, 97))  # recall answers from the live index meanwhile
    assert wait_for_retrain(mem, timeout=120)
    assert mem.index_.trained_on_ == N and mem.index_.ntotal == N - 1
    assert "5" not in [h.doc_id for h in mem.recall_vector(X[5], 20, "similar", explain=False)]
    assert mem.index_._removed is None  # no removals recorded on the live index after the chain
    mem.close()


def test_close_stops_the_chain_cleanly_and_reopen_retrains(tmp_path):
    """close() while the first build waits to swap: it swaps and saves that build, starts no other."""
    mem = SemanticMemory(tmp_path / "m", train_at=TRAIN_AT, nprobe=NPROBE)
    with mem._lock:
        outgrow_during_first_training(mem)
        closer = threading.Thread(target=mem.close)
        closer.start()
        wait_until(lambda: mem._retrain_stop.is_set())  # close asked the chain to stop
    closer.join(timeout=120)
    assert not closer.is_alive()  # no hang
    assert [e["n"] for e in mem.retrain_events_] == [TRAIN_AT]  # no second link after close
    assert not mem._retrain_thread.is_alive()
    ro = SemanticMemory(tmp_path / "m", train_at=TRAIN_AT, nprobe=NPROBE, read_only=True)
    assert ro.index_.trained_on_ == TRAIN_AT and ro.index_.ntotal == N  # whole, outgrown: as it was swapped
    assert self_hits(ro, range(0, N, 97))
    ro.close()
    rw = SemanticMemory(tmp_path / "m", train_at=TRAIN_AT, nprobe=NPROBE)  # writable: retrains on open
    assert wait_for_retrain(rw, timeout=120) and rw.index_.trained_on_ == N and rw.index_.ntotal == N
    assert recall_at_10(rw, X[N:N + 50]) >= 0.9
    rw.close()


CHILD = """
import os, sys, time
sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r})
import faiss; faiss.omp_set_num_threads(1)
import test_retrain_chain as t
from core.memory import SemanticMemory
mem = SemanticMemory({folder!r}, train_at=t.TRAIN_AT, nprobe=t.NPROBE)
t.outgrow_during_first_training(mem)
t.wait_until(lambda: len(mem.retrain_events_) == 2 and mem.retrain_events_[1].get("n") is not None)
with mem._lock:  # the second build cannot swap now
    print("killed", mem.index_.trained_on_, mem.index_.ntotal, mem._retrain_thread.is_alive(), flush=True)
    os._exit(0)
"""


def test_process_killed_during_a_chained_retrain_reopens_consistently(tmp_path):
    folder = tmp_path / "m"
    code = CHILD.format(root=str(ROOT), tests=str(ROOT / "tests"), folder=str(folder))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"killed {TRAIN_AT} {N} True" in out.stdout  # the first link swapped, the second was building
    assert not any(p.name.endswith(".tmp") and p.name.startswith(".index") for p in folder.iterdir())
    ro = SemanticMemory(folder, train_at=TRAIN_AT, nprobe=NPROBE, read_only=True)
    assert ro.index_.trained_on_ == TRAIN_AT and ro.index_.ntotal == N  # the first link's saved index
    assert self_hits(ro, range(0, N, 97))
    ro.close()
    rw = SemanticMemory(folder, train_at=TRAIN_AT, nprobe=NPROBE)
    assert wait_for_retrain(rw, timeout=120) and rw.index_.trained_on_ == N
    assert recall_at_10(rw, X[N:N + 50]) >= 0.9
    rw.close()
