"""The VQ-VAE training objective: ``total = recon + codebook + commitment + orthogonal (+ cosine)``.

Every term has its own weight so that a JSON training config can switch each on or off.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from core.reasoning.vqvae.layers import orthogonal_loss


class LossBreakdown(NamedTuple):
    total: torch.Tensor
    recon: torch.Tensor
    cosine: torch.Tensor
    codebook: torch.Tensor
    commitment: torch.Tensor
    orthogonal: torch.Tensor


class VQVAELoss(nn.Module):
    """Weighted sum of the VQ-VAE loss terms.

    Parameters
    ----------
    recon_weight : float, default=1.0
        Weight of the mean squared reconstruction error.
    cosine_weight : float, default=0.0
        Weight of ``1 - cos(x, x_hat)``. MSE on unit vectors is tiny (the zero vector
        already scores 1/384), so a cosine term keeps the gradient about direction,
        which is what search with the decoded vectors needs.
    codebook_weight : float, default=1.0
        Weight of ``|sg(z_e) - z_q|^2`` (moves codes towards encoder outputs).
    commitment_weight : float, default=0.25
        Weight of ``|z_e - sg(z_q)|^2`` (keeps the encoder near its codes).
    orthogonal_weight : float, default=0.0
        Weight of the mean squared cosine between codes of different heads.

    Examples
    --------
    >>> loss = VQVAELoss(cosine_weight=1.0)
    >>> x = torch.randn(4, 8)
    >>> round(float(loss(x, x, torch.zeros(4, 4), torch.zeros(4, 4)).total), 6)
    0.0
    """

    def __init__(self, recon_weight: float = 1.0, cosine_weight: float = 0.0,
                 codebook_weight: float = 1.0, commitment_weight: float = 0.25,
                 orthogonal_weight: float = 0.0):
        super().__init__()
        self.recon_weight = recon_weight
        self.cosine_weight = cosine_weight
        self.codebook_weight = codebook_weight
        self.commitment_weight = commitment_weight
        self.orthogonal_weight = orthogonal_weight

    def forward(self, x: torch.Tensor, reconstructed: torch.Tensor, z_e: torch.Tensor,
                z_q: torch.Tensor, codebooks: torch.Tensor | None = None) -> LossBreakdown:
        """Loss terms for one batch.

        Parameters
        ----------
        x, reconstructed : Tensor (n, input_dim)
        z_e : Tensor (n, latent_dim), encoder output
        z_q : Tensor (n, latent_dim), the raw code vectors (not the straight-through
            copy), so the codebook term reaches the codebooks.
        codebooks : Tensor (heads, codebook_size, head_dim), optional
            Needed only when ``orthogonal_weight > 0``.
        """
        zero = x.new_zeros(())
        recon = F.mse_loss(reconstructed, x)
        cosine = (1 - F.cosine_similarity(reconstructed, x, dim=-1)).mean() if self.cosine_weight else zero
        codebook = F.mse_loss(z_q, z_e.detach()) if self.codebook_weight else zero
        commitment = F.mse_loss(z_e, z_q.detach()) if self.commitment_weight else zero
        ortho = orthogonal_loss(codebooks) if (self.orthogonal_weight and codebooks is not None) else zero
        total = (self.recon_weight * recon + self.cosine_weight * cosine
                 + self.codebook_weight * codebook + self.commitment_weight * commitment
                 + self.orthogonal_weight * ortho)
        return LossBreakdown(total, recon, cosine, codebook, commitment, ortho)
