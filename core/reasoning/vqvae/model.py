"""MonolithV13: the legacy VQ-VAE (deprecated), kept so old checkpoints still load.

Encoder Linear(384,256)-LayerNorm-GELU-Linear(256,384)-LayerNorm, a 4-head product
quantizer over the 384-d latent (4 x 256 codes x 96 dims), decoder
Linear(384,256)-LayerNorm-GELU-Linear(256,384). New work should use
:class:`~core.reasoning.vqvae.model_wiki.MonolithWiki`.
"""
from __future__ import annotations

from pathlib import Path

import torch  # noqa: F401 - the class docstring's example
from torch import nn

from core.reasoning.vqvae.layers import OrthogonalProductQuantizer
from core.reasoning.vqvae.model_wiki import VQVAEBase


class MonolithV13(VQVAEBase):
    """Legacy VQ-VAE 384 -> 256 -> 384-d latent (4 heads of 96) -> 256 -> 384.

    Parameters
    ----------
    input_dim : int, default=384
    hidden_dim : int, default=256
    latent_dim : int or None, default=None
        Defaults to ``input_dim`` as in the original model.
    num_heads : int, default=4
    codebook_size : int, default=256

    Examples
    --------
    >>> model = MonolithV13().eval()
    >>> model(torch.randn(2, 384))[1].shape
    torch.Size([2, 4])
    """

    def __init__(self, input_dim: int = 384, hidden_dim: int = 256, latent_dim: int | None = None,
                 num_heads: int = 4, codebook_size: int = 256):
        super().__init__()
        latent_dim = latent_dim or input_dim
        self.config = dict(input_dim=input_dim, hidden_dim=hidden_dim, latent_dim=latent_dim,
                           num_heads=num_heads, codebook_size=codebook_size)
        self.encoder = nn.Sequential(
            nn.Linear(input_dim, hidden_dim), nn.LayerNorm(hidden_dim), nn.GELU(),
            nn.Linear(hidden_dim, latent_dim), nn.LayerNorm(latent_dim),
        )
        self.quantizer = OrthogonalProductQuantizer(
            num_heads=num_heads, embedding_dim=latent_dim, num_embeddings=codebook_size,
            kmeans_init=False,
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden_dim), nn.LayerNorm(hidden_dim), nn.GELU(),
            nn.Linear(hidden_dim, input_dim),
        )


_LEGACY_KEYS = {"quantizer.inited": "quantizer.initted"}


def load_legacy_state(path: str | Path, expected: dict | None = None) -> dict:
    """Read a legacy ``.pth`` checkpoint without unpickling it (:mod:`._pth` parses the opcodes).

    Accepts a bare state dict or one wrapped as ``{"model_state_dict": ...}``; renames
    the seed's buffer names to the current ones. ``expected`` (name -> shape, a model's
    state dict) is compared with the file's tensors before any is read: a key it lacks
    or a shape of its own is a ``ValueError`` naming the tensor.
    """
    from core.reasoning.vqvae._pth import read_pth_state

    def prepare(state):
        state = _state_dict(path, state)
        if expected is not None:
            _check_expected(path, state, expected)
        return state

    try:
        return read_pth_state(path, prepare)
    except _Refused as exc:
        raise ValueError(str(exc)) from None
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, OSError) as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise ValueError(f"{path} is not a PyTorch checkpoint of plain tensors ({first or type(exc).__name__})") from None


class _Refused(Exception):
    """A readable file that is not the state dict asked for (not "not a PyTorch checkpoint")."""


def _state_dict(path, state) -> dict:
    if isinstance(state, dict) and "model_state_dict" in state:
        state = state["model_state_dict"]
    if not isinstance(state, dict):
        raise _Refused(f"{path} does not hold a state dict (found {type(state).__name__})")
    return {_LEGACY_KEYS.get(k, k): v for k, v in state.items()}


def _check_expected(path, state: dict, expected: dict) -> None:
    """Names and shapes before the copy: the file's tensors were copied out first, whatever their size."""
    unexpected = [k for k in state if k not in expected]
    if unexpected:
        raise _Refused(f"{path} is not a MonolithV13 checkpoint (unexpected {unexpected[:10]})")
    for k, v in state.items():
        if not hasattr(v, "shape"):
            raise _Refused(f"{path} is not a MonolithV13 checkpoint ({k} is a {type(v).__name__}, not a tensor)")
        if tuple(v.shape) != tuple(expected[k]):
            raise _Refused(f"{path} is not a MonolithV13 checkpoint (tensor {k} has shape {tuple(v.shape)}, "
                           f"the model's is {tuple(expected[k])})")
