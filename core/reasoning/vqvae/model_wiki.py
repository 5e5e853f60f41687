"""MonolithWiki: the production VQ-VAE, 384-d sentence embedding -> 4 one-byte codes -> 384-d.

Encoder Linear(384,1024)-LayerNorm-GELU-Dropout-Linear(1024,512), a 4-head product
quantizer (4 x 256 codes x 128 dims), decoder Linear(512,1024)-LayerNorm-GELU-Dropout-
Linear(1024,384).
"""
from __future__ import annotations

import torch
from torch import nn

from core.reasoning.vqvae.layers import OrthogonalProductQuantizer


class VQVAEBase(nn.Module):
    """Shared verbs of the VQ-VAE models; subclasses build ``encoder``, ``quantizer``, ``decoder``.

    ``config`` holds the constructor arguments, so a model can be rebuilt from JSON.
    """

    config: dict

    @property
    def num_heads(self) -> int:
        return self.quantizer.num_heads

    @property
    def codebook_size(self) -> int:
        return self.quantizer.num_embeddings

    def forward(self, x: torch.Tensor, quantize: bool = True):
        """Encode, quantize and decode a batch ``x`` of shape (n, input_dim).

        Parameters
        ----------
        quantize : bool, default=True
            ``False`` skips the quantizer (the decoder sees ``z_e``): the warm-up phase
            of training, which gives k-means a meaningful latent to start from.

        Returns
        -------
        reconstructed : Tensor (n, input_dim)
        indices : LongTensor (n, heads), or None when ``quantize`` is False
        z_e : Tensor (n, latent_dim), encoder output
        z_q : Tensor (n, latent_dim), raw code vectors (gradients reach the codebooks)
        """
        z_e = self.encoder(x)
        if not quantize:
            return self.decoder(z_e), None, z_e, z_e
        quantized, indices, _ = self.quantizer(z_e)
        z_q = self.quantizer.get_codes_from_indices(indices)
        return self.decoder(quantized), indices, z_e, z_q

    @torch.no_grad()
    def encode_indices(self, x: torch.Tensor) -> torch.Tensor:
        """Codes (n, heads) of ``x``; call in eval mode for deterministic results."""
        return self.quantizer.quantize_indices(self.encoder(x))

    @torch.no_grad()
    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """Reconstructions (n, input_dim) from codes (n, heads)."""
        return self.decoder(self.quantizer.get_codes_from_indices(indices))


class MonolithWiki(VQVAEBase):
    """The production VQ-VAE (384 -> 512 latent in 4 heads of 128 -> 384).

    Parameters
    ----------
    input_dim : int, default=384
    hidden_dim : int, default=1024
    latent_dim : int, default=512
    num_heads : int, default=4
    codebook_size : int, default=256
    dropout : float, default=0.1
    commitment_weight, kmeans_init, dead_code_threshold, usage_decay, ema_update
        Passed to :class:`OrthogonalProductQuantizer`.

    Examples
    --------
    >>> model = MonolithWiki().eval()
    >>> recon, idx, z_e, z_q = model(torch.randn(2, 384))
    >>> recon.shape, idx.shape, z_e.shape
    (torch.Size([2, 384]), torch.Size([2, 4]), torch.Size([2, 512]))
    """

    def __init__(self, input_dim: int = 384, hidden_dim: int = 1024, latent_dim: int = 512,
                 num_heads: int = 4, codebook_size: int = 256, dropout: float = 0.1,
                 commitment_weight: float = 0.25, kmeans_init: bool = True,
                 dead_code_threshold: float = 0.0, usage_decay: float = 0.99,
                 ema_update: bool = False):
        super().__init__()
        self.config = dict(input_dim=input_dim, hidden_dim=hidden_dim, latent_dim=latent_dim,
                           num_heads=num_heads, codebook_size=codebook_size, dropout=dropout,
                           commitment_weight=commitment_weight, kmeans_init=kmeans_init,
                           dead_code_threshold=dead_code_threshold, usage_decay=usage_decay,
                           ema_update=ema_update)
        self.encoder = nn.Sequential(
            nn.Linear(input_dim, hidden_dim), nn.LayerNorm(hidden_dim), nn.GELU(),
            nn.Dropout(dropout), nn.Linear(hidden_dim, latent_dim),
        )
        self.quantizer = OrthogonalProductQuantizer(
            num_heads=num_heads, embedding_dim=latent_dim, num_embeddings=codebook_size,
            commitment_weight=commitment_weight, kmeans_init=kmeans_init,
            dead_code_threshold=dead_code_threshold, usage_decay=usage_decay, ema_update=ema_update,
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden_dim), nn.LayerNorm(hidden_dim), nn.GELU(),
            nn.Dropout(dropout), nn.Linear(hidden_dim, input_dim),
        )
