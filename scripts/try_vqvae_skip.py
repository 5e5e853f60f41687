"""Ablation (issue 16): a decoder with a linear skip path, ``x = MLP(q) + A q``, vs the shipped decoder.

FAISS LSQ decodes by a sum of codewords, a linear map of the codes, and loses less cosine than our
MLP decoder on a source neither saw (Brown). This script trains, in one run and on the same
training sentences, the shipped recipe (no refit stage) with the shipped decoder and with a
zero-initialised linear path from the quantized latent added to its output, then prints the plain
encoder's R@10 and reconstruction cosine on held-out documents and on Brown. It ships nothing.

Sets: 3,500 held-out-document sentences of WikiText-2 and the passage sets and 3,500 Brown
sentences (500 queries and 3,000 database each), torch embeddings; training: every training
sentence of WikiText-2 and the passage sets but 2,000 kept for the per-epoch validation figure.

Example:
    python scripts/try_vqvae_skip.py --epochs 10 40
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402


class SkipDecoder(nn.Module):
    """``mlp(q) + lin(q)``; the linear path starts at zero, so training starts from the shipped decoder's form."""

    def __init__(self, mlp: nn.Module, latent_dim: int, out_dim: int):
        super().__init__()
        self.mlp = mlp
        self.lin = nn.Linear(latent_dim, out_dim, bias=False)
        nn.init.zeros_(self.lin.weight)

    def forward(self, q):
        return self.mlp(q) + self.lin(q)


@contextmanager
def skip_decoders():
    """While open, the models ``train_vqvae`` builds get a :class:`SkipDecoder` (it builds its own model)."""
    import core.reasoning.vqvae.train as train

    build = train.build_model

    def with_skip(config):
        model = build(config)
        model.decoder = SkipDecoder(model.decoder, config.latent_dim, config.input_dim)
        return model

    train.build_model = with_skip
    try:
        yield
    finally:
        train.build_model = build


def eval_sets(emb, n: int = 3500):
    """(held-out documents, Brown, training sentences) drawn as the README's run drew them."""
    from core.datasets import split_sentences_by_document

    train_s, held_s, _ = split_sentences_by_document(["wikitext", "passages"])
    brown_tr, brown_held, _ = split_sentences_by_document(["brown"])
    rng = np.random.default_rng(0)

    def pick(sentences, k):
        return [sentences[i] for i in rng.permutation(len(sentences))[:k]]

    pick(train_s, 4000)  # the draw the run made first (its Gauss-Newton sample), so the sets are the same
    docs, brown = pick(held_s, n), pick(brown_tr + brown_held, n)
    return emb.embed(docs), emb.embed(brown), train_s


def experiment_data():
    """(shipped training config, documents set, Brown set, training rows, validation rows), one thread set.

    The training sentences of WikiText-2 and the passage sets, 2,000 of them kept for the per-epoch
    validation figure, embedded by torch (the vectors the shipped models were trained on)."""
    from core.config import PROJECT_ROOT
    from core.embedding import TextEmbedder

    torch.set_num_threads(1)
    card = json.loads((PROJECT_ROOT / "core/reasoning/vqvae/weights/monolith_wiki.json").read_text())
    emb = TextEmbedder(backend="torch")
    docs, brown, train_s = eval_sets(emb)
    X = emb.embed(train_s).astype(np.float32)
    perm = np.random.default_rng(0).permutation(len(X))
    return card["train_config"], docs, brown, X[perm[2000:]], X[perm[:2000]]


def scores(model, X: np.ndarray, n_queries: int = 500) -> dict:
    """Plain-encode R@10 and reconstruction cosine: queries are exact, the database decoded."""
    from core.reasoning.vqvae import metrics

    Q, DB = X[:n_queries], X[n_queries:]
    with torch.no_grad():
        R = model.decode_indices(model._encode_indices(torch.from_numpy(DB))).numpy()
    quality = metrics.search_quality(metrics.cosine_knn(Q, DB, 100), metrics.cosine_knn(Q, R, 100))
    return {"R@10": round(quality["R@10"], 3), "cos": round(metrics.mean_cosine(DB, R), 4)}


def main(argv=None) -> None:
    from core.reasoning.vqvae import train_vqvae

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", nargs="+", type=int, default=[10], help="epochs of each pair of arms (1 warm-up)")
    args = ap.parse_args(argv)

    shipped, docs, brown, X_train, X_val = experiment_data()
    print(f"{len(X_train)} training sentences; sets of {len(docs)} (documents) and {len(brown)} (Brown)", flush=True)
    rows = []
    for epochs in args.epochs:
        config = {**shipped, "epochs": epochs, "warmup_epochs": 1, "refit_epochs": 0}
        for arm in ("shipped decoder", "+ linear skip"):
            t = time.time()
            if arm == "shipped decoder":
                model, _ = train_vqvae(X_train, config, X_val=X_val, progress=False)
            else:
                with skip_decoders():
                    model, _ = train_vqvae(X_train, config, X_val=X_val, progress=False)
            model.eval()
            rows.append({"epochs": epochs, "arm": arm, "docs": scores(model, docs), "brown": scores(model, brown),
                         "train_s": round(time.time() - t)})
            print(json.dumps(rows[-1]), flush=True)
    print("\n| epochs | decoder | documents R@10 / cos | Brown R@10 / cos | train s |\n|---|---|---|---|---|")
    for r in rows:
        d, b = r["docs"], r["brown"]
        print(f"| {r['epochs']} | {r['arm']} | {d['R@10']:.3f} / {d['cos']:.4f} | {b['R@10']:.3f} / {b['cos']:.4f} "
              f"| {r['train_s']} |")


if __name__ == "__main__":
    from core._script import run_main

    run_main(main)
