"""Issue 11, second part: forget leaves no trace, damaged state files give clear errors, hostile
state files are bounded before allocating, and small input edge cases. Real SQLite, FAISS and model."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.embedding import TextEmbedder
from core.memory import SemanticMemory
from core.reasoning.mycelial import MycelialVQVAE

SECRET = "Zanzibar quokka marmalade protocol 7731 was approved by the harbour committee."


@pytest.fixture(scope="module")
def codec():
    return MycelialVQVAE.load_default()


def _bytes(*paths) -> bytes:
    out = b""
    for p in paths:
        for f in ([p] if Path(p).is_file() else sorted(Path(p).iterdir()) if Path(p).is_dir() else []):
            if f.is_file():
                out += f.read_bytes()
    return out


# -- 8. forget leaves no trace ------------------------------------------------------------------
def test_forget_leaves_no_text_key_codes_or_cached_vector(tmp_path, codec):
    cache = tmp_path / "cache" / "embeddings.sqlite"
    emb = TextEmbedder(cache=cache)
    folder = tmp_path / "m"
    with SemanticMemory(folder, embedder=emb, codec=codec) as m:
        m.ingest([{"id": "secret-doc-key-91", "text": SECRET},
                  {"id": "keep", "text": "Rush is a Canadian rock band formed in Toronto in 1968."}])
        text = m.store_._conn.execute("SELECT text FROM chunks WHERE text LIKE '%Zanzibar%'").fetchone()[0]
        vec = emb.embed([text])[0].tobytes()[:400]  # its head (the rest may sit on an overflow page)
        assert vec in _bytes(cache.parent)  # the test can see a cached vector when it is there
        assert SECRET.encode() in _bytes(folder)
        assert m.forget("secret-doc-key-91")
        assert m.store_._conn.execute("SELECT count(*) FROM forget_log").fetchone()[0] == 0
        hits = m.recall("Canadian rock band", k=3)
        assert [h.doc_id for h in hits] == ["keep"]
    on_disk = _bytes(folder)
    assert b"Zanzibar" not in on_disk and b"secret-doc-key-91" not in on_disk
    assert vec not in _bytes(cache.parent)
    with SemanticMemory(folder, embedder=emb, codec=codec, read_only=True) as m:  # still consistent
        assert m.index_.ntotal == m.store_.count_chunks() == 1
        assert m.network_.n_events_ == m.store_.observed_chunks()
