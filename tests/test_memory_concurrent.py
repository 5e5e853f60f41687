"""Recall from one thread while another thread ingests."""
from __future__ import annotations

import threading

from _memory_helpers import wiki_records

from core.memory import SemanticMemory
from core.reasoning.mycelial import MycelialVQVAE


def test_recall_while_ingesting(tmp_path, wiki_docs, embedder):
    records = wiki_records(wiki_docs, n_docs=30, n_sents=6)
    embedder.embed([s for r in records for s in r["text"].split("\n\n")])  # warm the cache
    mem = SemanticMemory(tmp_path / "m", embedder=embedder, codec=MycelialVQVAE.load_default(), chunks_per_commit=6)
    mem.ingest(records[:2])
    errors, results = [], []

    def writer():
        try:
            mem.ingest(records[2:])
        except Exception as exc:  # noqa: BLE001 - reported to the main thread
            errors.append(exc)

    t = threading.Thread(target=writer)
    t.start()
    query = records[0]["text"].split("\n\n")[0]
    while t.is_alive() or len(results) < 5:
        for mode in ("similar", "hybrid", "associative"):
            hits = mem.recall(query, k=5, mode=mode)
            results.append(hits)
            assert hits[0].doc_id == "wiki0", mode
            assert all(h.text for h in hits)
    t.join()
    assert not errors
    assert mem.store_.count_documents() == 30 and mem.index_.ntotal == mem.store_.count_chunks()
    last = records[-1]["text"].split("\n\n")[1]
    assert mem.recall(last, k=1)[0].doc_id == "wiki29"
    mem.close()
