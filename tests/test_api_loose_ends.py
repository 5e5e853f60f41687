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


def test_recall_config_is_checked_when_set_not_at_the_next_query(mem):
    # mem.recall_config = {...} and cfg.fusion_weight = nan were taken: the first failed inside the next recall
    # ("'dict' object has no attribute 'candidates'"), the second ranked by NaN without a word
    base = mem.recall_config
    before = [h.chunk_id for h in mem.recall("who drummed for Rush?", k=3)]
    for bad, err, message in (({"fusion_weight": 0.5}, TypeError, r"RecallConfig\(\*\*\{'fusion_weight': 0.5\}\)"),
                              ("hybrid", TypeError, "recall_config must be a RecallConfig, got str")):
        with pytest.raises(err, match=message):
            mem.recall_config = bad
        assert mem.recall_config is base
    for name, value, message in (("fusion_weight", float("nan"), "a finite number of at least 0"),
                                 ("phrase_weight", -1.0, "a finite number of at least 0"),
                                 ("candidates", "50", "a whole number of at least 1"),
                                 ("restart", 1.5, "a number from 0 to 1"),
                                 ("seed_temperature", 0.0, "a positive number"),
                                 ("seed_codes_from_hits", "yes", "True or False")):
        with pytest.raises(ValueError, match=f"RecallConfig.{name} must be {message}"):
            setattr(mem.recall_config, name, value)
    with pytest.raises(AttributeError, match="RecallConfig has no knob 'candiates'"):
        mem.recall_config.candiates = 50
    assert mem.recall_config == RecallConfig()
    assert [h.chunk_id for h in mem.recall("who drummed for Rush?", k=3)] == before
    # what worked still works: a new config, a replaced one, a knob set to a good value, None for the defaults
    import dataclasses

    mem.recall_config = dataclasses.replace(base, neighbour_weight=0.0)
    mem.recall_config.candidates = np.int64(50)
    assert mem.recall_config.candidates == 50 and mem.recall_config.neighbour_weight == 0.0
    mem.recall_config = None
    assert mem.recall_config == RecallConfig()
    assert [h.chunk_id for h in mem.recall("who drummed for Rush?", k=3)] == before


def test_ingest_vectors_refuses_a_nul_in_an_id_before_writing(mem, embedder):
    # ingest([{"id": "a\x00b", ...}]) was refused, ingest_vectors(["a\x00b"], X) stored a document no
    # command line or URL can name
    X = embedder.embed(["a vector for an id with a NUL", "and one for a good id"])
    before = _state(mem)
    for bad, message in (("a\x00b", r"ids\[0\] contains a NUL byte"),
                         ("a\udc80", r"ids\[0\] holds an unpaired surrogate \('\\udc80' at character 1\)"),
                         ("", "ids must be non-empty strings or integers"),
                         ("  ", "ids must be non-empty strings or integers"),
                         (b"v", "ids must be non-empty strings or integers"),
                         (None, "ids must be non-empty strings or integers")):
        with pytest.raises(ValueError, match=message):
            mem.ingest_vectors([bad, "good"], X)
    assert _state(mem) == before and mem.store_.document("good") is None
    assert mem.ingest_vectors(["a b", "good"], X).documents == 2
