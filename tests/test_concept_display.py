"""How concepts are shown and asked for: as the text writes them (accents, capitals) in associate, bridges and
graph; a concept graph's node cap; usage errors, plurals and hints; short reprs; the Zipf plot's fit.

A tiny real memory: the two 2WikiMultihopQA passages on the Mac Ruaidhrí kindred (Ruaidhrí, Cairistíona, Áine,
Ailéan) and the corpus' first 40 passages."""
from __future__ import annotations

import json

import networkx as nx
import numpy as np
import pytest
from click.testing import CliRunner

from core.cli import cli
from core.config import data_file
from core.memory import SemanticMemory
from core.reasoning.mycelial import MycelialVQVAE


@pytest.fixture(scope="module")
def folder(tmp_path_factory, embedder):
    with open(data_file("multihop_dev/2wikimultihopqa_corpus.json"), encoding="utf-8") as fh:
        corpus = json.load(fh)
    picked = [p for p in corpus if "Ruaidhrí" in p["text"]] + corpus[:40]
    root = tmp_path_factory.mktemp("display")
    with open(root / "passages.jsonl", "w", encoding="utf-8") as fh:
        for p in picked:
            fh.write(json.dumps({"id": p["title"], "title": p["title"], "text": p["text"]}, ensure_ascii=False) + "\n")
    with SemanticMemory(root / "m", embedder=embedder, codec=MycelialVQVAE.load_default()) as mem:
        rep = mem.ingest([str(root / "passages.jsonl")])
    assert rep.documents == 42 and not rep.errors, rep.to_dict()
    return str(root / "m")


@pytest.fixture(scope="module")
def mem(folder, embedder):
    with SemanticMemory(folder, read_only=True, embedder=embedder) as m:
        yield m


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_associations_bridges_and_graph_give_concepts_as_the_text_writes_them(mem):
    # they showed the folded key: 'cairistiona', 'clann ruaidhri'; recall already wrote 'Dáithí Sproule'
    found = {a["concept"]: a["written"] for a in mem.associations("Ruaidhrí", k=10)}
    assert found["cairistiona"] == "Cairistíona" and found["clann ruaidhri"] == "Clann Ruaidhrí", found
    assert found["english crown"] == "English Crown" and found["ailean"] == "Ailéan", found
    path = mem.bridges("Ruaidhrí", "Áine", k=3)[0]
    assert path["path"][0] == "ruaidhri" and path["written"][0] == "Ruaidhrí" and path["written"][-1] == "Áine"
    g = mem.graph("ruaidhri", depth=2, k=10)
    labels = {n["id"]: n["label"] for n in g["nodes"]}
    assert labels["ruaidhri"] == "Ruaidhrí" and labels["cairistiona"] == "Cairistíona", labels
    assert {e["source"] for e in g["edges"]} | {e["target"] for e in g["edges"]} <= set(labels)  # ids stay folded


def test_the_written_form_reads_only_around_the_concept_and_answers_as_written_as_does(mem):
    """The fast path (windows around the key's first word) gives `written_as`'s answer for every concept of
    every chunk: it made associations(k=50) 3x cheaper than reading whole chunks."""
    from core.memory._written import _written_in
    from core.memory.phrases import _folded, written_as

    rows = mem.store_._reader.execute(
        "SELECT c.text, d.title, c.phrases FROM chunks c JOIN documents d ON d.id = c.doc_id").fetchall()
    pairs = [(p, text, title) for text, title, phrases in rows for p in json.loads(phrases)
             if " " in p or _folded(p) == [p]]  # a term kept whole ('crypto.createhash') is found as written
    assert len(pairs) > 300
    for p, text, title in pairs:
        assert _written_in(p, text, title, text.lower() if text.isascii() else None) == written_as(p, text, title)


def test_the_cli_prints_written_forms_and_keeps_the_folded_key_in_json(folder, tmp_path):
    r = _run("associate", "Ruaidhrí", "--memory", folder, "-k", "5")
    assert r.exit_code == 0 and "Clann Ruaidhrí" in r.output and "clann ruaidhri" not in r.output, r.output
    rows = json.loads(_run("associate", "Ruaidhrí", "--memory", folder, "-k", "5", "--json").stdout)
    assert {"concept": "clann ruaidhri", "written": "Clann Ruaidhrí"}.items() <= rows[0].items() or \
        any(a["concept"] == "clann ruaidhri" and a["written"] == "Clann Ruaidhrí" for a in rows), rows
    r = _run("bridges", "Ruaidhrí", "Áine", "--memory", folder)
    assert r.exit_code == 0 and r.stdout.split()[1] == "Ruaidhrí" and "Áine" in r.stdout, r.output
    r = _run("graph", "--memory", folder, "--concept", "Ruaidhrí", "--out", tmp_path)
    assert r.exit_code == 0 and "around 'Ruaidhrí'" in r.output, r.output
    g = nx.read_graphml(tmp_path / "ruaidhri.graphml")  # the file and the node ids keep the folded key
    assert g.nodes["cairistiona"]["label"] == "Cairistíona" and g.nodes["ruaidhri"]["label"] == "Ruaidhrí"


def test_a_concept_graph_is_capped_at_its_strongest_nodes_and_says_what_it_left_out(mem, folder, tmp_path):
    # depth 3 with -k 50 drew 3,398 nodes in 3.5 minutes; --top applied only to a network file
    full = mem.graph("ruaidhri", depth=3, k=50)
    top = mem.graph("ruaidhri", depth=3, k=50, top=10)
    assert len(full["nodes"]) > 20 and full["left_out"] == {"nodes": 0, "edges": 0}
    assert top["nodes"] == full["nodes"][:10]
    kept = {n["id"] for n in top["nodes"]}
    assert top["edges"] == [e for e in full["edges"] if e["source"] in kept and e["target"] in kept]
    assert top["left_out"] == {"nodes": len(full["nodes"]) - 10, "edges": len(full["edges"]) - len(top["edges"])}
    assert nx.is_connected(nx.Graph([(e["source"], e["target"]) for e in top["edges"]]))
    r = _run("graph", "--memory", folder, "--concept", "ruaidhri", "--depth", "3", "-k", "50", "--top", "10",
             "--out", tmp_path)
    assert r.exit_code == 0 and f"the strongest 10 of {len(full['nodes'])} concepts (--top to change)" in r.output
    assert nx.read_graphml(tmp_path / "ruaidhri.graphml").number_of_nodes() == 10
    with pytest.raises(ValueError, match="top must be"):
        mem.graph("ruaidhri", top=0)


@pytest.mark.parametrize("args", [("associate", "the"), ("associate", "!!!"), ("graph", "--concept", "the"),
                                  ("bridges", "the", "Ruaidhrí")])
def test_a_concept_of_stop_words_or_punctuation_is_a_usage_error(folder, args):
    r = _run(*args, "--memory", folder)  # exited 1, the status of "nothing found"
    assert r.exit_code == 2 and "has no words left" in r.output and "Traceback" not in r.output, r.output


def test_the_same_concept_twice_in_bridges_is_a_usage_error(folder):
    r = _run("bridges", "Ruaidhrí", "ruaidhri", "--memory", folder)
    assert r.exit_code == 2 and "are the same concept ('ruaidhri'); give two concepts" in r.output, r.output


def test_graph_names_the_concepts_like_an_unknown_one_as_associate_does(folder):
    r = _run("graph", "--memory", folder, "--concept", "raghnal")
    assert r.exit_code == 1 and f"'raghnal' is not a concept of {folder}; like it: raghnall" in r.output, r.output


def test_a_plural_reads_as_its_singular_concept_and_says_so(mem, folder, tmp_path):
    # recall folds plurals ("artists" seeds 'artist'); associate said "not a concept"
    assert "artists" not in mem.graph_.vocab_ and mem.concept_key("Artists") == "artist"
    assert mem.concept_key("families") == "family" and mem.concept_key("albums") == "albums"  # a concept as it is
    assert mem.associations("artists") == mem.associations("artist") != []
    r = _run("associate", "artists", "--memory", folder)
    assert r.exit_code == 0 and "'artists' is no concept of this memory; read as 'artist'" in r.stderr, r.output
    assert r.stdout == _run("associate", "artist", "--memory", folder).stdout
    r = _run("associate", "artists", "--memory", folder, "-q")  # -q was "No such option"
    assert r.exit_code == 0 and r.stderr == "" and r.stdout, r.output
    r = _run("graph", "--memory", folder, "--concept", "Artists", "--out", tmp_path, "-q")
    assert r.exit_code == 0 and (tmp_path / "artist.png").is_file() and r.stderr == "", r.output
    r = _run("bridges", "artists", "families", "--memory", folder)
    assert "read as 'artist'" in r.stderr and "read as 'family'" in r.stderr, r.output


def test_memory_embedder_and_hit_have_short_reprs(mem, folder):
    assert repr(mem) == f"<SemanticMemory {folder!r}: 42 documents, 56 chunks, read-only>"
    assert repr(mem.embedder) == f"TextEmbedder(model={mem.embedder.model!r}, backend={mem.embedder.backend!r})"
    hits = mem.recall("Who was the father of Ruaidhrí Mac Ruaidhrí?", k=3)
    shown = repr(hits)
    assert len(shown) < 3 * 200 and "seed" not in shown, shown  # the why dict was ~1 KB a hit
    h = hits[0]
    assert repr(h).startswith(f"Hit(doc_id={h.doc_id!r}, chunk_id={h.chunk_id}, score={h.score:.3f}, text='")
    closed = SemanticMemory(folder, read_only=True)
    closed.close()
    assert repr(closed) == f"<SemanticMemory {folder!r} (closed)>"


def test_the_zipf_fit_follows_the_data_not_its_dense_tail(wiki_sample):
    """Fitted over every rank, the line started at 10x the largest count (the ranks of the tail outnumber
    the head's); on log-spaced ranks it stays near the data at both ends."""
    from core.reasoning.mycelial import MycelialConfig, MycelialReasoning
    from core.reasoning.mycelial.export import zipf_fit

    codec = MycelialVQVAE.load_default()
    net = MycelialReasoning(MycelialConfig(num_heads=codec.num_heads, codebook_size=codec.codebook_size))
    net.observe(codec.encode(wiki_sample[2]))
    counts = np.sort(net.node_counts_[net.node_counts_ > 0])[::-1].astype(float)
    assert counts.size > 500
    slope, icpt = zipf_fit(counts)
    assert counts[0] / 2.5 < np.exp(icpt) < counts[0] * 2.5, (np.exp(icpt), counts[0])
    assert -2 < slope < 0
