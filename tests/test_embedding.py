import numpy as np
import pytest

from core.embedding import EmbeddingCache, TextEmbedder


def test_real_model_gives_unit_norm_semantic_vectors(tmp_path):
    emb = TextEmbedder(cache=tmp_path / "cache.sqlite")
    X = emb.embed(["A cat sat on the mat.", "A kitten rested on the rug.", "Stock markets fell sharply."])
    assert X.shape == (3, 384) and X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    assert X[0] @ X[1] > X[0] @ X[2] + 0.2


def test_cache_returns_identical_vectors_without_the_model(tmp_path):
    path = tmp_path / "cache.sqlite"
    texts = ["The river flooded the valley.", "The river flooded the valley.", "Bees make honey."]
    first = TextEmbedder(cache=path, backend="torch").embed(texts)
    np.testing.assert_array_equal(first[0], first[1])
    cached = TextEmbedder(model="all-MiniLM-L6-v2", cache=path, backend="torch")
    cached._model = _NoModel()  # any call to the model would fail: everything must come from the cache
    np.testing.assert_array_equal(cached._cache.get("all-MiniLM-L6-v2", [EmbeddingCache.key(texts[2])], 384)[
        EmbeddingCache.key(texts[2])], first[2])
    np.testing.assert_array_equal(cached.embed(texts), first)


class _NoModel:
    def get_embedding_dimension(self):
        return 384

    def encode(self, *args, **kwargs):
        raise AssertionError("the model was called although every text was cached")


@pytest.mark.parametrize("bad, message", [
    ("just one string", "sequence of strings"),
    (["ok", ""], r"texts\[1\] is empty"),
    (["ok", b"bytes"], r"texts\[1\] must be str"),
    (["bin\x00ary"], "NUL byte"),
])
def test_bad_texts_are_rejected(bad, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        TextEmbedder(cache=tmp_path / "c.sqlite").embed(bad)


def test_cache_delete_seeks_by_primary_key_under_every_model(tmp_path):
    # a forget purges its texts' vectors with DELETE ... WHERE key IN (...): the primary key is (model, key),
    # so SQLite scanned the whole cache at every forget (0.13 s each with a 1.7 GB cache: `ingest --sync`
    # forgetting 500 files spent 66 s there)
    import numpy as np

    cache = EmbeddingCache(tmp_path / "cache.sqlite")
    keys = [EmbeddingCache.key(t) for t in ("one", "two", "three")]
    vecs = np.eye(3, 4, dtype=np.float32)
    for model in ("m-a", "m-b|onnx"):
        cache.put(model, keys, vecs)
    statements = []
    cache._conn.set_trace_callback(statements.append)
    assert cache.delete(keys[:2]) == 4  # under both models
    cache._conn.set_trace_callback(None)
    for model in ("m-a", "m-b|onnx"):
        assert list(cache.get(model, keys, 4)) == [keys[2]]
    deletes = [s for s in statements if s.lstrip().upper().startswith("DELETE")]
    assert deletes
    for sql in deletes:
        plan = " ".join(row[-1] for row in cache._conn.execute("EXPLAIN QUERY PLAN " + sql))
        assert "SCAN" not in plan and "PRIMARY KEY" in plan, (sql, plan)


def test_a_folder_given_as_the_cache_is_refused_by_name(tmp_path):
    # it failed at the first embed with SQLite's "unable to open database file", naming neither the path nor a file
    said = f"embedding cache {tmp_path} is a folder; a cache is a file (SQLite), e.g. {tmp_path / 'embeddings.sqlite'}"
    for make in (lambda: TextEmbedder(cache=tmp_path), lambda: TextEmbedder(cache=str(tmp_path)),
                 lambda: EmbeddingCache(tmp_path)):
        with pytest.raises(ValueError) as info:
            make()
        assert str(info.value) == said
    assert list(tmp_path.iterdir()) == []
    assert TextEmbedder(cache=tmp_path / "embeddings.sqlite").embed(["Lichens grow on rocks."]).shape == (1, 384)
