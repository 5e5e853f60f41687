"""Benchmark the shipped VQ-VAE against FAISS quantizers at the same 4-byte budget.

Everything is measured in one run on the same data: the shipped model's training split
(read from its card) trains the FAISS quantizers; held-out documents give 1,000 queries
and a database. Search quality is judged against exact cosine search over the original
embeddings. Prints a Markdown table (``--out FILE`` also writes it).

Example:
    python scripts/bench_vqvae.py
    python scripts/bench_vqvae.py --max-train 30000 --refine 1x16 --out /tmp/bench.md
    python scripts/bench_vqvae.py --compare distilled=/tmp/vq/monolith_wiki_distilled.safetensors \
        --holdout-source brown --database 8000 --queries 500   # a whole corpus no model trained on
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def p50_single(fn, X: np.ndarray, n: int = 500) -> float:
    """Median seconds of ``fn`` on one vector at a time (after a warm-up)."""
    for i in range(20):
        fn(X[i:i + 1])
    times = []
    for i in range(min(n, len(X))):
        t = time.perf_counter()
        fn(X[i:i + 1])
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main(argv=None) -> None:
    import torch

    from core.embedding import TextEmbedder
    from core.reasoning.mycelial.wrapper import DEFAULT_WEIGHTS, WEIGHTS_DIR, MycelialVQVAE, read_card
    from core.compression.codecs import faiss_quantizers
    from core.reasoning.vqvae import metrics
    from core.reasoning.vqvae.train import atomic_write_text
    from core.datasets import SOURCES, split_sentences_by_document
    from core.reasoning.vqvae.data import cached_rows

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", help="model to benchmark (default: the shipped one)")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--database", type=int, default=None, help="cap on database size (default: all held-out)")
    ap.add_argument("--max-train", type=int, default=60000,
                    help="cap on FAISS training vectors (random subset of the training split)")
    ap.add_argument("--refine", nargs="*", default=["1x16", "2x32", "2x32+12"],
                    metavar="SWEEPSxCANDIDATES[+PAIRS]",
                    help="ICM settings for refined database encodings, '+P' adding the pair search "
                         "over P codes per head (none: skip)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch and FAISS threads (on a busy 2-core machine 2 threads ran up to 20x slower)")
    ap.add_argument("--skip", nargs="*", default=[], help="method names to leave out, e.g. 'FAISS LSQ4x8'")
    ap.add_argument("--out", default=None,
                    help="also write the table to this Markdown file (default: print it only)")
    ap.add_argument("--sources", nargs="+",
                    help="override the card's corpora: their held-out documents are the evaluation split "
                         "(e.g. keep the WikiText+2Wiki split for a model trained with Brown too)")
    ap.add_argument("--faiss-train-sources", nargs="+",
                    help="train the FAISS quantizers on the training split of these corpora instead "
                         "(e.g. the same data as a model trained with Brown); evaluation split unchanged")
    ap.add_argument("--faiss-cache", help="JSON file of FAISS rows, reused when the data split matches")
    ap.add_argument("--faiss-only", action="store_true", help="stop after the FAISS rows")
    ap.add_argument("--compare", nargs="*", default=[], metavar="LABEL=WEIGHTS",
                    help="more models scored in the same run (plain and refined encodes)")
    ap.add_argument("--holdout-source", help="evaluate on every sentence of this corpus instead of held-out "
                    "documents (a source none of the models or FAISS trained on)")
    ap.add_argument("--cached-only", action="store_true",
                    help="use only sentences already in the embedding cache (no MiniLM forward passes)")
    args = ap.parse_args(argv)

    import faiss

    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    weights = Path(args.weights) if args.weights else WEIGHTS_DIR / DEFAULT_WEIGHTS
    mvq = MycelialVQVAE.load(weights)
    card = read_card(weights)
    data = dict(card["data"])
    if args.sources:
        data["sources"] = args.sources
    train_s, held_s, n_docs = split_sentences_by_document(data["sources"], data["held_out_fraction"],
                                                          data.get("max_per_doc"))
    if args.holdout_source:
        if args.holdout_source in data["sources"]:
            ap.error(f"--holdout-source {args.holdout_source} is one of the training corpora {data['sources']}")
        held_s = list(dict.fromkeys(s for d in SOURCES[args.holdout_source]() for s in d.sentences))
        seen = set(held_s)
        train_s = [s for s in train_s if s not in seen]
    emb = TextEmbedder(backend="torch")  # the vectors the models and FAISS trained on

    def embed(sentences):
        return cached_rows(emb, sentences)[1] if args.cached_only else emb.embed(sentences, show_progress=True)

    X_train, X_held = embed(train_s), embed(held_s)
    q_rows, db_rows = metrics.query_database_split(len(X_held), args.queries, args.database, seed=0)
    Q, DB = X_held[q_rows], X_held[db_rows]
    if args.faiss_train_sources:
        X_train = embed(split_sentences_by_document(args.faiss_train_sources, data["held_out_fraction"],
                                                    data.get("max_per_doc"))[0])
    rng = np.random.default_rng(0)
    X_fit = X_train[rng.permutation(len(X_train))[:args.max_train]] if len(X_train) > args.max_train else X_train
    print(f"{n_docs} documents; training split {len(X_train)} (FAISS trains on {len(X_fit)}); "
          f"held-out {len(X_held)}: {len(Q)} queries, {len(DB)} database", flush=True)
    true = metrics.cosine_knn(Q, DB, 100)
    rows = []

    def record(name, codes_db, R_db, found, enc_s, p50, train_s_=None, note=""):
        row = {"method": name, **metrics.search_quality(true, found),
               "cos": metrics.mean_cosine(DB, R_db),
               "used": metrics.codebook_usage(codes_db, 256)[0] if codes_db is not None else None,
               "enc_per_s": len(DB) / enc_s, "p50_ms": p50 * 1e3 if p50 is not None else None,
               "train_s": train_s_, "note": note}
        rows.append(row)
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)

    def score_model(label, mvq_, train_seconds):
        """Rows of one of our models: plain encode (decoded and latent-ADC search), then refined encodes."""
        model_ = mvq_.model
        codes, t_enc = timed(mvq_.encode, DB)
        R = mvq_.decode(codes)
        torch.set_num_threads(1)
        p50 = p50_single(mvq_.encode, DB)
        torch.set_num_threads(args.threads)
        record(f"{label} (decoded)", codes, R, metrics.cosine_knn(Q, R, 100), t_enc, p50, train_seconds,
               "cosine to decoded vectors")
        if getattr(model_.quantizer, "kind", "heads") == "heads":  # residual codes' distances don't split by stage
            with torch.no_grad():
                zq = model_.quantizer.prepare(model_.encoder(torch.from_numpy(Q))).reshape(len(Q), -1).numpy()
                books = model_.quantizer.code_vectors.numpy()
            record(f"{label} (latent ADC)", codes, R, metrics.adc_knn(zq, books, codes, 100), t_enc, p50,
                   train_seconds, "latent distance tables")
        for setting in args.refine:
            search, _, pairs = setting.partition("+")
            sweeps, cands = (int(v) for v in search.split("x"))
            codes_r, t_enc_r = timed(
                lambda X: mvq_.encode(X, refine=sweeps, candidates=cands, pairs=int(pairs or 0)), DB)
            R_r = mvq_.decode(codes_r)
            record(f"{label} + ICM {setting} (decoded)", codes_r, R_r, metrics.cosine_knn(Q, R_r, 100), t_enc_r,
                   None, train_seconds, "database codes refined on the decoder")

    # -- FAISS quantizers ---------------------------------------------------------------
    key = {"sources": data["sources"], "holdout_source": args.holdout_source, "cached_only": args.cached_only,
           **({"faiss_train_sources": args.faiss_train_sources} if args.faiss_train_sources else {}),
           "max_per_doc": data.get("max_per_doc"),
           "held_out_fraction": data["held_out_fraction"], "n_train": len(X_train), "n_fit": len(X_fit),
           "n_queries": len(Q), "n_database": len(DB), "threads": args.threads}
    cache = Path(args.faiss_cache) if args.faiss_cache else None
    cached = json.loads(cache.read_text()) if cache and cache.is_file() else None
    if cached and cached["key"] == key:
        rows.extend(cached["rows"])
        print(f"FAISS rows reused from {cache}", flush=True)
    for name, make in faiss_quantizers(DB.shape[1], 4).items():
        if name in args.skip or any(r["method"] == name for r in rows):
            continue
        index = make()
        _, t_train = timed(index.train, X_fit)
        codes, t_enc = timed(index.sa_encode, DB)
        R = index.sa_decode(codes)
        index.add(DB)
        _, I = index.search(Q, 100)  # FAISS's own asymmetric L2 search
        p50 = p50_single(index.sa_encode, DB)
        code_idx = codes.astype(np.int64) if codes.shape[1] == 4 else None
        record(name, code_idx, R, I, t_enc, p50, t_train, "ADC search")

    if cache:
        atomic_write_text(cache, json.dumps({"key": key, "rows": rows}, indent=1))
    if args.faiss_only:
        return

    # -- ours -----------------------------------------------------------------------------
    models = [("MonolithWiki", mvq, card)]
    for item in args.compare:
        label, _, path = item.partition("=")
        if not path:
            ap.error(f"--compare takes LABEL=WEIGHTS, got {item!r}")
        models.append((label, MycelialVQVAE.load(path), read_card(path)))
    for label, mvq_, card_ in models:
        score_model(label, mvq_, card_.get("training_seconds"))

    # -- a plain torch matmul of the encoder's shapes (throughput baseline) -------------
    model = mvq.model
    g = torch.Generator().manual_seed(0)
    cfg = model.config
    W1 = torch.randn(cfg["input_dim"], cfg["hidden_dim"], generator=g)
    W2 = torch.randn(cfg["hidden_dim"], cfg["latent_dim"], generator=g)
    C = torch.randn(cfg["latent_dim"] // cfg["num_heads"], cfg["codebook_size"] * cfg["num_heads"], generator=g)
    head_dim = cfg["latent_dim"] // cfg["num_heads"]

    def matmul(X):
        with torch.inference_mode():
            z = (torch.from_numpy(X) @ W1) @ W2
            return torch.einsum("nhd,dk->nhk", z.reshape(len(X), cfg["num_heads"], head_dim), C)

    matmul(DB[:100])
    _, t_mm = timed(matmul, DB)
    torch.set_num_threads(1)
    p50_mm = p50_single(matmul, DB)
    torch.set_num_threads(args.threads)
    mm = {"enc_per_s": len(DB) / t_mm, "p50_ms": p50_mm * 1e3}
    print(json.dumps({"torch matmul": mm}), flush=True)

    # -- table ----------------------------------------------------------------------------
    def f(v, fmt):
        return "" if v is None else format(v, fmt)

    lines = ["| method | R@1 | R@10 | R@100 | 10-recall@10 | recon cos | codes used | encode vec/s | p50 1-vec ms | train s | search |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['R@1']:.3f} | {r['R@10']:.3f} | {r['R@100']:.3f} | {r['10-recall@10']:.3f} "
                     f"| {r['cos']:.3f} | {f(r['used'], 'd')} | {r['enc_per_s']:,.0f} | {f(r['p50_ms'], '.3f')} "
                     f"| {f(r['train_s'], '.0f')} | {r['note']} |")
    lines.append(f"| torch matmul, same shapes (384x1024, 1024x512, 4x128x256) | | | | | | | {mm['enc_per_s']:,.0f} "
                 f"| {mm['p50_ms']:.3f} | | throughput baseline |")
    table = "\n".join(lines)
    ours = next(r for r in rows if r["method"] == "MonolithWiki (decoded)")
    ratio = mm["enc_per_s"] / ours["enc_per_s"]
    train_used = metrics.codebook_usage(mvq.encode(X_train), 256)[0]
    held = card["held_out"]
    source_note = f" source {args.holdout_source} (every sentence; none trained on)" if args.holdout_source else ""
    text = f"""# VQ-VAE benchmark (scripts/bench_vqvae.py)

Command: `python scripts/bench_vqvae.py{' ' + ' '.join(argv if argv is not None else sys.argv[1:])}`
Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {args.threads} torch/FAISS threads
(single-vector latency with 1 torch thread); machine shared with other jobs, so timings are noisy.

Data: {n_docs} documents of {', '.join(data['sources'])} ({'all sentences' if not data.get('max_per_doc') else f"first {data['max_per_doc']} sentences"} of each
document), whole documents held out ({data['held_out_fraction']:.0%} by `is_held_out`).
Training split {len(X_train)} sentences{' of ' + ', '.join(args.faiss_train_sources) if args.faiss_train_sources else ''} (FAISS quantizers trained on {len(X_fit)} of them);
held-out{source_note}: {len(Q)} queries, {len(DB)} database sentences. Ground truth: exact cosine top-100 over the
original MiniLM embeddings. All methods use 4 bytes per vector.

{table}

- Batch encode: ours {ours['enc_per_s']:,.0f} vectors/s vs {mm['enc_per_s']:,.0f} for the plain matmul of the
  same shapes, ratio {ratio:.2f} (target: within 3x); single-vector p50 {ours['p50_ms']:.3f} ms vs
  {mm['p50_ms']:.3f} ms for the matmul (target < 0.3 ms).
- Codes in use: {train_used}/1024 on the {len(X_train)} training sentences (the table's column counts the
  codes of the {len(DB)} database sentences only).
- Shipped model card (held-out, {held['n']} sentences): cosine {held['cosine']:.3f}, MSE {held['mse']:.5f},
  codes used {held['codes_used']}/{held['codes_total']}, head perplexity {held['head_perplexity']},
  Zipf alpha {held['zipf_alpha']:.2f} (R^2 {held['zipf_r2']:.2f}).
"""
    print(text)
    if args.out:
        atomic_write_text(args.out, text)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    from core._script import run_main

    run_main(main)
