"""A codec small enough for fast CLI tests: a 2-head, 4-code model and a stand-in for the sentence model."""
from __future__ import annotations

import zlib

import numpy as np


def tiny_weights(path):
    """A 2-head, 4-code MonolithWiki saved at ``path`` (a .safetensors file or a folder); loads in milliseconds."""
    import torch

    from core.reasoning.mycelial import MycelialVQVAE
    from core.reasoning.vqvae.model_wiki import MonolithWiki

    torch.manual_seed(0)
    model = MonolithWiki(hidden_dim=16, latent_dim=8, num_heads=2, codebook_size=4, kmeans_init=False)
    return MycelialVQVAE(model.eval()).save(path)


class HashEmbedder:
    """Stands in for TextEmbedder (seconds to load): a unit vector per text, the same for the same text."""

    def __init__(self, *args, **kwargs):
        self.texts: list[str] = []

    def embed(self, texts, **_):
        self.texts += list(texts)
        rows = [np.random.default_rng(zlib.crc32(t.encode("utf-8"))).standard_normal(384) for t in texts]
        X = np.asarray(rows, np.float32).reshape(-1, 384)
        return X / np.linalg.norm(X, axis=1, keepdims=True)
