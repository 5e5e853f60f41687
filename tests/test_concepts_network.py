"""Concept nodes of the Hebbian network: ragged events against a brute-force reference, exact
merge/unobserve/save, the walk's bounds, hubs, and `why` edges that exist in the network."""
from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
from _memory_helpers import wiki_records

from core.memory import SemanticMemory
from core.memory.graph import _concept_step
from core.memory.phrases import normalize
from core.reasoning.mycelial import MycelialConfig, MycelialReasoning, MycelialVQVAE
from core.reasoning.mycelial._concepts import BASE

CFG = MycelialConfig(num_heads=3, codebook_size=4, window=2)


def _events(seed: int, n: int = 40, vocab: int = 15):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, (n, 3)).astype(np.uint8)
    rows = [sorted(rng.choice(vocab, int(rng.integers(0, 6)), replace=False).tolist()) for _ in range(n)]
    groups = np.repeat(np.arange(n // 10), 10)
    offsets = np.zeros(n + 1, np.int64)
    offsets[1:] = np.cumsum([len(r) for r in rows])
    return codes, rows, offsets, np.asarray([c for r in rows for c in r], np.int64), groups


def _reference(codes, rows, groups, window=2):
    """Brute force: every pair with a concept end, within a row (n) and across the window (g)."""
    n_code = 12
    nodes = [[h * 4 + int(codes[i, h]) for h in range(3)] + [n_code + c for c in rows[i]] for i in range(len(rows))]
    ref: dict[tuple[int, int], list[int]] = {}
    for i, ns in enumerate(nodes):
        for x, y in itertools.combinations(ns, 2):
            if max(x, y) >= n_code:
                ref.setdefault((min(x, y), max(x, y)), [0, 0])[0] += 1
        for j in range(i + 1, min(len(rows), i + window + 1)):
            if groups[i] == groups[j]:
                for x in ns:
                    for y in nodes[j]:
                        if x != y and max(x, y) >= n_code:
                            ref.setdefault((min(x, y), max(x, y)), [0, 0])[1] += 1
    return ref


def test_ragged_events_match_brute_force_and_soft_bound_weights():
    codes, rows, offsets, flat, groups = _events(0)
    net = MycelialReasoning(CFG).observe(codes, groups).observe_concepts(codes, offsets, flat, groups)
    ref = _reference(codes, rows, groups)
    keys = sorted(a * BASE + b for a, b in ref)
    assert net.cx_keys_.tolist() == keys
    n = np.asarray([ref[(k // BASE, k % BASE)][0] for k in keys], float)
    g = np.asarray([ref[(k // BASE, k % BASE)][1] for k in keys], float)
    assert np.array_equal(net.cx_counts_, n) and np.array_equal(net.cx_group_counts_, g)
    # the soft-bound rule applied n times at eta and g times at eta_group, in any order
    w = 1 - (1 - CFG.learning_rate) ** n * (1 - CFG.eta_group) ** g
    assert np.allclose(net.concept_weights(), w)
    assert np.array_equal(net.concept_counts_[:15], np.bincount(flat, minlength=15))


def test_merge_unobserve_and_save_are_exact(tmp_path):
    codes, rows, offsets, flat, groups = _events(1)
    whole = MycelialReasoning(CFG).observe(codes, groups).observe_concepts(codes, offsets, flat, groups)
    cut = 20  # at a group boundary
    a = MycelialReasoning(CFG).observe(codes[:cut], groups[:cut]).observe_concepts(
        codes[:cut], offsets[:cut + 1], flat[:offsets[cut]], groups[:cut])
    b = MycelialReasoning(CFG).observe(codes[cut:], groups[cut:]).observe_concepts(
        codes[cut:], offsets[cut:] - offsets[cut], flat[offsets[cut]:], groups[cut:])
    assert a.merge(b) == whole
    whole.save(tmp_path / "n.npz")
    assert MycelialReasoning.load(tmp_path / "n.npz") == whole
    whole.unobserve(codes[cut:], groups[cut:]).unobserve_concepts(
        codes[cut:], offsets[cut:] - offsets[cut], flat[offsets[cut]:], groups[cut:])
    first = MycelialReasoning(CFG).observe(codes[:cut], groups[:cut]).observe_concepts(
        codes[:cut], offsets[:cut + 1], flat[:offsets[cut]], groups[:cut])
    assert whole == first
    with pytest.raises(ValueError, match="not observed"):
        first.unobserve_concepts(codes[:1], [0, 1], [99])  # a concept never observed
    # two seen concepts that never met: their counts passed the check, their pair clamped at zero
    seen = np.unique(flat[:offsets[cut]]) + first.num_nodes
    pair = next((int(x), int(y)) for x, y in itertools.combinations(seen, 2) if x * BASE + y not in first.cx_keys_)
    with pytest.raises(ValueError, match="concepts that were not observed: the edge of"):
        first.unobserve_concepts(codes[:1], [0, 2], [p - first.num_nodes for p in pair])
    assert whole == first  # nothing changed by the refused call
    before = whole.concept_weights().copy()
    whole.decay(0.5)
    kept = before >= 2 * CFG.min_weight
    assert np.allclose(whole.concept_weights(), 0.5 * before[kept])  # exact decay; the weakest pruned


def test_bad_ragged_input():
    net = MycelialReasoning(CFG)
    codes = np.zeros((2, 3), np.uint8)
    with pytest.raises(ValueError, match="offsets"):
        net.observe_concepts(codes, [0, 1], [3])
    with pytest.raises(ValueError, match="offsets"):
        net.observe_concepts(codes, [0, 2, 1], [3])
    with pytest.raises(ValueError, match="concept ids"):
        net.observe_concepts(codes, [0, 1, 1], [-1])


def test_npmi_is_bounded_and_hubs_score_zero():
    net = MycelialReasoning(CFG)
    n = 200
    codes = np.zeros((n, 3), np.uint8)
    rows = [[0] + ([1, 2] if i % 10 == 0 else [3 + i % 7]) for i in range(n)]  # 0 is everywhere
    offsets = np.zeros(n + 1, np.int64)
    offsets[1:] = np.cumsum([len(r) for r in rows])
    net.observe(codes).observe_concepts(codes, offsets, np.asarray([c for r in rows for c in r]))
    indptr, nbr, npmi, w, n_ab = net.concept_graph()
    assert ((npmi >= 0) & (npmi <= 1)).all() and ((w >= 0) & (w <= 1)).all()
    hub = npmi[indptr[0]:indptr[1]]
    assert hub.max() < 1e-6  # the hub co-occurs with everything exactly as chance predicts
    pair = npmi[indptr[1]:indptr[2]][nbr[indptr[1]:indptr[2]] == 2]
    assert pair[0] == pytest.approx(1.0)  # 1 and 2 always together


def test_walk_step_keeps_activations_in_unit_range_and_skips_hubs():
    rng = np.random.default_rng(3)
    n_c = 50
    src, dst = np.triu_indices(n_c, 1)
    keep = rng.random(len(src)) < 0.3
    src, dst = src[keep], dst[keep]
    a, b = np.concatenate([src, dst]), np.concatenate([dst, src])
    order = np.argsort(a, kind="stable")
    indptr = np.zeros(n_c + 1, np.int64)
    np.cumsum(np.bincount(a, minlength=n_c), out=indptr[1:])
    s = np.tile(rng.random(len(src)), 2)[order]
    cnt = np.tile(rng.integers(1, 5, len(src)).astype(float), 2)[order]
    cg = (indptr, b[order], s, s, cnt)
    idf = np.ones(n_c, np.float32)
    idf[7] = 0.0  # a hub: too common to carry association
    act = np.zeros(n_c, np.float32)
    act[rng.choice(n_c, 10, replace=False)] = rng.random(10).astype(np.float32) * 1.2
    act[7] = 0.0
    out, via = _concept_step(act, cg, idf, 2.0, 16)
    assert out.min() >= 0 and out.max() <= 1.0 + 1e-6
    assert out[7] == 0.0 and 7 not in via
    for dst_, (src_, wt, npmi) in via.items():
        lo, hi = indptr[src_], indptr[src_ + 1]
        assert dst_ in b[order][lo:hi].tolist() and 0 <= npmi <= 1


def test_why_edges_exist_in_the_network(tmp_path, embedder, wiki_docs):
    import dataclasses

    codec = MycelialVQVAE.load_default()
    with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec) as mem:
        mem.ingest(wiki_records(wiki_docs, n_docs=12, n_sents=12))
        mem.recall_config = dataclasses.replace(mem.recall_config, concept_weight=4.0)
        found, told = 0, 0
        for d in wiki_docs[:12]:
            for h in mem.recall(d.sentences[3], k=10, mode="associative"):
                for e in h.why.get("edges", []):
                    a, b = mem.graph_.vocab_[e["from"]], mem.graph_.vocab_[e["to"]]
                    _, npmi = mem.network_.concept_edge(a, b)
                    cand, w, _ = mem._neighbours(a)  # the weight associations() and bridges() show
                    assert round(float(w[cand == b][0]), 2) == e["weight"] and round(npmi, 2) == e["npmi"]
                    found += 1
                # a name as written may hold an apostrophe ('T. S. Eliot's Four Quartets')
                m = re.search(r"(?:≈ |; )'(.+?)' —([\d.]+) \(npmi ([\d.]+)\)→ '(.+?)'(?= \(|; |$)", h.why_text)
                if m:  # the path in words is one of this hit's edges, with its weight (its concepts as written)
                    told += 1
                    edge = {"from": normalize(m[1]), "to": normalize(m[4]), "weight": float(m[2]), "npmi": float(m[3])}
                    assert edge in h.why["edges"]
        assert found > 0 and told > 0
        # associations read the same edges
        name = next(iter(mem.graph_.vocab_))
        for a in mem.associations(name, k=5):
            assert mem.network_.concept_edge(mem.graph_.vocab_[name], mem.graph_.vocab_[a["concept"]]) is not None
        with pytest.raises(ValueError):
            mem.associations("", k=3)
        with pytest.raises(ValueError):
            mem.associations(name, k=0)
        assert mem.associations("no such concept anywhere", k=3) == []


def test_a_chunk_that_is_one_huge_token_names_at_most_128_concepts(tmp_path, embedder):
    # a 5 MB base64 line stays one chunk: it named 112,128 "terms", whose 6.3e9 concept pairs failed with
    # MemoryError at its ingest and then at every open (the catch-up observes it again): no command reached it
    import base64

    from core.memory.chunking import chunk_text
    from core.memory.phrases import document_phrases

    blob = base64.b64encode(np.random.default_rng(0).bytes(30_000)).decode()
    chunks = chunk_text(blob, 128, 96)
    assert len(chunks) == 1
    phrases = document_phrases(chunks, "blob")[0]
    assert len(phrases) == 128 and phrases[0] == "blob"

    # a memory that stored such a chunk before the cap: the network counts the first 128 of a row,
    # observing and forgetting alike, so the counts stay exact
    net = MycelialReasoning(MycelialConfig(num_heads=4, codebook_size=256))
    codes = np.array([[1, 2, 3, 4], [5, 6, 7, 8]], dtype=np.uint8)
    concepts = np.concatenate([np.arange(1000), np.arange(1000, 1005)])
    offsets = np.array([0, 1000, 1005])
    net.observe(codes)
    net.observe_concepts(codes, offsets, concepts)
    assert np.flatnonzero(net.concept_counts_).tolist() == list(range(128)) + list(range(1000, 1005))
    assert net.cx_keys_.shape[0] < 200 * 200
    net.unobserve_concepts(codes, offsets, concepts)
    assert not net.concept_counts_.any() and not np.asarray(net.cx_counts_).any()


def test_no_concept_is_longer_than_1000_characters():
    # a 24,000-character capitalised token was a "name" and a 15,000-character identifier a "term": one concept
    # each, shown whole in the graph and on the web page; the longest in 50k chunks of real text is 108
    from core.memory.phrases import MAX_CONCEPT_CHARS, document_phrases

    text = "The blob " + "QwErTy" * 4000 + " was pasted by Ada Lovelace. " + "ab_cd" * 3000
    assert document_phrases([text], "Notes")[0] == ["notes", "ada lovelace"]
    url = "developer.mozilla.org/en-us/docs/web/javascript/reference/global_objects/number/max_safe_integer"
    assert url in document_phrases([f"See {url} for the limit."], "")[0]  # a long real one stays
    assert MAX_CONCEPT_CHARS == 1000


def test_a_technical_term_that_associations_lists_can_be_looked_up(tmp_path, embedder):
    # associations("sha256") listed "os.path.join", but associations("os.path.join"), graph() and the web page's
    # button of it found nothing: the lookup normalised it to "os path join" while terms are stored as written
    # (README's own example concepts: crypto.createHash, grep(1))
    texts = ["Call crypto.createHash with sha256 to hash the file. The grep(1) manual lists options. Use "
             "os.path.join for paths.", "crypto.createHash returns a Hash object; os.path.join joins path parts. "
             "See grep(1) for regular expressions.", "Node.js exposes crypto.createHash and crypto.randomBytes."]
    with SemanticMemory(tmp_path / "m", embedder=embedder) as mem:
        mem.ingest([{"id": f"t{i}", "text": t} for i, t in enumerate(texts)])
        listed = [a["concept"] for a in mem.associations("sha256", k=5)]
        assert "os.path.join" in listed, listed
        for name in ("os.path.join", "OS.Path.Join", "grep(1)"):
            assert mem.associations(name, k=5), name
            assert len(mem.graph(name)["nodes"]) > 1, name
        root = mem.graph("crypto.createHash")["nodes"][0]
        assert root["id"] == "crypto.createhash" and root["label"] == "crypto.createHash"  # the label as written
        assert mem.associations("no such thing") == []
        # the page's first button of a hit is its title: "Gordon Douglas (director)" is stored as "gordon douglas"
        mem.ingest([{"id": "gd", "title": "Ida Wren (cartographer)", "text": "Ida Wren mapped the salt caves of "
                     "Oskar Fell. Ida Wren later mapped the limestone caves of Orla with Pell Marrow."},
                    {"id": "gd2", "title": "Pell Marrow", "text": "Pell Marrow tuned the organ of Quillan chapel."}])
        root = mem.graph("Ida Wren (cartographer)")["nodes"][0]
        assert root["id"] == "ida wren" and root["label"] == "Ida Wren"


def test_graph_of_a_url_concept_writes_files_with_short_names(tmp_path):
    # `mycelial graph --memory M --concept <a 300-character URL>`: "Error: File name too long"
    from click.testing import CliRunner

    from core.cli import cli

    url = "https://docs.example.org/guides/" + "tessary-harbour-" * 16 + "bell"
    mem = str(tmp_path / "m")
    lines = "".join(f'{{"id": "u{i}", "text": "The bell of Tessary, see {url} ({i})."}}\n' for i in range(2))
    assert CliRunner().invoke(cli, ["ingest", "-", "--memory", mem, "-q"], input=lines).exit_code == 0
    r = CliRunner().invoke(cli, ["graph", "--memory", mem, "--concept", url.split("//")[1], "--out",
                                 str(tmp_path / "figs")])
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in (tmp_path / "figs").iterdir())
    assert len(names) == 2 and all(len(n.encode()) <= 130 for n in names) and names[0].startswith("docs.example"), names


@pytest.mark.parametrize("method", ["observe_concepts", "unobserve_concepts"])
def test_a_concept_twice_in_a_row_is_refused_and_changes_nothing(method):
    # the docstring said "distinct per row", yet [3, 3] counted concept 3 (and its edges) twice
    codes, rows, offsets, flat, groups = _events(5)
    net = MycelialReasoning(CFG).observe(codes, groups).observe_concepts(codes, offsets, flat, groups)
    before = (net.cx_keys_.copy(), net.cx_counts_.copy(), net.concept_counts_.copy())
    twice = np.zeros(3, np.int64)
    twice[1:] = [3, 4]
    with pytest.raises(ValueError, match="concept 3 appears more than once in row 0; the concepts of a row must be"):
        getattr(net, method)(codes[:2], twice, np.asarray([7, 3, 3, 9]))
    after = (net.cx_keys_, net.cx_counts_, net.concept_counts_)
    assert all(np.array_equal(a, b) for a, b in zip(before, after))


def test_the_same_concept_in_two_rows_is_two_events_and_unobserves_exactly():
    codes, rows, offsets, flat, groups = _events(6)
    net = MycelialReasoning(CFG).observe(codes, groups).observe_concepts(codes, offsets, flat, groups)
    before = (net.cx_keys_.copy(), net.cx_counts_.copy(), net.cx_group_counts_.copy(), net.concept_counts_.copy())
    extra = (codes[:2], np.asarray([0, 2, 4]), np.asarray([3, 7, 3, 7]), np.zeros(2, np.int64))
    net.observe_concepts(*extra)
    assert net.concept_counts_[3] == before[3][3] + 2
    net.unobserve_concepts(*extra)
    after = (net.cx_keys_, net.cx_counts_, net.cx_group_counts_, net.concept_counts_[:len(before[3])])
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
