"""The concept vocabulary: SQLite ids that stay put across reopen, forget, re-ingest and migration."""
from __future__ import annotations

import json
import sqlite3

import pytest
from _memory_helpers import wiki_records

from core.memory import SemanticMemory
from core.reasoning.mycelial import MycelialVQVAE


@pytest.fixture(scope="module")
def codec():
    return MycelialVQVAE.load_default()


def _table(mem):
    return mem.store_._conn.execute("SELECT id, text, df FROM concepts ORDER BY id").fetchall()


def _recount(mem) -> dict:
    """Document frequency recomputed from the chunks' phrase lists (the brute-force reference)."""
    df: dict[str, int] = {}
    for (phrases,) in mem.store_._conn.execute("SELECT phrases FROM chunks"):
        for p in set(json.loads(phrases)):
            df[p] = df.get(p, 0) + 1
    return df


def test_ids_stable_across_reopen_forget_and_reingest(tmp_path, embedder, codec, wiki_docs):
    recs = wiki_records(wiki_docs, n_docs=4, n_sents=6)
    with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec) as mem:
        mem.ingest(recs)
        first = _table(mem)
        # numbered by first appearance, df = chunks naming the concept
        order = list(dict.fromkeys(p for (ph,) in mem.store_._conn.execute("SELECT phrases FROM chunks ORDER BY id")
                                   for p in json.loads(ph)))
        assert [t for _, t, _ in first] == order and [i for i, _, _ in first] == list(range(1, len(order) + 1))
        assert {t: d for _, t, d in first} == _recount(mem)
    with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec) as mem:
        assert _table(mem) == first
        assert mem.graph_.vocab_ == {t: i for i, t, _ in first}
        mem.forget(recs[0]["id"])
        after = _table(mem)
        assert {t: d for _, t, d in after} == _recount(mem)
        kept = {t: i for i, t, _ in after}
        assert all(kept[t] == i for i, t, _ in first if t in kept)  # survivors keep their ids
        gone = {t for _, t, _ in first} - set(kept)
        assert gone  # concepts only the forgotten document named leave no text behind
        mem.ingest([recs[0]])
        again = {t: i for i, t, _ in _table(mem)}
        top = max(i for i, _, _ in first)
        assert all(again[t] > top for t in gone)  # new ids: a forgotten id is never reused
        assert all(again[t] == i for i, t, _ in first if t not in gone)
        assert {t: d for _, t, d in _table(mem)} == _recount(mem)


def test_migration_numbers_an_old_memory_as_ingest_does(tmp_path, embedder, codec, wiki_docs):
    recs = wiki_records(wiki_docs, n_docs=3, n_sents=5)
    with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec) as mem:
        mem.ingest(recs)
        table, net = _table(mem), mem.network_
    state = json.loads((tmp_path / "m" / "state.json").read_text())
    state["network"].pop("concepts")  # a network file written before concept nodes
    (tmp_path / "m" / "state.json").write_text(json.dumps(state))
    conn = sqlite3.connect(tmp_path / "m" / "memory.sqlite")  # back to the schema before 0003
    conn.execute("DROP TABLE concepts")
    conn.execute("ALTER TABLE forget_log DROP COLUMN concepts")
    conn.execute("DELETE FROM _migrations WHERE name = '0003_concepts'")
    conn.commit()
    conn.close()
    with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec) as mem:
        assert _table(mem) == table
        assert mem.network_ == net and len(net.cx_keys_) > 0  # rebuilt with its concept nodes


def test_network_concept_events_match_the_vocabulary(tmp_path, embedder, codec, wiki_docs):
    recs = wiki_records(wiki_docs, n_docs=3, n_sents=6)
    with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec) as mem:
        mem.ingest(recs)
        df = {i: d for i, _, d in _table(mem)}
        counts = mem.network_.concept_counts_
        # every chunk occurrence is one event: a concept's event count is its df here (no shared chunks)
        assert {i: int(counts[i]) for i in df} == df
        assert counts[[i for i in range(len(counts)) if i not in df]].sum() == 0
        a, b = mem.network_.edge_ends()
        assert (b >= mem.network_.num_nodes).all() and (a < b).all()
        mem.forget(recs[1]["id"])
        mem.forget(recs[0]["id"])
        mem.forget(recs[2]["id"])
        assert len(mem.network_.cx_keys_) == 0 and mem.network_.concept_counts_.sum() == 0
        assert _table(mem) == []


def test_stats_counts_live_concepts_after_forget(tmp_path, embedder, codec, wiki_docs):
    recs = wiki_records(wiki_docs, n_docs=3, n_sents=5)
    with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec) as mem:
        mem.ingest(recs)
        assert mem.stats()["phrases"] == len(_table(mem))
        mem.forget(recs[0]["id"])  # forgotten concepts leave holes in the ids
        live = len(_table(mem))
        assert live < max(i for i, _, _ in _table(mem))
        assert mem.stats()["phrases"] == live == len(_recount(mem))


def test_repaired_phrases_recount_df_and_the_network(tmp_path, embedder, codec, wiki_docs):
    recs = wiki_records(wiki_docs, n_docs=3, n_sents=5)
    with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec) as mem:
        mem.ingest(recs)
        cid, old = mem.store_._conn.execute("SELECT id, phrases FROM chunks ORDER BY id LIMIT 1").fetchone()
        assert json.loads(old)
    conn = sqlite3.connect(tmp_path / "m" / "memory.sqlite")  # the column damaged, the text edited
    conn.execute("UPDATE chunks SET phrases = 'not json [', text = 'Quokka Harbour met Zanzibar Marmalade.' "
                 "WHERE id = ?", (cid,))
    conn.commit()
    conn.close()
    with pytest.warns(UserWarning, match="damaged columns"):
        mem = SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec)
    with mem:
        assert mem.store_.damaged_chunks(4) == []
        df = {t: d for _, t, d in _table(mem)}
        assert df == _recount(mem) and "quokka harbour" in df
        counts = mem.network_.concept_counts_  # the network's events follow the repaired phrases
        assert {i: int(counts[i]) for i, _, _ in _table(mem)} == {i: d for i, _, d in _table(mem)}
        assert mem.stats()["phrases"] == len(df)
