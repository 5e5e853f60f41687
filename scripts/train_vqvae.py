"""Train the shipped MonolithWiki on embeddings of the real shared corpora, write weights + card.

Whole documents are held out (``core.datasets.is_held_out``) for the card's figures;
``--holdout-source`` also leaves one corpus out whole (trained on none of it, scored on all of it).

Example:
    python scripts/train_vqvae.py --config core/reasoning/vqvae/weights/monolith_wiki.json  # the shipped recipe
    python scripts/train_vqvae.py --config my.json --out /tmp/vq --sources wikitext
    python scripts/train_vqvae.py --init base/monolith_wiki.safetensors --config my.json  # refit stage only
    python scripts/train_vqvae.py --sources wikitext passages brown --holdout-source brown --set epochs=20
    python scripts/train_vqvae.py --init core/reasoning/vqvae/weights/monolith_wiki.safetensors --distill \
        --name monolith_wiki_distilled --out /tmp/vq   # plain encoder taught the searched codes
    python scripts/train_vqvae.py --cached-only --extra-npy windows.npy --set epochs=20  # augmented rows
"""
from __future__ import annotations

import argparse
import dataclasses
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


def _embed(emb, sentences: list[str], cached_only: bool) -> tuple[list[str], np.ndarray]:
    """(sentences, embeddings): all of them, or only those already in the embedding cache."""
    from core.reasoning.vqvae.data import cached_rows

    if cached_only:
        return cached_rows(emb, sentences)
    return sentences, (emb.embed(sentences, show_progress=True) if sentences else np.zeros((0, 384), np.float32))


def _config_dict(path: str | None, settings: list[str]) -> dict:
    """The TrainConfig fields of ``path`` (a config JSON or a weights card) with ``--set KEY=VALUE`` over them."""
    cfg = {}
    if path:
        try:
            cfg = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"--config {path}: not a readable JSON file ({exc})") from None
        if not isinstance(cfg, dict):
            raise ValueError(f"--config {path}: holds a JSON {type(cfg).__name__}, not an object of settings")
    cfg = cfg.get("train_config", cfg)  # a weights card holds the config that trained it
    for item in settings:
        key, _, value = item.partition("=")
        cfg[key] = json.loads(value) if value[:1] in "0123456789-.tf[{\"" else value
    return cfg


def _distill_config(settings: list[str]):
    """The DistillConfig of ``--distill-set KEY=VALUE`` items (a bad key or value: ValueError)."""
    from core.reasoning.vqvae.distill import DistillConfig

    fields = {}
    for item in settings:
        key, eq, value = item.partition("=")
        try:
            fields[key] = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(f"--distill-set {item!r}: expected KEY=VALUE with a JSON value, e.g. epochs=10") from None
    valid = [f.name for f in dataclasses.fields(DistillConfig)]
    unknown = sorted(set(fields) - set(valid))
    if unknown:
        raise ValueError(f"--distill-set: unknown DistillConfig key(s) {unknown}; valid keys: {valid}")
    return DistillConfig(**fields)


def _distill(model, X_train: np.ndarray, settings: list[str], targets_file: str | None,
             max_targets: int | None):
    """Distil the searched codes into the plain encoder (:mod:`core.reasoning.vqvae.distill`).

    The search (~23 ms a row) runs on at most ``max_targets`` random training rows; the
    decoder refit uses them all.
    """
    import hashlib

    import torch

    from core.reasoning.vqvae.distill import distill, search_targets

    torch.set_num_threads(1)  # 2 threads ran up to 20x slower on the busy 2-core machine
    cfg = _distill_config(settings)
    if max_targets and len(X_train) > max_targets:
        X_all = X_train
        X_train = X_train[np.sort(np.random.default_rng(cfg.seed).permutation(len(X_train))[:max_targets])]
    else:
        X_all = X_train
    # the file keeps the searched rows with their codes: reused whenever model and search match
    key = hashlib.sha1(json.dumps([cfg.sweeps, cfg.candidates, cfg.pairs]).encode()
                       + b"".join(p.detach().numpy().tobytes() for p in model.state_dict().values())).hexdigest()
    targets = None
    if targets_file and Path(targets_file).is_file():
        with np.load(targets_file) as f:
            if str(f["key"]) == key:
                X_train, targets = f["rows"], torch.from_numpy(f["targets"].astype(np.int64))
                print(f"search targets of {len(X_train)} rows reused from {targets_file}", flush=True)
    X = torch.from_numpy(X_train)
    if targets is None:
        with torch.no_grad():
            t = time.time()
            targets = search_targets(model, X, cfg.sweeps, cfg.candidates, cfg.pairs, progress=True)
            print(f"search targets: {len(X)} rows in {time.time() - t:.0f} s", flush=True)
        if targets_file:
            Path(targets_file).parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(targets_file).with_suffix(".tmp.npz")
            np.savez(tmp, key=key, rows=X_train, targets=targets.numpy().astype(np.uint16))
            tmp.replace(targets_file)
    model, history = distill(model, X, targets, cfg, X_refit=torch.from_numpy(X_all))
    return model, history, {**cfg.to_dict(), "target_rows": len(X), "refit_rows": len(X_all)}


def on_init(init: str, stage: str, run):
    """Run ``stage`` ("distill" or "refit") on the ``--init`` weights: (model, history, extra, timing, init card).

    ``run(model)`` returns (model, history, extra). The card's ``training_seconds`` stays the whole cost of
    the weights (the init model's plus this stage's); ``stage_seconds`` is this stage's own, and
    ``init_training_seconds`` the init card's. The sum alone hid the stage's time, and counted an init
    without a card as 0 s: then ``training_seconds`` is null (unknown), never this stage's time alone."""
    from core.reasoning.mycelial.wrapper import MycelialVQVAE, read_card

    t0 = time.time()
    model, history, extra = run(MycelialVQVAE.load(init).model)
    own = time.time() - t0
    try:
        base = read_card(init)
    except FileNotFoundError:
        base = {}
    before = base.get("training_seconds")
    timing = {"training_seconds": None if before is None else round(before + own, 1),
              "stage": stage, "stage_seconds": round(own, 1), "init_training_seconds": before}
    return model, base.get("history", []) + history, extra, timing, base


def _train(args, config, X_train: np.ndarray, X_val: np.ndarray):
    """(model, history, distill config, timing, config): the stage ``args`` asks for (distil, refit or train)."""
    from core.reasoning.vqvae import TrainConfig, refit_vqvae, train_vqvae

    distill_cfg, timing = None, {}
    if args.distill:
        model, history, distill_cfg, timing, base = on_init(
            args.init, "distill", lambda m: _distill(m, X_train, args.distill_set, args.targets, args.distill_rows))
        config = TrainConfig.from_dict(base.get("train_config", config.to_dict()))
    elif args.init:
        model, history, _, timing, base = on_init(
            args.init, "refit", lambda m: (*refit_vqvae(m, X_train, config, X_val), None))
    else:
        t0 = time.time()
        model, history = train_vqvae(X_train, config, X_val)
        timing = {"training_seconds": round(time.time() - t0, 1)}
    return model, history, distill_cfg, timing, config


def main(argv=None) -> None:
    from core.config import PROJECT_ROOT
    from core.datasets import SOURCES, split_sentences_by_document
    from core.embedding import TextEmbedder
    from core.reasoning.mycelial.wrapper import MycelialVQVAE
    from core.reasoning.vqvae import TrainConfig
    from core.reasoning.vqvae.data import source_holdout_split, with_extra_rows
    from core.reasoning.vqvae.diverged import TrainingDiverged
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
                    "them; their card's history carries over, their training time is kept beside this stage's")
    ap.add_argument("--cached-only", action="store_true",
                    help="keep only sentences already in the embedding cache (a short run on a busy "
                         "machine: no MiniLM forward passes; the card records the counts)")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="override config fields, e.g. --set epochs=30 seed=1")
    ap.add_argument("--holdout-source", choices=sorted(SOURCES),
                    help="leave this corpus out whole: train on the other --sources, score the card on all of it")
    ap.add_argument("--max-train", type=int, default=None,
                    help="random subset of at most N training sentences (short runs)")
    ap.add_argument("--extra-npy", nargs="+", default=[], metavar="FILE",
                    help="float32 .npy files of shape (n, 384) appended to the training rows only "
                         "(augmentation: vectors of extra texts cut from the training documents, mixtures)")
    ap.add_argument("--distill", action="store_true",
                    help="with --init: teach the plain encoder the searched codes, then refit the decoder")
    ap.add_argument("--distill-set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="DistillConfig fields, e.g. epochs=10 pairs=12")
    ap.add_argument("--distill-rows", type=int, default=None,
                    help="search targets for at most N random training rows (the decoder refit uses all)")
    ap.add_argument("--targets", help=".npz cache of the search targets (reused when model and data match)")
    args = ap.parse_args(argv)

    try:  # every setting checked before the embedding (minutes): a typo is one line, not a traceback later
        config = TrainConfig.from_dict(_config_dict(args.config, args.set))
        _distill_config(args.distill_set)
        if args.init:
            MycelialVQVAE.load(args.init)
        for path in args.extra_npy:
            with_extra_rows(np.zeros((0, 384), np.float32), [path])
    except (OSError, ValueError) as exc:
        ap.error(str(exc))
    if args.distill and not args.init:
        ap.error("--distill needs --init (the trained model whose search it distils)")
    if args.holdout_source:
        train_s, held_s, test_s = source_holdout_split(args.sources, args.holdout_source, args.held_out,
                                                       args.max_per_doc)
        n_docs = None
    else:
        train_s, held_s, n_docs = split_sentences_by_document(args.sources, args.held_out, args.max_per_doc)
        test_s = []
    print(f"{n_docs or 'all'} documents: {len(train_s)} training / {len(held_s)} held-out / "
          f"{len(test_s)} held-out-source sentences", flush=True)
    emb = TextEmbedder(backend="torch")  # the shipped models were trained on torch vectors (the cache holds them)
    train_s, X_train = _embed(emb, train_s, args.cached_only)
    held_s, X_held = _embed(emb, held_s, args.cached_only)
    test_s, X_test = _embed(emb, test_s, args.cached_only)
    if args.max_train and len(X_train) > args.max_train:
        X_train = X_train[np.sort(np.random.default_rng(config.seed).permutation(len(X_train))[:args.max_train])]
    if not len(X_train) or not len(X_held):  # else a traceback from the validation split
        where = " in the embedding cache (--cached-only: run once without it)" if args.cached_only else ""
        sys.exit(f"Error: {len(X_train)} training and {len(X_held)} held-out sentences{where}: training needs both")
    n_sentences = len(X_train)
    X_train, extra = with_extra_rows(X_train, args.extra_npy)
    print(f"embedded: {len(X_train)} training / {len(X_held)} held-out / {len(X_test)} held-out-source", flush=True)
    n_val = min(5000, X_held.shape[0] // 2)
    val_rows = np.random.default_rng(config.seed + 1).permutation(X_held.shape[0])[:n_val]

    try:
        model, history, distill_cfg, timing, config = _train(args, config, X_train, X_held[val_rows])
    except TrainingDiverged as exc:
        sys.exit(f"Error: {exc}")

    out = Path(args.out)
    mvq = MycelialVQVAE(model)
    path = mvq.save(out / f"{args.name}.safetensors", dtype=args.dtype)
    mvq = MycelialVQVAE.load(path)  # score exactly what ships (after float16 rounding)
    card = {
        "data": {"sources": args.sources, "documents": n_docs, "train_sentences": n_sentences,
                 **({"extra_rows": extra} if extra else {}),
                 "held_out_sentences": len(held_s), "held_out_fraction": args.held_out,
                 "split": "whole documents, core.datasets.is_held_out",
                 "holdout_source": args.holdout_source, "max_train": args.max_train,
                 "embedder": emb.model, "max_per_doc": args.max_per_doc,
                 "cached_only": args.cached_only},
        "train_config": config.to_dict(),
        **({"distill_config": distill_cfg} if distill_cfg else {}),
        **timing,
        "storage_dtype": args.dtype,
        "size": {**model_size(mvq.model), "file_bytes": path.stat().st_size},
        "held_out": evaluate(mvq, X_held),
        **({"held_out_source": evaluate(mvq, X_test)} if len(X_test) else {}),
        "history": history,
    }
    mvq.save(path, card=card, dtype=args.dtype)
    print(json.dumps({k: card[k] for k in ("held_out", "held_out_source", "size", "training_seconds", "stage_seconds")
                      if k in card}, indent=2))


if __name__ == "__main__":
    from core._script import run_main

    run_main(main)
