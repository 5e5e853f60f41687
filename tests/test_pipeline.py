"""The three pipeline stages on a small real sample of WikiText-2 (tiny model, few epochs)."""
from __future__ import annotations

import json
import socket

import numpy as np
import pytest
from click.testing import CliRunner

from _fake_llm import FakeServer

from core.cli import cli
from core.config import data_file
from core.compression.decoding import copies_of, llm_decode, run_decode, similarity_decode
from core.compression.evaluate import run_evaluate
from core.compression.metrics import exact_match_rate, row_cosines
from core.compression.artifacts import load_npy
from core.compression.config import PipelineConfig
from core.compression.pipeline import load_sentences, run_pipeline, split_by_article, wikitext_files

WIKI_TEST = data_file("wikitext2/wiki.test.raw")


def small_config(tmp_path, **kw) -> PipelineConfig:
    """1,300 sentences, a tenth held out (142 test items): evaluate's BERTScore reads each item twice."""
    values = dict(data_path=str(WIKI_TEST), sample_size=1300, test_fraction=0.1, opq_iterations=2, pq_M=8,
                  vqvae_num_heads=8, vqvae_hidden_dim=128, vqvae_embedding_dim=64,
                  vqvae_num_embeddings=16, vqvae_epochs=3, batch_size=64,
                  artifacts_dir=str(tmp_path / "artifacts"), decode_neighbours=3)
    values.update(kw)
    return PipelineConfig(**values)


# ---------------------------------------------------------------------------- data stage
def test_wikitext_files_by_split(tmp_path):
    cfg = PipelineConfig(data_path=str(WIKI_TEST.parent))
    assert [p.name for p in wikitext_files(cfg)] == ["wiki.valid.tokens", "wiki.test.raw"]
    cfg = PipelineConfig(data_path=str(WIKI_TEST.parent), dataset_split="test")
    assert [p.name for p in wikitext_files(cfg)] == ["wiki.test.raw"]
    with pytest.raises(FileNotFoundError, match="dataset_split='train'"):
        wikitext_files(PipelineConfig(data_path=str(WIKI_TEST.parent), dataset_split="train"))
    with pytest.raises(FileNotFoundError, match="nowhere does not exist"):
        wikitext_files(PipelineConfig(data_path=str(tmp_path / "nowhere")))


def test_any_folder_in_the_standard_layout(tmp_path):
    lines = WIKI_TEST.read_text(encoding="utf-8").splitlines(keepends=True)[:60]
    (tmp_path / "wiki.train.raw").write_text("".join(lines), encoding="utf-8")
    cfg = PipelineConfig(data_path=str(tmp_path), dataset_split="train")
    sentences, doc_ids = load_sentences(cfg, log=lambda *_: None)
    assert len(sentences) > 10 and all(len(s.split()) >= 3 for s in sentences)
    assert " @-@ " not in " ".join(sentences)            # detokenised
    assert doc_ids[0].startswith("wiki.train:")


def test_sample_is_seeded_and_split_is_by_article():
    cfg = PipelineConfig(data_path=str(WIKI_TEST), sample_size=2000)
    s1, d1 = load_sentences(cfg)
    s2, _ = load_sentences(cfg)
    s3, _ = load_sentences(PipelineConfig(data_path=str(WIKI_TEST), sample_size=2000, seed=1))
    assert len(s1) == 2000 and s1 == s2 and s1 != s3
    mask = split_by_article(d1, 0.2, seed=0)
    ids = np.asarray(d1)
    assert not set(ids[mask]) & set(ids[~mask])          # no article on both sides
    assert 0.2 <= mask.mean() < 0.5
    assert (split_by_article(d1, 0.2, seed=0) == mask).all()


def test_similarity_decode_leaves_the_item_out():
    E = np.eye(4, dtype=np.float32)
    R = E[[0, 1]] + 0.1 * E[[2, 3]]                       # item 0 near row 0 then row 2, item 1 near 1 then 3
    idx, score, self_score = similarity_decode(R, E, np.array([0, -1]), k=2)
    assert idx[0, 0] == 2 and 0 not in idx[0]            # its own row is never returned
    assert idx[1, 0] == 1 and np.isnan(self_score[1])    # nothing left out for item 1
    assert self_score[0] == pytest.approx(1 / np.sqrt(1.01), rel=1e-5)
    assert score[0, 0] == pytest.approx(0.1 / np.sqrt(1.01), rel=1e-5)


def test_similarity_decode_leaves_out_the_copies_of_the_items_text():
    # a sentence that occurs twice in the corpus was "reconstructed" exactly from its copy: all 4 exact
    # matches of the README's 2,029 items were such copies
    refs = ["The cat sat.", "A dog ran.", "The  cat sat. ", "Rain fell."]
    E = np.eye(4, dtype=np.float32)
    E[2] = E[0]                                            # the copy has the same embedding
    own = np.array([0, 3])
    copies = copies_of(["The cat sat.", "Rain fell."], refs, own)
    assert [c.tolist() for c in copies] == [[2], []]
    idx, score, _ = similarity_decode(E[[0, 3]] + 0.1 * E[[1, 1]], E, own, k=2, copies=copies)
    assert not {0, 2} & set(idx[0]) and idx[0, 0] == 1 and 3 not in idx[1]
    assert exact_match_rate([refs[j] for j in idx[:, 0]], ["The cat sat.", "Rain fell."]) == 0.0


def test_llm_decode_without_key_says_so_once():
    said = []
    result = llm_decode([["a b c"], ["d e f"]], env={}, log=said.append)
    assert result["texts"] == [None, None] and result["n_ok"] == 0
    assert len(said) == 1 and "similarity matching" in said[0]


def test_llm_decode_gives_up_after_consecutive_failures():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"SEMANTIC_RECON_BACKEND": "openai", "SEMANTIC_RECON_BASE_URL": f"http://127.0.0.1:{port}",
           "SEMANTIC_RECON_RETRIES": "0"}
    result = llm_decode([["x y z"]] * 10, env=env, log=lambda *_: None)
    assert result["n_failed"] == 3 and result["texts"] == [None] * 10
    assert "gave up" in result["note"]


# ---------------------------------------------------------------------------- all three stages
@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pipe")
    cfg = small_config(tmp)
    summary = run_pipeline(cfg, progress=False, log=lambda *_: None)
    return cfg, summary


def test_pipeline_writes_compressed_codes_and_index(run):
    import faiss

    cfg, summary = run
    out = cfg.artifacts
    codes = load_npy(out / "codes.npy")
    X = load_npy(out / "test_embeddings.npy")
    items = json.loads((out / "items.json").read_text())
    assert codes.dtype == np.uint8 and codes.shape == (summary["n_test"], 8)
    assert codes.max() < 16
    assert X.shape == (summary["n_test"], 384) and X.dtype == np.float32
    assert len(items["sentences"]) == summary["n_test"]
    assert summary["n_train"] + summary["n_test"] == 1300
    # the ratio is counted from the files as written
    vq, pq = summary["methods"]["vqvae"], summary["methods"]["opq_pq"]
    assert summary["bytes_in"] == (out / "test_embeddings.npy").stat().st_size
    assert vq["bytes_out"] == (out / "codes.npy").stat().st_size
    assert pq["bytes_out"] == (out / "opq_codes.npy").stat().st_size
    assert vq["compression_ratio"] == pytest.approx(summary["bytes_in"] / vq["bytes_out"])
    assert 150 < vq["compression_ratio"] < 192           # 1536 / 8 bytes = 192, less the npy headers
    index = faiss.read_index(str(out / "opq_pq.index"))
    assert index.ntotal == 0 and faiss.downcast_index(index.index).pq.M == 8   # the codec, no items
    assert load_npy(out / "opq_codes.npy").shape == (summary["n_test"], 8)
    # both methods measured in the same run; 'auto' took the better one and says why
    best = max(("vqvae", "opq_pq"), key=lambda m: summary["methods"][m]["mean_cosine"])
    assert summary["method"] == best and "auto" in summary["method_reason"]
    assert summary["compression_ratio"] == summary["methods"][best]["compression_ratio"]
    assert not list(out.glob(".*tmp"))                  # atomic writes left nothing behind


items_first_guess = "The first item, as the LLM guessed it."


def test_decode_and_evaluate(run):
    cfg, summary = run
    out = cfg.artifacts
    server = FakeServer()                                # one LLM answer, then the service is down
    server.reply(body={"choices": [{"message": {"content": items_first_guess}}]})
    try:
        result = run_decode(cfg, env={"SEMANTIC_RECON_BACKEND": "openai", "SEMANTIC_RECON_BASE_URL": server.url,
                                      "SEMANTIC_RECON_RETRIES": "0"}, log=lambda *_: None)
    finally:
        server.close()
    decoded = json.loads((out / "decoded.json").read_text())
    items = json.loads((out / "items.json").read_text())
    assert result["n_items"] == summary["n_test"] == len(decoded["items"])
    for rec, own in zip(decoded["items"], items["reference_index"]):
        assert rec["similarity_index"] != own and own not in rec["neighbours"]
        assert " ".join(rec["similarity_text"].split()) != " ".join(rec["original"].split())   # nor a copy of it
    assert "items_with_copies" in decoded["summary"]
    assert [r["llm_text"] for r in decoded["items"][:2]] == [items_first_guess, None]
    assert 0.0 <= result["identification_rate"] <= 1.0

    metrics = run_evaluate(cfg, log=lambda *_: None)
    saved = json.loads((out / "metrics.json").read_text())
    for key in ("compression_ratio", "mean_cosine", "bleu", "bertscore_f1", "codebook_usage",
                "zipf_alpha", "n_items"):
        assert key in saved and saved[key] is not None
    assert saved["n_items"] == summary["n_test"]
    X, R = load_npy(out / "test_embeddings.npy"), load_npy(out / "decoded_vectors.npy")
    assert saved["mean_cosine"] == pytest.approx(row_cosines(X, R).mean())
    assert saved["method"] == summary["method"] == decoded["summary"]["method"]
    assert saved["mean_cosine"] == pytest.approx(summary["methods"][saved["method"]]["mean_cosine"], rel=1e-5)
    assert {saved["mean_cosine_vqvae"], saved["mean_cosine_opq_pq"]} >= {saved["mean_cosine"]}
    # even a 3-epoch model keeps items apart: better than pairing each item with another's decoding
    assert saved["mean_cosine"] > row_cosines(X, np.roll(R, 1, axis=0)).mean() + 0.05
    assert 0 < saved["codebook_usage"] <= 1 and 0 <= saved["bleu"] <= 100
    assert 0 < saved["bertscore_f1"] < 1
    methods = [r["method"] for r in metrics["comparison"]]
    assert any("OPQ8,PQ8" in m for m in methods) and any("OPQ4,PQ4" in m for m in methods)
    assert sum("← method" in m for m in methods) == 1 and any("VQ-VAE this run" in m for m in methods)
    for name in ("code_usage.png", "cosine_hist.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    assert "| method |" in (out / "metrics.md").read_text()
    assert saved["llm"]["n"] == 1 and saved["llm"]["bleu"] >= 0


def test_decode_keeps_similarity_result_when_llm_fails_or_works(run):
    cfg, _ = run
    out = cfg.artifacts
    run_decode(cfg, env={}, log=lambda *_: None)
    baseline = json.loads((out / "decoded.json").read_text())["items"]
    server = FakeServer()
    try:
        server.reply(body={"choices": [{"message": {"content": "A rebuilt sentence."}}]})
        server.reply(500, b"down")                       # then every later request fails
        env = {"SEMANTIC_RECON_BACKEND": "openai", "OPENAI_API_KEY": "k",
               "SEMANTIC_RECON_BASE_URL": server.url, "SEMANTIC_RECON_RETRIES": "0"}
        result = run_decode(cfg, env=env, log=lambda *_: None)
    finally:
        server.close()
    items = json.loads((out / "decoded.json").read_text())["items"]
    assert [r["similarity_text"] for r in items] == [r["similarity_text"] for r in baseline]
    assert items[0]["llm_text"] == "A rebuilt sentence."
    assert items[1]["llm_text"] is None and "HTTP 500" in items[1]["llm_error"]
    assert result["llm"]["n_ok"] == 1 and result["llm"]["n_failed"] == 3
    prompt = server.requests[0]["body"]["messages"][1]["content"]
    assert items[0]["original"] not in prompt           # the LLM never sees the item itself


def test_missing_artifacts_say_which_stage_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the earlier pipeline stage"):
        run_decode(small_config(tmp_path), env={})
    # the CLI named `python scripts/pipeline.py, then scripts/decode.py`, not the commands the user runs
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(small_config(tmp_path).to_dict()))
    for command, says in (("decode", "`mycelial pipeline`, then `mycelial decode`"),
                          ("evaluate", "`mycelial pipeline`, then `mycelial decode`")):
        res = CliRunner().invoke(cli, [command, "--config", str(cfg)])
        assert res.exit_code == 1 and says in res.output and "scripts/" not in res.output, res.output
    (tmp_path / "artifacts").mkdir()
    for name in ("pipeline.json", "items.json", "reference.json"):
        (tmp_path / "artifacts" / name).write_text("{}")
    for name in ("test_embeddings.npy", "reference_embeddings.npy"):
        np.save(tmp_path / "artifacts" / name, np.zeros((2, 384), np.float32))
    res = CliRunner().invoke(cli, ["evaluate", "--config", str(cfg)])
    assert res.exit_code == 1 and "decoded.json not found" in res.output, res.output
    assert "run the earlier pipeline stage first: `mycelial decode` with the same --config" in res.output


def test_damaged_artifacts_name_the_file_and_the_stage(run, tmp_path):
    # a truncated or overwritten artifact gave "Expecting ':' delimiter ..." (no file named), numpy's advice
    # to unpickle the file, or a FAISS/safetensors traceback
    import shutil

    cfg, _ = run
    art = tmp_path / "artifacts"
    shutil.copytree(cfg.artifacts, art)
    good = {p.name: p.read_bytes() for p in art.iterdir() if p.is_file()}
    config = tmp_path / "c.json"
    config.write_text(json.dumps({**cfg.to_dict(), "artifacts_dir": str(art)}))
    pipe = json.loads(good["pipeline.json"])
    cases = [("pipeline.json", b"{\"method\": ", "opq_pq", "not valid JSON"),
             ("opq_codes.npy", b"\x80\x04garbage" * 20, "opq_pq", "not a .npy array of numbers"),
             ("opq_pq.index", good["opq_pq.index"][:len(good["opq_pq.index"]) // 2], "opq_pq", "read error"),
             ("codes.npy", good["codes.npy"][:len(good["codes.npy"]) // 2], "vqvae", "Failed to read all data"),
             ("vqvae.safetensors", good["vqvae.safetensors"][:1000], "vqvae", "deserializing")]
    for name, data, method, detail in cases:
        for n, b in good.items():
            (art / n).write_bytes(b)
        (art / "pipeline.json").write_text(json.dumps({**pipe, "method": method}))
        (art / name).write_bytes(data)
        res = CliRunner().invoke(cli, ["decode", "--config", str(config)])
        assert res.exit_code == 1, (name, res.output)
        assert f"{art / name} is damaged" in res.output and detail in res.output, (name, res.output)
        assert "`mycelial pipeline` again" in res.output and "pickle" not in res.output, res.output
    for n, b in good.items():
        (art / n).write_bytes(b)
    (art / "decoded.json").write_text("{")
    res = CliRunner().invoke(cli, ["evaluate", "--config", str(config)])
    assert res.exit_code == 1 and "decoded.json is damaged" in res.output and "`mycelial decode` again" in res.output


def test_cli_commands_have_examples_and_report_bad_config(tmp_path):
    runner = CliRunner()
    for name in ("pipeline", "decode", "evaluate"):
        res = runner.invoke(cli, [name, "--help"])
        assert res.exit_code == 0 and "Example:" in res.output
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"pq_M": 7}))
    res = runner.invoke(cli, ["pipeline", "--config", str(bad)])
    assert res.exit_code != 0 and "pq_M" in res.output


def test_pipeline_names_a_bad_data_file_or_artifacts_dir(tmp_path):
    # a binary data_path was "'utf-8' codec can't decode byte ..." (no file), a text file without WikiText
    # headings "no sentences found in [PosixPath(...)]", an artifacts_dir that is a file "File exists: ..."
    (tmp_path / "bin.raw").write_bytes(b"= T =\n\xd0\xff\xfe binary\n")
    (tmp_path / "notes.txt").write_text("The cat sat on the mat today.\nDogs bark at night in town.\n")
    (tmp_path / "afile").write_text("")
    binary, notes, afile = (str(tmp_path / n) for n in ("bin.raw", "notes.txt", "afile"))
    cases = [(dict(data_path=binary), f"data file {binary} is not UTF-8"),
             (dict(data_path=notes), f"no WikiText article found in {notes}"),
             (dict(artifacts_dir=afile), f"artifacts_dir {afile} is a file")]
    for kw, says in cases:
        cfg = tmp_path / "c.json"
        cfg.write_text(json.dumps(small_config(tmp_path, **kw).to_dict()))
        res = CliRunner().invoke(cli, ["pipeline", "--config", str(cfg)])
        assert res.exit_code == 1 and says in res.output and "Traceback" not in res.output, res.output


def test_an_interrupted_run_never_passes_for_a_complete_one(run, tmp_path):
    # Ctrl-C in a second run left the first run's pipeline.json (and decoded.json) beside the second run's
    # new codes and items: decode/evaluate then mixed two runs without a word (same sizes, other sentences)
    import shutil

    cfg, _ = run
    art = tmp_path / "artifacts"
    shutil.copytree(cfg.artifacts, art)
    (art / "decoded.json").write_text(json.dumps({"summary": {}, "items": []}))
    second = small_config(tmp_path, seed=1)

    def interrupt(msg):
        if msg.startswith("loaded"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_pipeline(second, progress=False, log=interrupt)
    assert not (art / "pipeline.json").exists() and not (art / "decoded.json").exists()
    assert (art / "codes.npy").exists()  # the rest is overwritten by the next complete run
    config = tmp_path / "c.json"
    config.write_text(json.dumps(second.to_dict()))
    for command in ("decode", "evaluate"):
        res = CliRunner().invoke(cli, [command, "--config", str(config)])
        assert res.exit_code == 1 and "pipeline.json not found" in res.output, res.output
