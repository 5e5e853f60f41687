"""MonolithWiki: the production VQ-VAE, 384-d sentence embedding -> 4 one-byte codes -> 384-d.

Encoder Linear(384,1024)-LayerNorm-GELU-Dropout-Linear(1024,512), a 4-head product
quantizer (4 x 256 codes x 128 dims), decoder Linear(512,1024)-LayerNorm-GELU-Dropout-
Linear(1024,384).
"""
from __future__ import annotations

import itertools

import numpy as np
import torch
from torch import nn

from core._validation import check_embeddings
from core.reasoning.vqvae.layers import OrthogonalProductQuantizer, indices_to_numpy
from core.reasoning.vqvae.residual import ResidualQuantizer

QUANTIZERS = {"heads": OrthogonalProductQuantizer, "residual": ResidualQuantizer}


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
        z_e : Tensor (n, latent_dim), encoder output as the quantizer sees it
            (per-head normalised when the quantizer normalises)
        z_q : Tensor (n, latent_dim), raw code vectors (gradients reach the codebooks)
        """
        z_e = self.quantizer.prepare(self.encoder(x)).reshape(x.shape[0], -1)
        if not quantize:
            return self.decoder(z_e), None, z_e, z_e
        quantized, indices, _ = self.quantizer(z_e)
        z_q = self.quantizer.get_codes_from_indices(indices)
        return self.decoder(quantized), indices, z_e, z_q

    @torch.no_grad()
    def encode_indices(self, x: torch.Tensor) -> torch.Tensor:
        """Codes (n, heads) of ``x``; call in eval mode for deterministic results.

        ``x`` is checked as :meth:`encode_codes` checks its rows: a NaN or inf row was given codes."""
        self._check_rows(x)
        return self._encode_indices(x)

    def _check_rows(self, x: torch.Tensor) -> None:
        dim = self.config["input_dim"]
        if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.ndim != 2 or x.shape[1] != dim:
            raise ValueError(f"x must be a float tensor of shape (n, {dim}), got "
                             f"{getattr(x, 'dtype', type(x).__name__)} {tuple(getattr(x, 'shape', ()))}")
        bad = ~torch.isfinite(x)
        if bool(bad.any()):
            row, col = (int(v) for v in torch.nonzero(bad)[0])
            raise ValueError(f"x contains NaN or inf (first at row {row}, column {col})")

    def encode_codes(self, X: np.ndarray, batch: int = 4096) -> np.ndarray:
        """Codes of float rows ``X`` (n, input_dim) as numpy: uint8 up to 256 codes a head, else uint16.

        Eval-mode batches under ``no_grad``; the storage dtype comes from the codebook
        size, so a 512-code model's codes are never truncated to a byte. ``X`` is checked as
        ``MycelialVQVAE.encode`` checks it: NaN rows were given codes, ``batch=-1`` returned none.
        """
        X = check_embeddings(X, self.config["input_dim"], "X")
        _check_count(batch, "batch", 1)
        with torch.no_grad():
            out = [self._encode_indices(torch.from_numpy(X[s:s + batch])) for s in range(0, X.shape[0], batch)]
        idx = torch.cat(out) if out else torch.zeros(0, self.num_heads, dtype=torch.long)
        return indices_to_numpy(idx, self.codebook_size)

    def _encode_indices(self, x: torch.Tensor, beam: int = 1) -> torch.Tensor:
        """Guts of :meth:`encode_indices` without the autograd guard (the caller holds one).

        ``beam > 1``: beam search over the stages of a residual quantizer (a product
        quantizer's heads are independent, so its nearest codes are already optimal).
        """
        z_e = self.quantizer.prepare(self.encoder(x)).reshape(x.shape[0], -1)
        if beam > 1:
            if getattr(self.quantizer, "kind", "heads") != "residual":
                raise ValueError(f"beam={beam} needs a residual quantizer; this model's is "
                                 f"{getattr(self.quantizer, 'kind', 'heads')!r} (its nearest codes are exact)")
            return self.quantizer.quantize_indices(z_e, beam=beam)
        return self.quantizer.quantize_indices(z_e)

    @torch.no_grad()
    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """Reconstructions (n, input_dim) from codes (n, heads); ``ValueError`` naming ``indices`` for another
        shape or a code outside the codebook (torch's IndexError named neither)."""
        self._check_indices(indices)
        return self.decoder(self.quantizer.get_codes_from_indices(indices))

    def _check_indices(self, indices: torch.Tensor) -> None:
        if not isinstance(indices, torch.Tensor) or indices.is_floating_point() or indices.dtype == torch.bool:
            raise ValueError(f"indices must be an integer tensor of shape (n, {self.num_heads}), got "
                             f"{getattr(indices, 'dtype', type(indices).__name__)}")
        if indices.ndim != 2 or indices.shape[1] != self.num_heads:
            raise ValueError(f"indices must have shape (n, {self.num_heads}), got {tuple(indices.shape)}")
        if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= self.codebook_size):
            raise ValueError(f"indices must lie in [0, {self.codebook_size - 1}], got values from "
                             f"{int(indices.min())} to {int(indices.max())}")

    @torch.no_grad()
    def refine_indices(self, x: torch.Tensor, indices: torch.Tensor | None = None, sweeps: int = 2,
                       candidates: int = 32, objective: str = "cosine", pairs: int = 0) -> torch.Tensor:
        """Improve codes by coordinate descent on the decoder's reconstruction (ICM).

        The encoder picks each head's code from the latent alone; the decoder then
        judges all four together (for a residual quantizer, read "stage" for "head"). Like LSQ's encoder, this sweeps over the heads and
        replaces one code at a time by the candidate whose *decoded* vector is closest
        to ``x``, with the other codes fixed. Candidates are the ``candidates`` codes
        nearest to the encoder's latent per head. The decoder's first Linear is split
        per head and precomputed, so a candidate costs one LayerNorm-GELU-Linear.

        Parameters
        ----------
        x : Tensor (n, input_dim)
        indices : LongTensor (n, heads), optional
            Starting codes; the encoder's codes when omitted.
        sweeps : int, default=2
        candidates : int, default=32
        objective : {"cosine", "mse"}
        pairs : int, default=0
            After the sweeps, re-pick every pair of heads jointly from their ``pairs``
            nearest codes each (``(pairs + 1)^2`` trials per pair): a move one head at a
            time cannot make when two codes only pay off together. 0 skips it.

        Returns
        -------
        LongTensor (n, heads); the objective never gets worse than at the start.
        """
        if objective not in ("cosine", "mse"):
            raise ValueError(f"objective must be 'cosine' or 'mse', got {objective!r}")
        for name, value, least in (("sweeps", sweeps, 0), ("candidates", candidates, 1), ("pairs", pairs, 0)):
            _check_count(value, name, least)  # sweeps=-1 ran none, silently; the others failed deep in torch
        if indices is not None:
            self._check_indices(indices)
        q = self.quantizer
        first, rest = self.decoder[0], self.decoder[1:]
        z = self.encoder(x)
        books = q.code_vectors
        # candidates: per head, the codes nearest its latent; per residual stage, nearest its residual
        nearest, dist = q.stage_distances(z, indices)
        m = min(candidates, q.num_embeddings)
        cand = dist.topk(m, dim=-1, largest=False).indices  # (n, heads, m), nearest first
        residual = getattr(q, "kind", "heads") == "residual"
        if indices is None:  # the plain encoder's codes (greedy stages for a residual quantizer)
            indices = nearest if residual else cand[..., 0]
        idx = indices.clone().long()
        # per-head contribution of every code to the first Linear: (heads, K, hidden); residual
        # codes add up before it, so a stage's contribution is the whole Linear of its code
        if residual:
            contrib = torch.einsum("hkd,od->hko", books, first.weight)
        else:
            w = first.weight.t().reshape(q.num_heads, q.head_dim, -1)
            contrib = torch.einsum("hkd,hdo->hko", books, w)
        heads = torch.arange(q.num_heads)
        pre = first.bias + contrib[heads[None, :], idx].sum(1)  # (n, hidden)
        x_unit = torch.nn.functional.normalize(x, dim=-1)

        def score(out):  # higher is better
            if objective == "cosine":
                return (torch.nn.functional.normalize(out, dim=-1) * x_unit.unsqueeze(1)).sum(-1)
            return -(out - x.unsqueeze(1)).pow(2).sum(-1)

        for _ in range(sweeps):
            for h in range(q.num_heads):
                base = pre - contrib[h, idx[:, h]]
                opts = torch.cat([idx[:, h:h + 1], cand[:, h]], dim=1)  # keep the current code as option 0
                trial = base.unsqueeze(1) + contrib[h][opts]  # (n, m+1, hidden)
                s = score(rest(trial))
                best = s.argmax(dim=1)
                idx[:, h] = opts.gather(1, best[:, None])[:, 0]
                pre = base + contrib[h, idx[:, h]]
        p = min(pairs, m)
        for a, b in itertools.combinations(range(q.num_heads) if p else (), 2):
            base = pre - contrib[a, idx[:, a]] - contrib[b, idx[:, b]]
            opts_a = torch.cat([idx[:, a:a + 1], cand[:, a, :p]], dim=1)
            opts_b = torch.cat([idx[:, b:b + 1], cand[:, b, :p]], dim=1)
            trial = base[:, None, None] + contrib[a][opts_a][:, :, None] + contrib[b][opts_b][:, None, :]
            best = score(rest(trial.flatten(1, 2))).argmax(dim=1)  # (p+1)^2 options, current pair first
            idx[:, a] = opts_a.gather(1, (best // (p + 1))[:, None])[:, 0]
            idx[:, b] = opts_b.gather(1, (best % (p + 1))[:, None])[:, 0]
            pre = base + contrib[a, idx[:, a]] + contrib[b, idx[:, b]]
        return idx


def _check_count(value, name: str, least: int) -> None:
    """An int >= ``least`` (a bool is no count), or a ``ValueError`` naming it."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < least:
        raise ValueError(f"{name} must be an int >= {least}, got {value!r}")


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
    commitment_weight, kmeans_init, dead_code_threshold, usage_decay, ema_update, normalize
        Passed to the quantizer.
    quantizer : {"heads", "residual"}, default="heads"
        ``"heads"``: the latent split into ``num_heads`` heads, one codebook each
        (:class:`OrthogonalProductQuantizer`, the shipped models). ``"residual"``:
        ``num_heads`` residual stages of full-width codes whose sum the decoder reads
        (:class:`~core.reasoning.vqvae.residual.ResidualQuantizer`). Codes are (n, num_heads) either way.
    latent_norm : bool, default=False
        Ends the encoder with an affine-free BatchNorm, so the latent keeps zero mean and unit
        variance per dimension: the residual quantizer then trains without the blow-up of a common
        latent component that made it diverge (experimental, issue 16; scores below the heads).

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
                 ema_update: bool = False, normalize: bool = False, quantizer: str = "heads",
                 latent_norm: bool = False):
        super().__init__()
        if quantizer not in QUANTIZERS:
            raise ValueError(f"quantizer must be one of {sorted(QUANTIZERS)}, got {quantizer!r}")
        self.config = dict(input_dim=input_dim, hidden_dim=hidden_dim, latent_dim=latent_dim,
                           num_heads=num_heads, codebook_size=codebook_size, dropout=dropout,
                           commitment_weight=commitment_weight, kmeans_init=kmeans_init,
                           dead_code_threshold=dead_code_threshold, usage_decay=usage_decay,
                           ema_update=ema_update, normalize=normalize)
        if quantizer != "heads":  # product-quantizer configs stay as they were saved before the option
            self.config["quantizer"] = quantizer
        if latent_norm:
            self.config["latent_norm"] = True
        self.encoder = nn.Sequential(
            nn.Linear(input_dim, hidden_dim), nn.LayerNorm(hidden_dim), nn.GELU(),
            nn.Dropout(dropout), nn.Linear(hidden_dim, latent_dim),
            *([nn.BatchNorm1d(latent_dim, affine=False)] if latent_norm else []),
        )
        self.quantizer = QUANTIZERS[quantizer](
            num_heads=num_heads, embedding_dim=latent_dim, num_embeddings=codebook_size,
            commitment_weight=commitment_weight, kmeans_init=kmeans_init,
            dead_code_threshold=dead_code_threshold, usage_decay=usage_decay, ema_update=ema_update,
            normalize=normalize,
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden_dim), nn.LayerNorm(hidden_dim), nn.GELU(),
            nn.Dropout(dropout), nn.Linear(hidden_dim, input_dim),
        )
