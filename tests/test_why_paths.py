"""The path a hit's ``why_text`` reads is one a person can follow: concepts as the passage writes them ("Géza von
Cziffra", not the folded 'geza von cziffra'), no concept that is not on the path, and a seed passage of the hit's own
document named as such (it read "query ≈ 'Nero' → 'nero' → this passage").

Real HotpotQA passages and WikiText articles, the real model, SQLite and FAISS."""
from __future__ import annotations

import json
import re

from core.datasets import brown_documents, data_file
from core.memory import SemanticMemory
from core.memory.phrases import normalize, written_as


def test_a_concept_is_shown_as_the_text_writes_it():
    text = 'Third from the Right is a 1950 film directed by Géza von Cziffra and starring Peter van Eyck.'
    assert written_as("geza von cziffra", text) == "Géza von Cziffra"
    assert written_as("neil peart", "In 1974 Neil Peart's lyrics changed.") == "Neil Peart"  # no possessive
    assert written_as("rush", 'He joined "Rush".') == "Rush"  # no quotes or full stop
    assert written_as("tape", "the variable `TAPE' names the drive") == "TAPE"  # a man page's `quote' (it showed `TAPE)
    assert written_as("u s", "the U.S. Army") == "U.S."  # an abbreviation keeps its dots
    assert written_as("lilu", "A demon of the night.", title="Lilu (mythology)") == "Lilu"  # the title names it
    assert written_as("tornado", "no such word here") == "tornado"  # else the concept itself
    blob = "II7V1/rA9jH4" + "x/Q+" * 10_000  # a word it is a piece of: the 40,000-character run was shown whole
    assert written_as("ii7v1", f"Dump of the archive {blob} ends here.") == "ii7v1"
    for phrase in ("geza von cziffra", "neil peart", "rush", "u s"):  # what is shown names the same concept
        assert normalize(written_as(phrase, text + " In 1974 Neil Peart's Rush. the U.S. Army")) == phrase


def _hotpot(titles):
    with open(data_file("multihop_dev/hotpotqa_train_corpus.json"), encoding="utf-8") as fh:
        corpus = json.load(fh)
    return [{"id": t, "title": t, "text": " ".join(corpus[t])} for t in titles]


def test_paths_show_names_as_written_and_only_concepts_on_the_path(tmp_path, embedder):
    titles = ["Géza von Cziffra", "Kriminaltango (film)", "Third from the Right", "Peter schießt den Vogel ab",
              "The Legs of Dolores", "Two Dollar Radio", "Grace Krilanovich"]
    with SemanticMemory(tmp_path / "m", embedder=embedder) as mem:
        mem.ingest(_hotpot(titles))
        hits = [h for q in ("films by Géza von Cziffra", "Which Hungarian director made Kriminaltango?")
                for h in mem.recall(q, k=5, mode="hybrid")]
    paths = [h.why_text for h in hits]
    assert any("'Géza von Cziffra'" in p for p in paths), paths
    assert not any("geza" in p or "west german" in p for p in paths), paths  # 'West German' as written
    for h in hits:  # every concept a path names is one of the walk's or the hit's, not a passing one
        named = set(re.findall(r"'([^'→]+)'", h.why_text))
        known = {p for p, _ in h.why.get("phrases", [])} | set(h.why.get("seed_phrases", [])) | {h.title}
        known |= {e["from"] for e in h.why.get("edges", [])}
        assert {normalize(n) for n in named} <= {normalize(k) for k in known} | set(map(normalize, titles)), (
            h.why_text, h.why)


def test_a_seed_passage_of_the_same_document_is_named_so(tmp_path, embedder, wiki_docs):
    with SemanticMemory(tmp_path / "m", embedder=embedder) as mem:
        mem.ingest([{"id": d.title, "title": d.title, "text": " ".join(d.sentences[:40])} for d in wiki_docs[:4]])
        a = wiki_docs[0]
        hits = mem.recall(a.sentences[5], k=8, mode="hybrid")
    own = [h for h in hits if h.title == a.title]
    assert len(own) >= 2, [h.title for h in hits]
    assert not any(h.why_text.startswith(f"query ≈ '{a.title}'") for h in own), [h.why_text for h in own]
    assert any("query ≈ another passage of this document → " in h.why_text for h in own), [h.why_text for h in own]
    # --explain named the seed passages by chunk id alone ("seed passages: 904, 903, ..."): their titles come too
    assert all(len(h.why["seed_titles"]) == len(h.why["seed_chunks"]) and a.title in h.why["seed_titles"]
               for h in hits), [h.why.get("seed_titles") for h in hits]
    from core.cli._hits import explain_lines

    line = next(x for x in explain_lines(own[0]) if x.startswith("seed passages"))
    title, chunk = own[0].why["seed_titles"][0], own[0].why["seed_chunks"][0]
    assert title and f"{title} (chunk {chunk})" in line, line


def test_a_code_node_path_names_only_the_passages_own_codes_in_activation_order(tmp_path, embedder):
    # it named the walk's two strongest nodes for every such hit: 57 of 98 named no code of the passage, 18 two
    # codes of one head (a chunk has one code a head)
    with SemanticMemory(tmp_path / "m", embedder=embedder) as mem:
        mem.ingest([{"id": d.title, "text": "\n\n".join(d.sentences[:30])} for d in brown_documents()
                    if d.meta["category"] in ("romance", "mystery")][:4])  # dialogue: lines that name no concept
        hits = [h for q in ("a", "Oh no", "yes sir", "Got it", "Among them") for mode in ("hybrid", "associative")
                for h in mem.recall(q, k=10, mode=mode)]
        codes = {c: r["codes"].tolist() for c, r in mem.store_.chunk_rows([h.chunk_id for h in hits]).items()}
    named = [(h, m.group(1).split()) for h in hits if (m := re.search(r"network nodes ((?:\d+:\d+ ?)+)", h.why_text))]
    assert len(named) >= 5, [h.why_text for h in hits]
    for h, nodes in named:
        own = {f"{head}:{c}" for head, c in enumerate(codes[h.chunk_id])}
        assert set(nodes) <= own, (h.why_text, own)
    for h in hits:  # --explain's "code nodes:" line reads them in activation order
        acts = [n["activation"] for n in h.why.get("nodes", [])]
        assert acts == sorted(acts, reverse=True), h.why["nodes"]


def test_a_paths_edge_weight_is_the_one_associate_and_bridges_show(tmp_path, embedder):
    # the path showed the network's soft-bound weight ('jury' —0.43→ 'Fulton County', 0.10 after one co-occurrence)
    # where bridges showed npmi x n/(n+1) for the same edge (jury —0.46→ fulton county)
    news = [d for d in brown_documents() if d.meta["category"] == "news"][:6]
    with SemanticMemory(tmp_path / "m", embedder=embedder) as mem:
        mem.ingest([{"id": d.title, "text": "\n\n".join(d.sentences[:40])} for d in news])
        told = 0
        for q in ("election in Atlanta grand jury", "Fulton County jury", "the state senate vote", "a new tax bill"):
            for h in mem.recall(q, k=10, mode="associative"):
                for a, w, b in re.findall(r"'([^']+)' —([\d.]+) \(npmi [\d.]+\)→ '([^']+)'", h.why_text):
                    direct = [p for p in mem.bridges(a, b, k=5) if len(p["path"]) == 2]
                    assert direct and f"{direct[0]['weights'][0]:.2f}" == w, (h.why_text, direct)
                    weight = next(x["weight"] for x in mem.associations(a, k=10_000) if x["concept"] == normalize(b))
                    assert f"{weight:.2f}" == w
                    told += 1
                for e in h.why.get("edges", []):  # the data says the same
                    cand, ws, _ = mem._neighbours(mem.graph_.vocab_[e["from"]])
                    assert e["weight"] == round(float(ws[cand == mem.graph_.vocab_[e["to"]]][0]), 2)
        assert told >= 3


def test_a_title_the_passage_does_not_write_is_not_said_to_be_named():
    """The document title is a concept of every chunk: '## Release history' of 'Independiente' read "names
    'Independiente'"; it is "in 'Independiente'" now, and a chunk that writes its title still names it."""
    from core.memory._hitinfo import _why_text

    info = {"similarity": 0.41, "cosine": 0.4, "association": 0.3}
    sources = {"independiente": (0.4, 7)}  # the seed's own concept carried the activation back to it
    row = {"text": "## Release history\nThe album was released in 2011.", "title": "Independiente",
           "phrases": ["independiente", "release history"], "doc_key": "a"}
    assert _why_text(7, info, row, sources, {}) == "query ≈ this passage (in 'Independiente') (cosine 0.40)"
    row["text"] = "Independiente is the album of Ricardo Arjona."
    assert _why_text(7, info, row, sources, {}) == "query ≈ this passage (names 'Independiente') (cosine 0.40)"
