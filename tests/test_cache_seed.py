"""A seed cache (``MYCELIAL_CACHE_SEED``) lends its vectors and is never purged: the test suite forgot
real WikiText documents and so deleted the developer's cached vectors from ~/.cache/mycelial."""
from __future__ import annotations

import os
import sqlite3

import numpy as np

from core.config import cache_dir
from core.embedding import EmbeddingCache, TextEmbedder
from core.memory import SemanticMemory


def _rows(path) -> int:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return db.execute("SELECT count(*) FROM embeddings").fetchone()[0]


def test_conftest_embeds_through_a_private_cache_seeded_by_the_developers():
    private = os.environ["MYCELIAL_CACHE_DIR"]
    assert os.path.basename(private).startswith("mycelial-test-cache-")
    assert os.environ["MYCELIAL_CACHE_SEED"] != os.path.join(private, "embeddings.sqlite")
    assert TextEmbedder()._cache.path == cache_dir() / "embeddings.sqlite"
    assert str(cache_dir()) == private


def test_a_forget_purges_the_memory_cache_and_never_the_seed(tmp_path, monkeypatch, wiki_sample, embedder):
    sentences, _, X = wiki_sample
    seeded, fresh = sentences[40], sentences[41]
    seed = tmp_path / "seed.sqlite"
    key = EmbeddingCache.key
    # a vector the model would not give `seeded`: served from the seed, it shows the seed was read
    EmbeddingCache(seed).put(embedder.cache_model, [key(seeded)], X[300:301])
    private = tmp_path / "private"
    private.mkdir()
    for export in ("onnx", "openvino"):  # the model exports, as conftest links them
        os.symlink(cache_dir() / export, private / export, target_is_directory=True)
    monkeypatch.setenv("MYCELIAL_CACHE_DIR", str(private))
    monkeypatch.setenv("MYCELIAL_CACHE_SEED", str(seed))
    emb = TextEmbedder()
    np.testing.assert_array_equal(emb.embed([seeded])[0], X[300])
    with SemanticMemory(tmp_path / "m", embedder=emb) as mem:
        mem.ingest([{"id": "a", "text": seeded}, {"id": "b", "text": fresh}])
        own = EmbeddingCache(private / "embeddings.sqlite")
        assert list(own.get(emb.cache_model, [key(fresh)], 384)) == [key(fresh)]  # computed: cached here
        assert mem.forget("a") and mem.forget("b")
    assert own.get(emb.cache_model, [key(seeded), key(fresh)], 384) == {}  # the memory's cache is purged
    assert _rows(seed) == 1  # the seed kept its vector (it was deleted from ~/.cache/mycelial before)
    np.testing.assert_array_equal(EmbeddingCache(seed).get(emb.cache_model, [key(seeded)], 384)[key(seeded)], X[300])


def test_an_unreadable_seed_is_a_miss_not_an_error(tmp_path):
    key = EmbeddingCache.key("a text")
    (tmp_path / "notes.txt").write_text("not a cache")
    for seed in (tmp_path / "notes.txt", tmp_path / "missing.sqlite", tmp_path):
        cache = EmbeddingCache(tmp_path / "own.sqlite", seed=seed)
        assert cache.get("m", [key], 4) == {}
        cache.put("m", [key], np.ones((1, 4), np.float32))
        assert list(cache.get("m", [key], 4)) == [key] and cache.delete([key]) == 1
