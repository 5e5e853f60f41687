"""MonolithWiki / MonolithV13 architecture, the loss terms and the metrics functions."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from _peak import traced_peak
from torch import nn

from core.reasoning.vqvae import metrics
from core.reasoning.vqvae.loss import VQVAELoss
from core.reasoning.vqvae.model import MonolithV13, load_legacy_state
from core.reasoning.vqvae.model_wiki import MonolithWiki


def test_monolith_wiki_layers_as_specified():
    m = MonolithWiki()
    enc = [type(layer) for layer in m.encoder]
    dec = [type(layer) for layer in m.decoder]
    assert enc == dec == [nn.Linear, nn.LayerNorm, nn.GELU, nn.Dropout, nn.Linear]
    assert (m.encoder[0].in_features, m.encoder[0].out_features, m.encoder[4].out_features) == (384, 1024, 512)
    assert (m.decoder[0].in_features, m.decoder[0].out_features, m.decoder[4].out_features) == (512, 1024, 384)
    assert m.quantizer.codebooks.shape == (4, 256, 128)
    assert (m.num_heads, m.codebook_size) == (4, 256)


def test_forward_returns_reconstruction_indices_and_latents():
    torch.manual_seed(0)
    m = MonolithWiki(kmeans_init=False).eval()
    x = torch.randn(6, 384)
    recon, idx, z_e, z_q = m(x)
    assert recon.shape == (6, 384) and idx.shape == (6, 4)
    assert z_e.shape == z_q.shape == (6, 512)
    assert torch.allclose(z_q, m.quantizer.get_codes_from_indices(idx))
    # decode(encode(x)) is the eval-mode forward
    assert torch.equal(m.encode_indices(x), idx)
    assert torch.allclose(m.decode_indices(idx), recon, atol=1e-5)
    # warm-up path skips the quantizer
    r2, i2, ze2, zq2 = m(x, quantize=False)
    assert i2 is None and torch.equal(ze2, zq2) and torch.allclose(r2, m.decoder(z_e))


def test_monolith_v13_legacy_checkpoint_loads(tmp_path):
    torch.manual_seed(0)
    m = MonolithV13().eval()
    assert m.quantizer.codebooks.shape == (4, 256, 96)
    state = {("quantizer.inited" if k == "quantizer.initted" else k): v for k, v in m.state_dict().items()}
    torch.save({"model_state_dict": state}, tmp_path / "v13.pth")
    fresh = MonolithV13().eval()
    fresh.load_state_dict(load_legacy_state(tmp_path / "v13.pth"))
    x = torch.randn(5, 384)
    assert torch.equal(fresh.encode_indices(x), m.encode_indices(x))


def _same(x, y) -> bool:
    if isinstance(y, torch.Tensor):
        return isinstance(x, torch.Tensor) and x.dtype == y.dtype and x.shape == y.shape and torch.equal(x, y.detach())
    if isinstance(y, dict):
        return isinstance(x, dict) and set(x) == set(y) and all(_same(x[k], y[k]) for k in y)
    if isinstance(y, (list, tuple)):
        return type(x) is type(y) and len(x) == len(y) and all(_same(p, q) for p, q in zip(x, y))
    return x == y


def test_legacy_checkpoint_is_read_without_unpickling_as_torch_reads_it(tmp_path):
    # torch.load(weights_only=True) still runs an (allow-listed) unpickler over a file a user hands us;
    # the opcode reader builds the same tensors: dtypes, views, transposes, scalars, parameters
    import os

    from core.reasoning.vqvae._pth import read_pth_state

    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    obj = {"model_state_dict": MonolithV13().state_dict(),
           "extra": {"half": torch.randn(3, 5).half(), "bf16": torch.randn(7).bfloat16(), "t": base.t(),
                     "view": base[1:, 2:4], "long": torch.arange(5), "bool": torch.tensor([True, False]),
                     "scalar": torch.tensor(3.5), "empty": torch.zeros(0, 4), "param": torch.nn.Parameter(torch.ones(2)),
                     "plain": [1, 2.5, "x", None, True, (1, 2)]}}
    torch.save(obj, tmp_path / "all.pth")
    assert _same(read_pth_state(tmp_path / "all.pth"), torch.load(tmp_path / "all.pth", weights_only=True))

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'ran'}",))

    torch.save({"w": torch.ones(2), "x": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(ValueError, match=r"evil.pth is not a PyTorch checkpoint of plain tensors \(it names "
                                         r"'posix.system'"):
        load_legacy_state(tmp_path / "evil.pth")
    assert not (tmp_path / "ran").exists()


def test_legacy_loader_refuses_a_view_larger_than_its_storage_before_copying(tmp_path):
    # a 1.5 KB file of zeros(1).expand(60000, 60000) made the loader copy 13.4 GiB; 3000 x 3000 here (36 MB)
    torch.save({"w": torch.zeros(1).expand(3000, 3000)}, tmp_path / "bomb.pth")
    torch.save({"w": torch.zeros(4, 1).expand(4, 8)}, tmp_path / "rows.pth")   # stride 0 along one axis

    def load(name):
        with pytest.raises(ValueError, match="9,000,000 elements views a storage of 1 |32 elements views a storage of 4 "):
            load_legacy_state(tmp_path / name)

    assert traced_peak(lambda: load("bomb.pth"))[1] < 1 << 20
    load("rows.pth")


def test_legacy_loader_compares_shapes_before_reading_a_tensor(tmp_path):
    # a tensor of another shape was copied out in full, then refused by load_state_dict
    state = MonolithV13().state_dict()
    state["encoder.0.weight"] = torch.zeros(4000, 1000)   # 16 MB
    torch.save(state, tmp_path / "wrong.pth")
    expected = {k: tuple(v.shape) for k, v in MonolithV13().state_dict().items()}

    from core.reasoning.mycelial import MycelialVQVAE

    def load():
        with pytest.raises(ValueError, match=r"wrong.pth is not a MonolithV13 checkpoint \(tensor encoder.0.weight "
                                             r"has shape \(4000, 1000\), the model's is \(256, 384\)\)"):
            MycelialVQVAE.load(tmp_path / "wrong.pth")

    assert traced_peak(load)[1] < 4 << 20   # the tensor: 16 MB
    state["extra"] = state.pop("encoder.0.weight")
    torch.save(state, tmp_path / "extra.pth")
    with pytest.raises(ValueError, match=r"not a MonolithV13 checkpoint \(unexpected \['extra'\]\)"):
        load_legacy_state(tmp_path / "extra.pth", expected)


def test_legacy_loader_refuses_non_state_dict(tmp_path):
    torch.save([1, 2, 3], tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="state dict"):
        load_legacy_state(tmp_path / "bad.pth")


def test_loss_terms_and_weights():
    torch.manual_seed(0)
    x = torch.randn(8, 16)
    z_e, z_q = torch.randn(8, 8), torch.randn(8, 8)
    perfect = VQVAELoss(cosine_weight=1.0)(x, x, z_e, z_e)
    assert perfect.total.item() == pytest.approx(0.0, abs=1e-6)
    r = x + 0.5 * torch.randn(8, 16)
    terms = VQVAELoss(recon_weight=2.0, cosine_weight=3.0, codebook_weight=0.5,
                      commitment_weight=0.25, orthogonal_weight=0.0)(x, r, z_e, z_q)
    mse = ((x - r) ** 2).mean()
    cos = (1 - torch.nn.functional.cosine_similarity(x, r)).mean()
    vq = ((z_e - z_q) ** 2).mean()
    assert terms.recon.item() == pytest.approx(mse.item(), rel=1e-5)
    assert terms.cosine.item() == pytest.approx(cos.item(), rel=1e-5)
    assert terms.total.item() == pytest.approx((2 * mse + 3 * cos + 0.75 * vq).item(), rel=1e-5)
    # codebook term reaches z_q only, commitment term reaches z_e only
    z_e.requires_grad_(True)
    z_q.requires_grad_(True)
    VQVAELoss(codebook_weight=1.0, commitment_weight=0.0)(x, r, z_e, z_q).total.backward()
    assert z_e.grad is None and z_q.grad.abs().sum() > 0


def test_orthogonal_term_uses_codebooks():
    x = torch.randn(4, 8)
    same = torch.eye(4)[None].repeat(2, 1, 1)
    terms = VQVAELoss(orthogonal_weight=2.0)(x, x, x[:, :4], x[:, :4], same)
    assert terms.orthogonal.item() == pytest.approx(0.25)
    assert terms.total.item() == pytest.approx(0.5)


# -- metrics ------------------------------------------------------------------------------

def test_reconstruction_metrics():
    X = np.eye(3, 4, dtype=np.float32)
    assert metrics.mean_cosine(X, 2 * X) == pytest.approx(1.0)
    assert metrics.mean_cosine(X, -X) == pytest.approx(-1.0)
    assert metrics.reconstruction_mse(X, np.zeros_like(X)) == pytest.approx(3 / 12)


def test_usage_perplexity_and_zipf():
    codes = np.stack([np.arange(256), np.zeros(256, int)], axis=1)
    assert metrics.codebook_usage(codes) == (257, 512)
    ppl = metrics.head_perplexity(codes)
    assert ppl[0] == pytest.approx(256) and ppl[1] == pytest.approx(1)
    counts = np.round(1e6 * np.arange(1, 200) ** -0.8)
    alpha, r2 = metrics.zipf_fit(counts)
    assert alpha == pytest.approx(0.8, abs=0.01) and r2 > 0.999
    alpha, r2 = metrics.zipf_fit(np.full(50, 7))
    assert alpha == pytest.approx(0.0, abs=1e-9)


def test_search_metrics_on_known_cases():
    true = np.array([[0, 1, 2], [5, 6, 7]])
    found = np.array([[0, 9, 1], [7, 5, 8]])
    assert metrics.recall_at(true[:, 0], found, 1) == 0.5
    assert metrics.recall_at(true[:, 0], found, 2) == 1.0
    assert metrics.k_recall_at_k(true, found, 3) == pytest.approx((2 / 3 + 2 / 3) / 2)


def test_cosine_knn_is_exact():
    rng = np.random.default_rng(0)
    D, Q = rng.normal(size=(300, 16)), rng.normal(size=(20, 16))
    I = metrics.cosine_knn(Q, D, 5)
    Dn = D / np.linalg.norm(D, axis=1, keepdims=True)
    ref = np.argsort(-(Q @ Dn.T), axis=1)[:, :5]
    assert np.array_equal(I, ref)


def test_adc_knn_equals_distance_to_concatenated_codes():
    rng = np.random.default_rng(0)
    books = rng.normal(size=(4, 16, 3)).astype(np.float32)
    codes = rng.integers(0, 16, size=(200, 4))
    Z = rng.normal(size=(10, 12)).astype(np.float32)
    recon = np.concatenate([books[h, codes[:, h]] for h in range(4)], axis=1)
    ref = np.argsort(((Z[:, None] - recon[None]) ** 2).sum(-1), axis=1, kind="stable")[:, :5]
    got = metrics.adc_knn(Z, books, codes, 5)
    assert (got == ref).mean() > 0.98  # equal up to float ties


def test_refine_indices_never_worse_and_mostly_better(wiki_sample):
    from core.reasoning.mycelial import MycelialVQVAE

    _, _, X = wiki_sample
    model = MycelialVQVAE.load_default().model
    x = torch.from_numpy(X[:300])
    start = model.encode_indices(x)
    refined = model.refine_indices(x, start, sweeps=1, candidates=8)
    assert refined.shape == start.shape and refined.min() >= 0 and refined.max() < 256
    cos0 = torch.nn.functional.cosine_similarity(model.decode_indices(start), x)
    cos1 = torch.nn.functional.cosine_similarity(model.decode_indices(refined), x)
    assert (cos1 >= cos0 - 1e-5).all()
    assert cos1.mean() > cos0.mean() + 0.003
    assert (cos1 > cos0 + 1e-4).float().mean() > 0.3
    with pytest.raises(ValueError, match="objective"):
        model.refine_indices(x, objective="l1")


def test_pair_search_never_worse_and_best_over_its_last_pair(wiki_sample):
    from core.reasoning.mycelial import MycelialVQVAE
    from core.reasoning.vqvae.layers import nearest_code

    _, _, X = wiki_sample
    model = MycelialVQVAE.load_default().model
    x = torch.from_numpy(X[:120])
    with torch.no_grad():
        single = model.refine_indices(x, sweeps=1, candidates=8)
        paired = model.refine_indices(x, sweeps=1, candidates=8, pairs=4)
        cos = lambda idx: torch.nn.functional.cosine_similarity(model.decode_indices(idx), x)
        assert (cos(paired) >= cos(single) - 1e-5).all()
        assert (cos(paired) > cos(single) + 1e-4).float().mean() > 0.1
        # brute force over the last pair searched (heads 2 and 3): nothing among the
        # current codes and the 4 nearest per head beats what the search kept
        _, dist = nearest_code(model.quantizer.prepare(model.encoder(x)), model.quantizer.code_vectors)
        near = dist.topk(4, dim=-1, largest=False).indices
        best = torch.full((len(x),), -2.0)
        for i in range(5):
            for j in range(5):
                trial = paired.clone()
                trial[:, 2] = paired[:, 2] if i == 4 else near[:, 2, i]
                trial[:, 3] = paired[:, 3] if j == 4 else near[:, 3, j]
                best = torch.maximum(best, cos(trial))
        assert torch.allclose(best, cos(paired), atol=1e-5)
