"""Ablation (issue 16): a slower encoder (its learning rate scaled), vs the shipped recipe.

The codes of a training row move when the encoder's latent moves; the decoder and the codebooks then
chase assignments that keep changing. With the encoder's peak learning rate scaled by ``--scale`` (the
one-cycle schedule otherwise the same; 0 freezes it after the warm-up's k-means), the assignments settle
sooner and the decoder fits them longer. Prints the plain encoder's R@10 and cosine and ``refine=1``'s
cosine on the sets of ``try_vqvae_skip.py``. It ships nothing.

Example:
    python scripts/try_vqvae_encoder_lr.py --epochs 10 --scale 0.3
"""
from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from try_vqvae_loop import run_ablation  # noqa: E402


@contextmanager
def slower_encoder(scale: float, warmup_epochs: int, steps_per_epoch: int):
    """While open, ``train_vqvae``'s optimiser gives the encoder ``scale`` x the learning rate once quantized."""
    import core.reasoning.vqvae.train as train

    build, adamw, onecycle = train.build_model, torch.optim.AdamW, torch.optim.lr_scheduler.OneCycleLR
    built = []

    def remember(config):
        built.append(build(config))
        return built[-1]

    def grouped_adamw(params, **kw):
        enc = {id(p) for p in built[-1].encoder.parameters()}
        params = list(params)
        return adamw([{"params": [p for p in params if id(p) not in enc]},
                      {"params": [p for p in params if id(p) in enc], "encoder": True}], **kw)

    class ScaledOneCycle(onecycle):
        """The shipped schedule for every group; the encoder's scaled once the warm-up epochs are over."""

        def get_lr(self):
            lrs = super().get_lr()
            quantized = self.last_epoch >= warmup_epochs * steps_per_epoch
            return [lr * (scale if quantized and g.get("encoder") else 1.0)
                    for lr, g in zip(lrs, self.optimizer.param_groups)]

    train.build_model, torch.optim.AdamW, torch.optim.lr_scheduler.OneCycleLR = remember, grouped_adamw, ScaledOneCycle
    try:
        yield
    finally:
        train.build_model, torch.optim.AdamW, torch.optim.lr_scheduler.OneCycleLR = build, adamw, onecycle


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", nargs="+", type=int, default=[10], help="epochs of each run (1 warm-up)")
    ap.add_argument("--scale", nargs="+", type=float, default=[1.0, 0.3], help="encoder LR scales (1: shipped)")
    args = ap.parse_args(argv)
    run_ablation(args.scale, lambda scale, n, config: slower_encoder(scale, 1, -(-n // config["batch_size"])),
                 "scale", "encoder LR scale", args.epochs)


if __name__ == "__main__":
    from core._script import run_main

    run_main(main)
