"""The vector index: exact while small, trained OPQ+IVF+PQ when large, ids = chunk ids, atomic files."""
from __future__ import annotations

import faiss
import numpy as np
import pytest

from core.memory.index import EXACT, VectorIndex, default_factory

faiss.omp_set_num_threads(1)  # OpenMP spinning on a shared 2-core machine costs 10x


def test_exact_search_matches_numpy(wiki_sample):
    _, _, X = wiki_sample
    X = X.astype(np.float16).astype(np.float32)  # as the memory stores and indexes them
    ids = np.arange(100, 100 + len(X), dtype=np.int64)
    idx = VectorIndex()
    idx.add(ids, X)
    D, I = idx.search(X[:5], 10)
    ref = -np.sort(-(X[:5] @ X.T), axis=1)[:, :10]
    np.testing.assert_allclose(D, ref, rtol=1e-5, atol=1e-5)  # (duplicate sentences tie, so compare scores)
    got = np.einsum("qd,qkd->qk", X[:5], X[I - 100])
    np.testing.assert_allclose(got, D, rtol=1e-5, atol=1e-5)  # ids point at the vectors scored


def test_sentinel_when_fewer_than_k_and_empty(wiki_sample):
    _, _, X = wiki_sample
    idx = VectorIndex()
    D, I = idx.search(X[:1], 3)
    assert I.tolist() == [[-1, -1, -1]]
    idx.add([7, 9], X[:2])
    D, I = idx.search(X[:1], 4)
    assert I[0, :2].tolist() == [7, 9] and I[0, 2:].tolist() == [-1, -1]


def test_remove(wiki_sample):
    _, _, X = wiki_sample
    idx = VectorIndex()
    idx.add(np.arange(50), X[:50])
    assert idx.remove([3, 4, 999]) == 2
    _, I = idx.search(X[3:4], 50)
    assert 3 not in I[0] and 4 not in I[0] and idx.ntotal == 48


def test_trained_index_finds_neighbours_and_removes(wiki_sample):
    _, _, X = wiki_sample
    X = X[:1200]
    idx = VectorIndex(factory="OPQ8,IVF16,PQ8x4", nprobe=16, train_at=1000, opq_iterations=2)
    assert idx.needs_training(len(X))
    idx.train(X)
    assert not idx.is_exact and idx.factory_ == "OPQ8,IVF16,PQ8x4"
    ids = np.arange(len(X), dtype=np.int64) + 5
    idx.add(ids, X)
    _, I = idx.search(X[:50], 20)
    assert np.mean([ids[i] in I[i] for i in range(50)]) > 0.6  # the vector itself is found among 20 (4-bit PQ: coarse)
    assert idx.remove(ids[:10]) == 10
    _, I = idx.search(X[:10], 20)
    assert not np.isin(ids[:10], I).any()


def test_write_read_round_trip_and_corrupt(tmp_path, wiki_sample):
    _, _, X = wiki_sample
    idx = VectorIndex()
    idx.add(np.arange(20), X[:20])
    idx.write(tmp_path / "i.npz", {"last_chunk": 20, "forget_seq": 0})
    back, header = VectorIndex.read(tmp_path / "i.npz")
    assert header["last_chunk"] == 20 and back.factory_ == EXACT and back.ntotal == 20
    np.testing.assert_array_equal(back.search(X[:3], 5)[1], idx.search(X[:3], 5)[1])
    (tmp_path / "bad.npz").write_bytes((tmp_path / "i.npz").read_bytes()[:200])
    with pytest.raises(ValueError, match="unreadable vector index"):
        VectorIndex.read(tmp_path / "bad.npz")
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary left behind


def test_bad_inputs():
    idx = VectorIndex()
    with pytest.raises(ValueError, match="384 columns"):
        idx.add([1], np.zeros((1, 10), np.float32))
    with pytest.raises(ValueError, match="ids must have shape"):
        idx.add([1, 2], np.ones((1, 384), np.float32))
    with pytest.raises(ValueError, match="k must be"):
        idx.search(np.ones((1, 384), np.float32), 0)
    assert default_factory(10_000) == "IVF512,PQ64x4fs" and default_factory(50_000) == "IVF1024,PQ64x4fs"
    assert default_factory(10**7) == "IVF2048,PQ64x4fs" and default_factory(100, 128) == "IVF64,PQ32x4fs"


def test_exact_index_keeps_float16_and_equals_a_float32_flat_one(tmp_path, wiki_sample):
    """fp16 storage loses nothing on the float16-rounded vectors a memory indexes: same ids and
    scores as a float32 flat index, half its bytes; an exact index saved as Flat still reads as exact."""
    _, _, X = wiki_sample
    X = X.astype(np.float16).astype(np.float32)
    ids = np.arange(len(X), dtype=np.int64)
    idx = VectorIndex(train_at=10**6)
    idx.add(ids, X)
    flat = faiss.index_factory(X.shape[1], "IDMap2,Flat", faiss.METRIC_INNER_PRODUCT)
    flat.add_with_ids(X, ids)
    D, I = idx.search(X[:20], 10)
    Df, If = flat.search(X[:20], 10)
    np.testing.assert_array_equal(I, If)
    np.testing.assert_allclose(D, Df, rtol=0, atol=1e-6)
    assert idx.factory_ == EXACT == "IDMap2,SQfp16"
    assert faiss.serialize_index(idx.index_).nbytes < 0.6 * faiss.serialize_index(flat).nbytes
    old = VectorIndex(train_at=10**6)
    old.index_, old.factory_ = flat, "IDMap2,Flat"
    old.write(tmp_path / "old.npz", {"last_chunk": len(X), "forget_seq": 0})
    back, _ = VectorIndex.read(tmp_path / "old.npz", train_at=len(X))
    assert back.is_exact and back.trained_on_ == 0 and back.needs_training(len(X))
    np.testing.assert_array_equal(back.search(X[:5], 10)[1], If[:5])
