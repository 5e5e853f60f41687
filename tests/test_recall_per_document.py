"""``per_document=True``: k distinct documents whenever the memory holds them, each hit explained."""
from __future__ import annotations

import pytest

from core.memory import SemanticMemory
from core.reasoning.mycelial import MycelialVQVAE


@pytest.fixture(scope="module")
def mem(tmp_path_factory, embedder, wiki_docs):
    """One long article (153 one-sentence paragraphs) that crowds the top, and 7 short ones."""
    m = SemanticMemory(tmp_path_factory.mktemp("perdoc") / "mem", embedder=embedder,
                       codec=MycelialVQVAE.load_default())
    big = {"id": "big", "title": wiki_docs[1].title, "text": "\n\n".join(wiki_docs[1].sentences)}
    small = [{"id": f"small{i}", "title": wiki_docs[i].title, "text": "\n\n".join(wiki_docs[i].sentences[:3])}
             for i in range(4, 11)]
    m.ingest([big] + small)
    yield m
    m.close()


@pytest.mark.parametrize("mode", ["similar", "associative", "hybrid"])
def test_per_document_returns_k_distinct_documents(mem, wiki_docs, mode):
    query = wiki_docs[1].sentences[5]
    # the long article alone fills the plain top 3k: the old 3k-candidate pool gave 1-2 documents
    plain = mem.recall(query, k=15, mode="similar")
    assert {h.doc_id for h in plain} == {"big"}
    hits = mem.recall(query, k=6, mode=mode, per_document=True)
    docs = [h.doc_id for h in hits]
    if mode == "associative":  # association returns only the chunks its links reach: all of them here
        reached = {h.doc_id for h in mem.recall(query, k=mem.stats()["chunks"], mode=mode)}
        assert len(docs) == min(6, len(reached)) and set(docs) <= reached, (docs, reached)
    else:
        assert len(docs) == 6, docs
    assert len(set(docs)) == len(docs) and docs[0] == "big", docs
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    for h in hits:  # every hit keeps its explanation, not only the first few
        assert h.why.get("similarity") is not None, (mode, h.doc_id, h.why)
        if mode != "similar":
            assert "association" in h.why and "seed_codes" in h.why


def test_per_document_stops_when_memory_is_exhausted(mem, wiki_docs):
    hits = mem.recall(wiki_docs[1].sentences[5], k=20, mode="similar", per_document=True)
    assert sorted(h.doc_id for h in hits) == sorted(["big"] + [f"small{i}" for i in range(4, 11)])
