"""A chunk's similarity is read with its neighbours: a lone match in an unrelated document is
discounted, a one-chunk document keeps its cosine, scores stay in cosine units."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from core.memory import SemanticMemory
from core.memory._neighbours import NEIGHBOUR_WEIGHT, neighbour_rows
from core.memory.chunking import embedded_text
from core.reasoning.mycelial import MycelialVQVAE


@pytest.fixture(scope="module")
def setup(tmp_path_factory, embedder, wiki_docs):
    """A sentence of article 1 as the query and two near-copies of it (cosines ~1.0 and ~0.99): the
    closer one sits alone in "stray" amid paragraphs of an unrelated article, the other is "solo"'s one chunk."""
    topic, other = wiki_docs[1], wiki_docs[7]
    query = topic.sentences[4]
    variants = [query, query + " (see above)"]
    cos = embedder.embed([embedded_text("", v) for v in variants]) @ embedder.embed([query])[0]
    near, far = (variants[0], variants[1]) if cos[0] > cos[1] else (variants[1], variants[0])
    records = [{"id": "solo", "title": "", "text": far},
               {"id": "stray", "title": "", "text": "\n\n".join(other.sentences[:3] + [near] + other.sentences[3:6])}]
    m = SemanticMemory(tmp_path_factory.mktemp("nb") / "mem", embedder=embedder, codec=MycelialVQVAE.load_default())
    m.ingest(records)
    yield m, query, embedder
    m.close()


def _cos(mem, embedder, query, chunk_ids):
    found, X = mem.store_.vectors(np.asarray(chunk_ids, dtype=np.int64))
    q = mem.embed_queries([query])[0]
    return dict(zip(found.tolist(), (X.astype(np.float32) @ q).tolist()))


def test_score_is_cosine_blended_with_adjacent_chunks(setup):
    mem, query, embedder = setup
    stray = mem.store_.document("stray")["chunk_ids"].tolist()
    solo = mem.store_.document("solo")["chunk_ids"].tolist()
    cos = _cos(mem, embedder, query, stray + solo)
    hits = {h.chunk_id: h.score for h in mem.recall(query, k=10, mode="similar")}
    w = NEIGHBOUR_WEIGHT
    for i, c in enumerate(stray):
        nb = [cos[stray[j]] for j in (i - 1, i + 1) if 0 <= j < len(stray)]
        assert hits[c] == pytest.approx((1 - w) * cos[c] + w * np.mean(nb), abs=1e-5), i
    assert hits[solo[0]] == pytest.approx(cos[solo[0]], abs=1e-5)  # no neighbour: its cosine


def test_lone_match_in_unrelated_document_ranks_below_a_whole_match(setup):
    mem, query, _ = setup
    plain = dataclasses.replace(mem.recall_config, neighbour_weight=0.0)
    base, mem.recall_config = mem.recall_config, plain
    try:  # each chunk alone: the closer near-copy (amid unrelated text) wins
        assert [h.doc_id for h in mem.recall(query, k=2, mode="similar", per_document=True)] == ["stray", "solo"]
    finally:
        mem.recall_config = base
    for mode in ("similar", "hybrid"):
        hits = mem.recall(query, k=2, mode=mode, per_document=True)
        assert [h.doc_id for h in hits] == ["solo", "stray"], mode


def test_excluded_chunk_lends_nothing_to_its_neighbours(setup):
    mem, query, embedder = setup
    stray = mem.store_.document("stray")["chunk_ids"].tolist()
    cos = _cos(mem, embedder, query, stray)
    mid = stray[3]  # the near-copy; its neighbours then read only their other neighbour
    hits = {h.chunk_id: h.score for h in mem.recall(query, k=10, mode="similar", exclude=[mid])}
    assert mid not in hits
    w = NEIGHBOUR_WEIGHT
    assert hits[stray[2]] == pytest.approx((1 - w) * cos[stray[2]] + w * cos[stray[1]], abs=1e-5)
    assert hits[stray[4]] == pytest.approx((1 - w) * cos[stray[4]] + w * cos[stray[5]], abs=1e-5)


def _sql_pairs(mem) -> set:
    """Ground truth from SQLite: chunks stored next to each other (position +-1) in one document."""
    rows = mem.store_._conn.execute("SELECT a.id, b.id FROM chunks a JOIN chunks b ON a.doc_id = b.doc_id"
                                    " AND abs(a.position - b.position) = 1").fetchall()
    return set(rows)


def _graph_pairs(mem) -> set:
    g = mem.graph_
    every = np.arange(g._ids.n)  # every row, forgotten ones too: those must find no neighbour
    ids = g.chunk_ids_at(every)
    i, rows = neighbour_rows(g, every)
    alive = g._alive.values[i]
    return set(zip(ids[i[alive]].tolist(), g.chunk_ids_at(rows[alive]).tolist()))


def test_neighbours_follow_ingest_forget_replace_and_reopen(tmp_path, embedder, wiki_docs):
    from tests._memory_helpers import wiki_records

    records = wiki_records(wiki_docs, n_docs=4, n_sents=12)
    folder = tmp_path / "mem"
    mem = SemanticMemory(folder, embedder=embedder, codec=MycelialVQVAE.load_default())
    mem.ingest(records)
    truth = _sql_pairs(mem)
    assert len(truth) >= 8  # multi-chunk documents, so there is something to find
    assert _graph_pairs(mem) == truth
    mem.forget(records[1]["id"])
    assert _graph_pairs(mem) == _sql_pairs(mem) and len(_sql_pairs(mem)) < len(truth)
    changed = dict(records[2], text="\n\n".join(wiki_docs[2].sentences[3:15]))  # a changed document: replaced
    mem.ingest([changed])
    assert _graph_pairs(mem) == _sql_pairs(mem)
    mem.close()
    mem = SemanticMemory(folder, embedder=embedder, codec=MycelialVQVAE.load_default())
    try:
        assert _graph_pairs(mem) == _sql_pairs(mem)
    finally:
        mem.close()


def test_the_why_text_cosine_is_the_plain_cosine_in_every_mode(setup):
    """similar and hybrid printed the neighbour-read similarity as "cosine" ((cosine 0.63) where associative said
    (cosine 0.65) for the same passage): `why["cosine"]` is the plain one everywhere, `why["similarity"]` the
    score's part."""
    mem, query, embedder = setup
    stray = mem.store_.document("stray")["chunk_ids"].tolist()
    cos = _cos(mem, embedder, query, stray)
    for mode in ("similar", "hybrid", "associative"):
        hits = {h.chunk_id: h for h in mem.recall(query, k=10, mode=mode)}
        for c in stray:
            if c in hits and hits[c].why.get("similarity") is not None:
                h = hits[c]
                shown = float(h.why_text.rsplit("(cosine ", 1)[1].split(")")[0])
                assert shown == pytest.approx(cos[c], abs=0.0051), (mode, h.why_text)
                assert h.why["cosine"] == pytest.approx(cos[c], abs=1e-5), mode
    h = next(h for h in mem.recall(query, k=10, mode="hybrid") if h.chunk_id in stray[1:-1])
    assert abs(h.why["similarity"] - h.why["cosine"]) > 1e-4  # two numbers, read with and without neighbours
