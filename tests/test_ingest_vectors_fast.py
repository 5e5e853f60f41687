"""The batched `ingest_vectors` (core.memory._vectors) stores what the per-document path stored."""
from __future__ import annotations

import hashlib
import sqlite3

import numpy as np
import pytest

from core.memory import SemanticMemory
from core.memory.chunking import chunk_hash
from core.memory.readers import Record
from core.memory.types import IngestReport


def _per_document_ingest_vectors(self, ids, embeddings, texts=None, batch_size: int = 50_000):
    """The reference: the previous ingest_vectors, one document at a time through the text path's _commit."""
    X = np.asarray(embeddings, dtype=np.float32)
    ids = [str(i) for i in ids]
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    X = X / norms
    report = IngestReport()
    for s in range(0, len(ids), batch_size):
        part = slice(s, s + batch_size)
        C = self.codec.encode(X[part])
        todo, hashes, vec, code = [], [], {}, {}
        for j, doc in enumerate(ids[part]):
            text = texts[s + j] if texts is not None else None
            h = hashlib.sha1(b"vec\x00" + doc.encode() + X[s + j].tobytes()).digest() if text is None \
                else chunk_hash(text)
            rec = Record(doc, text or "", "", {}, "<vectors>")
            stored = self.store_.document(doc)  # a known id is a repeat unless its vector moved: then replaced
            moved = stored is not None and np.abs(self.store_.embeddings(stored["chunk_ids"])[1] - X[s + j]).max() > 1e-3
            if stored is not None and not moved:
                report.unchanged += 1
                continue
            todo.append((rec, [text], hashlib.sha1(h).hexdigest(), moved))
            hashes.append([h])
            vec[h], code[h] = X[s + j], C[j]
        self._commit(todo, hashes, vec, code, report)
    self.save()
    return report


def _rows(folder):
    conn = sqlite3.connect(folder / "memory.sqlite")
    try:
        chunks = conn.execute("SELECT id, hash, doc_id, position, refs, text, codes, embedding, phrases"
                              " FROM chunks ORDER BY id").fetchall()
        docs = conn.execute("SELECT id, doc_key, title, source, meta, content_hash, chunk_ids"
                            " FROM documents ORDER BY id").fetchall()
        links = conn.execute("SELECT * FROM doc_chunks ORDER BY doc_id, position").fetchall()
    finally:
        conn.close()
    return chunks, docs, links


def _ingest_all(mem, ingest, X, texts):
    """Four calls: two batches across batch boundaries, a repeat of known ids plus new ones, then known
    ids with moved vectors (replaced: the text path's forget + store) beside a repeat."""
    moved = [10, 11, 41, 55]
    Y = X[[60, 11, 61, 62]]
    reports = [ingest(mem, range(0, 30), X[:30], texts[:30], batch_size=7),
               ingest(mem, range(30, 50), X[30:50], None, batch_size=64),
               ingest(mem, range(25, 60), X[25:60], texts[25:60], batch_size=10),
               ingest(mem, moved, Y, [texts[60], texts[11], None, texts[62]], batch_size=3)]
    return [(r.documents, r.chunks, r.new_chunks, r.duplicate_chunks, r.unchanged, r.replaced) for r in reports]


def test_batched_path_gives_the_same_memory(tmp_path, wiki_sample):
    sentences, _, X = wiki_sample
    texts = list(sentences[:63])
    texts[5] = texts[3]  # identical texts share one chunk (dedupe across documents)
    texts[12] = None  # a vector without text
    X = X[:63].copy()
    X[20] *= 3.0  # not unit length: normalised on the way in
    old = SemanticMemory(tmp_path / "old")
    new = SemanticMemory(tmp_path / "new")
    rep_old = _ingest_all(old, _per_document_ingest_vectors, X, texts)
    rep_new = _ingest_all(new, SemanticMemory.ingest_vectors, X, texts)
    assert rep_new == rep_old
    assert rep_new[2][4] == 25 and rep_new[0][3] >= 1  # 25 ids already stored; texts[5] shares a chunk
    assert rep_new[3] == (3, 3, 3, 0, 1, 3)  # three moved vectors replaced (were "unchanged"), one repeat
    a, b = _rows(tmp_path / "old"), _rows(tmp_path / "new")
    final = texts[:60]
    final[10], final[41], final[55] = texts[60], None, texts[62]
    n_chunks = len({t for t in final if t is not None}) + final.count(None)
    assert len(b[0]) == n_chunks < 60 and len(b[1]) == 60
    assert [r[:6] for r in a[0]] == [r[:6] for r in b[0]]  # ids, hashes, documents, refs, text
    assert a[0] == b[0] and a[1] == b[1] and a[2] == b[2]  # and codes, float16 vectors, phrases; documents
    for m in (old, new):
        assert m.index_.ntotal == n_chunks and len(m.graph_) == n_chunks
    assert np.array_equal(old.network_._keys, new.network_._keys)
    assert np.array_equal(old.network_._counts, new.network_._counts)
    assert old.network_.n_events_ == new.network_.n_events_
    # live chunks (the reference's last save reloaded its graph: a reload drops the replaced chunks' marks)
    live = [(g._ids.values[g._alive.values.astype(bool)], g._codes.values[g._alive.values.astype(bool)])
            for g in (old.graph_, new.graph_)]
    assert np.array_equal(live[0][0], live[1][0]) and np.array_equal(live[0][1], live[1][1])
    q = X[40] / np.linalg.norm(X[40])
    assert [h.doc_id for h in old.recall_vector(q, 5, "hybrid")] == [h.doc_id for h in new.recall_vector(q, 5, "hybrid")]
    old.close()
    new.close()
    reopened = SemanticMemory(tmp_path / "new", read_only=True)  # saved derived state matches the store
    assert reopened.index_.ntotal == n_chunks and reopened.network_.n_events_ == new.network_.n_events_
    reopened.close()


def test_batched_path_leaves_the_input_alone_and_rejects_bad_input(tmp_path, wiki_sample):
    _, _, X = wiki_sample
    mem = SemanticMemory(tmp_path / "m")
    Y = X[:10] * 2.0
    before = Y.copy()
    mem.ingest_vectors(range(10), Y, batch_size=3)
    assert np.array_equal(Y, before)  # scaled batch by batch into copies, never in place
    with pytest.raises(ValueError, match="unique"):
        mem.ingest_vectors(["a", "a"], X[:2])
    with pytest.raises(ValueError, match="all zeros"):
        mem.ingest_vectors(["z"], np.zeros((1, 384), np.float32))
    with pytest.raises(ValueError, match="batch_size"):
        mem.ingest_vectors(["b"], X[:1], batch_size=0)
    with pytest.raises(ValueError, match=r"^got 1 id for 2 embeddings$"):  # it said "1 ids"
        mem.ingest_vectors(["c"], X[:2])
    with pytest.raises(ValueError, match=r"^got 1 text for 2 embeddings$"):
        mem.ingest_vectors(["c", "d"], X[:2], texts=["one"])
    for bad in (None, 1.5, True, " "):  # None was stored as the document "None"
        with pytest.raises(ValueError, match="ids must be non-empty strings or integers"):
            mem.ingest_vectors(["ok", bad], X[:2])
    # finite but past float32's range when squared: the norm overflowed and an all-zero vector was stored
    with pytest.raises(ValueError, match="row 1 .*too large"):
        mem.ingest_vectors(["h0", "h1"], np.stack([X[0], X[1] * 1e37]))
    assert mem.store_.count_chunks() == 10
    # a query is one vector, used as a cosine: a batch was cut to its first row, an unscaled one scored 19.6
    with pytest.raises(ValueError, match="one query vector"):
        mem.recall_vector(X[:2], k=3)
    with pytest.raises(ValueError, match="all zeros"):
        mem.recall_vector(np.zeros(384, np.float32), k=3)
    for mode in ("similar", "hybrid"):
        unit = mem.recall_vector(X[0], k=3, mode=mode)
        big = mem.recall_vector(X[0] * 50.0, k=3, mode=mode)
        assert [h.chunk_id for h in big] == [h.chunk_id for h in unit]
        assert [h.score for h in big] == pytest.approx([h.score for h in unit], abs=1e-5)
    with pytest.raises(ValueError, match="list of query strings"):
        mem.recall_batch("one question", k=3)  # was 12 queries of one character each
    mem.close()
