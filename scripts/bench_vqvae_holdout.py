"""Whole-source hold-out: train on all but one corpus, test on the one left out, rotating.

For each held-out corpus of WikiText, the passage sets and Brown, in one process: a
MonolithWiki trained with the shipped recipe on a short schedule (the same for every
rotation), its searched encodes, the distilled encoder (:mod:`core.reasoning.vqvae.distill`)
and FAISS PQ/OPQ/RQ/LSQ at 4 bytes, all trained on the same training sentences, scored
on queries and a database drawn from the held-out corpus only. Ground truth: exact
cosine top-100 over the original embeddings. Uses only sentences in the embedding cache.

Example:
    python scripts/bench_vqvae_holdout.py --epochs 16 --max-train 20000 --out /tmp/holdout.md
    python scripts/bench_vqvae_holdout.py --holdouts brown --sets /tmp/sets \
        --extra shipped=core/reasoning/vqvae/weights/monolith_wiki.safetensors
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402


def main(argv=None) -> None:
    import faiss
    import torch

    from core._io import atomic_write_text
    from core.compression.codecs import faiss_quantizers
    from core.embedding import TextEmbedder
    from core.reasoning.mycelial.wrapper import WEIGHTS_DIR, MycelialVQVAE, read_card
    from core.reasoning.vqvae import TrainConfig, metrics, train_vqvae
    from core.reasoning.vqvae.data import ROTATION, cached_rows, source_holdout_split
    from core.reasoning.vqvae.distill import DistillConfig, distill, search_targets

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--holdouts", nargs="+", default=list(ROTATION), choices=ROTATION)
    ap.add_argument("--epochs", type=int, default=16, help="main schedule (the shipped recipe ran 320 + 60 refit)")
    ap.add_argument("--max-train", type=int, default=20000, help="random training sentences per rotation")
    ap.add_argument("--distill-rows", type=int, default=3000, help="training rows searched for distillation targets")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--database", type=int, default=2000)
    ap.add_argument("--search", default="2x32+12", help="the searched encode: SWEEPSxCANDIDATES+PAIRS")
    ap.add_argument("--extra", nargs="*", default=[], metavar="LABEL=WEIGHTS",
                    help="trained models also scored where their card's sources exclude the held-out corpus")
    ap.add_argument("--extra-only", action="store_true", help="score only the --extra models (on frozen --sets)")
    ap.add_argument("--skip", nargs="*", default=[], help="method names to leave out, e.g. 'FAISS LSQ4x8'")
    ap.add_argument("--quantizers", nargs="+", default=["heads"], choices=["heads", "residual"],
                    help="train one model per quantizer in each rotation (same data, schedule and seed)")
    ap.add_argument("--residual-set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="TrainConfig overrides for the residual model only, e.g. learning_rate=0.001")
    ap.add_argument("--no-distill", action="store_true", help="leave out the distilled encoder")
    ap.add_argument("--beam", type=int, default=0, help="also score residual models with encode(X, beam=N)")
    ap.add_argument("--sets", help="folder of .npz evaluation sets: written on the first run, read on later ones "
                                   "(the shared embedding cache grows while other jobs run)")
    ap.add_argument("--rows", default="/tmp/bench_vqvae_holdout.json", help="rows so far (resumable)")
    ap.add_argument("--out", default=None,
                    help="also write the table to this Markdown file (default: print it only)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    search, _, pairs = args.search.partition("+")
    sweeps, cands = (int(v) for v in search.split("x"))
    pairs = int(pairs or 0)
    base = read_card(WEIGHTS_DIR / "monolith_wiki.safetensors")["train_config"]
    config = TrainConfig.from_dict({**base, "epochs": args.epochs, "refit_epochs": 0, "keep_best": False})
    emb = TextEmbedder(backend="torch")  # the vectors the shipped recipe trains on
    rows_file = Path(args.rows)
    rows = json.loads(rows_file.read_text()) if rows_file.is_file() else []

    for holdout in args.holdouts:
        frozen = Path(args.sets) / f"{holdout}.npz" if args.sets else None
        rng = np.random.default_rng(0)
        if frozen and frozen.is_file():
            with np.load(frozen) as f:
                X_train, Q, DB, n_test = f["X_train"], f["Q"], f["DB"], int(f["n_test"])
        else:
            train_s, _, test_s = source_holdout_split(ROTATION, holdout)
            _, X_train = cached_rows(emb, train_s)
            _, X_test = cached_rows(emb, test_s)
            if len(X_train) > args.max_train:
                X_train = X_train[np.sort(rng.permutation(len(X_train))[:args.max_train])]
            q, db = metrics.query_database_split(len(X_test), args.queries, args.database, seed=0)
            Q, DB, n_test = X_test[q], X_test[db], len(X_test)
            if frozen:
                frozen.parent.mkdir(parents=True, exist_ok=True)
                np.savez(frozen, X_train=X_train, Q=Q, DB=DB, n_test=n_test)
        true = metrics.cosine_knn(Q, DB, 100)
        info = {"holdout": holdout, "n_train": len(X_train), "n_cached_test": n_test,
                "n_queries": len(Q), "n_database": len(DB)}
        print(json.dumps(info), flush=True)

        def record(method, codes, R, found, enc_s, train_s_):
            if any(r["holdout"] == holdout and r["method"] == method for r in rows):
                return
            row = {**info, "method": method, **metrics.search_quality(true, found),
                   "cos": metrics.mean_cosine(DB, R), "enc_per_s": len(DB) / enc_s, "train_s": train_s_}
            rows.append(row)
            atomic_write_text(rows_file, json.dumps(rows, indent=1))
            print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)

        def done(method):
            if method in args.skip or (args.extra_only and method.startswith(("FAISS", "MonolithWiki "))):
                return True
            return any(r["holdout"] == holdout and r["method"] == method for r in rows)

        def score(label, mvq, train_s_, searched=True):
            t = time.perf_counter()
            codes = mvq.encode(DB)
            enc = time.perf_counter() - t
            R = mvq.decode(codes)
            record(f"{label}, plain encode", codes, R, metrics.cosine_knn(Q, R, 100), enc, train_s_)
            if args.beam > 1 and getattr(mvq.model.quantizer, "kind", "heads") == "residual":
                t = time.perf_counter()
                codes = mvq.encode(DB, beam=args.beam)
                enc = time.perf_counter() - t
                R = mvq.decode(codes)
                record(f"{label}, beam {args.beam}", codes, R, metrics.cosine_knn(Q, R, 100), enc, train_s_)
            if searched and not done(f"{label}, searched {args.search}"):
                t = time.perf_counter()
                codes = mvq.encode(DB, refine=sweeps, candidates=cands, pairs=pairs)
                enc = time.perf_counter() - t
                R = mvq.decode(codes)
                record(f"{label}, searched {args.search}", codes, R, metrics.cosine_knn(Q, R, 100), enc, train_s_)

        # -- FAISS, same training sentences ------------------------------------------------
        makers = faiss_quantizers(384, 4)
        for name, make in makers.items():
            if done(name):
                continue
            index = make()
            t = time.perf_counter()
            index.train(X_train)
            train_s_ = time.perf_counter() - t
            t = time.perf_counter()
            codes = index.sa_encode(DB)
            enc = time.perf_counter() - t
            R = index.sa_decode(codes)
            index.add(DB)
            _, found = index.search(Q, 100)
            record(name, None, R, found, enc, train_s_)

        # -- ours, trained here on the same sentences --------------------------------------
        for quantizer in args.quantizers:
            label = f"MonolithWiki {args.epochs} ep" + ("" if quantizer == "heads" else
                                                        " ".join([f" {quantizer}", *args.residual_set]).rstrip())
            distilled = quantizer == "heads" and not args.no_distill
            if all(done(m) for m in (f"{label}, plain encode", f"{label}, searched {args.search}",
                                     *([f"{label} distilled, plain encode"] if distilled else []))):
                continue
            t = time.perf_counter()
            over = {k: json.loads(v) for k, _, v in (item.partition("=") for item in args.residual_set)}
            model, _ = train_vqvae(X_train, TrainConfig.from_dict({**config.to_dict(), "quantizer": quantizer,
                                                                   **(over if quantizer == "residual" else {})}),
                                   progress=False)
            train_s_ = time.perf_counter() - t
            print(f"{label}: trained in {train_s_:.0f} s", flush=True)
            score(label, MycelialVQVAE(model), train_s_)
            if not distilled:
                continue
            Xt = torch.from_numpy(X_train)
            pick = torch.from_numpy(np.sort(rng.permutation(len(X_train))[:args.distill_rows]))
            t = time.perf_counter()
            targets = search_targets(model, Xt[pick], sweeps, cands, pairs)
            student, _ = distill(model, Xt[pick], targets, DistillConfig(sweeps=sweeps, candidates=cands,
                                                                         pairs=pairs), progress=False, X_refit=Xt)
            score(f"{label} distilled", MycelialVQVAE(student), train_s_ + time.perf_counter() - t, searched=False)
        for item in args.extra:
            name, _, path = item.partition("=")
            if holdout not in read_card(path)["data"]["sources"]:
                score(name, MycelialVQVAE.load(path), read_card(path).get("training_seconds"), searched=False)

    lines = ["| held-out source | method | R@1 | R@10 | R@100 | 10-recall@10 | recon cos | encode vec/s "
             "| train s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["holdout"], r["method"].startswith("FAISS"), r["method"])):
        lines.append(f"| {r['holdout']} | {r['method']} | {r['R@1']:.3f} | {r['R@10']:.3f} | {r['R@100']:.3f} "
                     f"| {r['10-recall@10']:.3f} | {r['cos']:.3f} | {r['enc_per_s']:,.0f} "
                     f"| {'' if r['train_s'] is None else format(r['train_s'], '.0f')} |")
    sizes = sorted({(r["holdout"], r["n_train"], r["n_cached_test"], r["n_queries"], r["n_database"]) for r in rows})
    text = (f"Command: `python scripts/bench_vqvae_holdout.py {' '.join(argv if argv is not None else sys.argv[1:])}`\n"
            f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; 1 thread; "
            f"load {open('/proc/loadavg').read().split()[:3]}\n\n"
            + "\n".join(f"- held out {h}: {n} training sentences (other corpora), {c} cached sentences of {h}, "
                        f"{nq} queries / {nd} database" for h, n, c, nq, nd in sizes)
            + "\n\n" + "\n".join(lines) + "\n")
    print(text)
    if args.out:
        atomic_write_text(args.out, text)


if __name__ == "__main__":
    from core._script import run_main

    run_main(main)
