"""Ablation (issue 16): a decoder that stretches every code swap alike, vs the shipped recipe.

The plain encoder picks each head's nearest code in the latent's Euclidean metric; the search picks the
code whose *decoded* vector is closest. The two agree when the decoder is locally an isometry (up to one
scale): then the nearest code in the latent is the nearest decoded one. This arm adds to the training
loss the variance, over the batch, of ``log(|D(q') - D(q)|^2 / |q' - q|^2)``, where ``q'`` swaps one
random head's code of each row for one of that code's 8 nearest codes (unit-normalised outputs, gradient
to the decoder only). Prints the plain encoder's R@10 and cosine and ``refine=1``'s cosine on the sets
of ``try_vqvae_skip.py``. It ships nothing.

Example:
    python scripts/try_vqvae_isometry.py --epochs 10 --weight 0.1
"""
from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from try_vqvae_loop import run_ablation  # noqa: E402


def stretch_penalty(model, idx: torch.Tensor, generator: torch.Generator, near: int = 8) -> torch.Tensor:
    """Variance over rows of the log stretch of a one-head swap to a nearby code (decoder gradient only)."""
    from core.reasoning.vqvae.layers import gather_codes

    q = model.quantizer
    books = q.code_vectors.detach()  # (heads, K, d)
    n = idx.shape[0]
    neighbours = torch.cdist(books, books).topk(near + 1, largest=False).indices[..., 1:]  # (heads, K, near)
    head = torch.randint(q.num_heads, (n,), generator=generator)
    pick = torch.randint(near, (n,), generator=generator)
    rows = torch.arange(n)
    swapped = idx.clone()
    swapped[rows, head] = neighbours[head, idx[rows, head], pick]
    a, b = gather_codes(books, idx).reshape(n, -1), gather_codes(books, swapped).reshape(n, -1)
    out = F.normalize(model.decoder(torch.cat([a, b])), dim=-1)
    moved = (out[:n] - out[n:]).pow(2).sum(-1)
    apart = (a - b).pow(2).sum(-1)
    keep = apart > 1e-12  # two identical codes in a head have no stretch to speak of
    return (torch.log(moved[keep] + 1e-12) - torch.log(apart[keep])).var()


@contextmanager
def isometric_decoders(weight: float):
    """While open, ``train_vqvae`` adds ``weight * stretch_penalty`` to every quantized step's loss."""
    import core.reasoning.vqvae.train as train
    from core.reasoning.vqvae.loss import LossBreakdown

    build, make_loss = train.build_model, train._loss
    built, generator = [], torch.Generator().manual_seed(1)

    def remember(config):
        model = build(config)
        forward = model.forward

        def forward_keeping_codes(x, quantize=True):
            out = forward(x, quantize)
            model._last_idx = out[1]
            return out

        model.forward = forward_keeping_codes
        built.append(model)
        return model

    def with_penalty(config):
        base = make_loss(config)

        def loss(x, recon, z_e, z_q, books=None):
            terms = base(x, recon, z_e, z_q, books)
            idx = getattr(built[-1], "_last_idx", None)
            if not weight or idx is None or not built[-1].training:
                return terms
            return LossBreakdown(terms.total + weight * stretch_penalty(built[-1], idx, generator), *terms[1:])

        return loss

    train.build_model, train._loss = remember, with_penalty
    try:
        yield
    finally:
        train.build_model, train._loss = build, make_loss


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", nargs="+", type=int, default=[10], help="epochs of each run (1 warm-up)")
    ap.add_argument("--weight", nargs="+", type=float, default=[0.0, 0.1], help="penalty weights (0: shipped)")
    args = ap.parse_args(argv)
    run_ablation(args.weight, lambda w, n, config: isometric_decoders(w), "weight", "stretch weight", args.epochs)


if __name__ == "__main__":
    from core._script import run_main

    run_main(main)
