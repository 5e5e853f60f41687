"""Associations, the concept neighbourhood, hybrid fusion and why_text on a small real memory."""
from __future__ import annotations

import json

import pytest

from core.memory import SemanticMemory
from core.reasoning.mycelial import MycelialVQVAE

RECORDS = [
    {"id": "rush", "title": "Rush (band)", "text": "Rush was a Canadian rock band formed in Toronto in 1968. "
     "Neil Peart joined Rush as drummer and lyricist in 1974.\n\nGeddy Lee sang and played bass in Rush. "
     "Alex Lifeson played guitar."},
    {"id": "peart", "title": "Neil Peart", "text": "Neil Peart was a Canadian drummer, lyricist and author, born in "
     "Hamilton, Ontario.\n\nPeart wrote most of the lyrics of Rush and travelled by motorcycle across North America."},
    {"id": "beatles", "title": "The Beatles", "text": "The Beatles were an English rock band formed in Liverpool in "
     "1960. John Lennon and Paul McCartney wrote most songs.\n\nRingo Starr was the drummer of The Beatles."},
    {"id": "starr", "title": "Ringo Starr", "text": "Ringo Starr is an English drummer and singer from Liverpool. "
     "He played with Rory Storm before joining The Beatles."},
    {"id": "toronto", "title": "Toronto", "text": "Toronto is the capital of Ontario and the largest city in Canada."},
    {"id": "liverpool", "title": "Liverpool", "text": "Liverpool is a city in England on the River Mersey, known for "
     "its port and for The Beatles."},
    {"id": "ssh", "title": "ssh-keygen", "text": "ssh-keygen generates, manages and converts authentication keys "
     "for ssh. Use ssh-keygen -t ed25519 to create a key pair."},
    {"id": "grep", "title": "grep manual", "text": "grep searches files for lines matching a pattern. Use grep -i "
     "to ignore case distinctions in patterns and input data."},
    {"id": "tar", "title": "tar manual", "text": "tar saves many files into a single archive. The -z, --gzip option "
     "filters the archive through gzip, so tar -xzf file.tar.gz extracts a gzip-compressed archive."},
    {"id": "crypto", "title": "crypto module", "text": "crypto.createHash(algorithm) creates and returns a Hash "
     "object that can generate hash digests using the given algorithm."},
]
QUERY = "which band had Neil Peart as drummer?"


@pytest.fixture(scope="module")
def mem(tmp_path_factory, embedder):
    m = SemanticMemory(tmp_path_factory.mktemp("recall") / "mem", embedder=embedder,
                       codec=MycelialVQVAE.load_default())
    m.ingest(RECORDS)
    yield m
    m.close()


def test_associations_are_specific_and_bounded(mem):
    assoc = mem.associations("Neil Peart", k=5)
    assert 0 < len(assoc) <= 5
    names = [a["concept"] for a in assoc]
    assert "rush" in names and "neil peart" not in names
    assert all(0 < a["weight"] <= 1 and a["chunks"] >= 1 for a in assoc)
    assert [a["weight"] for a in assoc] == sorted((a["weight"] for a in assoc), reverse=True)
    # a concept never named with the beatles' people is not associated with them
    assert not {"ringo starr", "liverpool", "the beatles", "beatles"} & set(names)
    assert mem.associations("no such concept anywhere") == []


def test_associations_match_a_brute_force_count(mem):
    """`chunks` is the number of chunks naming both, counted straight from the store."""
    rows = mem.store_.chunk_rows(list(range(1, mem.stats()["chunks"] + 1)))
    for a in mem.associations("rush", k=20):
        both = sum(1 for r in rows.values() if "rush" in r["phrases"] and a["concept"] in r["phrases"])
        assert a["chunks"] == both, a


@pytest.mark.parametrize("bad", [dict(concept=""), dict(concept="   "), dict(concept="rush", k=0),
                                 dict(concept="rush", k=-3), dict(concept=None)])
def test_associations_bad_input(mem, bad):
    with pytest.raises(ValueError):
        mem.associations(**bad)


def test_graph_neighbourhood(mem):
    g = mem.graph("rush", depth=2, k=3)
    ids = [n["id"] for n in g["nodes"]]
    assert ids[0] == "rush" and g["nodes"][0]["weight"] == 1.0 and len(ids) == len(set(ids))
    assert all(e["source"] in ids and e["target"] in ids and 0 < e["weight"] <= 1 for e in g["edges"])
    one = mem.graph("rush", depth=1, k=3)
    assert len(one["nodes"]) == 4 and len(g["nodes"]) >= len(one["nodes"])
    json.dumps(g)
    assert mem.graph("nothing like this") == {"nodes": [], "edges": [], "left_out": {"nodes": 0, "edges": 0}}
    for bad in (dict(depth=0), dict(depth=9), dict(k=0)):
        with pytest.raises(ValueError):
            mem.graph("rush", **bad)


def test_hybrid_is_cosine_plus_bounded_lift(mem):
    sim = {h.chunk_id: h.score for h in mem.recall(QUERY, k=10, mode="similar")}
    hyb = mem.recall(QUERY, k=10, mode="hybrid")
    w = mem.recall_config.fusion_weight
    top_cos = max(sim.values())
    for h in hyb:
        c = h.why["similarity"]
        assert c - 1e-5 <= h.score <= c + w + 1e-5
        if c < mem.recall_config.fusion_floor * top_cos:  # below the floor: no lift at all
            assert h.score == pytest.approx(c, abs=1e-6)
    assert {h.doc_id for h in hyb[:2]} == {"peart", "rush"}
    # min_score drops what scores below it, in every mode
    kept = mem.recall(QUERY, k=10, mode="hybrid", min_score=0.5)
    assert kept and all(h.score >= 0.5 for h in kept) and len(kept) < len(hyb)
    with pytest.raises(ValueError):
        mem.recall(QUERY, min_score=float("nan"))


def test_why_text_names_the_path(mem):
    hits = mem.recall(QUERY, k=4, mode="hybrid")
    assert all(h.why_text for h in hits)
    rush = next(h for h in hits if h.doc_id == "rush")
    assert "'Neil Peart'" in rush.why_text and rush.why_text.startswith("query")
    assert len({h.why_text for h in hits}) == len(hits)  # different hits, different paths
    s = mem.recall(QUERY, k=2, mode="similar")[0]
    assert s.why_text.startswith("query ≈ this passage (cosine")
    assert json.loads(json.dumps(hits[0].to_dict()))["why_text"] == hits[0].why_text
    assert "_sources" not in hits[0].why


def test_concepts_beyond_capitalisation():
    from core.memory.phrases import extract_phrases, extract_terms, query_phrases
    text = ("grep searches files for lines matching a pattern. See grep -i.\nCall crypto.createHash(algo) "
            "or ssh-keygen -t ed25519 and read_file. In 2018 Neil Peart joined Rush. Alex Lifeson played. "
            "Show the long-term gzip-compressed files. SYNOPSIS")
    got = extract_phrases(text)
    for want in ("grep", "crypto.createhash", "ssh-keygen", "ed25519", "read_file", "neil peart", "rush",
                 "alex lifeson"):
        assert want in got, want
    for bad in ("2018", "see", "show", "synopsis", "long-term", "gzip-compressed", "rush alex lifeson"):
        assert bad not in got, bad
    assert extract_terms("the 1990s, mid-1990s, 3.5 km, e.g. and/or U.S.") == []
    # the query reaches concepts the memory knows, even in lower case; numbers never seed
    assert query_phrases("how do I ignore case with grep in 2018?", {"grep", "2018"}) == ["grep"]
    assert query_phrases("Who won the 2018 FIFA World Cup?", set()) == ["fifa world cup"]


def test_a_name_opening_with_a_number_word_keeps_it():
    """"Two Dollar Radio" gave only 'dollar radio' and "One Direction" only 'direction' (a capitalised stop word
    opening a span is dropped), while the passage titled so is 'two dollar radio': the mention and the title were
    two concepts. Real HotpotQA sentences."""
    from core.memory.phrases import extract_phrases, title_phrase

    got = extract_phrases('Her first novel, "The Orange Eats Creeps" was published by Two Dollar Radio in 2010.')
    assert title_phrase("Two Dollar Radio") in got and "dollar radio" in got
    assert "one direction" in extract_phrases("Four is the fourth studio album by One Direction.")
    got = extract_phrases("Two Germans crossed the river. In 1976 Neil Peart joined Rush.")
    assert "germans" in got and "neil peart" in got and "in 1976 neil peart" not in got  # not a number word


def test_lower_case_query_reaches_a_command(mem):
    hits = mem.recall("how do I ignore case with grep?", k=3)
    assert hits[0].doc_id == "grep" and "grep" in hits[0].why["seed_phrases"]


def test_a_memory_encodes_with_the_numpy_codec_giving_torchs_codes(tmp_path, wiki_sample):
    """A memory on the shipped weights encodes in numpy (no torch import for it): the codes of torch's codec."""
    import numpy as np

    from core.reasoning.mycelial.numpy_codec import NumpyVQVAE

    _, _, X = wiki_sample
    torch_codec = MycelialVQVAE.load_default()
    mem = SemanticMemory(tmp_path / "m")
    try:
        assert isinstance(mem.codec, NumpyVQVAE)
        assert np.array_equal(mem.codec.encode(X[:300]), torch_codec.encode(X[:300]))
        for x in X[:50]:  # one query vector at a time: numpy's own loop, not BLAS
            assert np.array_equal(mem.codec.encode(x[None]), torch_codec.encode(x[None]))
    finally:
        mem.close()
    mem = SemanticMemory(tmp_path / "m", codec=torch_codec)  # a codec the caller hands in is the one used
    try:
        assert mem.codec is torch_codec
    finally:
        mem.close()
