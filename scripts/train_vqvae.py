"""Train the shipped MonolithWiki on embeddings of the real shared corpora, write weights + card.

Whole documents are held out (``core.datasets.is_held_out``) for the card's figures.

Example:
    python scripts/train_vqvae.py --config core/reasoning/vqvae/weights/monolith_wiki.json  # the shipped recipe
    python scripts/train_vqvae.py --config my.json --out /tmp/vq --sources wikitext
    python scripts/train_vqvae.py --init base/monolith_wiki.safetensors --config my.json  # refit stage only
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402


def evaluate(mvq, X_held: np.ndarray, n_queries: int = 1000, n_database: int = 20000) -> dict:
    """Card figures on held-out embeddings: reconstruction, code usage, search quality."""
    from core.reasoning.vqvae import metrics

    codes = mvq.encode(X_held)
    R = mvq.decode(codes)
    out = metrics.code_metrics(X_held, R, codes, mvq.codebook_size)
    q, db = metrics.query_database_split(X_held.shape[0], n_queries, n_database)
    true = metrics.cosine_knn(X_held[q], X_held[db], 100)
    found = metrics.cosine_knn(X_held[q], R[db], 100)
    out["search"] = {"n_queries": int(q.size), "n_database": int(db.size),
                     **{k: round(v, 4) for k, v in metrics.search_quality(true, found).items()}}
    return out


def _cached(emb, sentences: list[str]) -> list[str]:
    """The sentences whose embedding the cache already holds, in order."""
    from core.embedding import EmbeddingCache

    cache = emb._cache
    if cache is None:
        raise ValueError("--cached-only needs the embedding cache (it is disabled)")
    found = cache.get(emb.cache_model, [EmbeddingCache.key(t) for t in sentences], 384)
    return [t for t in sentences if EmbeddingCache.key(t) in found]


def main(argv=None) -> None:
    from core.config import PROJECT_ROOT
    from core.datasets import SOURCES, split_sentences_by_document
    from core.embedding import TextEmbedder
    from core.reasoning.mycelial.wrapper import MycelialVQVAE, read_card
    from core.reasoning.vqvae import TrainConfig, refit_vqvae, train_vqvae
    from core.reasoning.vqvae.metrics import model_size

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", help="TrainConfig JSON, or a weights card such as the shipped "
                    "core/reasoning/vqvae/weights/monolith_wiki.json (default: the built-in defaults)")
    ap.add_argument("--out", default=str(PROJECT_ROOT / "core/reasoning/vqvae/weights"),
                    help="output folder for monolith_wiki.safetensors + .json")
    ap.add_argument("--name", default="monolith_wiki", help="file stem of weights and card")
    ap.add_argument("--sources", nargs="+", default=["wikitext", "passages"], choices=sorted(SOURCES),
                    help="corpora to train on (default: the Wikipedia-domain ones the shipped weights saw); "
                         "2wikimultihopqa is a subset of 'passages'")
    ap.add_argument("--max-per-doc", type=int, default=None, help="first N sentences of each document")
    ap.add_argument("--held-out", type=float, default=0.15, help="fraction of documents held out")
    ap.add_argument("--dtype", default="float16", choices=["float16", "float32"])
    ap.add_argument("--init", help="weights to start from: run only the refit stage (refit_epochs > 0) on "
                    "them; their card's history and training time carry over")
    ap.add_argument("--cached-only", action="store_true",
                    help="keep only sentences already in the embedding cache (a short run on a busy "
                         "machine: no MiniLM forward passes; the card records the counts)")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="override config fields, e.g. --set epochs=30 seed=1")
    args = ap.parse_args(argv)

    cfg = json.loads(Path(args.config).read_text()) if args.config else {}
    cfg = cfg.get("train_config", cfg)  # a weights card holds the config that trained it
    for item in args.set:
        key, _, value = item.partition("=")
        cfg[key] = json.loads(value) if value[:1] in "0123456789-.tf[{\"" else value
    config = TrainConfig.from_dict(cfg)

    train_s, held_s, n_docs = split_sentences_by_document(args.sources, args.held_out, args.max_per_doc)
    print(f"{n_docs} documents: {len(train_s)} training / {len(held_s)} held-out sentences", flush=True)
    emb = TextEmbedder()
    if args.cached_only:
        train_s, held_s = _cached(emb, train_s), _cached(emb, held_s)
        print(f"cached only: {len(train_s)} training / {len(held_s)} held-out sentences", flush=True)
    X_train, X_held = emb.embed(train_s, show_progress=True), emb.embed(held_s, show_progress=True)
    n_val = min(5000, X_held.shape[0] // 2)
    val_rows = np.random.default_rng(config.seed + 1).permutation(X_held.shape[0])[:n_val]

    t0 = time.time()
    if args.init:
        model, history = refit_vqvae(MycelialVQVAE.load(args.init).model, X_train, config, X_held[val_rows])
        try:
            base = read_card(args.init)
        except FileNotFoundError:
            base = {}
        history = base.get("history", []) + history
        seconds = base.get("training_seconds", 0.0) + time.time() - t0
    else:
        model, history = train_vqvae(X_train, config, X_held[val_rows])
        seconds = time.time() - t0

    out = Path(args.out)
    mvq = MycelialVQVAE(model)
    path = mvq.save(out / f"{args.name}.safetensors", dtype=args.dtype)
    mvq = MycelialVQVAE.load(path)  # score exactly what ships (after float16 rounding)
    card = {
        "data": {"sources": args.sources, "documents": n_docs, "train_sentences": len(train_s),
                 "held_out_sentences": len(held_s), "held_out_fraction": args.held_out,
                 "split": "whole documents, core.datasets.is_held_out",
                 "embedder": emb.model, "max_per_doc": args.max_per_doc,
                 "cached_only": args.cached_only},
        "train_config": config.to_dict(),
        "training_seconds": round(seconds, 1),
        "storage_dtype": args.dtype,
        "size": {**model_size(mvq.model), "file_bytes": path.stat().st_size},
        "held_out": evaluate(mvq, X_held),
        "history": history,
    }
    mvq.save(path, card=card, dtype=args.dtype)
    print(json.dumps({k: card[k] for k in ("held_out", "size", "training_seconds")}, indent=2))


if __name__ == "__main__":
    main()
