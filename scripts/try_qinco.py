"""Ablation (issue 16): QINCo-style implicit codebooks at 4 bytes, against FAISS RQ and LSQ trained on the same rows.

Neural quantizers beat additive ones in the literature (QINCo, Huijben et al. 2024): residual
quantization whose codewords at step m are produced by a small network from a base codeword and
the reconstruction so far, ``f(c, xhat) = c + Wc c + Wx xhat`` followed by residual MLP blocks.
This is a small version for the CPU (by default one block of width 64), in the input space (no encoder): it
starts from FAISS RQ4x8's codebooks with the network's output layers at zero (so epoch 0 is greedy
RQ), trains the sum over steps of the squared residual with Adam, and encodes greedily: each step
evaluates the network on the ``candidates`` base codewords nearest the residual and keeps the
best, or by beam search over ``--beams`` partial code strings. It ships nothing.

Sets as in ``try_vqvae_skip.py``: 3,500 held-out-document sentences (WikiText-2 and the passage
sets) and 3,500 Brown sentences, 500 queries each; training: every training sentence of WikiText-2
and the passage sets but 2,000 kept for the per-epoch validation figure.

Example:
    python scripts/try_qinco.py --epochs 10 --arms none linear mlp --beams 1 8
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import faiss  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from core.reasoning.vqvae import metrics  # noqa: E402
from try_vqvae_skip import experiment_data  # noqa: E402

CODES, BITS = 4, 8
ARMS = {"none": (False, False), "linear": (True, False), "mlp": (True, True)}  # arm: (conditioned, blocks)


class Step(nn.Module):
    """One residual step: base codewords and the network that conditions them on the reconstruction so far."""

    def __init__(self, C: np.ndarray, hidden: int, blocks: int, conditioned: bool = True):
        super().__init__()
        D = C.shape[1]
        self.conditioned = conditioned
        self.codebook = nn.Parameter(torch.from_numpy(C.copy()))
        self.wc, self.wx = nn.Linear(D, D, bias=False), nn.Linear(D, D)
        self.blocks = nn.ModuleList(nn.Sequential(nn.Linear(D, hidden), nn.ReLU(), nn.Linear(hidden, D, bias=False))
                                    for _ in range(blocks))
        for layer in (self.wc, self.wx, *(b[2] for b in self.blocks)):
            nn.init.zeros_(layer.weight)  # the step starts as its plain RQ codebook
        nn.init.zeros_(self.wx.bias)

    def words(self, idx, xhat):
        """Codewords (B, A, D) of base indices ``idx`` (B, A) given reconstructions ``xhat`` (B, D)."""
        c = self.codebook[idx]
        z = c + self.wc(c) + self.wx(xhat)[:, None, :] if self.conditioned else c
        for b in self.blocks:
            z = z + b(z)
        return z

    def nearest_base(self, r, A: int):
        """The ``A`` base codewords nearest each residual row: the candidates the network is run on."""
        d = (self.codebook ** 2).sum(1)[None] - 2 * r @ self.codebook.T
        return d.topk(A, dim=1, largest=False).indices


class QINCo(nn.Module):
    def __init__(self, codebooks: np.ndarray, hidden: int = 256, blocks: int = 2, conditioned: bool = True):
        super().__init__()
        self.steps = nn.ModuleList(Step(C, hidden, blocks, conditioned) for C in codebooks)

    def encode(self, x, A: int, beams: int = 1):
        """Codes (B, steps): beam search keeping ``beams`` partial strings, each extended by ``A`` candidates."""
        B, D = x.shape
        xhat, codes = torch.zeros(B, 1, D), torch.zeros(B, 1, 0, dtype=torch.long)
        rows = torch.arange(B)[:, None]
        for step in self.steps:
            width = xhat.shape[1]
            r, xh = (x[:, None, :] - xhat).reshape(-1, D), xhat.reshape(-1, D)
            cand = step.nearest_base(r, A)
            words = step.words(cand, xh)
            err = ((words - r[:, None, :]) ** 2).sum(-1).reshape(B, width * A)
            best = err.topk(min(beams, width * A), dim=1, largest=False).indices
            parent, j = best // A, best % A
            cand, words = cand.reshape(B, width, A), words.reshape(B, width, A, D)
            xhat = xhat[rows, parent] + words[rows, parent, j]
            codes = torch.cat([codes[rows, parent], cand[rows, parent, j][..., None]], 2)
        return codes[:, 0]

    def decode(self, codes):
        """Reconstructions of the first ``codes.shape[1]`` steps' codes."""
        xhat = torch.zeros(codes.shape[0], self.steps[0].codebook.shape[1])
        for m in range(codes.shape[1]):
            xhat = xhat + self.steps[m].words(codes[:, m:m + 1], xhat)[:, 0]
        return xhat

    def loss(self, x, A: int):
        """Sum over steps of the squared residual; the greedy codes are chosen without gradient."""
        with torch.no_grad():
            codes = self.encode(x, A)
        xhat, total = torch.zeros_like(x), 0
        for m, step in enumerate(self.steps):
            xhat = xhat + step.words(codes[:, m:m + 1], xhat)[:, 0]
            total = total + ((x - xhat) ** 2).sum(1).mean()
        return total, codes


def quality(X: np.ndarray, R: np.ndarray, n_queries: int = 500) -> dict:
    """R@10 of cosine search over the decoded database and its reconstruction cosine."""
    Q, DB = X[:n_queries], X[n_queries:]
    found = metrics.search_quality(metrics.cosine_knn(Q, DB, 100), metrics.cosine_knn(Q, R, 100))
    return {"R@10": round(found["R@10"], 3), "cos": round(metrics.mean_cosine(DB, R), 4)}


def faiss_rows(X_train, sets) -> tuple[list, np.ndarray]:
    """RQ4x8 and LSQ4x8 trained on ``X_train`` (rows of the table) and RQ's codebooks (QINCo's start)."""
    rows, codebooks = [], None
    for name, q in (("FAISS RQ4x8", faiss.ResidualQuantizer(X_train.shape[1], CODES, BITS)),
                    ("FAISS LSQ4x8", faiss.LocalSearchQuantizer(X_train.shape[1], CODES, BITS))):
        t = time.time()
        q.train(X_train)
        row = {"method": name, "train_s": round(time.time() - t)}
        for key, X in sets.items():
            row[key] = quality(X, q.decode(q.compute_codes(X[500:])))
        rows.append(row)
        print(json.dumps(row), flush=True)
        if codebooks is None:
            codebooks = faiss.vector_to_array(q.codebooks).reshape(CODES, 2 ** BITS, -1)
    return rows, codebooks


def restart_dead(model, X, counts, A: int, rng) -> int:
    """Codes no training row picked this epoch restart at the residual of a random training row."""
    dead = 0
    with torch.no_grad():
        for m, step in enumerate(model.steps):
            idx = (counts[m] == 0).nonzero()[:, 0]
            if len(idx):
                dead += len(idx)
                xs = X[torch.from_numpy(rng.choice(len(X), len(idx), replace=False))]
                xhat = model.decode(model.encode(xs, A)[:, :m])
                step.codebook[idx] = xs - xhat
    return dead


def train(model, X_train, X_val, epochs: int, A: int, lr: float = 1e-3, batch: int = 256) -> None:
    """Adam, one-cycle LR; the per-epoch validation cosine is printed."""
    X, rng = torch.from_numpy(X_train), np.random.default_rng(0)
    n_batches = len(X) // batch
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * n_batches, pct_start=0.05)
    for epoch in range(epochs):
        t, perm, total = time.time(), torch.from_numpy(rng.permutation(len(X))), 0.0
        counts = torch.zeros(len(model.steps), 2 ** BITS, dtype=torch.long)
        for b in range(n_batches):
            loss, codes = model.loss(X[perm[b * batch:(b + 1) * batch]], A)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
            for m in range(codes.shape[1]):
                counts[m] += torch.bincount(codes[:, m], minlength=2 ** BITS)
        dead = restart_dead(model, X, counts, A, rng)
        with torch.no_grad():
            R = model.decode(model.encode(torch.from_numpy(X_val), A)).numpy()
        print(f"epoch {epoch + 1}: loss {total / n_batches:.4f}, validation cosine {metrics.mean_cosine(X_val, R):.4f}, "
              f"{dead} dead codes restarted, {time.time() - t:.0f} s", flush=True)


def encode_speed(model, X, A: int) -> dict:
    """Single-vector p50 (ms) and batch vectors/s of the greedy encode."""
    with torch.no_grad():
        one = torch.from_numpy(X[:1])
        times = []
        for _ in range(200):
            t = time.perf_counter()
            model.encode(one, A)
            times.append(time.perf_counter() - t)
        t = time.perf_counter()
        model.encode(torch.from_numpy(X), A)
        return {"p50_ms": round(1000 * float(np.median(times)), 2), "vectors_s": round(len(X) / (time.perf_counter() - t))}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--hidden", type=int, default=64, help="width of each residual block")
    ap.add_argument("--blocks", type=int, default=1, help="residual blocks of each step's network")
    ap.add_argument("--candidates", type=int, default=8, help="base codewords the network is run on, a step")
    ap.add_argument("--beams", type=int, nargs="+", default=[1, 8], help="beam widths of the encodes scored")
    ap.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS),
                    help="none: the RQ codebooks trained by gradient, unconditioned; linear: + Wc c + Wx xhat; "
                         "mlp: + the residual blocks")
    args = ap.parse_args(argv)

    faiss.omp_set_num_threads(1)
    _, docs, brown, X_train, X_val = experiment_data()
    sets = {"docs": docs, "brown": brown}
    rows, codebooks = faiss_rows(X_train, sets)
    for arm in args.arms:
        conditioned, blocks = ARMS[arm]
        model = QINCo(codebooks, args.hidden, args.blocks if blocks else 0, conditioned)
        t = time.time()
        train(model, X_train, X_val, args.epochs, args.candidates)
        train_s = round(time.time() - t)
        model.eval()
        for beams in args.beams:
            t = time.time()
            with torch.no_grad():
                row = {"method": f"{arm}, {args.epochs} epochs, beam {beams}", "train_s": train_s,
                       **{key: quality(X, model.decode(model.encode(torch.from_numpy(X[500:]), args.candidates,
                                                                    beams)).numpy())
                          for key, X in sets.items()}}
            row["vectors_s"] = round(2 * (len(docs) - 500) / (time.time() - t))
            if beams == 1:
                row.update(encode_speed(model, docs, args.candidates))
            rows.append(row)
            print(json.dumps(row), flush=True)
    print("\n| method | documents R@10 / cos | Brown R@10 / cos | train s | encode vectors/s |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['docs']['R@10']:.3f} / {r['docs']['cos']:.4f} "
              f"| {r['brown']['R@10']:.3f} / {r['brown']['cos']:.4f} | {r['train_s']} | {r.get('vectors_s', '')} |")


if __name__ == "__main__":
    from core._script import run_main

    run_main(main)
