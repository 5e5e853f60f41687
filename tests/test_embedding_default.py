"""The default backend: openvino-int8 for new memories, torch without the extra, old memories keep theirs.

Uses the openvino-int8 model of the shared cache (built once, ~30 s, by the first test that
embeds with the default); nothing here builds one per test.
"""
from __future__ import annotations

import logging
import sqlite3
import sys

import numpy as np
import pytest

import core.embedding as embedding
from core.embedding import DEFAULT_BACKEND, TextEmbedder, default_backend


@pytest.fixture(scope="module")
def codec():
    from core.reasoning.mycelial import MycelialVQVAE

    return MycelialVQVAE.load_default()


@pytest.fixture()
def no_openvino(monkeypatch):
    """What an install without the ``openvino`` extra looks like (the module is not importable)."""
    monkeypatch.setitem(sys.modules, "openvino", None)
    monkeypatch.setattr(embedding, "_warned", False)


def _records(wiki_docs):
    return [{"id": f"w{i}", "text": "\n\n".join(d.sentences[:6])} for i, d in enumerate(wiki_docs[:3])]


def _stored(folder):
    """(id, codes, embedding) of every chunk, read from the file itself."""
    with sqlite3.connect(folder / "memory.sqlite") as conn:
        return conn.execute("SELECT id, codes, embedding FROM chunks ORDER BY id").fetchall()


def test_default_is_openvino_int8():
    assert DEFAULT_BACKEND == "openvino-int8" == default_backend()
    emb = TextEmbedder(cache=False)
    assert emb.backend == "openvino-int8" and emb.runtime == "onnx"
    assert emb.cache_model.startswith("all-MiniLM-L6-v2|openvino-int8|")  # keyed by the build recipe


def test_without_the_extra_new_embedders_fall_back_to_torch_with_one_warning(no_openvino, caplog, tmp_path, codec):
    from core._extras import MissingExtraError
    from core.memory import SemanticMemory

    with caplog.at_level(logging.WARNING, logger="mycelial.embedding"):
        assert TextEmbedder(cache=False).backend == "torch"
        assert default_backend() == "torch"
    warnings = [r.getMessage() for r in caplog.records if r.name == "mycelial.embedding"]
    assert len(warnings) == 1 and "pip install 'mycelial[openvino]'" in warnings[0] and "\n" not in warnings[0]
    # asked for by name it is an error, not a silent fallback
    with pytest.raises(MissingExtraError, match=r"pip install 'mycelial\[openvino\]'"):
        TextEmbedder(cache=False, backend="openvino-int8").embed(["a text"])
    # a new memory records the backend it really got
    with SemanticMemory(tmp_path / "m", codec=codec) as m:
        assert m.embedder.backend == "torch"
        assert m.store_.get_setting("embedder") == {"model": "all-MiniLM-L6-v2", "backend": "torch"}


@pytest.mark.parametrize("recorded", [True, False], ids=["recorded-torch", "older-no-record"])
def test_old_torch_memory_opens_and_recalls_with_torch(recorded, tmp_path, codec, wiki_docs):
    """A memory built by torch (recorded, or older with no record) keeps torch under the new default,
    answers as before, and nothing is re-embedded."""
    from core.memory import SemanticMemory

    folder = tmp_path / "old"
    records = _records(wiki_docs)
    query = wiki_docs[1].sentences[2]
    with SemanticMemory(folder, embedder=TextEmbedder(backend="torch"), codec=codec) as m:
        m.ingest(records, progress=False)
        before = [(h.chunk_id, round(h.score, 5)) for h in m.recall(query, k=3, mode="hybrid")]
        if not recorded:  # what a memory from before the backend was recorded looks like
            with m.store_.atomic():
                m.store_._conn.execute("DELETE FROM settings WHERE key = 'embedder'")
    stored = _stored(folder)
    with SemanticMemory(folder, codec=codec) as m:  # no embedder given: the default path
        assert m.embedder.backend == "torch"
        after = [(h.chunk_id, round(h.score, 5)) for h in m.recall(query, k=3, mode="hybrid")]
        assert getattr(m.embedder, "_onnx", None) is None  # no OpenVINO model was loaded
        assert m.recall(query, k=1, mode="similar")[0].doc_id == "w1"
    assert after == before
    assert _stored(folder) == stored  # no chunk re-embedded or re-encoded
    with SemanticMemory(folder, codec=codec, read_only=True) as m:  # read-only: nothing recorded anew
        assert m.embedder.backend == "torch"
    with pytest.raises(ValueError, match="embedded with backend 'torch'.*--embedder torch"):
        SemanticMemory(folder, embedder=TextEmbedder(), codec=codec)  # the default, given explicitly


def test_new_memory_records_openvino_int8(tmp_path, codec, wiki_docs):
    """A new memory gets the default backend, records it, and stores its vectors (close to torch's)."""
    from core.memory import SemanticMemory

    folder = tmp_path / "new"
    with SemanticMemory(folder, codec=codec) as m:
        assert m.embedder.backend == "openvino-int8"
        m.ingest(_records(wiki_docs), progress=False)
        assert m.recall(wiki_docs[2].sentences[1], k=1, mode="similar")[0].doc_id == "w2"
        assert m.store_.get_setting("embedder") == {"model": "all-MiniLM-L6-v2", "backend": "openvino-int8"}
    with sqlite3.connect(folder / "memory.sqlite") as conn:
        rows = conn.execute("SELECT text, embedding FROM chunks ORDER BY id").fetchall()
    stored = np.stack([np.frombuffer(e, dtype=np.float16).astype(np.float32) for _, e in rows])
    texts = [t for t, _ in rows]
    ov = TextEmbedder(cache=False).embed(texts)
    torch = TextEmbedder(backend="torch").embed(texts)
    # the int8 model's vectors (float16 on disk): OpenVINO's kernels differ in the last bits with the
    # batch's padded shape (up to 4e-3 on one component in a CI run), so compare by direction
    to_ov = (stored * ov).sum(axis=1) / np.linalg.norm(stored, axis=1)
    to_torch = (stored * torch).sum(axis=1) / np.linalg.norm(stored, axis=1)
    assert to_ov.min() > 0.999 and to_ov.mean() > to_torch.mean(), (to_ov, to_torch)
    cos = (ov * torch).sum(axis=1)
    assert len(texts) >= 3 and cos.min() > 0.97 and not np.allclose(ov, torch, atol=1e-3)
