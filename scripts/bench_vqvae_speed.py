"""Plain-encode speed of VQ-VAE weights side by side, against a torch matmul of the same shapes.

For each model, alternating rounds (so load changes hit every model alike): batch encode
vectors/s over the database vectors, and the median of single-vector encodes. The baseline
is the encoder's two matmuls plus one matmul of the latent with every code of the model
(per head for a product quantizer, the whole latent with every stage's codes for a
residual one): the arithmetic that a nearest-code encoder cannot avoid.

Example:
    python scripts/bench_vqvae_speed.py --sets sets8k.npz \
        heads=core/reasoning/vqvae/weights/monolith_wiki.safetensors rvq=/tmp/rvq.safetensors
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from bench_vqvae import p50_single  # noqa: E402  (scripts/ is the script's own folder)


def matmul_baseline(model):
    """A function doing the model's encode matmuls with random weights (no LayerNorm, no argmin)."""
    import torch

    cfg = model.config
    g = torch.Generator().manual_seed(0)
    W1 = torch.randn(cfg["input_dim"], cfg["hidden_dim"], generator=g)
    W2 = torch.randn(cfg["hidden_dim"], cfg["latent_dim"], generator=g)
    heads, k, lat = cfg["num_heads"], cfg["codebook_size"], cfg["latent_dim"]
    residual = cfg.get("quantizer", "heads") == "residual"
    C = torch.randn(lat if residual else lat // heads, k * heads, generator=g)

    def run(X):
        with torch.inference_mode():
            z = (torch.from_numpy(X) @ W1) @ W2
            if residual:
                return z @ C
            return torch.einsum("nhd,dk->nhk", z.reshape(len(X), heads, lat // heads), C)
    return run


def main(argv=None) -> None:
    import torch

    from core.reasoning.mycelial.wrapper import MycelialVQVAE

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", metavar="LABEL=WEIGHTS")
    ap.add_argument("--sets", required=True, help=".npz of bench_vqvae_budgets.py (its db0 vectors are encoded)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--single", type=int, default=500, help="single-vector encodes per round")
    ap.add_argument("--beam", type=int, default=0, help="also time residual models with encode(X, beam=N)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    with np.load(args.sets) as f:
        X = np.ascontiguousarray(f["db0"], dtype=np.float32)
    runs = {}
    for item in args.models:
        label, _, path = item.partition("=")
        if not path:
            ap.error(f"models are LABEL=WEIGHTS, got {item!r}")
        mvq = MycelialVQVAE.load(path)
        runs[label] = mvq.encode
        runs[f"{label} matmul baseline"] = matmul_baseline(mvq.model)
        if args.beam > 1 and mvq.model.config.get("quantizer") == "residual":
            runs[f"{label} beam {args.beam}"] = lambda X_, m=mvq: m.encode(X_, beam=args.beam)
    results = {name: {"vec_per_s": [], "p50_ms": []} for name in runs}
    for _ in range(args.rounds):
        for name, fn in runs.items():
            fn(X[:100])
            t = time.perf_counter()
            fn(X)
            results[name]["vec_per_s"].append(len(X) / (time.perf_counter() - t))
            results[name]["p50_ms"].append(p50_single(fn, X, args.single) * 1e3)
    load = open("/proc/loadavg").read().split()[:3]
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; 1 thread; {len(X)} vectors; load {load}")
    print("| encoder | batch vectors/s (median of rounds) | p50 1-vector ms (median of rounds) |\n|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {np.median(r['vec_per_s']):,.0f} | {np.median(r['p50_ms']):.3f} |")
    print(json.dumps(results))


if __name__ == "__main__":
    from core._script import run_main

    run_main(main)
