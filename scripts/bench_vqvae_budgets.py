"""The shipped VQ-VAEs at 4, 8 and 16 bytes against FAISS PQ/OPQ/RQ/LSQ at the same budgets.

A smaller variant of ``bench_vqvae.py`` for a busy machine: only sentences already in the
embedding cache are used (no MiniLM forward passes). FAISS trains, in the same run, on the
cached training split of WikiText + passages (the data the 8/16-byte models saw). Two
evaluation sets: held-out documents of those sources, and Brown, a whole source that no
model trained on. Ground truth: exact cosine top-100 over the original embeddings.

Example:
    python scripts/bench_vqvae_budgets.py --bytes 8 16 --out /tmp/budgets.md
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402


def cached_embeddings(emb, sentences: list[str]) -> np.ndarray:
    """Embeddings of the sentences the cache holds (the others are dropped)."""
    from core.embedding import EmbeddingCache

    keys = [EmbeddingCache.key(t) for t in sentences]
    found = emb._cache.get(emb.cache_model, keys, 384)
    rows = [found[k] for k in dict.fromkeys(keys) if k in found]
    return np.stack(rows).astype(np.float32)


def main(argv=None) -> None:
    import faiss
    import torch

    from core.datasets import split_sentences_by_document
    from core.embedding import TextEmbedder
    from core.reasoning.mycelial.wrapper import MycelialVQVAE
    from core.compression.codecs import faiss_quantizers
    from core.reasoning.vqvae import metrics
    from core._io import atomic_write_text

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bytes", nargs="+", type=int, default=[4, 8, 16], choices=[4, 8, 16])
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--max-train", type=int, default=20000, help="cap on FAISS training vectors")
    ap.add_argument("--skip", nargs="*", default=[], help="method names to leave out")
    ap.add_argument("--part", default="all", choices=["all", "faiss", "ours"],
                    help="run only the FAISS rows or only ours (e.g. FAISS at low priority while ours train)")
    ap.add_argument("--rows", help="JSON file of rows: rows of an earlier --part are read from it and "
                                   "included in the table; this run's rows are added to it")
    ap.add_argument("--sets", help=".npz of the evaluation sets: written on the first run, read on later ones, "
                                   "so runs compare on the same vectors even when the shared cache changes")
    ap.add_argument("--model", nargs="*", default=[], metavar="LABEL=WEIGHTS",
                    help="more MonolithWiki weights to score beside the shipped ones (budget = their heads), "
                         "e.g. new8=/tmp/vq/monolith_wiki_8b.safetensors")
    ap.add_argument("--refine", nargs="*", type=int, default=[], metavar="SWEEPS",
                    help="also score our models with encode(X, refine=SWEEPS) (beside the plain encoder)")
    ap.add_argument("--beam", nargs="*", type=int, default=[], metavar="WIDTH",
                    help="also score residual-quantizer models with encode(X, beam=WIDTH)")
    ap.add_argument("--out", default=None,
                    help="also write the table to this Markdown file (default: print it only)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)

    emb = TextEmbedder(backend="torch")  # the cache keys of the vectors the models and FAISS trained on
    train_s, held_s, _ = split_sentences_by_document(["wikitext", "passages"])
    brown_tr, brown_held, _ = split_sentences_by_document(["brown"])
    X_fit = cached_embeddings(emb, train_s)
    X_fit = X_fit[np.random.default_rng(0).permutation(len(X_fit))[:args.max_train]]
    names = ("held-out documents (WikiText+passages)", "held-out source (Brown)")
    if args.sets and Path(args.sets).is_file():
        with np.load(args.sets) as f:
            pairs = {name: (f[f"q{i}"], f[f"db{i}"]) for i, name in enumerate(names)}
    else:
        pairs = {}
        for name, sents in zip(names, (held_s, brown_tr + brown_held)):
            X = cached_embeddings(emb, sents)
            q, db = metrics.query_database_split(len(X), args.queries, None, seed=0)
            pairs[name] = (X[q], X[db])
        if args.sets:
            np.savez(args.sets, **{f"{k}{i}": pairs[n][j] for i, n in enumerate(names)
                                   for j, k in enumerate(("q", "db"))})
    sets = {name: (Q, DB, metrics.cosine_knn(Q, DB, 100)) for name, (Q, DB) in pairs.items()}
    print(f"FAISS trains on {len(X_fit)}; " + "; ".join(f"{k}: {len(v[0])} queries, {len(v[1])} database"
                                                     for k, v in sets.items()), flush=True)
    rows_file = Path(args.rows) if args.rows else None
    rows = json.loads(rows_file.read_text()) if rows_file and rows_file.is_file() else []

    def record(budget, method, data, R, found, enc_s, n, train_s_):
        Q, DB, true = sets[data]
        row = {"bytes": budget, "method": method, "data": data, **metrics.search_quality(true, found),
               "cos": metrics.mean_cosine(DB, R), "enc_per_s": n / enc_s, "train_s": train_s_}
        rows.append(row)
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)

    extra = {}
    for item in args.model:
        label, _, path = item.partition("=")
        if not path:
            ap.error(f"--model wants LABEL=WEIGHTS, got {item!r}")
        mvq = MycelialVQVAE.load(path)
        extra.setdefault(mvq.num_heads, []).append((f"MonolithWiki {mvq.num_heads}x256 {label}", mvq))
    if any(r < 1 for r in args.refine):
        ap.error(f"--refine wants sweeps >= 1, got {args.refine}")
    for m in sorted(set(args.bytes) | set(extra) if args.part != "faiss" else args.bytes):
        models = [] if args.part == "faiss" else extra.get(m, [])
        if args.part != "faiss" and m in args.bytes:
            models = [(f"MonolithWiki {m}x256", MycelialVQVAE.load_default(bytes=m))] + models
        settings = [(0, 1), *((r, 1) for r in args.refine), *((0, b) for b in args.beam if b > 1)]
        for (label, mvq), (refine, beam) in ((lm, s) for lm in models for s in settings):
            if beam > 1 and getattr(mvq.model.quantizer, "kind", "heads") != "residual":
                continue
            how = f"encode refine={refine}" if refine else f"encode beam={beam}" if beam > 1 else "plain encode"
            for data, (Q, DB, _) in sets.items():
                t = time.perf_counter()
                codes = mvq.encode(DB, refine=refine, beam=beam)
                enc = time.perf_counter() - t
                R = mvq.decode(codes)
                record(m, f"{label} ({how})", data, R, metrics.cosine_knn(Q, R, 100), enc, len(DB), None)
        if m not in args.bytes:
            continue
        for name, make in faiss_quantizers(384, m).items():
            if name in args.skip or args.part == "ours":
                continue
            index = make()
            t = time.perf_counter()
            index.train(X_fit)
            train_s_ = time.perf_counter() - t
            for data, (Q, DB, _) in sets.items():
                t = time.perf_counter()
                codes = index.sa_encode(DB)
                enc = time.perf_counter() - t
                R = index.sa_decode(codes)
                index.reset()
                index.add(DB)
                _, I = index.search(Q, 100)
                record(m, name + " (ADC)", data, R, I, enc, len(DB), train_s_)
    if rows_file:
        atomic_write_text(rows_file, json.dumps(rows, indent=1))
    rows.sort(key=lambda r: (r["bytes"], r["data"], not r["method"].startswith("Monolith"), r["method"]))

    lines = ["| bytes | data | method | R@1 | R@10 | R@100 | 10-recall@10 | recon cos | encode vec/s | train s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['bytes']} | {r['data']} | {r['method']} | {r['R@1']:.3f} | {r['R@10']:.3f} "
                     f"| {r['R@100']:.3f} | {r['10-recall@10']:.3f} | {r['cos']:.3f} | {r['enc_per_s']:,.0f} "
                     f"| {'' if r['train_s'] is None else format(r['train_s'], '.0f')} |")
    text = (f"Command: `python scripts/bench_vqvae_budgets.py {' '.join(argv if argv is not None else sys.argv[1:])}`\n"
            f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; 1 thread; FAISS trained on {len(X_fit)} "
            f"cached training sentences; machine shared (timings noisy).\n\n" + "\n".join(lines) + "\n")
    print(text)
    if args.out:
        atomic_write_text(args.out, text)


if __name__ == "__main__":
    from core._script import run_main

    run_main(main)
