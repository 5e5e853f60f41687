"""The open memory after a forget answers as a reopened one, and as a memory that never held the document:
the concepts only the forgotten document named leave the live vocabulary (SQLite pruned them; a query
still seeded them, so scores, ``why``, ``graph`` and reinforcement events named concepts that were gone).
The same after an edited document's re-ingest and after another process's forget seen through refresh."""
from __future__ import annotations

import subprocess
import sys

import pytest
from _memory_helpers import wiki_records

from core.memory import SemanticMemory
from core.reasoning.mycelial import MycelialVQVAE

MODES = ("similar", "hybrid", "associative")


@pytest.fixture(scope="module")
def codec():
    return MycelialVQVAE.load_default()


@pytest.fixture(scope="module")
def recs(wiki_docs):
    return wiki_records(wiki_docs, n_docs=6, n_sents=10)


def _rounded(x):
    """Floats to 6 decimals, recursively: two sums of the same floats may differ in the last bits."""
    if isinstance(x, float):
        return round(x, 6)
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_rounded(v) for v in x]
    return x


def _answers(mem, queries, concepts) -> dict:
    """Everything a user reads: recall (every mode: ids, scores, why, its text), graph and associations."""
    out = {"vocab": dict(mem.graph_.vocab_), "phrases": list(mem.graph_.phrases_)}
    for q in queries:
        for mode in MODES:
            out[q, mode] = _rounded([(h.chunk_id, h.score, h.why, h.why_text) for h in mem.recall(q, k=6, mode=mode)])
    for c in concepts:
        bridges = mem.bridges(c, concepts[-1]) if c != concepts[-1] else None
        out[c] = _rounded((mem.graph(c, depth=2), mem.associations(c), bridges))
    return out


def _probe(recs, gone: dict) -> tuple[list[str], list[str]]:
    """Queries naming a document to forget beside a kept one, and concepts of both."""
    title, kept = gone["title"], recs[0]["title"]
    part = " ".join(title.split()[1:3])
    return [f"{title} and {kept}", f"{part} {kept.split()[-1]}"], [title.lower(), part.lower(), kept.lower()]


def test_forget_leaves_the_open_memory_as_a_reopened_one_and_one_that_never_held_it(tmp_path, embedder, codec, recs):
    queries, concepts = _probe(recs, recs[5])
    with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec) as m:
        m.ingest(recs)
    with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec) as live:
        assert concepts[0] in live.graph_.vocab_
        live.forget(recs[5]["id"])  # the last one: the others keep their chunk and concept ids
        after = _answers(live, queries, concepts)
        with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec, read_only=True) as again:
            assert after == _answers(again, queries, concepts)
        hits = [h.chunk_id for h in live.recall(queries[0], k=3)]
        live.reinforce(queries[0], hits)
        nodes = live.reinforcements()[-1]["query_nodes"]
    assert concepts[0] not in after["vocab"] and after[concepts[0]][0]["nodes"] == [] == after[concepts[0]][0]["edges"]
    with SemanticMemory(tmp_path / "never", embedder=embedder, codec=codec) as never:
        never.ingest(recs[:5])
        assert after == _answers(never, queries, concepts)
        never.reinforce(queries[0], hits)
        assert nodes == never.reinforcements()[-1]["query_nodes"]
    assert f"c:{concepts[0]}" not in nodes


def test_an_edited_document_and_another_process_forget_leave_the_open_memory_as_a_reopened_one(
        tmp_path, embedder, codec, recs):
    queries, concepts = _probe(recs, recs[5])
    edited = dict(recs[5], title="Edited", text=recs[0]["text"].replace("Boulter", "Bolter"))
    with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec) as m:
        m.ingest(recs)
    with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec) as live:
        live.ingest([edited])  # replaces wiki5: its old version's concepts leave, some of its kept ones are renumbered
        after = _answers(live, queries, concepts)
        assert concepts[0] not in after["vocab"]
        with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec, read_only=True) as again:
            assert after == _answers(again, queries, concepts)
        # another process forgets it: refresh() reloads what that left
        subprocess.run([sys.executable, "-c", "import sys; from core.memory import SemanticMemory; "
                        "SemanticMemory(sys.argv[1]).forget(sys.argv[2])", str(tmp_path / "m"), edited["id"]],
                       check=True)
        assert live.refresh()
        after = _answers(live, queries + ["Bolter"], concepts + ["bolter"])
        with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec, read_only=True) as again:
            assert after == _answers(again, queries + ["Bolter"], concepts + ["bolter"])
