"""Loose ends of the Python API found in an audit: each argument a user can get wrong is named when given,
and nothing is written. Real SQLite, FAISS and model."""
from __future__ import annotations

import inspect

import numpy as np
import pytest

from core.memory import RecallConfig, SemanticMemory
from core.memory._recall import RecallMixin
from core.reasoning.mycelial import MycelialVQVAE

DOCS = [
    {"id": "rush", "title": "Rush", "text": "Rush were a Canadian rock band formed in Toronto. Neil Peart was "
                                            "their drummer and lyricist; Geddy Lee sang and played bass."},
    {"id": "nero", "title": "Nero", "text": "Nero was Roman emperor after Claudius. His mother Agrippina "
                                            "arranged his adoption; Seneca was his tutor in Rome."},
    {"id": "quokka", "text": "Quokkas live on Rottnest Island near Perth, in Western Australia."},
]


@pytest.fixture(scope="module")
def codec():
    return MycelialVQVAE.load_default()


@pytest.fixture(scope="module")
def mem(tmp_path_factory, embedder, codec):
    m = SemanticMemory(tmp_path_factory.mktemp("loose") / "m", embedder=embedder, codec=codec)
    m.ingest(DOCS)
    yield m
    m.close()


def _state(m) -> tuple:
    s = m.stats()
    return s["documents"], s["chunks"], s["index_vectors"], s["network"]["events"]


def test_recall_batch_takes_exclude_as_recall_does(mem):
    # recall(exclude=) existed, recall_batch had no such argument (a TypeError): the same arguments now
    one, batch = inspect.signature(RecallMixin.recall), inspect.signature(RecallMixin.recall_batch)
    assert list(one.parameters)[2:] == list(batch.parameters)[2:]
    q = ["who drummed for Rush?", "who tutored Nero?"]
    first = [hits[0].chunk_id for hits in mem.recall_batch(q, k=1)]
    for mode in ("similar", "hybrid", "associative"):
        out = mem.recall_batch(q, k=3, mode=mode, exclude=iter(first))  # a generator serves every query
        assert all(h.chunk_id not in first for hits in out for h in hits), mode
        assert [[h.chunk_id for h in hits] for hits in out] == \
            [[h.chunk_id for h in mem.recall(t, k=3, mode=mode, exclude=first)] for t in q]
    with pytest.raises(ValueError, match="exclude must be a list of chunk ids"):
        mem.recall_batch(q, exclude="12")
