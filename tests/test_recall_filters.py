"""Recall returns each hit's document metadata, filters by it before ranking, and brings neighbouring context."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.datasets import brown_documents
from core.memory import SemanticMemory
from core.memory._hitinfo import allowed_chunks, check_where
from core.reasoning.mycelial import MycelialVQVAE

N_SENTS = 12


@pytest.fixture(scope="module")
def brown():
    """3 news, 3 fiction (adventure) and 3 learned Brown texts, their first sentences."""
    docs = brown_documents()
    pick = []
    for cat in ("news", "adventure", "learned"):
        pick += [d for d in docs if d.meta["category"] == cat][:3]
    return pick


@pytest.fixture(scope="module")
def mem(tmp_path_factory, embedder, brown):
    """The texts ingested from a real JSONL file; each line carries its metadata beside id and text."""
    folder = tmp_path_factory.mktemp("filters")
    path = folder / "brown.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for i, d in enumerate(brown):
            fh.write(json.dumps({"id": d.doc_id, "text": "\n\n".join(d.sentences[:N_SENTS]),
                                 "category": d.meta["category"], "rank": i, "fiction": d.meta["category"] ==
                                 "adventure", "tags": [f"r{i}", "even" if i % 2 == 0 else "odd"]}) + "\n")
    m = SemanticMemory(folder / "mem", embedder=embedder, codec=MycelialVQVAE.load_default())
    rep = m.ingest([str(path)])
    assert rep.documents == len(brown) and not rep.errors
    yield m
    m.close()


def test_hits_carry_the_jsonl_metadata(mem, brown):
    cat = {d.doc_id: d.meta["category"] for d in brown}
    hits = mem.recall(brown[0].sentences[3], k=8, mode="hybrid")
    assert hits
    for h in hits:
        assert h.metadata["category"] == cat[h.doc_id]
        assert h.metadata["fiction"] is (cat[h.doc_id] == "adventure")
        assert h.to_dict()["metadata"] == h.metadata


@pytest.mark.parametrize("mode", ["similar", "associative", "hybrid"])
def test_where_filters_before_ranking(mem, brown, mode):
    """A news sentence asked among fiction only: k fiction hits, not the few a post-filter of the top k leaves."""
    query = brown[0].sentences[2]
    top = mem.recall(query, k=10, mode="similar")
    assert sum(h.metadata["category"] == "adventure" for h in top) < 10  # a post-filter would come up short
    hits = mem.recall(query, k=10, mode=mode, where={"category": "adventure"})
    if mode != "associative":  # association reaches only linked chunks
        assert len(hits) == 10
    assert hits and all(h.metadata["category"] == "adventure" for h in hits)
    fiction_ids = {d.doc_id for d in brown if d.meta["category"] == "adventure"}
    assert {h.doc_id for h in hits} <= fiction_ids
    if mode == "similar":  # exactly the fiction ranking of an unfiltered, deep recall
        deep = [h for h in mem.recall(query, k=200, mode="similar") if h.doc_id in fiction_ids][:10]
        assert [h.chunk_id for h in hits] == [h.chunk_id for h in deep]


def test_where_any_of_bool_per_document_and_no_match(mem, brown):
    q = brown[4].sentences[1]
    hits = mem.recall(q, k=6, where={"category": ["news", "learned"]}, per_document=True)
    assert len(hits) == 6 and len({h.doc_id for h in hits}) == 6
    assert {h.metadata["category"] for h in hits} <= {"news", "learned"}
    # JSON true is not the number 1: rank 1 is a document, fiction=1 matches none
    assert {h.doc_id for h in mem.recall(q, k=5, where={"rank": 1}, mode="similar")} == {brown[1].doc_id}
    assert mem.recall(q, k=5, where={"fiction": 1}) == []
    assert len(mem.recall(q, k=5, where={"fiction": True}, mode="similar")) == 5
    assert mem.recall(q, k=5, where={"no_such_key": "x"}) == []
    # a list of tags matches by any of its items (it matched nothing)
    hits = mem.recall(q, k=9, where={"tags": "even"}, mode="similar", per_document=True)
    assert {h.doc_id for h in hits} == {d.doc_id for i, d in enumerate(brown) if i % 2 == 0}
    assert {h.doc_id for h in mem.recall(q, k=3, where={"tags": ["r3", "nope"]})} == {brown[3].doc_id}


def test_where_through_the_index_matches_exact_scoring(mem, brown):
    """The large-filter path (index search, widened pool) ranks exactly as the small-filter path."""
    q = mem.embed_queries([brown[7].sentences[4]])[0]
    allowed = allowed_chunks(mem.store_, check_where({"category": ["learned", "news"]}))
    exact = mem._search(q, 10, 0, allowed)
    old = type(mem).exact_filter_max
    try:
        type(mem).exact_filter_max = 0
        via_index = mem._search(q, 10, 0, allowed)
    finally:
        type(mem).exact_filter_max = old
    assert exact[0].tolist() == via_index[0].tolist()
    np.testing.assert_allclose(exact[1], via_index[1], atol=1e-3)


@pytest.mark.parametrize("bad", [{}, [], "category=news", {"": 1}, {"k": {"nested": 1}}, {"k": []},
                                 {"k": float("nan")}, {1: "x"}])
def test_where_bad_input(mem, bad):
    with pytest.raises(ValueError, match="where"):
        mem.recall("news", where=bad)


def test_context_brings_neighbours_in_reading_order(mem, brown):
    doc = mem.store_.document(brown[3].doc_id)
    ids = [int(c) for c in doc["chunk_ids"]]
    texts = mem.store_.chunk_rows(ids)
    hits = mem.recall(brown[3].sentences[5], k=3, mode="similar", context=2)
    h = hits[0]
    assert h.doc_id == brown[3].doc_id and h.position == 5
    assert [c["position"] for c in h.context] == [3, 4, 6, 7]
    assert [c["chunk_id"] for c in h.context] == [ids[3], ids[4], ids[6], ids[7]]
    assert [c["text"] for c in h.context] == [texts[ids[p]]["text"] for p in (3, 4, 6, 7)]
    assert h.passage == "\n\n".join(texts[ids[p]]["text"] for p in range(3, 8))
    # at a document's edges only what exists: the first sentence has no chunk before it
    first = mem.recall(brown[3].sentences[0], k=1, mode="similar", context=1)[0]
    assert first.position == 0 and [c["position"] for c in first.context] == [1]
    last = mem.recall(brown[3].sentences[N_SENTS - 1], k=1, mode="similar", context=3)[0]
    assert [c["position"] for c in last.context] == [N_SENTS - 4, N_SENTS - 3, N_SENTS - 2]
    assert mem.recall(brown[3].sentences[5], k=1, mode="similar")[0].context == []


@pytest.mark.parametrize("bad", [-1, 1.5, True, "1", 101])
def test_context_bad_input(mem, bad):
    with pytest.raises(ValueError, match="context"):
        mem.recall("news", context=bad)


def test_cli_where_value_matches_the_number_and_the_text():
    from core.cli.memory import _parse_where
    from core.memory._hitinfo import matches

    # `--where year=1990` matched {"year": 1990} but not {"year": "1990"} (a JSONL producer's string):
    # on the command line both are what the user typed
    year = check_where(_parse_where(["year=1990"]))
    assert matches({"year": 1990}, year) and matches({"year": "1990"}, year)
    assert not matches({"year": 1991}, year) and not matches({"year": "1990 "}, year)
    flag = check_where(_parse_where(["draft=true"]))
    assert matches({"draft": True}, flag) and matches({"draft": "true"}, flag) and not matches({"draft": 1}, flag)
    assert check_where(_parse_where(["category=news"])) == {"category": ["news"]}
    both = check_where(_parse_where(["lang=en", "lang=fr"]))
    assert matches({"lang": "fr"}, both) and not matches({"lang": "de"}, both)


def test_nan_metadata_is_refused_and_an_older_one_does_not_break_where(tmp_path, embedder):
    import sqlite3

    # {"score": NaN} was stored as the JSON SQLite refuses: every where= recall of the memory then
    # failed with "malformed JSON" (a traceback on the command line)
    m = SemanticMemory(tmp_path / "m", embedder=embedder, codec=MycelialVQVAE.load_default())
    rep = m.ingest([{"id": "a", "text": "The harbour of Oslo freezes in winter.", "category": "news"},
                    {"id": "b", "text": "The harbour of Bergen is busy.", "category": "news", "score": float("nan")},
                    {"id": "c", "text": "Rain in Bergen.", "metadata": {"w": [1, float("inf")]}}])
    assert rep.documents == 1 and len(rep.errors) == 2
    assert all("NaN or Infinity" in e.message for e in rep.errors)
    m.close()
    db = sqlite3.connect(tmp_path / "m" / "memory.sqlite")  # a memory written before the check
    db.execute("""UPDATE documents SET meta = '{"category": "news", "score": NaN}' WHERE doc_key = 'a'""")
    db.commit()
    db.close()
    with SemanticMemory(tmp_path / "m", embedder=embedder, read_only=True) as m:
        assert [h.doc_id for h in m.recall("Oslo harbour", k=2, where={"category": "news"})] == ["a"]
        assert m.recall("Oslo harbour", k=2, where={"other": 1}) == []


@pytest.mark.parametrize("mode", ["similar", "hybrid", "associative"])
def test_a_chunk_two_documents_share_is_credited_to_the_one_where_matches(tmp_path, embedder, brown, mode):
    # one text in two documents is one stored chunk, credited to the first: `where={"category": "adventure"}`
    # returned it as the news document's, and per document the second document never came back
    # (and a document holding it and a chunk of its own came twice, so per document gave fewer than k)
    news, fiction = brown[0], brown[3]
    shared = " ".join(news.sentences[:3])
    with SemanticMemory(tmp_path / "m", embedder=embedder) as mem:
        mem.ingest([{"id": "a", "text": shared, "category": "news"},
                    {"id": "b", "text": [shared, " ".join(news.sentences[3:6])], "category": "adventure"},
                    {"id": "c", "text": " ".join(fiction.sentences[:3]), "category": "adventure"},
                    {"id": "d", "text": " ".join(brown[4].sentences[:3]), "category": "adventure"}])
        assert mem.stats()["chunks"] == 4
        for per_document in (False, True):
            hits = mem.recall(news.sentences[1], k=3, mode=mode, where={"category": "adventure"},
                              per_document=per_document, context=1)
            assert hits and all(h.metadata["category"] == "adventure" for h in hits), [h.doc_id for h in hits]
            assert hits[0].doc_id == "b" and hits[0].text == shared and hits[0].position == 0
            if per_document:
                docs = [h.doc_id for h in hits]
                assert len(set(docs)) == len(docs) and (mode == "associative" or sorted(docs) == ["b", "c", "d"])
        assert mem.recall(news.sentences[1], k=1, mode=mode, where={"category": "news"})[0].doc_id == "a"
