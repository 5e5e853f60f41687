"""Hybrid fusion: never below `similar` on a real same-article check, scores bounded by the top cosine."""
from __future__ import annotations

import numpy as np
import pytest

from core.memory import SemanticMemory
from core.reasoning.mycelial import MycelialVQVAE

N_ARTICLES, N_SENTS = 16, 40


@pytest.fixture(scope="module")
def mem(tmp_path_factory, embedder, wiki_docs):
    """16 real WikiText articles, one sentence per chunk (the same-document benchmark in small)."""
    m = SemanticMemory(tmp_path_factory.mktemp("fusion") / "mem", embedder=embedder,
                       codec=MycelialVQVAE.load_default())
    long = [d for d in wiki_docs if len(d.sentences) >= N_SENTS][:N_ARTICLES]
    m.ingest([{"id": f"wt{i}", "title": d.title, "text": "\n\n".join(d.sentences[:N_SENTS])}
              for i, d in enumerate(long)])
    yield m
    m.close()


def _precision(mem, mode):
    """Same-article precision@10 of 4 sentences per article asked as queries (their own chunk excluded)."""
    prec = []
    for i in range(N_ARTICLES):
        doc = mem.store_.document(f"wt{i}")
        for pos in (3, 11, 19, 27):
            cid = int(doc["chunk_ids"][pos])
            text = mem.store_.chunk_rows([cid])[cid]["text"]
            hits = mem.recall(text, k=10, mode=mode, exclude=[cid])
            prec.append(np.mean([h.doc_id == f"wt{i}" for h in hits]))
    return float(np.mean(prec))


def test_hybrid_is_not_below_similar_on_same_article_precision(mem):
    sim, hyb = _precision(mem, "similar"), _precision(mem, "hybrid")
    assert hyb > sim, (sim, hyb)  # association adds evidence (the article's title, its names)


def test_hybrid_scores_are_bounded_by_the_top_cosine(mem):
    """score <= cosine + fusion_weight x top cosine; a query nothing answers keeps low scores."""
    w = mem.recall_config.fusion_weight
    for query in ("The ship was launched and served in the Pacific.", "purple elephant quantum sandwich xyzzy"):
        top_cos = mem.recall(query, k=1, mode="similar")[0].score
        for h in mem.recall(query, k=10, mode="hybrid"):
            assert h.why["similarity"] - 1e-5 <= h.score <= h.why["similarity"] + w * top_cos + 1e-5
            assert h.score <= (1 + w) * top_cos + 1e-5
    # nonsense tops out near cosine 0.25, so at most (1 + 1.0) x 0.25 with the lift: a threshold
    # of 0.6 drops it, while a real answer (cosine ~0.5, lifted) passes
    assert mem.recall("purple elephant quantum sandwich xyzzy", k=5, mode="hybrid", min_score=0.6) == []
    assert mem.recall("The ship was launched and served in the Pacific.", k=5, mode="hybrid", min_score=0.6)


def test_fusion_reads_association_in_absolute_terms(mem):
    """The lift grows with the association, saturates at fusion_weight x top cosine, and a walk
    that points weakly (every association halved) lifts less: no rescaling by the strongest."""
    cfg = mem.recall_config
    sim = {1: 0.6, 2: 0.4, 3: 0.4, 4: 0.4, 5: 0.03}
    strong = {1: 0.3, 2: 0.2, 3: 0.1, 4: 0.0, 5: 0.9}
    weak = {c: a / 2 for c, a in strong.items()}
    s, w = mem._fuse(set(sim), sim, strong), mem._fuse(set(sim), sim, weak)
    for c in sim:
        assert sim[c] - 1e-9 <= w[c] <= s[c] <= sim[c] + cfg.fusion_weight * 0.6 + 1e-9
    assert s[2] > s[3] > s[4] == sim[4]  # same cosine: more association, more lift; none without it
    assert s[2] - sim[2] == pytest.approx(0.6 * min(cfg.fusion_weight, cfg.fusion_gain * 0.2))
    assert w[3] - sim[3] == pytest.approx((s[3] - sim[3]) / 2)  # below saturation: half the walk, half the lift
    assert s[5] == sim[5]  # below the cosine floor: a link alone lifts nothing
    assert mem._fuse({1, 2}, {1: -0.1, 2: -0.2}, strong) == {1: -0.1, 2: -0.2}  # nothing answers: no lift
