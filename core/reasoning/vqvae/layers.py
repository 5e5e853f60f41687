"""The product quantizer: a latent split into heads, one codebook (256 entries by default) per head.

Codes leave torch as ``uint8`` when a codebook has at most 256 entries (one byte per
code) and as ``uint16`` up to 65,536 (two bytes per code): see :func:`code_dtype`.

One module holds the state (codebooks, usage statistics, the ``initted`` flag); the
algorithms that touch it (k-means, nearest code, dead-code restart) are free functions
so they can be tested and reused on their own.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

MAX_CODEBOOK_SIZE = 65_536


def code_dtype(num_embeddings: int) -> np.dtype:
    """The smallest unsigned dtype that holds codes ``0 .. num_embeddings - 1``: uint8 or uint16.

    Raises ``ValueError`` outside ``[2, 65536]`` (a 1-entry codebook stores nothing; more
    than 65,536 codes would need 4 bytes, more than the float it replaces per head).
    """
    if not isinstance(num_embeddings, (int, np.integer)) or not 2 <= num_embeddings <= MAX_CODEBOOK_SIZE:
        raise ValueError(f"num_embeddings must be an integer in [2, {MAX_CODEBOOK_SIZE}] "
                         f"(uint8 up to 256 codes, uint16 up to 65,536), got {num_embeddings!r}")
    return np.dtype(np.uint8) if num_embeddings <= 256 else np.dtype(np.uint16)


def indices_to_numpy(indices: torch.Tensor, num_embeddings: int) -> np.ndarray:
    """Code indices (any integer tensor) as a numpy array of :func:`code_dtype`, range-checked."""
    dtype = code_dtype(num_embeddings)
    arr = indices.detach().cpu().numpy()
    if arr.size and (arr.min() < 0 or arr.max() >= num_embeddings):
        raise ValueError(f"codes must lie in [0, {num_embeddings - 1}], got {arr.min()}..{arr.max()}")
    return arr.astype(dtype)


def exists(val) -> bool:
    return val is not None


def nearest_code(z: torch.Tensor, codebooks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Index and squared distance of the nearest code, for every head at once.

    Parameters
    ----------
    z : Tensor of shape (n, heads, dim)
    codebooks : Tensor of shape (heads, codebook_size, dim)

    Returns
    -------
    indices : LongTensor of shape (n, heads)
    dist : Tensor of shape (n, heads, codebook_size)
        ``||z - c||^2`` for every code. The argmin is taken over ``|c|^2 - 2 z.c``
        (one batched matmul, no Python loop over heads); ``|z|^2`` is added afterwards
        and cannot change the winner.
    """
    partial = torch.baddbmm(codebooks.pow(2).sum(-1).unsqueeze(1), z.transpose(0, 1),
                            codebooks.transpose(1, 2), alpha=-2)  # (heads, n, K)
    indices = partial.argmin(dim=-1).t()
    dist = partial.transpose(0, 1) + z.pow(2).sum(-1, keepdim=True)
    return indices, dist


def nearest_code_indices(z: torch.Tensor, codebooks: torch.Tensor) -> torch.Tensor:
    """Same indices as :func:`nearest_code` without building the distance tensor (inference path)."""
    partial = torch.baddbmm(codebooks.pow(2).sum(-1).unsqueeze(1), z.transpose(0, 1),
                            codebooks.transpose(1, 2), alpha=-2)
    return partial.argmin(dim=-1).t()


def gather_codes(codebooks: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """Code vectors of shape (n, heads, dim) for ``indices`` of shape (n, heads)."""
    heads = torch.arange(codebooks.shape[0], device=indices.device)
    return codebooks[heads[None, :], indices]


def kmeans_plusplus(samples: torch.Tensor, num_clusters: int,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """k-means++ seeding, one independent problem per head.

    Each new centre is drawn with probability proportional to the squared distance to
    the nearest centre so far, which spreads the seeds over all clusters.

    Parameters
    ----------
    samples : Tensor of shape (heads, n, dim)

    Returns
    -------
    Tensor of shape (heads, num_clusters, dim)
    """
    heads, n, dim = samples.shape
    rows = torch.arange(heads)
    first = torch.randint(0, n, (heads,), generator=generator)
    centres = [samples[rows, first]]  # (heads, dim)
    best = (samples - centres[0][:, None]).pow(2).sum(-1)  # (heads, n)
    for _ in range(1, num_clusters):
        weights = best.clamp(min=0) + 1e-12
        pick = torch.multinomial(weights, 1, generator=generator)[:, 0]
        c = samples[rows, pick]
        centres.append(c)
        best = torch.minimum(best, (samples - c[:, None]).pow(2).sum(-1))
    return torch.stack(centres, dim=1)


def kmeans(samples: torch.Tensor, num_clusters: int, num_iters: int = 10,
           generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Batched Lloyd k-means with k-means++ seeds, one independent problem per head.

    Parameters
    ----------
    samples : Tensor of shape (heads, n, dim)
    num_clusters : int
    num_iters : int, default=10
    generator : torch.Generator, optional
        Seeds the k-means++ draws.

    Returns
    -------
    means : Tensor of shape (heads, num_clusters, dim)
    bins : LongTensor of shape (heads, num_clusters), points per cluster at the end.
        Empty clusters keep their previous centre, so none is ever NaN.
    """
    heads, n, dim = samples.shape
    means = kmeans_plusplus(samples, num_clusters, generator)
    bins = torch.zeros(heads, num_clusters, dtype=torch.long)
    for _ in range(num_iters):
        idx, _ = nearest_code(samples.transpose(0, 1), means)  # (n, heads)
        idx = idx.t()  # (heads, n)
        bins = torch.zeros(heads, num_clusters, dtype=torch.long).scatter_add_(1, idx, torch.ones_like(idx))
        sums = torch.zeros_like(means).scatter_add_(1, idx[..., None].expand(-1, -1, dim), samples)
        filled = bins > 0
        means = torch.where(filled[..., None], sums / bins.clamp(min=1)[..., None].to(sums.dtype), means)
    return means, bins


def orthogonal_loss(codebooks: torch.Tensor) -> torch.Tensor:
    """Mean squared cosine between codes of *different* heads.

    Pushes the heads' codebooks towards mutually orthogonal directions so that the four
    codes of a vector carry different information (the seed's "orthogonal" quantizer).

    Computed without the (heads, heads, K, K) cosine tensor: with unit codes ``U_h`` and
    Gram matrices ``G_h = U_h^T U_h``, ``sum_{h != g} ||U_h U_g^T||_F^2 =
    ||sum_h G_h||_F^2 - sum_h ||G_h||_F^2``, which costs O(heads K dim^2) time and
    O(heads dim^2) memory, so it stays cheap for many heads.
    """
    heads, k, _ = codebooks.shape
    if heads < 2:
        return codebooks.new_zeros(())
    unit = F.normalize(codebooks, dim=-1)
    gram = torch.einsum("hkd,hke->hde", unit, unit)  # (heads, dim, dim)
    off = gram.sum(0).pow(2).sum() - gram.pow(2).sum()
    return off / (heads * (heads - 1) * k * k)


class OrthogonalProductQuantizer(nn.Module):
    """Product quantizer with one codebook per head and a straight-through estimator.

    Parameters
    ----------
    num_heads : int, default=4
    embedding_dim : int, default=512
        Size of the whole latent; each head quantizes ``embedding_dim // num_heads`` dims.
    num_embeddings : int, default=256
        Codes per head; 256 makes one code exactly one byte, up to 65,536 are stored as
        uint16 (:attr:`code_dtype`).
    commitment_weight : float, default=0.25
        Weight of ``|z - sg(q)|^2`` in the returned loss (van den Oord et al., 2017).
    kmeans_init : bool, default=True
        Initialise the codebooks by k-means on the first training batch (or on data
        passed to :meth:`init_codebook_`); avoids the collapse of random codebooks.
    dead_code_threshold : float, default=0.0
        A code whose moving-average usage per batch drops below this is replaced by a
        random latent of the current batch (0 turns restarts off).
    usage_decay : float, default=0.99
        Decay of the moving average of code usage.
    ema_update : bool, default=False
        Learn the codebooks by exponential moving averages of assigned latents instead
        of gradients (the codebook then ignores the codebook loss).
    normalize : bool, default=False
        L2-normalise each head's latent and codes (cosine-similarity codebooks, as in
        ViT-VQGAN). Fixes the latent scale, which otherwise drifts upwards because the
        decoder's LayerNorm makes it scale-invariant, inflating the commitment loss.

    Examples
    --------
    >>> pq = OrthogonalProductQuantizer(kmeans_init=False)
    >>> q, idx, loss = pq(torch.randn(8, 512))
    >>> q.shape, idx.shape
    (torch.Size([8, 512]), torch.Size([8, 4]))
    """

    kind = "heads"

    def __init__(self, num_heads: int = 4, embedding_dim: int = 512, num_embeddings: int = 256,
                 commitment_weight: float = 0.25, kmeans_init: bool = True,
                 dead_code_threshold: float = 0.0, usage_decay: float = 0.99,
                 ema_update: bool = False, normalize: bool = False):
        super().__init__()
        if not isinstance(num_heads, (int, np.integer)) or isinstance(num_heads, bool) or num_heads < 1:
            raise ValueError(f"num_heads must be a positive integer, got {num_heads!r}")  # 0: ZeroDivisionError
        if embedding_dim % num_heads:
            raise ValueError(f"embedding_dim={embedding_dim} must be divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.embedding_dim = embedding_dim
        self.num_embeddings = num_embeddings
        self.head_dim = embedding_dim // num_heads
        self.commitment_weight = commitment_weight
        self.dead_code_threshold = dead_code_threshold
        self.usage_decay = usage_decay
        self.ema_update = ema_update
        self.normalize = normalize
        self.code_dtype = code_dtype(num_embeddings)
        # bytes of one item bit-packed at ceil(log2 K) bits a code (FAISS's "PQ{M}x{bits}")
        self.code_size = (num_heads * max(1, (num_embeddings - 1).bit_length()) + 7) // 8

        init = torch.randn(num_heads, num_embeddings, self.head_dim) / self.head_dim ** 0.5
        self.codebooks = nn.Parameter(init, requires_grad=not ema_update)
        self.register_buffer("initted", torch.tensor(not kmeans_init))
        self.register_buffer("cluster_size", torch.ones(num_heads, num_embeddings))
        self.register_buffer("embed_sum", init.clone())

    # -- state ------------------------------------------------------------------------
    def prepare(self, z: torch.Tensor) -> torch.Tensor:
        """Latents (n, heads, head_dim) as the codebooks see them (normalised if ``normalize``)."""
        zh = z.reshape(z.shape[0], self.num_heads, self.head_dim)
        return F.normalize(zh, dim=-1) if self.normalize else zh

    @property
    def code_vectors(self) -> torch.Tensor:
        """The effective codebooks (heads, num_embeddings, head_dim)."""
        return F.normalize(self.codebooks, dim=-1) if self.normalize else self.codebooks

    @torch.no_grad()
    def init_codebook_(self, z: torch.Tensor, num_iters: int = 10,
                       generator: torch.Generator | None = None) -> None:
        """Set every codebook to k-means centres of latents ``z`` (n, embedding_dim)."""
        samples = self.prepare(z.detach()).transpose(0, 1).contiguous()
        means, bins = kmeans(samples.float(), self.num_embeddings, num_iters, generator)
        self.codebooks.data.copy_(means)
        self.embed_sum.copy_(means)
        self.cluster_size.fill_(1.0)
        self.initted.fill_(True)

    @torch.no_grad()
    def _update_usage_(self, z: torch.Tensor, indices: torch.Tensor) -> None:
        onehot = F.one_hot(indices, self.num_embeddings).to(z.dtype)  # (n, heads, K)
        counts = onehot.sum(0)
        self.cluster_size.mul_(self.usage_decay).add_(counts, alpha=1 - self.usage_decay)
        if self.ema_update:
            sums = torch.einsum("nhk,nhd->hkd", onehot, z)
            self.embed_sum.mul_(self.usage_decay).add_(sums, alpha=1 - self.usage_decay)
            size = self.cluster_size.clamp(min=1e-5)[..., None]
            self.codebooks.data.copy_(self.embed_sum / size)

    @torch.no_grad()
    def expire_codes_(self, z: torch.Tensor) -> int:
        """Replace codes used less than ``dead_code_threshold`` by random batch latents.

        Returns the number of codes replaced.
        """
        if self.dead_code_threshold <= 0 or not self.training:
            return 0
        dead = self.cluster_size < self.dead_code_threshold  # (heads, K)
        n_dead = int(dead.sum())
        if not n_dead:
            return 0
        n = z.shape[0]
        pick = torch.randint(0, n, (self.num_heads, self.num_embeddings), device=z.device)
        heads = torch.arange(self.num_heads, device=z.device)[:, None]
        fresh = z[pick, heads]  # (heads, K, dim)
        self.codebooks.data.copy_(torch.where(dead[..., None], fresh, self.codebooks.data))
        self.embed_sum.copy_(torch.where(dead[..., None], fresh, self.embed_sum))
        self.cluster_size.masked_fill_(dead, 1.0)
        return n_dead

    # -- quantization -----------------------------------------------------------------
    def quantize_indices(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (n, heads) of latents ``z`` (n, embedding_dim); no state change."""
        return nearest_code_indices(self.prepare(z), self.code_vectors)

    def get_codes_from_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """Concatenated code vectors (n, embedding_dim) for ``indices`` (n, heads)."""
        return self.latent_from_indices(self.code_vectors, indices)

    @staticmethod
    def latent_from_indices(books: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        """The decoder's input (n, embedding_dim) for ``indices`` with codebooks ``books``."""
        return gather_codes(books, indices.long()).reshape(indices.shape[0], -1)

    def stage_distances(self, z: torch.Tensor, indices: torch.Tensor | None = None):
        """Nearest codes (n, heads) and ``|z_h - c|^2`` (n, heads, K) of latents ``z`` (n, embedding_dim).

        The candidates a search tries per head; ``indices`` (the current codes) do not
        change a head's distances here, unlike in the residual quantizer.
        """
        return nearest_code(self.prepare(z), self.code_vectors)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Quantize ``z`` (n, embedding_dim).

        Returns
        -------
        quantized : Tensor (n, embedding_dim)
            Code vectors with straight-through gradients to ``z``.
        indices : LongTensor (n, heads)
        loss : scalar Tensor
            ``|sg(z) - q|^2 + commitment_weight * |z - sg(q)|^2`` (the first term is
            left out with EMA codebooks).
        """
        n = z.shape[0]
        zh = self.prepare(z)
        # lazy data-dependent init
        if self.training and not bool(self.initted):
            self.init_codebook_(z)
        # quantize
        books = self.code_vectors
        with torch.no_grad():
            indices = nearest_code_indices(zh.detach(), books.detach())
        q = gather_codes(books, indices)
        if self.training:
            self._update_usage_(zh.detach(), indices)
            self.expire_codes_(zh.detach())
        # codebook and commitment loss
        loss = self.commitment_weight * F.mse_loss(zh, q.detach())
        if not self.ema_update:
            loss = loss + F.mse_loss(q, zh.detach())
        # straight-through estimator
        quantized = zh + (q - zh).detach()
        return quantized.reshape(n, -1), indices, loss
