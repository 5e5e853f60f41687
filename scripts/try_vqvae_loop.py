"""Ablation (issue 16): the code search inside the training loop, vs the shipped recipe.

The plain encoder picks each head's nearest code; one ICM sweep against the decoder (``refine=1``) finds
better ones. Here every training batch's codes are re-picked by that sweep (eval mode, ``--candidates``
per head) before the step: the decoder trains on the searched codes, the EMA codebooks follow the searched
assignments, and the commitment pulls the encoder's latent towards the searched codes, so that the nearest
code might learn to be the searched one. Prints the plain encoder's R@10 and cosine and the cosine of
``refine=1`` on held-out documents and on Brown (the sets of ``try_vqvae_skip.py``). It ships nothing.

Example:
    python scripts/try_vqvae_loop.py --epochs 10 40 --candidates 4
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from try_vqvae_skip import experiment_data, scores  # noqa: E402


def searched_forward(model, candidates: int):
    """``model.forward`` with the batch's codes re-picked by one ICM sweep in eval mode."""
    from core.reasoning.vqvae.layers import gather_codes

    q = model.quantizer

    def forward(x, quantize=True):
        z_e = q.prepare(model.encoder(x)).reshape(x.shape[0], -1)
        if not quantize:
            return model.decoder(z_e), None, z_e, z_e
        with torch.no_grad():
            training = model.training
            model.eval()
            idx = model.refine_indices(x, sweeps=1, candidates=candidates)
            model.train(training)
        zh = z_e.reshape(x.shape[0], q.num_heads, q.head_dim)
        if model.training:
            q._update_usage_(zh.detach(), idx)
            q.expire_codes_(zh.detach())
        codes = gather_codes(q.code_vectors, idx)
        quantized = (zh + (codes - zh).detach()).reshape(x.shape[0], -1)  # straight through to the encoder
        return model.decoder(quantized), idx, z_e, codes.reshape(x.shape[0], -1)

    return forward


@contextmanager
def search_in_the_loop(candidates: int):
    """While open, the models ``train_vqvae`` builds train on searched codes (it builds its own model)."""
    import core.reasoning.vqvae.train as train

    build = train.build_model

    def searched(config):
        model = build(config)
        model.forward = searched_forward(model, candidates)
        return model

    train.build_model = searched
    try:
        yield
    finally:
        train.build_model = build


def refined_cosine(model, X: np.ndarray, n_queries: int = 500) -> float:
    from core.reasoning.vqvae import metrics

    DB = X[n_queries:]
    with torch.no_grad():
        R = model.decode_indices(model.refine_indices(torch.from_numpy(DB), sweeps=1, candidates=16)).numpy()
    return round(metrics.mean_cosine(DB, R), 4)


def main(argv=None) -> None:
    from core.reasoning.vqvae import train_vqvae

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", nargs="+", type=int, default=[10], help="epochs of each pair of arms (1 warm-up)")
    ap.add_argument("--candidates", type=int, default=4, help="ICM candidates per head in the training loop")
    args = ap.parse_args(argv)

    shipped, docs, brown, X_train, X_val = experiment_data()
    rows = []
    for epochs in args.epochs:
        config = {**shipped, "epochs": epochs, "warmup_epochs": 1, "refit_epochs": 0}
        for arm in ("shipped recipe", f"search in the loop ({args.candidates})"):
            t = time.time()
            if arm == "shipped recipe":
                model, _ = train_vqvae(X_train, config, X_val=X_val, progress=False)
            else:
                with search_in_the_loop(args.candidates):
                    model, _ = train_vqvae(X_train, config, X_val=X_val, progress=False)
            rows.append(measured(model, docs, brown, epochs=epochs, arm=arm, train_s=round(time.time() - t)))
    print_table(rows, "arm", "training")


def run_ablation(values, arm, label: str, heading: str, epochs_list) -> list:
    """Train the shipped recipe (no refit) once per epochs x value inside ``arm(value, n_train, config)`` (a
    context manager), measure each model and print the table; the rows are returned."""
    from core.reasoning.vqvae import train_vqvae

    shipped, docs, brown, X_train, X_val = experiment_data()
    rows = []
    for epochs in epochs_list:
        config = {**shipped, "epochs": epochs, "warmup_epochs": 1, "refit_epochs": 0}
        for value in values:
            t = time.time()
            with arm(value, len(X_train), config):
                model, _ = train_vqvae(X_train, config, X_val=X_val, progress=False)
            rows.append(measured(model, docs, brown, epochs=epochs, **{label: value},
                                 train_s=round(time.time() - t)))
    print_table(rows, label, heading)
    return rows


def measured(model, docs, brown, **labels) -> dict:
    """One row of an ablation: ``labels``, then plain R@10 / cosine and ``refine=1``'s cosine on both sets (printed)."""
    model.eval()
    row = {**labels, "docs": scores(model, docs), "brown": scores(model, brown),
           "refined": [refined_cosine(model, docs), refined_cosine(model, brown)]}
    print(json.dumps(row), flush=True)
    return row


def print_table(rows: list, label: str, heading: str) -> None:
    """The rows of :func:`measured` as the README's table, ``label`` the column that tells the arms apart."""
    print(f"\n| epochs | {heading} | documents R@10 / cos / refine=1 cos | Brown R@10 / cos / refine=1 cos | train s |"
          "\n|---|---|---|---|---|")
    for r in rows:
        d, b, (rd, rb) = r["docs"], r["brown"], r["refined"]
        print(f"| {r['epochs']} | {r[label]} | {d['R@10']:.3f} / {d['cos']:.4f} / {rd:.4f} "
              f"| {b['R@10']:.3f} / {b['cos']:.4f} / {rb:.4f} | {r['train_s']} |")


if __name__ == "__main__":
    from core._script import run_main

    run_main(main)
