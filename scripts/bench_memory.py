"""Benchmark 2: ingest throughput against the embedding model alone, recall latency, and scale.

1. Ingest: the same real Brown-corpus chunks are embedded by the model alone (no cache),
   then ingested by a fresh memory (same model, no cache); overhead = engine / model - 1.
2. Recall latency p50/p99 on that memory, excluding and including the query embedding.
3. Scale mechanics through ``ingest_vectors`` at 100k and 1M chunks. These vectors are
   SYNTHETIC (clustered Gaussian directions, unit norm): real text at that size would take
   hours to embed on 2 cores; they only measure latency, RSS and bytes on disk per chunk.

Example:
    python scripts/bench_memory.py                      # all parts
    python scripts/bench_memory.py --scale 100000       # one scale point
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def rss_parts_mb() -> dict:
    """Anonymous vs file-backed resident memory (mapped SQLite pages are file-backed, reclaimable)."""
    out = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(("RssAnon:", "RssFile:")):
                out[line.split(":")[0]] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return out


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def percentiles(ts) -> dict:
    a = np.asarray(ts) * 1000
    return {"p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99))}


def bench_ingest(workdir: Path, n_docs: int, rounds: int = 2) -> dict:
    """Model alone vs the engine on the same chunks; best of ``rounds`` each, interleaved.

    On a shared machine wall-clock ratios swing with other load, so the engine's own time
    is also measured directly: ingest time minus the time spent inside ``embed``.
    """
    from core.datasets import brown_documents
    from core.embedding import TextEmbedder
    from core.memory import SemanticMemory
    from core.memory.chunking import chunk_text

    class TimedEmbedder(TextEmbedder):
        spent = 0.0

        def embed(self, texts, show_progress=False):
            t = time.perf_counter()
            try:
                return super().embed(texts, show_progress)
            finally:
                TimedEmbedder.spent += time.perf_counter() - t

    docs = brown_documents()[:n_docs]
    records = [{"id": d.doc_id, "title": d.title, "text": " ".join(d.sentences)} for d in docs]
    chunks = [c for r in records for c in chunk_text(r["text"])]
    emb = TimedEmbedder(cache=False)
    emb.embed(chunks[:64])  # load the model and warm up outside the timings
    folder = workdir / "ingest"
    t_model, t_engine, t_inside = [], [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        emb.embed(chunks)
        t_model.append(time.perf_counter() - t0)
        shutil.rmtree(folder, ignore_errors=True)
        mem = SemanticMemory(folder, embedder=emb)
        TimedEmbedder.spent = 0.0
        t0 = time.perf_counter()
        rep = mem.ingest(records)
        t_engine.append(time.perf_counter() - t0)
        t_inside.append(TimedEmbedder.spent)
        assert rep.new_chunks == len(set(chunks)), (rep, len(set(chunks)))
        if _ < rounds - 1:
            mem.close()
    best = int(np.argmin(t_engine))
    t_model, t_engine, t_embed_in_engine = min(t_model), t_engine[best], t_inside[best]
    # recall latency on this real memory; queries are real sentences of other Brown documents
    queries = [s for d in brown_documents()[n_docs:n_docs + 200] for s in d.sentences[:1]]
    out = {"chunks": len(chunks), "model_s": t_model, "engine_s": t_engine,
           "model_chunks_per_s": len(chunks) / t_model, "engine_chunks_per_s": len(chunks) / t_engine,
           "overhead": t_engine / t_model - 1,
           "engine_own_s": t_engine - t_embed_in_engine,
           "overhead_own": (t_engine - t_embed_in_engine) / t_embed_in_engine}
    emb_cached = TextEmbedder(cache=False)
    emb_cached._model = emb.model_
    Q = emb_cached.embed(queries)
    for mode in ("similar", "hybrid"):
        ts = []
        for q, text in zip(Q, queries):
            t0 = time.perf_counter()
            mem.recall_vector(q, 10, mode, query_text=text)
            ts.append(time.perf_counter() - t0)
        ts_full = []
        mem.embedder = emb_cached
        for text in queries[:100]:
            t0 = time.perf_counter()
            mem.recall(text, 10, mode)
            ts_full.append(time.perf_counter() - t0)
        out[f"recall_{mode}"] = percentiles(ts)
        out[f"recall_{mode}_with_embedding"] = percentiles(ts_full)
    mem.close()
    return out


def synthetic(n: int, seed: int = 0, n_clusters: int = 2000) -> np.ndarray:
    """Unit vectors scattered around random cluster directions (SYNTHETIC, scale mechanics only)."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((n_clusters, 384)).astype(np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    X = np.empty((n, 384), dtype=np.float32)
    for s in range(0, n, 100_000):
        m = min(100_000, n - s)
        X[s:s + m] = centers[rng.integers(0, n_clusters, m)] + 0.06 * rng.standard_normal((m, 384)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X


def resident_parts(mem) -> dict:
    """Bytes held per structure of the derived state (what RSS per chunk is made of)."""
    import faiss

    g = mem.graph_
    graph = sum(a.buf.nbytes for a in (g._ids, g._alive, g._ph_row, g._ph_col) if a is not None)
    graph += g._codes.buf.nbytes if g._codes is not None else 0
    built = g._built or {}
    graph_built = sum(getattr(v, "nbytes", 0) + sum(getattr(getattr(v, a, None), "nbytes", 0)
                                                      for a in ("data", "indices", "indptr"))
                      for v in built.values())
    net = mem.network_
    network = sum(v.nbytes for v in vars(net).values() if isinstance(v, np.ndarray))
    return {"index_b": int(faiss.serialize_index(mem.index_.index_).nbytes), "graph_b": int(graph),
            "graph_built_b": int(graph_built), "network_b": int(network)}


def bench_scale(workdir: Path, n: int, nprobe: int | None = None, rerank: int | None = None) -> dict:
    """Ingest ``n`` synthetic vectors, wait for the retrained index, time recall, measure memory.

    RSS growth is counted from after a warm-up memory (torch, the codec, numba and FAISS loaded
    and compiled), so it is what the ``n`` chunks cost, not the libraries' fixed share.
    """
    from core.memory import SemanticMemory
    from core.memory._retrain import wait_for_retrain

    folder = workdir / f"scale_{n}"
    shutil.rmtree(folder, ignore_errors=True)
    X = synthetic(n)
    rss_start = rss_mb()
    opts = {"nprobe": nprobe} | ({"rerank": rerank} if rerank else {})
    warm = SemanticMemory(workdir / "warmup", **opts)
    warm.ingest_vectors([f"w{i}" for i in range(2000)], synthetic(2000, seed=9))
    warm.recall_vector(X[0], 10, "hybrid")
    warm.close()
    shutil.rmtree(workdir / "warmup", ignore_errors=True)
    rss0, parts0 = rss_mb(), rss_parts_mb()
    trace = {"fixed_libraries_mb": rss0 - rss_start}
    mem = SemanticMemory(folder, **opts)
    rerank = mem.rerank
    t0, t0_wall = time.perf_counter(), time.time()
    mem.ingest_vectors(np.arange(n), X)
    t_ingest = time.perf_counter() - t0
    trace["after_ingest"] = rss_parts_mb()
    wait_for_retrain(mem)  # an outgrown index is retrained in the background: measure the swapped one
    t_retrain = time.perf_counter() - t0 - t_ingest
    trace["after_retrain"] = rss_parts_mb()
    rng = np.random.default_rng(1)
    picks = rng.choice(n, 300, replace=False)
    Q = X[picks] + 0.03 * rng.standard_normal((300, 384)).astype(np.float32)
    Q /= np.linalg.norm(Q, axis=1, keepdims=True)
    mem.recall_vector(Q[0], 10, "hybrid")  # builds the in-memory graph once
    out = {"n": n, "nprobe": nprobe, "rerank": rerank, "ingest_s": t_ingest, "ingest_vectors_per_s": n / t_ingest,
           "ingest_with_retrain_vectors_per_s": n / (t_ingest + t_retrain), "index": mem.index_.factory_,
           "trained_on": mem.index_.trained_on_, "nprobe_used": mem.index_.nprobe_, "retrain_wait_s": t_retrain,
           "loadavg": Path("/proc/loadavg").read_text().split()[:3],
           # each background training: on what size, started/swapped when (s after the ingest began), holding what
           "retrains": [{"trained_on": e["n"], "start_s": e["started"] - t0_wall,
                         "swap_s": None if e["swapped"] is None else e["swapped"] - t0_wall,
                         "holding_at_swap": e["ntotal"], "build_s": e.get("seconds")}
                        for e in getattr(mem, "retrain_events_", [])]}
    for mode in ("similar", "hybrid"):
        ts, found = [], []
        for q, p in zip(Q, picks):
            t0 = time.perf_counter()
            hits = mem.recall_vector(q, 10, mode, explain=False)
            ts.append(time.perf_counter() - t0)
            found.append(str(p) in [h.doc_id for h in hits])
        out[f"recall_{mode}"] = percentiles(ts)
        out[f"recall_{mode}"]["source_found_at_10"] = float(np.mean(found))
    trace["after_recall"] = rss_parts_mb()
    out["rss_mb"] = rss_mb()
    parts = rss_parts_mb()
    out["rss_growth_mb"] = out["rss_mb"] - rss0
    out["rss_growth_per_chunk_b"] = out["rss_growth_mb"] * 2**20 / n
    out["rss_anon_growth_per_chunk_b"] = (parts.get("RssAnon", 0) - parts0.get("RssAnon", 0)) * 2**20 / n
    out["rss_file_growth_per_chunk_b"] = (parts.get("RssFile", 0) - parts0.get("RssFile", 0)) * 2**20 / n
    out["resident_per_chunk_b"] = {k: v / n for k, v in resident_parts(mem).items()}
    out["rss_trace"] = {**trace, "start": parts0}
    # exact neighbours of the query for 10-recall@10 of `similar` (after the RSS figures: 50 x n scores)
    exact = np.stack([np.argsort(-(X @ q))[:10] for q in Q[:50]])
    got = [[int(h.doc_id) for h in mem.recall_vector(q, 10, "similar", explain=False)] for q in Q[:50]]
    out["similar_10_recall_at_10"] = float(np.mean([len(set(g) & set(e)) / 10 for g, e in zip(got, exact)]))
    # how 10-recall@10 and latency move with the lists visited and the re-ranked depth (same memory)
    sweep, nprobe0, rerank0 = [], mem.index_.nprobe_, mem.rerank
    for np_mult, rr in ((1, rerank // 2), (1, 2 * rerank), (2, rerank), (4, rerank)):
        if mem.index_.is_exact:
            break
        mem.index_.nprobe, mem.rerank = nprobe0 * np_mult, rr
        mem.index_._apply_nprobe()
        ts, got = [], []
        for q in Q[:50]:
            t0 = time.perf_counter()
            got.append([int(h.doc_id) for h in mem.recall_vector(q, 10, "similar", explain=False)])
            ts.append(time.perf_counter() - t0)
        sweep.append({"nprobe": nprobe0 * np_mult, "rerank": rr, "similar_p50_ms": percentiles(ts)["p50_ms"],
                      "recall_at_10": float(np.mean([len(set(g) & set(e)) / 10 for g, e in zip(got, exact)]))})
        print(f"  sweep: {sweep[-1]}", flush=True)
    out["sweep"] = sweep
    mem.index_.nprobe, mem.rerank = nprobe, rerank0
    mem.close()
    out["bytes_on_disk_per_chunk"] = folder_bytes(folder) / n
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default="/tmp/mycelial_bench_memory")
    ap.add_argument("--docs", type=int, default=30, help="Brown documents for the ingest part")
    ap.add_argument("--scale", default="100000,1000000", help="comma-separated sizes ('' to skip)")
    ap.add_argument("--skip-ingest", action="store_true")
    ap.add_argument("--nprobe", type=int, default=None, help="IVF lists visited (default: the memory's, 1/16 of the lists)")
    ap.add_argument("--rerank", type=int, default=None, help="re-ranked candidates = rerank * k (default: the memory's)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--log-batches", action="store_true", help="log each ingest_vectors batch's time (linearity)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch and FAISS threads (1, as `mycelial recall` serves: one query at a time)")
    args = ap.parse_args()
    import faiss
    import torch

    if args.log_batches:
        import logging

        logging.basicConfig(format="%(asctime)s %(message)s")
        logging.getLogger("mycelial.memory.vectors").setLevel(logging.DEBUG)
        logging.getLogger("core.memory._retrain").setLevel(logging.INFO)
    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    results = {}
    if not args.skip_ingest:
        r = bench_ingest(work, args.docs)
        results["ingest"] = r
        print(f"ingest {r['chunks']} real chunks: model alone {r['model_chunks_per_s']:.1f} chunks/s, "
              f"engine {r['engine_chunks_per_s']:.1f} chunks/s, overhead {100 * r['overhead']:+.1f}% (wall clock); "
              f"engine's own work {r['engine_own_s']:.2f}s = {100 * r['overhead_own']:+.1f}% of its embedding time",
              flush=True)
        for mode in ("similar", "hybrid"):
            a, b = r[f"recall_{mode}"], r[f"recall_{mode}_with_embedding"]
            print(f"  recall {mode}: p50 {a['p50_ms']:.2f} ms, p99 {a['p99_ms']:.2f} ms (after embedding); "
                  f"with embedding p50 {b['p50_ms']:.2f} ms, p99 {b['p99_ms']:.2f} ms", flush=True)
    for n in [int(x) for x in args.scale.split(",") if x]:
        r = bench_scale(work, n, args.nprobe, args.rerank)
        results[f"scale_{n}"] = r
        print(f"scale {n:,} (synthetic vectors, nprobe {r['nprobe_used']}, rerank {r['rerank']}): ingest {r['ingest_vectors_per_s']:.0f} vectors/s, index {r['index']} trained at {r['trained_on']:,} (+{r['retrain_wait_s']:.0f}s retrain wait), "
              f"RSS {r['rss_mb']:.0f} MB, {r['bytes_on_disk_per_chunk']:.0f} B/chunk on disk", flush=True)
        for mode in ("similar", "hybrid"):
            a = r[f"recall_{mode}"]
            print(f"  recall {mode}: p50 {a['p50_ms']:.2f} ms, p99 {a['p99_ms']:.2f} ms, source in top 10 "
                  f"{a['source_found_at_10']:.2f}", flush=True)
        print(f"  similar 10-recall@10 vs exact: {r['similar_10_recall_at_10']:.3f}; RSS growth "
              f"{r['rss_growth_per_chunk_b']:.0f} B/chunk (anonymous {r['rss_anon_growth_per_chunk_b']:.0f}, "
              f"file-backed {r['rss_file_growth_per_chunk_b']:.0f}); held per chunk: "
              + ", ".join(f"{k} {v:.0f}" for k, v in r["resident_per_chunk_b"].items())
              + f"; ingest with retrain {r['ingest_with_retrain_vectors_per_s']:.0f} vectors/s; load {r['loadavg']}",
              flush=True)
        for e in r["retrains"]:
            swap = "never swapped" if e["swap_s"] is None else (
                f"swapped at {e['swap_s']:.0f}s holding {e['holding_at_swap']:,} ({e['build_s']:.0f}s build)")
            print(f"  retrain: trained at {e['trained_on']:,}, started {e['start_s']:.0f}s, {swap} "
                  f"(ingest ended at {r['ingest_s']:.0f}s)", flush=True)
        shutil.rmtree(work / f"scale_{n}", ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    from core._script import run_main

    run_main(main)
