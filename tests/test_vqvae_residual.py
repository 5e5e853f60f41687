"""The residual quantizer option of MonolithWiki (``quantizer="residual"``): codes, search, training, I/O."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core.reasoning.mycelial.numpy_codec import NumpyVQVAE
from core.reasoning.mycelial.wrapper import MycelialVQVAE
from core.reasoning.vqvae import TrainConfig, train_vqvae
from core.reasoning.vqvae.distill import distill
from core.reasoning.vqvae.model_wiki import MonolithWiki
from core.reasoning.vqvae.residual import ResidualQuantizer, beam_residual, greedy_residual

TINY = dict(input_dim=384, hidden_dim=48, latent_dim=24, num_heads=4, codebook_size=16)


def _unit(n: int, seed: int = 0) -> np.ndarray:
    X = np.random.default_rng(seed).standard_normal((n, 384)).astype(np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def trained():
    """A tiny residual model trained 3 epochs (k-means init, EMA, restarts: the shipped recipe)."""
    cfg = dict(TINY, epochs=3, kmeans_samples=600, ema_update=True, commitment_weight=1.0,
               keep_best=False, quantizer="residual")
    model, _ = train_vqvae(_unit(600), cfg, progress=False)
    return model.eval()


def test_codes_are_uint8_in_range_and_deterministic(trained):
    mvq = MycelialVQVAE(trained)
    X = _unit(50, seed=1)
    codes = mvq.encode(X)
    assert codes.shape == (50, 4) and codes.dtype == np.uint8
    assert codes.max() < 16
    assert np.array_equal(codes, mvq.encode(X))
    assert np.array_equal(codes[7:8], mvq.encode(X[7]))  # single-vector path: same codes
    R = mvq.decode(codes)
    assert R.shape == (50, 384) and np.isfinite(R).all()
    # the codes are used: a trained model doesn't put every row on one code per stage
    assert all(len(np.unique(codes[:, s])) > 3 for s in range(4))


def test_greedy_equals_brute_force_per_stage(trained):
    q = trained.quantizer
    with torch.no_grad():
        z = trained.encoder(torch.from_numpy(_unit(40, seed=2)))
        got = trained.encode_indices(torch.from_numpy(_unit(40, seed=2)))
    books = q.codebooks.detach().double()
    for row in range(40):
        r = z[row].double()
        for s in range(4):
            want = int(torch.argmin(((r[None] - books[s]) ** 2).sum(-1)))
            assert int(got[row, s]) == want
            r = r - books[s, want]


def test_beam_never_worse_than_greedy_and_width_one_is_greedy():
    g = torch.Generator().manual_seed(0)
    books = torch.randn(4, 16, 8, generator=g)
    z = torch.randn(200, 8, generator=g)

    def err(idx):
        return (z - books[torch.arange(4)[None], idx].sum(1)).pow(2).sum(-1)

    greedy = greedy_residual(z, books)
    assert torch.equal(beam_residual(z, books, 1), greedy)
    e_greedy, e_beam = err(greedy), err(beam_residual(z, books, 8))
    assert (e_beam <= e_greedy + 1e-5).all() and (e_beam < e_greedy - 1e-5).any()


def test_forward_decodes_the_sum_of_stage_codes(trained):
    x = torch.from_numpy(_unit(6, seed=3))
    recon, idx, z_e, z_q = trained(x)
    books = trained.quantizer.codebooks
    assert torch.allclose(z_q, books[torch.arange(4)[None], idx].sum(1))
    assert torch.allclose(trained.decode_indices(idx), recon, atol=1e-5)
    assert trained.quantizer.codebooks.shape == (4, 16, 24)


def test_refine_never_worse_for_residual_codes(trained):
    x = torch.from_numpy(_unit(64, seed=4))
    with torch.no_grad():
        plain = trained.encode_indices(x)
        refined = trained.refine_indices(x, sweeps=1, candidates=8, pairs=3)

    def cos(idx):
        return torch.nn.functional.cosine_similarity(trained.decode_indices(idx), x, dim=-1)

    assert (cos(refined) >= cos(plain) - 1e-5).all() and cos(refined).mean() > cos(plain).mean()


def test_save_load_round_trip(trained, tmp_path):
    mvq = MycelialVQVAE(trained)
    path = mvq.save(tmp_path / "rvq.safetensors", card={"note": "tiny"})
    card = json.loads((tmp_path / "rvq.json").read_text())
    assert card["model_config"]["quantizer"] == "residual"
    back = MycelialVQVAE.load(path)
    assert isinstance(back.model.quantizer, ResidualQuantizer)
    X = _unit(30, seed=5)
    assert np.array_equal(back.encode(X), mvq.encode(X))
    assert np.array_equal(back.decode(mvq.encode(X)), mvq.decode(mvq.encode(X)))
    assert not list(tmp_path.glob("*.pt*"))  # safetensors + json only


def test_cached_code_norms_follow_loaded_and_trained_codebooks(trained):
    import copy
    m = copy.deepcopy(trained).eval()
    x = torch.from_numpy(_unit(40, seed=6))
    before = m.encode_indices(x)  # fills the cache
    other = MonolithWiki(**TINY, quantizer="residual", kmeans_init=False)
    other.load_state_dict({**m.state_dict(), "quantizer.codebooks": m.quantizer.codebooks.flip(1).clone()})
    m.load_state_dict(other.state_dict())
    assert torch.equal(m.encode_indices(x), 15 - before)  # codes re-read from the new books, not stale norms
    m.train()
    m(x)  # EMA update of the codebooks in training mode
    m.eval()
    assert torch.equal(m.quantizer._code_sq(), m.quantizer.codebooks.pow(2).sum(-1))


def test_normalized_residual_latent_has_fixed_norm():
    m = MonolithWiki(**TINY, quantizer="residual", normalize=True, kmeans_init=False).eval()
    x = torch.from_numpy(_unit(5))
    _, idx, z_e, _ = m(x)
    assert torch.allclose(z_e.norm(dim=-1), torch.full((5,), 24 ** 0.5), atol=1e-4)
    assert torch.equal(idx, m.encode_indices(x))


def test_heads_config_unchanged_by_the_option():
    assert "quantizer" not in MonolithWiki(**TINY).config
    assert "quantizer" not in TrainConfig().model_kwargs()
    assert TrainConfig(quantizer="residual").model_kwargs()["quantizer"] == "residual"


def test_unsupported_operations_refuse_clearly(trained):
    with pytest.raises(ValueError, match="quantizer must be one of"):
        MonolithWiki(**TINY, quantizer="product")
    with pytest.raises(ValueError, match="quantizer='residual' needs"):
        TrainConfig(quantizer="residual", model="MonolithV13")
    with pytest.raises(ValueError, match="distill supports product-quantizer models"):
        distill(trained, torch.from_numpy(_unit(20)))
    with pytest.raises(ValueError, match="NumpyVQVAE encodes product-quantizer models only"):
        NumpyVQVAE({}, {**trained.config})
    heads = MycelialVQVAE(MonolithWiki(**TINY, kmeans_init=False))
    with pytest.raises(ValueError, match="beam=4 needs a residual quantizer"):
        heads.encode(_unit(3), beam=4)


def test_latent_norm_bounds_the_latent_and_round_trips(tmp_path):
    """The BatchNorm option: a latent of unit variance however the encoder scales; saved and loaded with its stats."""
    cfg = dict(TINY, epochs=3, kmeans_samples=600, ema_update=True, commitment_weight=1.0,
               keep_best=False, quantizer="residual", latent_norm=True)
    model, _ = train_vqvae(_unit(600), cfg, progress=False)
    model.eval()
    assert model.config["latent_norm"] is True and "latent_norm" not in MonolithWiki(**TINY).config
    bn = model.encoder[-1]
    assert isinstance(bn, torch.nn.BatchNorm1d) and int(bn.num_batches_tracked) > 0
    with torch.no_grad():
        model.encoder[0].weight.mul_(1000.0)  # an encoder that inflates its output...
        model.encoder.train()
        z = model.encoder(torch.from_numpy(_unit(256, seed=3)))
    assert torch.allclose(z.var(0, unbiased=False), torch.ones(24), atol=1e-2)  # ...still gives unit variance
    model, _ = train_vqvae(_unit(600), cfg, progress=False)
    mvq = MycelialVQVAE(model.eval())
    back = MycelialVQVAE.load(mvq.save(tmp_path / "bn.safetensors"))
    X = _unit(30, seed=4)
    assert np.array_equal(back.encode(X), mvq.encode(X))
    assert torch.equal(back.model.encoder[-1].running_var, model.encoder[-1].running_var)
    with pytest.raises(ValueError, match="BatchNorm"):
        NumpyVQVAE({}, dict(TINY, latent_norm=True))
