"""A reinforcement's share of a score is labelled by who was confirmed: "reinforced by use" was written on passages the
user never confirmed, lifted only because they share a concept or a code node with the one that was.

Real HotpotQA passages, the real model, SQLite, FAISS and the network."""
from __future__ import annotations

import json

import pytest

from core.cli._hits import explain_lines
from core.datasets import data_file
from core.memory import SemanticMemory

QUESTION = "Which band had Neil Peart as drummer?"
RELATED = "Who played drums in a Canadian rock band?"


@pytest.fixture(scope="module")
def reinforced(tmp_path_factory, embedder):
    with open(data_file("multihop_dev/hotpotqa_train_corpus.json"), encoding="utf-8") as fh:
        corpus = json.load(fh)
    mem = SemanticMemory(tmp_path_factory.mktemp("why") / "m", embedder=embedder)
    mem.ingest([{"id": t, "title": t, "text": " ".join(corpus[t])} for t in list(corpus)[:60]])
    target = mem.recall(QUESTION, k=10, mode="hybrid")[3].chunk_id
    mem.reinforce(QUESTION, [target], rate=0.5)
    yield mem, target
    mem.close()


def test_only_the_confirmed_passage_reads_confirmed(reinforced):
    mem, target = reinforced
    hits = mem.recall(QUESTION, k=10, mode="hybrid")
    lifted = [h for h in hits if h.why.get("reinforcement")]
    mine = next(h for h in lifted if h.chunk_id == target)
    assert mine.why["confirmed"] == "this query"
    assert mine.why_text.endswith(f"; confirmed by use +{mine.why['reinforcement']:.2f}"), mine.why_text
    others = [h for h in lifted if h.chunk_id != target]
    assert others, [(h.chunk_id, h.why) for h in hits]  # a shared concept or code lifts passages never confirmed
    for h in others:
        assert h.why["confirmed"] is None and h.why["reinforced_by"] == [target], h.why
        assert "confirmed" not in h.why_text, h.why_text  # it read "; reinforced by use +0.01"
        assert h.why_text.endswith(f"; reinforced by use of related passage #{target} +{h.why['reinforcement']:.2f}")
        assert f"not confirmed; learned from use of related chunk {target}" in "\n".join(explain_lines(h, QUESTION))
    assert "(confirmed for this query)" in "\n".join(explain_lines(mine, QUESTION))


def test_a_passage_confirmed_for_another_question_says_so(reinforced):
    mem, target = reinforced
    hit = next(h for h in mem.recall(RELATED, k=20, mode="hybrid") if h.chunk_id == target)
    assert hit.why["confirmed"] == "a related query", hit.why
    assert hit.why_text.endswith(f"; confirmed by use for a related query +{hit.why['reinforcement']:.2f}")
    assert json.loads(json.dumps(hit.to_dict()))["why"]["confirmed"] == "a related query"  # JSON-safe, as served
