"""SemanticMemory end to end with the real embedder, the shipped VQ-VAE, SQLite and FAISS."""
from __future__ import annotations

import json

import numpy as np
import pytest
from _memory_helpers import wiki_records

from core.memory import SemanticMemory
from core.reasoning.mycelial import MycelialConfig, MycelialReasoning, MycelialVQVAE


@pytest.fixture(scope="module")
def codec():
    return MycelialVQVAE.load_default()


@pytest.fixture(scope="module")
def records(wiki_docs):
    return wiki_records(wiki_docs, n_docs=6, n_sents=12)


@pytest.fixture()
def mem(tmp_path, embedder, codec, records):
    m = SemanticMemory(tmp_path / "mem", embedder=embedder, codec=codec)
    m.ingest(records)
    yield m
    m.close()


def _fresh_network(mem, records_kept):
    """A network that observed only ``records_kept``, the way the memory observes documents."""
    net = MycelialReasoning(MycelialConfig(num_heads=4, codebook_size=256))
    for key in records_kept:
        doc = mem.store_.document(key)
        net.observe(mem.store_.codes(doc["chunk_ids"]), np.zeros(len(doc["chunk_ids"]), dtype=np.int64))
    return net


def test_ingest_counts_and_recall_modes(mem, records, wiki_docs):
    st = mem.stats()
    assert st["documents"] == 6 and st["chunks"] > 60 and st["index_vectors"] == st["chunks"]
    query = wiki_docs[2].sentences[3]
    for mode in ("similar", "associative", "hybrid"):
        hits = mem.recall(query, k=5, mode=mode)
        assert len(hits) == 5
        assert hits[0].doc_id == "wiki2", mode  # its own article comes first
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    h = mem.recall(query, k=3, mode="hybrid")[0]
    assert h.text == query and h.title == wiki_docs[2].title
    assert set(h.why) >= {"similarity", "association", "seed_codes", "nodes", "phrases", "seed_chunks"}
    assert len(h.why["seed_codes"]) == 4 and all(0 <= c < 256 for _, c in h.why["seed_codes"])
    assert h.why["nodes"] and 0 <= h.why["nodes"][0]["activation"] <= 1
    json.dumps([x.to_dict() for x in mem.recall(query, k=3)])  # hits serialise


def test_per_document_and_exclude(mem, wiki_docs):
    query = wiki_docs[1].sentences[0]
    hits = mem.recall(query, k=6, per_document=True)
    assert len({h.doc_id for h in hits}) == len(hits) == 6
    first = mem.recall(query, k=1, mode="similar")[0]
    again = mem.recall(query, k=5, mode="similar", exclude=[first.chunk_id])
    assert first.chunk_id not in [h.chunk_id for h in again]


def test_dedupe_unchanged_and_replaced(mem, records):
    before = mem.stats()["chunks"]
    rep = mem.ingest(records[:2])
    assert rep.unchanged == 2 and rep.documents == 0 and mem.stats()["chunks"] == before
    copy = dict(records[0], id="copy-of-0")
    rep = mem.ingest([copy])
    assert rep.documents == 1 and rep.new_chunks == 0 and rep.duplicate_chunks == rep.chunks > 0
    assert mem.stats()["chunks"] == before
    changed = dict(records[1], text=records[1]["text"] + "\n\nA brand new closing sentence about owls.")
    rep = mem.ingest([changed])
    assert rep.replaced == 1 and rep.documents == 1 and mem.stats()["chunks"] == before + 1
    assert mem.recall("A brand new closing sentence about owls.", k=1)[0].doc_id == "wiki1"


def test_forget_removes_everywhere_and_exactly_from_the_network(mem, records, wiki_docs):
    query = wiki_docs[4].sentences[5]
    assert mem.recall(query, k=1, mode="similar")[0].doc_id == "wiki4"
    assert mem.forget("wiki4") is True and mem.forget("wiki4") is False
    assert all(h.doc_id != "wiki4" for m in ("similar", "associative", "hybrid") for h in mem.recall(query, k=20, mode=m))
    assert mem.stats()["documents"] == 5 and mem.index_.ntotal == mem.stats()["chunks"]
    kept = [r["id"] for r in records if r["id"] != "wiki4"]
    expected = _fresh_network(mem, kept)
    np.testing.assert_array_equal(mem.network_.keys_, expected.keys_)
    np.testing.assert_allclose(mem.network_.counts_, expected.counts_)
    np.testing.assert_array_equal(mem.network_.node_counts_, expected.node_counts_)


def test_reopen_catches_up_lagging_and_missing_state(tmp_path, embedder, codec, records, wiki_docs):
    folder = tmp_path / "m"
    with SemanticMemory(folder, embedder=embedder, codec=codec) as m:
        m.ingest(records[:3])
        state = (folder / "state.json").read_text()
        saved = {p.name: p.read_bytes() for p in folder.glob("*.npz")}
        m.ingest(records[3:])
        m.forget("wiki0")
        n_chunks, keys = m.stats()["chunks"], m.network_.keys_.copy()
    # roll the derived state back to the older generation: the store is ahead of it
    for p in folder.glob("*.npz"):
        p.unlink()
    for name, data in saved.items():
        (folder / name).write_bytes(data)
    (folder / "state.json").write_text(state)
    with SemanticMemory(folder, embedder=embedder, codec=codec) as m:
        assert m.index_.ntotal == n_chunks
        np.testing.assert_array_equal(m.network_.keys_, keys)
        assert m.recall(wiki_docs[5].sentences[2], k=1)[0].doc_id == "wiki5"
    # and with every derived file gone
    for p in list(folder.glob("*.npz")) + [folder / "state.json"]:
        p.unlink()
    with SemanticMemory(folder, embedder=embedder, codec=codec) as m:
        assert m.index_.ntotal == n_chunks
        np.testing.assert_array_equal(m.network_.keys_, keys)


def test_ingest_paths_with_bad_inputs(tmp_path, embedder, codec):
    src = tmp_path / "src"
    src.mkdir()
    (src / "good.md").write_text("# Owls\n\nOwls hunt at night.\n\nThey eat mice.", encoding="utf-8")
    (src / "empty.txt").write_bytes(b"")
    (src / "bin.txt").write_bytes(b"\x00\x01\x02")
    (src / "latin.txt").write_bytes(b"caf\xe9")
    (src / "r.jsonl").write_text('{"id": "j1", "text": "Bats hunt at night too."}\n{oops\n', encoding="utf-8")
    with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec) as m:
        rep = m.ingest([src, tmp_path / "nope.txt"])
        assert rep.documents == 2
        msgs = sorted(str(e) for e in rep.errors)
        assert len(msgs) == 5
        assert any("r.jsonl:2: malformed JSON" in s for s in msgs)
        assert any("nope.txt: no such file" in s for s in msgs)
        assert m.recall("What do owls eat?", k=1)[0].title == "Owls"


def test_ingest_vectors_reconstruct_and_bad_inputs(tmp_path, embedder, codec, wiki_sample):
    sentences, _, X = wiki_sample
    with SemanticMemory(tmp_path / "v", embedder=embedder, codec=codec) as m:
        rep = m.ingest_vectors([f"s{i}" for i in range(200)], X[:200], texts=sentences[:200])
        assert rep.documents == 200 and m.stats()["chunks"] == len(set(sentences[:200]))
        hit = m.recall_vector(X[7], k=1, mode="similar")[0]
        assert hit.text == sentences[7]
        codes = codec.encode(X[:3])
        rec = m.reconstruct(codes, k=5)
        assert len(rec) == 3 and all(len(r) == 5 for r in rec)
        # the decoded codes land near the sentences they came from
        assert np.mean([sentences[i] in [h.text for h in rec[i]] for i in range(3)]) >= 1 / 3
        with pytest.raises(ValueError, match="384 columns"):
            m.ingest_vectors(["a"], np.ones((1, 5), np.float32))
        with pytest.raises(ValueError, match="unique"):
            m.ingest_vectors(["a", "a"], X[:2])
        with pytest.raises(ValueError, match="NaN"):
            m.ingest_vectors(["a"], np.full((1, 384), np.nan, np.float32))
        with pytest.raises(ValueError, match="mode must be one of"):
            m.recall("x", mode="magic")
        with pytest.raises(ValueError, match="non-empty"):
            m.recall("   ")
        with pytest.raises(ValueError, match="k must be"):
            m.recall("x", k=0)
        with pytest.raises(ValueError, match="per_document must be True or False, got 'no'"):
            m.recall("x", per_document="no")  # a string is truthy: it grouped hits by document
        with pytest.raises(ValueError, match="explain must be True or False"):
            m.recall_vector(X[7], explain=None)
        assert len(m.recall_vector(X[7], k=3, per_document=np.bool_(True))) <= 3


def test_folder_that_is_a_file(tmp_path, embedder, codec):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        SemanticMemory(tmp_path / "f", embedder=embedder, codec=codec)


def test_new_codec_weights_reencode_from_stored_embeddings(tmp_path, embedder, codec, records):
    import torch

    from core.reasoning.vqvae.model_wiki import MonolithWiki

    folder = tmp_path / "m"
    with SemanticMemory(folder, embedder=embedder, codec=codec) as m:
        m.ingest(records[:2])
        n_rows = m.network_.n_events_
    torch.manual_seed(3)
    other = MycelialVQVAE(MonolithWiki())  # different weights, same 4 x 256 shape
    with SemanticMemory(folder, embedder=embedder, codec=other) as m:
        ids = np.asarray([r[0] for b in m.store_.iter_chunks(0, "id") for r in b])
        _, X = m.store_.embeddings(ids)
        np.testing.assert_array_equal(m.store_.codes(ids), other.encode(X))
        assert m.network_.n_events_ == n_rows and m.index_.ntotal == len(ids)
        expected = _fresh_network(m, [r["id"] for r in records[:2]])
        np.testing.assert_array_equal(m.network_.keys_, expected.keys_)


def test_a_closed_memory_says_so(tmp_path, embedder, codec):
    # after close(), ingest died with "'NoneType' object has no attribute 'execute'" and recall quietly
    # opened new SQLite connections that nothing would close
    m = SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec)
    m.ingest([{"id": "a", "text": "The Danube flows through Vienna."}])
    m.close()
    for call in (lambda: m.ingest([{"id": "b", "text": "The Rhine flows through Basel."}]),
                 lambda: m.recall("Vienna", k=1), lambda: m.forget("a"), lambda: m.stats()):
        with pytest.raises(ValueError, match="closed"):
            call()
    m.close()  # closing twice is fine
    with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec, read_only=True) as again:
        assert again.recall("Vienna", k=1)[0].doc_id == "a"


@pytest.mark.parametrize("kw, says", [({"train_at": 0}, "train_at"), ({"train_at": 10}, "train_at"),
                                      ({"chunks_per_commit": 0}, "chunks_per_commit"), ({"chunks_per_commit": "10"}, "chunks_per_commit"),
                                      ({"rerank": 0}, "rerank"), ({"nprobe": 0}, "nprobe"),
                                      ({"read_only": "no"}, "read_only must be True or False"),
                                      ({"max_tokens": 0}, r"max_tokens must be a whole number from 7 to 256 \(word "
                                                          r"pieces a chunk may hold.*got 0"),
                                      ({"max_tokens": 10000}, "the model reads at most 256.*got 10000"),
                                      ({"max_tokens": -5}, "max_tokens"), ({"max_tokens": 6}, "got 6"),
                                      ({"max_tokens": "128"}, "max_tokens"), ({"max_tokens": 128.0}, "max_tokens"),
                                      ({"max_tokens": True}, "max_tokens")])
def test_bad_settings_are_named_before_the_folder_is_touched(tmp_path, codec, kw, says):
    # train_at=0 failed at the first ingest with "X is an empty batch (shape (0, 384))"; train_at=10 logged a
    # FAISS traceback ("Number of training points (30) should be at least as large as number of clusters (64)")
    # at every ingest; batch_size="10" (now chunks_per_commit) was a TypeError; rerank=0 and nprobe=0 were taken; max_tokens=0 made the
    # folder and failed at the first ingest ("max_tokens=0 is too small"), "128" with a TypeError there
    with pytest.raises(ValueError, match=says):
        SemanticMemory(tmp_path / "m", codec=codec, **kw)
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("kw, says", [({"embedder": "torch"}, r"embedder must be a TextEmbedder, e\.g\. "
                                                               r"TextEmbedder\(backend='torch'\), got str"),
                                      ({"codec": "weights/"}, "codec must be a MycelialVQVAE"),
                                      ({"recall_config": {"fusion_weight": 0.5}},
                                       r"RecallConfig\(\*\*\{'fusion_weight': 0.5\}\)"),
                                      ({"network_config": {"num_heads": 4}},
                                       r"network_config must be a MycelialConfig, e\.g\. MycelialConfig\(\*\*\{'num_heads': 4\}\)"),
                                      ({"network_config": "x"}, "network_config must be a MycelialConfig, got str")])
def test_wrong_kinds_of_parts_are_named_before_the_folder_is_touched(tmp_path, kw, says):
    # SemanticMemory(d, embedder="torch") opened unchecked (a string has no backend to compare with the memory's)
    # and failed at the first recall: "'str' object has no attribute 'embed'"; codec="weights/" and
    # recall_config={...} were AttributeErrors ('num_heads', 'candidates'); network_config={...} made the folder and
    # its SQLite store, then failed with "config must be a MycelialConfig, got dict"
    with pytest.raises(TypeError, match=says):
        SemanticMemory(tmp_path / "m", **kw)
    assert not (tmp_path / "m").exists()


def test_a_codec_of_more_than_256_codes_is_refused_before_the_folder_is_touched(tmp_path, embedder):
    # a memory stores one byte a code: a 512-code codec's code 463 was stored as 207, silently
    import torch

    from core.reasoning.vqvae import MonolithWiki

    torch.manual_seed(0)
    wide = MycelialVQVAE(MonolithWiki(input_dim=384, hidden_dim=32, latent_dim=32, codebook_size=512))
    with pytest.raises(ValueError, match="codec has 512 codes a head; a memory stores one byte a code"):
        SemanticMemory(tmp_path / "m", embedder=embedder, codec=wide)
    assert not (tmp_path / "m").exists()


def test_a_network_config_of_other_sizes_than_the_codec_is_refused_and_healed(tmp_path, embedder, codec, wiki_sample):
    # MycelialConfig(num_heads=8) beside the 4-byte codec: the first ingest committed its chunks, then failed to
    # observe them ("codes must have shape (n, 8)"), and so did every later open of the folder, with or without it
    X = wiki_sample[2][:40]
    with pytest.raises(ValueError, match="network_config has 8 heads x 256 codes but the codec has 4 x 256"):
        SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec, network_config=MycelialConfig(num_heads=8))
    assert not (tmp_path / "m").exists()
    with pytest.raises(ValueError, match="network_config has 4 heads x 128 codes"):  # the default codec
        SemanticMemory(tmp_path / "d", embedder=embedder, network_config=MycelialConfig(codebook_size=128))
    # a folder an older version left with such a network saved: reopened, the network is rebuilt from SQLite
    with SemanticMemory(tmp_path / "old", embedder=embedder, codec=codec) as m:
        m.network_config = MycelialConfig(num_heads=8)  # as the older version took it
        m._reset_network()
        with pytest.raises(ValueError, match=r"codes must have shape \(n, 8\)"):
            m.ingest_vectors([f"v{i}" for i in range(40)], X)
    with SemanticMemory(tmp_path / "old", embedder=embedder, codec=codec) as m:
        assert m.network_.config.num_heads == 4 and m.network_.n_events_ == 40
        m.ingest_vectors(["w"], X[:1] * -1)
        assert m.network_.n_events_ == 41


def test_exclude_takes_chunk_ids_only(mem, wiki_docs):
    # exclude="12" was iterated as "1", "2" (chunks 1 and 2 left out without a word); [None] was a bare
    # "TypeError: int() argument must be ... not 'NoneType'"
    query = wiki_docs[2].sentences[3]
    for bad in ("12", [None], [1.5], 7):
        with pytest.raises(ValueError, match="exclude must"):
            mem.recall(query, k=3, exclude=bad)
    first = mem.recall(query, k=1, mode="similar")[0]
    for ok in ([first.chunk_id], np.array([first.chunk_id]), (first.chunk_id,)):
        assert mem.recall(query, k=1, mode="similar", exclude=ok)[0].chunk_id != first.chunk_id
        assert mem.recall(query, k=1, mode="similar", exclude=ok, per_document=True)[0].chunk_id != first.chunk_id
