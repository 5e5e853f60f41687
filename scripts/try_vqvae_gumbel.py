"""Ablation (issue 16): code choice trained UNQ-style by hard Gumbel-softmax vs the shipped VQ recipe.

Unsupervised Neural Quantization (Morozov & Babenko 2019) trains the code choice itself: logits
``-s_h * ||z_h - c||^2``, a hard Gumbel-softmax sample in the forward pass, the soft relaxation's
gradient in the backward pass, so every code of a head gets a gradient and the decoder learns from
the encoder's own (noisy) choices. Inference is unchanged (nearest code, ``encode(X)``). This
script trains, in one run and on the same cached training sentences, the shipped recipe and the
Gumbel variant with the same architecture and number of epochs, and prints the plain encoder's
reconstruction cosine on the held-out documents. It ships nothing.

Example:
    python scripts/try_vqvae_gumbel.py --epochs 10 --noise 1 0.3 0
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def recon_loss(rec, x):
    """The shipped recipe's reconstruction terms: MSE + (1 - cosine)."""
    import torch.nn.functional as F

    return F.mse_loss(rec, x) + (1 - F.cosine_similarity(rec, x, dim=-1)).mean()


def plain_cosine(model, X) -> float:
    """Mean cosine of ``X`` to the decoding of its plain (nearest-code) encoding."""
    import torch
    import torch.nn.functional as F

    model.eval()
    with torch.no_grad():
        return float(F.cosine_similarity(model.decode_indices(model.encode_indices(X)), X, dim=-1).mean())


def train_gumbel(X, model_config: dict, epochs: int, noise: float, lr: float = 2e-3, batch: int = 256,
                 seed: int = 0):
    """A MonolithWiki trained with hard Gumbel-softmax code choice; one warm-up epoch, one-cycle LR.

    ``noise`` scales the Gumbel noise (0: straight-through softmax without sampling).
    """
    import torch

    from core.reasoning.vqvae.layers import nearest_code
    from core.reasoning.vqvae.model_wiki import MonolithWiki

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = MonolithWiki(**model_config)
    q, n = model.quantizer, X.shape[0]
    q.ema_update = False  # the codebooks learn by gradient through the relaxation
    log_scale = torch.nn.Parameter(torch.zeros(q.num_heads))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    opt_scale = torch.optim.Adam([log_scale], lr=0.01)
    steps = (epochs + 1) * ((n + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    for epoch in range(epochs + 1):
        model.train()
        perm = torch.randperm(n, generator=gen)
        if epoch == 1:  # after the warm-up: k-means codebooks and a logit scale of ~1 per code gap
            with torch.no_grad():
                model.eval()
                z = torch.cat([q.prepare(model.encoder(X[s:s + 4096])) for s in range(0, n, 4096)])
                q.init_codebook_(z.reshape(n, -1))
                gaps = nearest_code(z[:4096], q.code_vectors)[1].topk(2, dim=-1, largest=False).values
                log_scale.copy_((1.0 / (gaps[..., 1] - gaps[..., 0]).median(0).values).log())
                model.train()
        for s in range(0, n, batch):
            xb = X[perm[s:s + batch]]
            zh = q.prepare(model.encoder(xb))
            if epoch == 0:
                rec = model.decoder(zh.reshape(len(xb), -1))
            else:
                books = q.code_vectors
                logits = -nearest_code(zh, books)[1] * log_scale.exp()[None, :, None]
                soft = (logits - noise * torch.empty_like(logits).exponential_().log()).softmax(-1)
                hard = torch.zeros_like(soft).scatter_(-1, soft.argmax(-1, keepdim=True), 1.0)
                choice = hard - soft.detach() + soft
                rec = model.decoder(torch.einsum("nhk,hkd->nhd", choice, books).reshape(len(xb), -1))
            loss = recon_loss(rec, xb)
            opt.zero_grad(set_to_none=True)
            opt_scale.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if epoch:
                opt_scale.step()
            sched.step()
    q.ema_update = True
    return model.eval()


def main(argv=None) -> None:
    import numpy as np
    import torch

    from core.config import PROJECT_ROOT
    from core.datasets import split_sentences_by_document
    from core.embedding import TextEmbedder
    from core.reasoning.vqvae import TrainConfig, train_vqvae
    from core.reasoning.vqvae.data import cached_rows

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=10, help="quantized epochs of every arm (after 1 warm-up epoch)")
    ap.add_argument("--noise", nargs="+", type=float, default=[1.0, 0.3, 0.0], help="Gumbel noise scales to try")
    ap.add_argument("--max-train", type=int, default=None, help="random subset of the training sentences")
    args = ap.parse_args(argv)

    torch.set_num_threads(1)
    card = json.loads((PROJECT_ROOT / "core/reasoning/vqvae/weights/monolith_wiki.json").read_text())
    train_s, held_s, _ = split_sentences_by_document(["wikitext", "passages"], 0.15, None)
    emb = TextEmbedder(backend="torch")  # the vectors the shipped models were trained on (cached)
    X_train, X_held = cached_rows(emb, train_s)[1], cached_rows(emb, held_s)[1]
    if args.max_train and len(X_train) > args.max_train:
        X_train = X_train[np.sort(np.random.default_rng(0).permutation(len(X_train))[:args.max_train])]
    X, Xh = torch.from_numpy(X_train), torch.from_numpy(X_held)
    print(f"{len(X_train)} training / {len(X_held)} held-out-document sentences (cached torch vectors), "
          f"{args.epochs} quantized epochs per arm", flush=True)
    rows = []
    t = time.time()
    config = TrainConfig.from_dict({**card["train_config"], "epochs": args.epochs + 1, "warmup_epochs": 1,
                                    "refit_epochs": 0})
    model, _ = train_vqvae(X_train, config, progress=False)
    rows.append(("shipped recipe (EMA codebooks, straight-through to z)", plain_cosine(model, Xh), time.time() - t))
    print(f"{rows[-1][0]}: {rows[-1][1]:.4f}", flush=True)
    for noise in args.noise:
        t = time.time()
        model = train_gumbel(X, card["model_config"], args.epochs, noise)
        rows.append((f"hard Gumbel-softmax, noise {noise:g}", plain_cosine(model, Xh), time.time() - t))
        print(f"{rows[-1][0]}: {rows[-1][1]:.4f}", flush=True)
    print("\n| arm | held-out plain cosine | train s |\n|---|---|---|")
    for name, cos, sec in rows:
        print(f"| {name} | {cos:.4f} | {sec:.0f} |")


if __name__ == "__main__":
    from core._script import run_main

    run_main(main)
