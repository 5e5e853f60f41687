"""Codebooks past 256 codes: uint16 codes end to end, with the seed's quick-start settings (512 codes)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from core.cli import cli
from core.compression.artifacts import load_json, load_npy
from core.compression.codecs import check_codes, load_vqvae, vqvae_encode
from core.compression.config import DEFAULT_CONFIG_PATH, PipelineConfig
from core.compression.decoding import decode_vectors
from core.config import data_file
from core.reasoning.vqvae.layers import code_dtype, indices_to_numpy
from core.reasoning.vqvae.model_wiki import MonolithWiki

WIKI_TEST = data_file("wikitext2/wiki.test.raw")


def test_code_dtype_follows_the_codebook_size():
    assert code_dtype(2) == np.uint8 and code_dtype(256) == np.uint8
    assert code_dtype(257) == np.uint16 and code_dtype(65_536) == np.uint16
    for bad in (1, 65_537, 3.0):
        with pytest.raises(ValueError, match="num_embeddings"):
            code_dtype(bad)
    with pytest.raises(ValueError, match=r"\[0, 511\]"):
        indices_to_numpy(torch.tensor([[3, 512]]), 512)


def test_512_code_model_encodes_uint16_and_round_trips():
    torch.manual_seed(0)
    model = MonolithWiki(hidden_dim=64, latent_dim=32, num_heads=4, codebook_size=512).eval()
    X = np.random.default_rng(0).standard_normal((1500, 384)).astype(np.float32)
    model.quantizer.init_codebook_(model.encoder(torch.from_numpy(X)).detach(), num_iters=1)
    codes = vqvae_encode(model, X)
    assert codes.dtype == np.uint16 and codes.shape == (1500, 4)
    assert codes.max() > 255 and codes.max() < 512          # a byte would have truncated these
    assert np.array_equal(codes, model.encode_indices(torch.from_numpy(X)).numpy())
    with pytest.raises(ValueError, match="uint16"):
        check_codes(codes.astype(np.uint8), 4, 512, "codes.npy")


@pytest.fixture(scope="module")
def seed_run(tmp_path_factory):
    """The repo's vqvae_config.json with the seed's 512 codes, through the CLI, made small enough to test.

    1,300 sentences, 2 epochs, and 8 heads / pq_M 8 instead of 64: FAISS OPQ64 (and the
    128-byte OPQ comparison evaluate adds) trains for minutes even on 1,000 points. A tenth held out
    (142 items, not 325): evaluate's BERTScore runs the model over every item twice.
    """
    tmp = tmp_path_factory.mktemp("seed512")
    values = json.loads(DEFAULT_CONFIG_PATH.read_text())
    values.update(vqvae_num_embeddings=512, data_path=str(WIKI_TEST), sample_size=1300, test_fraction=0.1, vqvae_epochs=2,
                  opq_iterations=1, vqvae_num_heads=8, pq_M=8, artifacts_dir=str(tmp / "artifacts"))
    path = tmp / "vqvae_config.json"
    path.write_text(json.dumps(values))
    runner = CliRunner()
    env = {"SEMANTIC_RECON_BACKEND": "", "SEMANTIC_RECON_BASE_URL": ""}
    outputs = []
    for stage in ("pipeline", "decode", "evaluate"):
        res = runner.invoke(cli, [stage, "--config", str(path)], env=env)
        assert res.exit_code == 0, (stage, res.output, res.exception)
        outputs.append(res.output)
    return PipelineConfig(**values), outputs


def test_seed_config_with_512_codes_runs_all_three_stages(seed_run):
    cfg, (pipe_out, decode_out, eval_out) = seed_run
    out = cfg.artifacts
    summary = load_json(out / "pipeline.json")
    n, heads = summary["n_test"], cfg.vqvae_num_heads
    codes = load_npy(out / "codes.npy")
    assert codes.dtype == np.uint16 and codes.shape == (n, heads) and codes.max() < 512
    # the ratio is counted from the bytes written: 2 bytes a code, plus the .npy header
    vq = summary["methods"]["vqvae"]
    assert vq["bytes_out"] == (out / "codes.npy").stat().st_size
    assert n * heads * 2 < vq["bytes_out"] <= n * heads * 2 + 128
    assert vq["bytes_per_item"] == 2 * heads and vq["code_dtype"] == "uint16" and vq["bits_per_code"] == 9
    assert vq["compression_ratio"] == pytest.approx(summary["bytes_in"] / vq["bytes_out"])
    assert 88 < vq["compression_ratio"] < 96            # 1536 / 16 bytes; 1 byte a code would give 192
    # round trip: the written codes are what the saved model gives, and decode uses them
    model = load_vqvae(out)
    X = load_npy(out / "test_embeddings.npy")
    assert np.array_equal(vqvae_encode(model, X), codes)
    method = summary["method"]
    _, R = decode_vectors(out, method)
    assert np.array_equal(R, load_npy(out / "decoded_vectors.npy"))
    # every stage names the method it used
    assert f"method: {method}" in pipe_out and f"method: {method}" in decode_out and f"method: {method}" in eval_out
    metrics = load_json(out / "metrics.json")
    assert metrics["method"] == method and metrics["codes_total"] == heads * 512
    assert "VQ-VAE this run (8 heads × 512 codes, uint16)" in (out / "metrics.md").read_text()


def test_forced_method_is_obeyed_and_bad_method_is_a_clean_cli_error(seed_run, tmp_path):
    from core.compression.pipeline import choose_method

    methods = {"vqvae": {"mean_cosine": 0.5, "n_items": 3}, "opq_pq": {"mean_cosine": 0.9, "n_items": 3}}
    assert choose_method("auto", methods)[0] == "opq_pq"
    assert choose_method("vqvae", methods)[0] == "vqvae"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"compression_method": "best"}))
    res = CliRunner().invoke(cli, ["decode", "--config", str(bad)])
    assert res.exit_code != 0 and "compression_method" in res.output and "Traceback" not in res.output


def test_opq_codec_skips_polysemous_training_and_decodes_as_the_factory_codec():
    """Polysemous training only reorders the centroids (for Hamming search we never run); it was
    on by default and made up most of every OPQ+PQ training (108 s of 137 s at 64 bytes)."""
    import faiss

    from core.compression.codecs import build_opq_index

    X = np.random.default_rng(0).standard_normal((1000, 32)).astype(np.float32)
    ours = build_opq_index(X, X[:0], 2, iterations=2)
    assert not faiss.downcast_index(ours.index).do_polysemous_training
    factory = faiss.index_factory(32, "OPQ2,PQ2")
    faiss.downcast_VectorTransform(factory.chain.at(0)).niter = 2
    assert faiss.downcast_index(factory.index).do_polysemous_training
    factory.train(X)
    ca, cb = ours.sa_encode(X), factory.sa_encode(X)
    assert (ca != cb).any()  # the factory's centroids were permuted ...
    np.testing.assert_array_equal(ours.sa_decode(ca), factory.sa_decode(cb))  # ... to the same vectors
