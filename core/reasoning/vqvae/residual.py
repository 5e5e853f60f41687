"""Residual quantizer: every code spans the whole latent; stage s quantizes what stages < s left.

The product quantizer (:class:`~core.reasoning.vqvae.layers.OrthogonalProductQuantizer`)
splits the latent into heads, so each byte sees a quarter of it. FAISS's additive
quantizers (RQ, LSQ), where every code is a full-width vector and the codes add up,
beat its split ones (PQ, OPQ) by wide margins at 4 bytes. This module is the additive
variant inside the VQ-VAE: ``z ~ c_1[i_1] + ... + c_S[i_S]``, greedy stage by stage
(beam search optional), with the same state and training recipe as the product
quantizer (k-means++ initialisation per stage on the residuals, EMA codebooks,
dead-code restarts, commitment). Codes stay ``(n, stages)`` of one byte each.

The decoder reads the *sum* of the stage codes: that sum is what residual quantization
approximates ``z`` by, so the decoder's input keeps the latent's width and meaning (the
warm-up epoch trains it on the continuous ``z``), and its first Linear stays additive
over the codes (the ICM search in ``refine_indices`` relies on that).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from core.reasoning.vqvae.layers import OrthogonalProductQuantizer, kmeans


def greedy_residual(z: torch.Tensor, codebooks: torch.Tensor, return_residuals: bool = False,
                    sq: torch.Tensor | None = None):
    """Codes (n, stages) of latents ``z`` (n, dim): at each stage the code nearest the residual.

    One matmul per stage over all rows (no loop over rows). With ``return_residuals``
    also the (n, stages, dim) inputs of the stages (``z`` minus the codes before).
    ``sq``: the codes' squared norms (stages, K) if the caller has them.
    """
    sq = codebooks.pow(2).sum(-1) if sq is None else sq  # (stages, K)
    r = z
    idx, residuals = [], []
    for s in range(codebooks.shape[0]):
        if return_residuals:
            residuals.append(r)
        i = torch.addmm(sq[s], r, codebooks[s].t(), alpha=-2).argmin(dim=-1)
        idx.append(i)
        r = r - codebooks[s][i]
    out = torch.stack(idx, dim=1)
    return (out, torch.stack(residuals, dim=1)) if return_residuals else out


def beam_residual(z: torch.Tensor, codebooks: torch.Tensor, beam: int) -> torch.Tensor:
    """Codes (n, stages) by beam search: keep the ``beam`` lowest-error partial sums at each stage.

    Error ``|z - sum of codes|^2`` is tracked exactly; ``beam=1`` equals :func:`greedy_residual`.
    A beam can prune the greedy path, so a row keeps the greedy codes where they are better:
    the result is never worse than greedy.
    """
    n, dim = z.shape
    stages, k = codebooks.shape[:2]
    sq = codebooks.pow(2).sum(-1)
    r = z[:, None]  # (n, paths, dim)
    err = z.pow(2).sum(-1, keepdim=True)  # (n, paths)
    codes = torch.zeros(n, 1, 0, dtype=torch.long, device=z.device)
    for s in range(stages):
        paths = r.shape[1]
        # |r - c|^2 = |r|^2 - 2 r.c + |c|^2 for every path and code
        total = err[..., None] - 2 * (r @ codebooks[s].t()) + sq[s]  # (n, paths, K)
        best_err, flat = total.reshape(n, paths * k).topk(min(beam, paths * k), dim=-1, largest=False)
        parent, code = flat // k, flat % k
        r = r.gather(1, parent[..., None].expand(-1, -1, dim)) - codebooks[s][code]
        codes = torch.cat([codes.gather(1, parent[..., None].expand(-1, -1, s)), code[..., None]], dim=-1)
        err = best_err
    best = codes[:, 0]  # topk sorts ascending: path 0 has the lowest error
    greedy = greedy_residual(z, codebooks)
    stage = torch.arange(stages, device=z.device)[None]
    greedy_err = (z - codebooks[stage, greedy].sum(1)).pow(2).sum(-1)
    return torch.where((greedy_err <= err[:, 0])[:, None], greedy, best)


class ResidualQuantizer(OrthogonalProductQuantizer):
    """Residual vector quantizer: ``num_heads`` stages of ``num_embeddings`` full-width codes.

    Same constructor and state as :class:`OrthogonalProductQuantizer` (``codebooks`` is
    (stages, K, embedding_dim) instead of (heads, K, embedding_dim // heads)); the
    stages play the role of the heads everywhere codes are stored. ``normalize`` scales
    the whole latent to norm ``sqrt(embedding_dim)`` (:meth:`prepare`; codes stay free:
    a residual has no meaningful unit norm).

    Examples
    --------
    >>> rq = ResidualQuantizer(kmeans_init=False)
    >>> q, idx, loss = rq(torch.randn(8, 512))
    >>> q.shape, idx.shape, tuple(rq.codebooks.shape)
    (torch.Size([8, 512]), torch.Size([8, 4]), (4, 256, 512))
    """

    kind = "residual"

    def __init__(self, num_heads: int = 4, embedding_dim: int = 512, num_embeddings: int = 256,
                 commitment_weight: float = 0.25, kmeans_init: bool = True,
                 dead_code_threshold: float = 0.0, usage_decay: float = 0.99,
                 ema_update: bool = False, normalize: bool = False):
        # the parent builds (heads, K, embedding_dim // heads) codebooks; build it with one
        # head of full width, then widen the state to one full-width codebook per stage
        super().__init__(1, embedding_dim, num_embeddings, commitment_weight, kmeans_init,
                         dead_code_threshold, usage_decay, ema_update, normalize=False)
        self.normalize = normalize
        self.num_heads = num_heads
        self.head_dim = embedding_dim
        self.code_size = (num_heads * max(1, (num_embeddings - 1).bit_length()) + 7) // 8
        init = torch.randn(num_heads, num_embeddings, embedding_dim) / embedding_dim ** 0.5 / num_heads
        self.codebooks = torch.nn.Parameter(init, requires_grad=not ema_update)
        self.cluster_size = torch.ones(num_heads, num_embeddings)
        self.embed_sum = init.clone()
        self._sq = None  # cached squared code norms (_code_sq)

    def prepare(self, z: torch.Tensor) -> torch.Tensor:
        """The latent as the stages see it, shape (n, 1, embedding_dim); norm ``sqrt(embedding_dim)`` if ``normalize``.

        Why the option: unnormalised, the encoder inflated a common component of the latent
        (the decoder's LayerNorm doesn't mind the scale; the absolute quantization error
        stayed ~12 while |z| grew from 19 to 3,000 in 5 epochs on 41.5k sentences), stage 1
        spent itself on it (4 of 256 codes in use) and the validation cosine fell from .62
        to .20. The fixed norm stops that; the radius is about the unnormalised latent's
        norm at the start, so the commitment term keeps its scale.
        """
        z = z.reshape(z.shape[0], 1, self.embedding_dim)
        return F.normalize(z, dim=-1) * self.embedding_dim ** 0.5 if self.normalize else z

    @property
    def code_vectors(self) -> torch.Tensor:
        return self.codebooks

    @torch.no_grad()
    def init_codebook_(self, z: torch.Tensor, num_iters: int = 10,
                       generator: torch.Generator | None = None) -> None:
        """k-means++/Lloyd per stage: stage s on what the k-means centres of stages < s left."""
        r = self.prepare(z.detach().float()).reshape(z.shape[0], self.embedding_dim)
        for s in range(self.num_heads):
            means, _ = kmeans(r[None], self.num_embeddings, num_iters, generator)
            idx = greedy_residual(r, means)[:, 0]
            self.codebooks.data[s].copy_(means[0])
            r = r - means[0][idx]
        self.embed_sum.copy_(self.codebooks.data)
        self.cluster_size.fill_(1.0)
        self.initted.fill_(True)

    def _code_sq(self) -> torch.Tensor:
        """Squared norms (stages, K) of the codes; cached in eval mode.

        Recomputing them read the 2 MB codebooks on every call (0.4 ms or more of a
        one-vector encode). The codebooks change only in training mode (EMA, restarts,
        optimiser steps) or by loading a state, and both drop the cache.
        """
        if self.training:
            return self.codebooks.detach().pow(2).sum(-1)
        if self._sq is None:
            self._sq = self.codebooks.detach().pow(2).sum(-1)
        return self._sq

    def train(self, mode: bool = True):
        self._sq = None
        return super().train(mode)

    def _load_from_state_dict(self, *args, **kwargs):
        self._sq = None
        return super()._load_from_state_dict(*args, **kwargs)

    def quantize_indices(self, z: torch.Tensor, beam: int = 1) -> torch.Tensor:
        """Codes (n, stages) of latents ``z`` (n, embedding_dim): greedy, or beam search if ``beam > 1``."""
        z = self.prepare(z).reshape(z.shape[0], self.embedding_dim)
        if beam <= 1:
            return greedy_residual(z, self.codebooks, sq=self._code_sq())
        return beam_residual(z, self.codebooks, beam)

    def get_codes_from_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """The sum of the stages' code vectors (n, embedding_dim) for ``indices`` (n, stages)."""
        return self.latent_from_indices(self.codebooks, indices)

    @staticmethod
    def latent_from_indices(books: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        stages = torch.arange(books.shape[0], device=indices.device)
        return books[stages[None, :], indices.long()].sum(1)

    def stage_distances(self, z: torch.Tensor, indices: torch.Tensor | None = None):
        """Greedy codes and, per stage, ``|r_s - c|^2`` (n, stages, K) for the stage's residual ``r_s``.

        ``r_s`` is ``z`` minus the codes of stages < s in ``indices`` (the greedy codes
        when omitted): the candidates a search tries at each stage.
        """
        z = self.prepare(z).reshape(z.shape[0], self.embedding_dim)
        greedy, res = greedy_residual(z, self.codebooks, return_residuals=True)
        if indices is not None:
            before = torch.cumsum(self.codebooks[torch.arange(self.num_heads)[None], indices.long()], dim=1)
            res = z[:, None] - torch.cat([torch.zeros_like(before[:, :1]), before[:, :-1]], dim=1)
        dist = torch.cdist(res.transpose(0, 1), self.codebooks).pow(2).transpose(0, 1)
        return greedy, dist

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Quantize ``z`` (n, embedding_dim): (straight-through sum of codes, indices (n, stages), loss)."""
        n = z.shape[0]
        z = self.prepare(z).reshape(n, self.embedding_dim)
        if self.training and not bool(self.initted):
            self.init_codebook_(z)
        with torch.no_grad():
            indices, res = greedy_residual(z.detach(), self.codebooks.detach(), return_residuals=True)
        if self.training:  # each stage's EMA and restarts see that stage's residuals
            self._update_usage_(res, indices)
            self.expire_codes_(res)
        q = self.latent_from_indices(self.codebooks, indices)
        loss = self.commitment_weight * F.mse_loss(z, q.detach())
        if not self.ema_update:
            loss = loss + F.mse_loss(q, z.detach())
        return z + (q - z).detach(), indices, loss
