"""decode and evaluate under a config whose only change from the pipeline run is ``compression_method``.

Every run builds and measures both codecs, yet such a config was refused as "made with another config:
compression_method='auto' there, 'vqvae' here; run mycelial pipeline" (2026-12-04).
"""
from __future__ import annotations

import json
import shutil

import pytest

from core.compression.config import PipelineConfig
from core.compression.decoding import run_decode
from core.compression.evaluate import run_evaluate
from core.compression.pipeline import run_pipeline
from core.config import data_file

WIKI_TEST = data_file("wikitext2/wiki.test.raw")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("method")
    cfg = PipelineConfig(data_path=str(WIKI_TEST), sample_size=1300, test_fraction=0.1, opq_iterations=1, pq_M=8,
                         vqvae_num_heads=4, vqvae_embedding_dim=32, vqvae_hidden_dim=64, vqvae_num_embeddings=16,
                         vqvae_epochs=2, batch_size=128, artifacts_dir=str(tmp / "artifacts"))
    run_pipeline(cfg, progress=False, log=lambda *_: None)
    return cfg


def _copy(run, tmp_path, **kw) -> PipelineConfig:
    """The run in a folder of the test's own, and the run's config with ``kw`` changed."""
    shutil.copytree(run.artifacts, tmp_path / "artifacts")
    return PipelineConfig(**{**run.to_dict(), "artifacts_dir": str(tmp_path / "artifacts"), **kw})


@pytest.mark.parametrize("method", ["vqvae", "opq_pq"])
def test_decode_and_evaluate_use_the_method_the_config_names(run, tmp_path, method):
    cfg = _copy(run, tmp_path, compression_method=method)
    pipe = json.loads((cfg.artifacts / "pipeline.json").read_text())
    lines = []
    summary = run_decode(cfg, env={}, log=lines.append)
    assert summary["method"] == method
    assert f"method: {method} (compression_method={method!r} in the config" in "\n".join(lines)
    assert f"the run itself took {pipe['method']!r} (compression_method='auto' there)" in "\n".join(lines) \
        or pipe["method"] == method
    metrics = run_evaluate(cfg, log=lambda *_: None, bertscore=False)
    assert metrics["method"] == method
    assert metrics["mean_cosine"] == pytest.approx(pipe["methods"][method]["mean_cosine"], abs=1e-5)
    assert metrics["compression_ratio"] == pipe["methods"][method]["compression_ratio"]


def test_any_other_difference_is_still_refused(run, tmp_path):
    cfg = _copy(run, tmp_path, compression_method="vqvae", pq_M=16)
    with pytest.raises(ValueError, match="made with another config: pq_M=8 there, 16 here"):
        run_decode(cfg, env={}, log=lambda *_: None)


def test_a_missing_codec_is_named(run, tmp_path):
    pipe = json.loads((run.artifacts / "pipeline.json").read_text())
    other = "vqvae" if pipe["method"] == "opq_pq" else "opq_pq"
    cfg = _copy(run, tmp_path, compression_method=other)
    gone = "codes.npy" if other == "vqvae" else "opq_codes.npy"
    (cfg.artifacts / gone).unlink()
    with pytest.raises(ValueError, match=f"its {gone} is missing, so compression_method={other!r} cannot be used"):
        run_decode(cfg, env={}, log=lambda *_: None)


def test_evaluate_refuses_a_decode_of_the_other_method(run, tmp_path):
    cfg = _copy(run, tmp_path, compression_method="vqvae")
    run_decode(cfg, env={}, log=lambda *_: None)
    opq = PipelineConfig(**{**cfg.to_dict(), "compression_method": "opq_pq"})
    with pytest.raises(ValueError, match="decoded.json was made with method 'vqvae' but this config uses 'opq_pq'"):
        run_evaluate(opq, log=lambda *_: None, bertscore=False)
