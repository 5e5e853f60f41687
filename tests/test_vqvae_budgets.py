"""The optional 8- and 16-byte MonolithWiki weights: loading, codes, round trips, quality vs 4 bytes."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from core.datasets import brown_documents
from core.reasoning.mycelial import MycelialVQVAE
from core.reasoning.mycelial.wrapper import BUDGET_WEIGHTS, WEIGHTS_DIR
from core.reasoning.vqvae import MonolithWiki


class _Models(dict):
    """Each budget loaded once, on first use."""

    def __missing__(self, budget):
        self[budget] = MycelialVQVAE.load_default(bytes=budget)
        return self[budget]


@pytest.fixture(scope="module")
def models():
    return _Models()


@pytest.fixture(scope="module")
def brown_sample(embedder):
    """Real sentences of a source none of the shipped models trained on (Brown)."""
    docs = brown_documents()[::25]
    sentences = [s for d in docs for s in d.sentences[:15]]
    return embedder.embed(sentences)


def _cos(X, R):
    return float(np.mean(np.sum(X * R, 1) / (np.linalg.norm(X, axis=1) * np.linalg.norm(R, axis=1))))


@pytest.mark.parametrize("budget", [4, 8, 16])
def test_budget_loads_and_round_trips(models, wiki_sample, budget):
    mvq = models[budget]
    _, _, X = wiki_sample
    assert isinstance(mvq.model, MonolithWiki)
    assert (mvq.num_heads, mvq.codebook_size, mvq.dim) == (budget, 256, 384)
    card = json.loads((WEIGHTS_DIR / BUDGET_WEIGHTS[budget]).with_suffix(".json").read_text())
    assert card["model_config"]["num_heads"] == budget and 0 < card["held_out"]["cosine"] < 1
    codes = mvq.encode(X)
    assert codes.shape == (len(X), budget) and codes.dtype == np.uint8
    assert len(np.unique(codes, axis=0)) > len(X) // 2  # not collapsed onto a few codes
    R = mvq.decode(codes)
    assert R.shape == (len(X), 384) and R.dtype == np.float32 and np.isfinite(R).all()
    # deterministic: encoding again, and decoding again, give the same arrays
    assert np.array_equal(mvq.encode(X), codes)
    assert np.array_equal(mvq.decode(codes), R)
    # a fresh load encodes identically
    assert np.array_equal(MycelialVQVAE.load_default(bytes=budget).encode(X[:50]), codes[:50])


@pytest.mark.parametrize("budget", [8, 16])
def test_more_bytes_reconstruct_better(models, wiki_sample, brown_sample, budget):
    for X in (wiki_sample[2], brown_sample):
        four = _cos(X, models[4].decode(models[4].encode(X)))
        more = _cos(X, models[budget].decode(models[budget].encode(X)))
        assert more > four + 0.02, (budget, more, four)
    if budget == 16:
        X = brown_sample
        assert _cos(X, models[16].decode(models[16].encode(X))) > _cos(X, models[8].decode(models[8].encode(X)))


@pytest.mark.parametrize("bad", [0, 5, 32, "8", 8.0, True, None])
def test_bad_budget_names_the_choices(bad):
    with pytest.raises(ValueError, match=r"bytes=.*choose one of \[4, 8, 16\]"):
        MycelialVQVAE.load_default(bytes=bad)


def test_missing_budget_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no 8-byte VQ-VAE weights.*monolith_wiki_8b.safetensors"):
        MycelialVQVAE.load_default(tmp_path, bytes=8)


def test_a_budget_file_holding_another_width_is_refused(tmp_path):
    # the 8-byte weights under the 4-byte name loaded silently and coded 8 bytes a vector
    shutil.copy(WEIGHTS_DIR / BUDGET_WEIGHTS[8], tmp_path / BUDGET_WEIGHTS[4])
    shutil.copy(WEIGHTS_DIR / BUDGET_WEIGHTS[4], tmp_path / BUDGET_WEIGHTS[8])
    with pytest.raises(FileNotFoundError, match=r"holds 8 heads of 256 codes \(8 bytes a vector\), not the 4 bytes"):
        MycelialVQVAE.load_default(tmp_path)
    with pytest.raises(ValueError, match=r"holds 4 heads of 256 codes \(4 bytes a vector\), not the 8 bytes"):
        MycelialVQVAE.load_default(tmp_path, bytes=8)
