"""Benchmark: ingest overhead and recall latency on a memory of ~100k REAL chunks.

The corpus is every sentence of the shared data (WikiText-2 articles, the 500 Brown texts,
the 2Wiki/HotpotQA/MuSiQue passages), one record per article/text/passage with one
sentence per paragraph, so each chunk is one sentence (as bench_multihop's same-document
benchmark builds them; Brown texts get no title, their ids would tie a whole text together).
Natural chunking (paragraphs merged to 96 word pieces) gives far fewer than 100k chunks.
Records are taken in a seeded shuffle until ``--chunks`` chunks are reached; one sentence of
each of ``--held-out`` random documents is left out and used as a query, beside the HotpotQA
and MuSiQue questions.

The memory is grown through ``SemanticMemory.ingest`` (chunking, concept extraction,
VQ-VAE encode, SQLite, FAISS with its retraining, the network and the passage graph),
stopping at each ``--points`` size to time recall. Ingest time is split into time inside
the embedder or waiting for it (cache reads here: run ``--prepare`` first) and the engine's own work; the
overhead is the engine's own time over what the model would take to embed those chunks,
its rate measured on ``--model-sample`` chunks without cache in the same run, before and after
the ingest (the table uses the mean; the lines printed during the run use the first).

Example:
    python scripts/bench_scale_real.py --prepare               # embed missing chunks into the cache
    python scripts/bench_scale_real.py --chunks 100000 --points 10000,30000,100000 --workdir /tmp/scale
    python scripts/bench_scale_real.py ... --keep      # also copy the memory at each point to WORKDIR/memory-N
    python scripts/bench_scale_real.py --reuse --workdir /tmp/scale   # recall only, on those copies
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

MODES = ("similar", "associative", "hybrid")


def build_records(n_chunks: int, held_out: int = 200, seed: int = 0) -> tuple[list[dict], list[str], int]:
    """(records in ingest order, held-out query sentences, chunks) for about ``n_chunks`` chunks."""
    from core.datasets import brown_documents, passage_documents, wikitext_documents

    docs = [(f"wt:{i}", d.title, d.sentences) for i, d in enumerate(wikitext_documents())]
    docs += [(d.doc_id, d.title, d.sentences) for d in passage_documents()]
    docs += [(d.doc_id, "", d.sentences) for d in brown_documents()]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(docs))
    queries, out, total = [], [], 0
    hold = set(rng.choice([i for i in order if len(docs[i][2]) >= 4], held_out, replace=False).tolist())
    for i in order:
        doc_id, title, sents = docs[i]
        sents = list(sents)
        if i in hold:
            queries.append(sents.pop(int(rng.integers(1, len(sents)))))
        out.append({"id": doc_id, "title": title, "text": "\n\n".join(sents)})
        total += len(sents)
        if total >= n_chunks:
            break
    if total < n_chunks:
        print(f"warning: the shared corpora give {total:,} sentence chunks, fewer than {n_chunks:,}", flush=True)
    return out, queries, total


def record_chunks(records) -> list[str]:
    """What ``ingest`` embeds of these records: each paragraph its own chunk, as ``title: chunk``."""
    from core.memory.chunking import MAX_TOKENS, chunk_text, embedded_text

    return [embedded_text(r["title"], c) for r in records for c in chunk_text(r["text"], MAX_TOKENS, None)]


def questions(limit: int | None = None) -> list[str]:
    """HotpotQA and MuSiQue questions of the shared multi-hop sets (real queries)."""
    from core.datasets import data_file

    qs = []
    for name in ("hotpotqa_train", "musique_train"):
        with open(data_file(f"multihop_dev/{name}.json"), encoding="utf-8") as fh:
            qs += [q["question"] for q in json.load(fh)]
    return qs[:limit]


def prepare(n_chunks: int, held_out: int) -> None:
    """Embed (torch backend, into the shared cache) every chunk of the corpus not cached yet."""
    from tqdm import tqdm

    from core.embedding import EmbeddingCache, TextEmbedder

    records, queries, _ = build_records(n_chunks, held_out)
    texts = list(dict.fromkeys(record_chunks(records) + queries + questions()))
    emb = TextEmbedder(backend="torch")  # the cached vectors of the corpus; latency is measured after embedding
    found = emb._cache.get(emb.cache_model, [EmbeddingCache.key(t) for t in texts], 384)
    missing = [t for t in texts if EmbeddingCache.key(t) not in found]
    print(f"{len(texts):,} texts, {len(missing):,} not in the cache", flush=True)
    for s in tqdm(range(0, len(missing), 512), unit="batch of 512", desc="embedding"):
        emb.embed(missing[s:s + 512])



class Timers:
    """Wall time spent inside chosen functions (class methods or module names), patched in place."""

    def __init__(self):
        self.spent: dict[str, float] = {}

    def wrap(self, owner, name: str, label: str) -> None:
        fn = getattr(owner, name)
        spent = self.spent
        spent.setdefault(label, 0.0)

        def timed(*a, **kw):
            if threading.current_thread() is not threading.main_thread():  # the background retrain
                return fn(*a, **kw)
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                spent[label] += time.perf_counter() - t

        setattr(owner, name, timed)


def instrument(mem) -> Timers:
    """Time the ingest's parts: embedder, chunking, concept extraction, encode, SQLite, FAISS, graph, network."""
    import core.memory._commit as commit_mod
    import core.memory._ingest as ingest_mod
    from core.memory.semantic import SemanticMemory

    from core.memory._ahead import EmbedAhead

    t = Timers()
    t.wrap(type(mem._embedder()), "embed", "embedding (cache reads)")  # in this thread (a re-planned batch)
    t.wrap(EmbedAhead, "_result", "waiting for the embedding")  # the batch embedded ahead, in another thread
    t.wrap(ingest_mod, "chunk_text", "chunking")
    for name in ("extract_phrases", "document_phrases"):  # per chunk, or per document (key terms)
        if hasattr(commit_mod, name):
            t.wrap(commit_mod, name, "concept extraction")
    t.wrap(type(mem.codec), "encode", "VQ-VAE encode")
    t.wrap(type(mem.store_), "add_documents", "SQLite add")
    t.wrap(type(mem.index_), "add", "FAISS add")
    t.wrap(type(mem.graph_), "add", "passage graph add")
    t.wrap(SemanticMemory, "_observe_docs", "network observe")
    t.wrap(SemanticMemory, "_rebuild_index", "index (re)train start")
    t.wrap(SemanticMemory, "save", "save derived state")
    return t


def model_rate(texts: list[str]) -> float:
    """Chunks/s of the embedding model alone (no cache), default backend, as ingest calls it: in
    pools of the memory's default batch size (the model is faster in larger pools)."""
    from core.embedding import TextEmbedder
    from core.memory.semantic import CHUNKS_PER_COMMIT as BATCH_SIZE

    emb = TextEmbedder(cache=False)
    emb.embed(texts[:32])  # load and warm up outside the timing
    t0 = time.perf_counter()
    for s in range(0, len(texts), BATCH_SIZE):
        emb.embed(texts[s:s + BATCH_SIZE])
    return len(texts) / (time.perf_counter() - t0)


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def latency(mem, texts: list[str], kinds: list[str], k: int = 10) -> dict:
    """p50/p99 ms after embedding per mode (modes interleaved per query, explanations on)."""
    Q = mem.embed_queries(texts)
    for v, t in zip(Q[:5], texts):
        mem.recall_vector(v, k, "hybrid", query_text=t)
    ts = {m: [] for m in MODES}
    for v, t in zip(Q, texts):
        for m in MODES:
            t0 = time.perf_counter()
            mem.recall_vector(v, k, m, query_text=t)
            ts[m].append(1000 * (time.perf_counter() - t0))
    out = {}
    kinds = np.asarray(kinds)
    for m, v in ts.items():
        v = np.asarray(v)
        out[m] = {"p50_ms": float(np.percentile(v, 50)), "p99_ms": float(np.percentile(v, 99)),
                  **{f"p50_{kd}_ms": float(np.percentile(v[kinds == kd], 50)) for kd in np.unique(kinds)}}
    return out


def similar_recall_at_10(mem, texts: list[str]) -> float:
    """10-recall@10 of ``similar`` against exact search over every stored vector (float16 as stored):
    the index's recall, so with plain cosines (``neighbour_weight`` 0; the neighbour read reorders on purpose)."""
    Q = mem.embed_queries(texts)
    ids, X = mem.store_.embeddings(mem.graph_._ids.values)  # every chunk row (gone ones are not returned)
    got, cfg = [], mem.recall_config
    mem.recall_config = dataclasses.replace(cfg, neighbour_weight=0.0)
    try:
        for q in Q:
            exact = set(ids[np.argpartition(-(X @ q), 10)[:10]].tolist())
            got.append(len(exact & {h.chunk_id for h in mem.recall_vector(q, 10, "similar", explain=False)}) / 10)
    finally:
        mem.recall_config = cfg
    return float(np.mean(got))


def profile_hybrid(mem, texts: list[str], top: int = 25) -> str:
    import cProfile
    import io
    import pstats

    Q = mem.embed_queries(texts)
    pr = cProfile.Profile()
    pr.enable()
    for v, t in zip(Q, texts):
        mem.recall_vector(v, 10, "hybrid", query_text=t)
    pr.disable()
    buf = io.StringIO()
    pstats.Stats(pr, stream=buf).sort_stats("tottime").print_stats(top)
    return buf.getvalue()


def run(args) -> dict:
    import torch

    from core.memory._retrain import wait_for_retrain
    from core.memory.semantic import SemanticMemory

    records, held, total = build_records(args.chunks, args.held_out)
    qs = questions()
    texts, kinds = qs + held, ["question"] * len(qs) + ["sentence"] * len(held)
    points = sorted({min(int(p), total) for p in args.points.split(",") if p})
    print(f"{len(records):,} records, {total:,} sentence chunks; {len(qs)} questions + {len(held)} held-out "
          f"sentences as queries; points {points}", flush=True)
    chunks = record_chunks(records)
    sample = [chunks[i] for i in np.random.default_rng(1).choice(len(chunks), args.model_sample, replace=False)]
    rate = model_rate(sample)
    print(f"model alone: {rate:.1f} chunks/s on {len(sample)} chunks (load {os.getloadavg()[0]:.1f})", flush=True)
    folder = Path(args.workdir) / "memory"
    shutil.rmtree(folder, ignore_errors=True)
    results = {"model_chunks_per_s": rate, "points": []}
    from core.embedding import TextEmbedder

    # the corpus vectors come from the (torch) cache that --prepare filled; the overhead is the
    # engine's own time over what the default backend would take to embed the same chunks
    with SemanticMemory(folder, embedder=TextEmbedder(backend="torch")) as mem:
        timers = instrument(mem)
        done, at = 0, 0
        for point in points:
            stop, n = at, done
            while stop < len(records) and n < point:
                n += records[stop]["text"].count("\n\n") + 1
                stop += 1
            if stop == at:
                continue
            for k in timers.spent:
                timers.spent[k] = 0.0
            torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))
            t0 = time.perf_counter()
            rep = mem.ingest(records[at:stop], progress=True)
            ingest_s = time.perf_counter() - t0
            t1 = time.perf_counter()
            wait_for_retrain(mem)
            retrain_wait = time.perf_counter() - t1
            at, done = stop, n
            embed_s = timers.spent["embedding (cache reads)"] + timers.spent["waiting for the embedding"]
            own = ingest_s - embed_s
            model_s = rep.new_chunks / rate
            torch.set_num_threads(1)
            lat = latency(mem, texts, kinds)
            st = mem.stats()
            rec10 = similar_recall_at_10(mem, texts)
            r = {"similar_recall_at_10": rec10, "chunks": st["chunks"], "new_chunks": rep.new_chunks, "ingest_s": ingest_s, "engine_own_s": own,
                 "model_s_estimate": model_s, "overhead": own / model_s, "retrain_wait_s": retrain_wait,
                 "parts_s": dict(timers.spent), "latency": lat, "rss_mb": rss_mb(),
                 "index": f"{mem.index_.factory_} trained at {mem.index_.trained_on_}",
                 "loadavg": Path("/proc/loadavg").read_text().split()[:3]}
            results["points"].append(r)
            print(f"\n{st['chunks']:,} chunks: ingest of {rep.new_chunks:,} new in {ingest_s:.1f}s, engine's own "
                  f"{own:.1f}s = {100 * r['overhead']:.1f}% of the model's {model_s:.0f}s; retrain wait "
                  f"{retrain_wait:.1f}s; {r['index']} (nprobe {mem.index_.nprobe_}), similar 10-recall@10 vs exact {rec10:.3f}; RSS {r['rss_mb']:.0f} MB; load {r['loadavg']}", flush=True)
            print("  parts: " + ", ".join(f"{k} {v:.1f}s" for k, v in timers.spent.items()), flush=True)
            print("  latency: " + json.dumps({m: {k: round(v, 2) for k, v in d.items()} for m, d in lat.items()}),
                  flush=True)
            if args.keep:  # a copy to time again later (--reuse), e.g. another version of the code
                mem.save()
                shutil.rmtree(Path(args.workdir) / f"memory-{st['chunks']}", ignore_errors=True)
                shutil.copytree(folder, Path(args.workdir) / f"memory-{st['chunks']}")
        if args.profile:
            prof = profile_hybrid(mem, texts)
            print(prof)
            results["profile"] = prof
    end_rate = model_rate(sample)  # again after the ingest: the table uses the mean of the two
    mean_rate = (rate + end_rate) / 2
    results.update(model_chunks_per_s=mean_rate, model_chunks_per_s_start_end=[rate, end_rate])
    for r in results["points"]:
        r["model_s_estimate"] = r["new_chunks"] / mean_rate
        r["overhead"] = r["engine_own_s"] / r["model_s_estimate"]
    print(f"\nmodel alone {mean_rate:.1f} chunks/s (mean of {rate:.1f} before and {end_rate:.1f} after the ingest, "
          f"pools of the default batch size); latency after embedding, k=10, explanations on, "
          f"{len(texts)} queries ({len(qs)} questions, {len(held)} held-out sentences), 1 thread\n")
    print("| chunks | ingest overhead (engine own / model) | similar p50 / p99 | associative p50 / p99 "
          "| hybrid p50 / p99 | similar 10-recall@10 | RSS MB | load |\n|---|---|---|---|---|---|---|---|")
    for r in results["points"]:
        lat = r["latency"]
        print(f"| {r['chunks']:,} | {100 * r['overhead']:.1f}% ({r['engine_own_s']:.0f} s / {r['model_s_estimate']:.0f} s) | "
              + " | ".join(f"{lat[m]['p50_ms']:.2f} / {lat[m]['p99_ms']:.2f} ms" for m in MODES)
              + f" | {r['similar_recall_at_10']:.3f} | {r['rss_mb']:.0f} | {' '.join(r['loadavg'])} |")
    return results


def run_reuse(args) -> dict:
    """Latency and similar's recall on the memories ``--keep`` left in ``--workdir`` (no ingest)."""
    import torch

    from core.embedding import TextEmbedder
    from core.memory.semantic import SemanticMemory

    _, held, _ = build_records(args.chunks, args.held_out)
    qs = questions()
    texts, kinds = qs + held, ["question"] * len(qs) + ["sentence"] * len(held)
    torch.set_num_threads(1)
    folders = sorted(Path(args.workdir).glob("memory-*"), key=lambda p: int(p.name.split("-")[1]))
    if not folders:
        raise SystemExit(f"no memory-N folders in {args.workdir}: build them once with --keep")
    results = {"points": []}
    print("| chunks | index | similar p50 / p99 | associative p50 / p99 | hybrid p50 / p99 | similar 10-recall@10 "
          "| vectors.f16 MB | RSS MB | load |\n|---|---|---|---|---|---|---|---|---|", flush=True)
    for folder in folders:
        with SemanticMemory(folder, embedder=TextEmbedder(backend="torch")) as mem:
            lat = latency(mem, texts, kinds)
            rec10 = similar_recall_at_10(mem, texts)
            vec = folder / "vectors.f16"
            r = {"chunks": mem.stats()["chunks"], "index": f"{mem.index_.factory_} (nprobe {mem.index_.nprobe_})",
                 "latency": lat, "similar_recall_at_10": rec10, "rss_mb": rss_mb(),
                 "vectors_mb": vec.stat().st_size / 2**20 if vec.exists() else 0.0,
                 "loadavg": Path("/proc/loadavg").read_text().split()[:3]}
        results["points"].append(r)
        print(f"| {r['chunks']:,} | {r['index']} | " + " | ".join(f"{lat[m]['p50_ms']:.2f} / {lat[m]['p99_ms']:.2f} ms"
                                                        for m in MODES)
              + f" | {rec10:.3f} | {r['vectors_mb']:.0f} | {r['rss_mb']:.0f} | {' '.join(r['loadavg'])} |", flush=True)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chunks", type=int, default=100_000, help="sentence chunks in the final memory")
    ap.add_argument("--points", default="10000,30000,100000", help="sizes where recall is timed")
    ap.add_argument("--held-out", type=int, default=200, help="documents that lend one sentence as a query")
    ap.add_argument("--model-sample", type=int, default=2048,
                    help="chunks embedded without cache for the model's rate (before and after the ingest)")
    ap.add_argument("--workdir", default="/tmp/mycelial_bench_scale_real")
    ap.add_argument("--profile", action="store_true", help="cProfile hybrid recall at the last point")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--prepare", action="store_true", help="only embed the chunks the cache lacks")
    ap.add_argument("--keep", action="store_true", help="copy the memory at each point to WORKDIR/memory-N")
    ap.add_argument("--reuse", action="store_true",
                    help="no ingest: time recall on the WORKDIR/memory-N copies a --keep run left")
    args = ap.parse_args()
    if args.prepare:
        prepare(args.chunks, args.held_out)
        return
    res = run_reuse(args) if args.reuse else run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    from core._script import run_main

    run_main(main)
