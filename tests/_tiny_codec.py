"""A codec small enough for fast CLI tests: a real 2-head, 4-code model."""
from __future__ import annotations


def tiny_weights(path):
    """A 2-head, 4-code MonolithWiki saved at ``path`` (a .safetensors file or a folder); loads in milliseconds."""
    import torch

    from core.reasoning.mycelial import MycelialVQVAE
    from core.reasoning.vqvae.model_wiki import MonolithWiki

    torch.manual_seed(0)
    model = MonolithWiki(hidden_dim=16, latent_dim=8, num_heads=2, codebook_size=4, kmeans_init=False)
    return MycelialVQVAE(model.eval()).save(path)
