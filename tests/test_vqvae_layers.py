"""The product quantizer: nearest code, straight-through gradients, k-means, restarts, losses."""
from __future__ import annotations

import pytest
import torch

from core.reasoning.vqvae.layers import (OrthogonalProductQuantizer, gather_codes, kmeans,
                                         nearest_code, orthogonal_loss)


def _pq(**kw):
    torch.manual_seed(0)
    return OrthogonalProductQuantizer(**{"kmeans_init": False, **kw})


def test_nearest_code_matches_brute_force():
    torch.manual_seed(1)
    z = torch.randn(50, 4, 16)
    books = torch.randn(4, 32, 16)
    idx, dist = nearest_code(z, books)
    for h in range(4):
        ref = torch.cdist(z[:, h], books[h]).argmin(dim=1)
        assert torch.equal(idx[:, h], ref)
        assert torch.allclose(dist[:, h], torch.cdist(z[:, h], books[h]) ** 2, atol=1e-4)


def test_forward_shapes_codes_in_range_and_code_size():
    pq = _pq().eval()
    q, idx, loss = pq(torch.randn(64, 512))
    assert q.shape == (64, 512) and idx.shape == (64, 4)
    assert idx.dtype == torch.long and idx.min() >= 0 and idx.max() < 256
    assert loss.ndim == 0 and loss.item() > 0
    assert pq.code_size == 4  # 4 heads x 8 bits, FAISS's "PQ4x8"


def test_eval_output_equals_codes_from_indices():
    pq = _pq().eval()
    q, idx, _ = pq(torch.randn(10, 512))
    assert torch.allclose(q, pq.get_codes_from_indices(idx), atol=1e-6)
    assert torch.equal(gather_codes(pq.codebooks, idx)[3, 2], pq.codebooks[2, idx[3, 2]])


def test_straight_through_gradient_reaches_input_and_loss_reaches_codebooks():
    pq = _pq().train()
    z = torch.randn(32, 512, requires_grad=True)
    q, _, loss = pq(z)
    (q * torch.arange(512.0)).sum().backward(retain_graph=True)
    # straight-through: dq/dz is the identity
    assert torch.allclose(z.grad, torch.arange(512.0).expand(32, -1))
    z.grad = None
    loss.backward()
    assert pq.codebooks.grad is not None and pq.codebooks.grad.abs().sum() > 0
    assert z.grad.abs().sum() > 0  # commitment term pulls the encoder output


def test_rejects_latent_not_divisible_by_heads():
    with pytest.raises(ValueError, match="divisible"):
        OrthogonalProductQuantizer(num_heads=3, embedding_dim=512)


def test_kmeans_finds_separated_clusters():
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(2, 8, 4, generator=g) * 20
    labels = torch.arange(400) % 8
    samples = centres[:, labels] + 0.1 * torch.randn(2, 400, 4, generator=g)
    means, bins = kmeans(samples, 8, num_iters=20, generator=torch.Generator().manual_seed(1))
    assert means.shape == (2, 8, 4) and bins.sum(1).tolist() == [400, 400]
    assert torch.isfinite(means).all()
    # every true centre has a learned mean close to it
    d = torch.cdist(centres, means).min(dim=2).values
    assert (d < 1.0).all()


def test_lazy_kmeans_init_uses_data():
    pq = OrthogonalProductQuantizer(num_heads=2, embedding_dim=8, num_embeddings=4, kmeans_init=True)
    assert not bool(pq.initted)
    z = torch.randn(100, 8) + 50.0  # far from the random init
    pq.train()(z)
    assert bool(pq.initted)
    assert pq.codebooks.mean() > 40  # codebooks moved to the data


def test_dead_codes_are_restarted_from_batch():
    pq = OrthogonalProductQuantizer(num_heads=2, embedding_dim=8, num_embeddings=4, kmeans_init=False,
                                    dead_code_threshold=0.5).train()
    pq.cluster_size.fill_(1.0)
    pq.cluster_size[1, 2] = 0.0
    before = pq.codebooks.detach().clone()
    z = torch.randn(16, 2, 4) + 100.0
    n = pq.expire_codes_(z)
    assert n == 1
    assert torch.equal(pq.codebooks[0], before[0])
    restarted = pq.codebooks[1, 2]
    assert any(torch.equal(restarted, z[i, 1]) for i in range(16))
    pq.eval()
    assert pq.expire_codes_(z) == 0  # never in eval mode


def test_collapsed_codebook_recovers_usage_with_restarts():
    """All codes but one far away: restarts bring them back into use."""
    torch.manual_seed(0)
    pq = OrthogonalProductQuantizer(num_heads=1, embedding_dim=4, num_embeddings=8, kmeans_init=False,
                                    dead_code_threshold=0.1, usage_decay=0.5).train()
    with torch.no_grad():
        pq.codebooks.fill_(1e3)
        pq.codebooks[0, 0] = 0.0
    for _ in range(20):
        pq(torch.randn(256, 4))
    _, idx, _ = pq.eval()(torch.randn(2000, 4))
    assert idx.unique().numel() >= 6


def test_ema_update_moves_codes_to_assigned_mean():
    pq = OrthogonalProductQuantizer(num_heads=1, embedding_dim=2, num_embeddings=2, kmeans_init=False,
                                    ema_update=True, usage_decay=0.5)
    assert not pq.codebooks.requires_grad
    with torch.no_grad():
        pq.codebooks.copy_(torch.tensor([[[0.0, 0.0], [10.0, 10.0]]]))
        pq.embed_sum.copy_(pq.codebooks)
    z = torch.tensor([[1.0, 1.0]] * 8 + [[9.0, 9.0]] * 8)
    pq.train()
    for _ in range(30):
        pq(z)
    assert torch.allclose(pq.codebooks[0], torch.tensor([[1.0, 1.0], [9.0, 9.0]]), atol=1e-3)


def test_orthogonal_loss():
    eye = torch.eye(8)
    orth = torch.stack([eye[:4], eye[4:]])  # two heads, mutually orthogonal codes
    assert orthogonal_loss(orth).item() == pytest.approx(0.0)
    same = torch.stack([eye[:4], eye[:4]])
    assert orthogonal_loss(same).item() == pytest.approx(4 / 16)  # 4 of 16 pairs with cos 1
    assert orthogonal_loss(torch.randn(1, 5, 3)).item() == 0.0


def test_orthogonal_loss_matches_pairwise_cosines_and_has_gradient():
    torch.manual_seed(0)
    books = torch.randn(5, 12, 6, dtype=torch.float64, requires_grad=True)
    unit = torch.nn.functional.normalize(books, dim=-1)
    cos = torch.einsum("hkd,gld->hgkl", unit, unit)
    ref = cos[~torch.eye(5, dtype=torch.bool)].pow(2).mean()
    got = orthogonal_loss(books)
    assert got.item() == pytest.approx(ref.item(), rel=1e-9)
    got.backward()
    assert books.grad.abs().sum() > 0
