"""Serial vs Dask-parallel ingest of the same real documents, with a per-stage breakdown.

Writes ``--docs`` Brown documents (their first ``--paragraphs`` paragraphs each) as .txt files,
then ingests the folder twice with the embedding cache off: serially, and on a
``LocalCluster`` of ``--workers`` processes (1 thread each; the models are loaded in the
workers before the clock starts, and that load is reported apart). Both memories are then
checked equal (SQLite rows, network, FAISS bytes). Stages on the driver are timed by
wrapping its methods; workers report their own seconds. The scaling model: with N workers
the rate is at most min(N / worker seconds per chunk, 1 / driver seconds per chunk).

    nice -n 5 .venv/bin/python scripts/bench_parallel_ingest.py --docs 200 --workers 2
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.config import data_dir  # noqa: E402

BROWN = data_dir() / "brown" / "brown_docs.jsonl"


def write_docs(folder: Path, n_docs: int, paragraphs: int) -> int:
    with open(BROWN) as fh:
        docs = [json.loads(line) for line in fh][:n_docs]
    if len(docs) < n_docs:
        raise SystemExit(f"--docs {n_docs}: the Brown file holds only {len(docs)} documents")
    for d in docs:
        paras = [" ".join(p) for p in d["paragraphs"][:paragraphs]]
        (folder / f"{d['doc_id']}.txt").write_text("\n\n".join(paras))
    return len(docs)


def timed(stages: dict, name: str, fn):
    @functools.wraps(fn)
    def run(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            stages[name] = stages.get(name, 0.0) + time.perf_counter() - t0
    return run


def instrument(mem) -> dict:
    """Time the driver's stages by wrapping this memory's methods (instance attributes, nothing global)."""
    st: dict = {}
    mem._commit = timed(st, "commit", mem._commit)
    mem.store_.add_documents = timed(st, "sqlite_add", mem.store_.add_documents)
    mem.index_.add = timed(st, "index_add", mem.index_.add)
    mem.graph_.add = timed(st, "graph_add", mem.graph_.add)
    mem._observe_docs = timed(st, "network_observe", mem._observe_docs)
    mem.save = timed(st, "save", mem.save)
    emb = mem._embedder()
    emb.embed = timed(st, "embed", emb.embed)
    mem.codec.encode = timed(st, "encode", mem.codec.encode)
    return st


def _warm_worker() -> None:
    """Load the model and compile the network kernels in a worker process (not timed with the ingest)."""
    from core.embedding import TextEmbedder
    from core.memory.parallel import _embedder_for
    from core.reasoning.mycelial import MycelialReasoning

    _embedder_for(TextEmbedder(cache=False)).embed(["warm up"])
    MycelialReasoning().observe([[1, 2, 3, 4], [1, 2, 3, 5]], [0, 0])


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip().split("load average:")[-1].strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=200)
    ap.add_argument("--paragraphs", type=int, default=6, help="paragraphs kept per Brown document")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=256, help="chunks per batch (the memory's chunks_per_commit)")
    ap.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = ap.parse_args()
    if args.docs < 1 or args.workers < 1 or args.paragraphs < 1:
        raise SystemExit("--docs, --workers and --paragraphs must be positive")

    from distributed import Client, LocalCluster

    from core.embedding import TextEmbedder
    from core.memory import SemanticMemory
    from core.memory.parallel import ingest_parallel

    tmp = Path(tempfile.mkdtemp(prefix="bench_parallel_"))
    folder = tmp / "docs"
    folder.mkdir()
    n_docs = write_docs(folder, args.docs, args.paragraphs)
    out: dict = {"docs": n_docs, "workers": args.workers, "batch_size": args.batch_size,
                 "load_before": load()}

    # serial: model loaded and numba kernels compiled (a throwaway ingest) before the clock starts
    warm_docs = [{"id": "w1", "text": "A warm-up sentence."}, {"id": "w2", "text": "Another one, to compile."}]
    emb_s = TextEmbedder(cache=False)
    with SemanticMemory(tmp / "warm", embedder=emb_s) as w:
        w.ingest(warm_docs)
    mem_s = SemanticMemory(tmp / "serial", embedder=emb_s, chunks_per_commit=args.batch_size)
    st_s = instrument(mem_s)
    t0 = time.perf_counter()
    rep_s = mem_s.ingest(str(folder))
    wall_s = time.perf_counter() - t0
    st_s["read_chunk_and_rest"] = wall_s - sum(st_s[k] for k in ("embed", "encode", "commit", "save"))
    out["serial"] = {"seconds": wall_s, "chunks": rep_s.chunks, "chunks_per_s": rep_s.chunks / wall_s,
                     "stages": st_s, "load": load()}

    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0",
                      silence_logs=40) as cluster, Client(cluster) as client:
        t0 = time.perf_counter()
        client.run(_warm_worker)
        warm = time.perf_counter() - t0
        mem_p = SemanticMemory(tmp / "parallel", embedder=TextEmbedder(cache=False), chunks_per_commit=args.batch_size)
        st_p = instrument(mem_p)
        stats: dict = {}
        t0 = time.perf_counter()
        with mem_p._writing():
            rep_p = ingest_parallel(mem_p, str(folder), client, stats=stats)
        wall_p = time.perf_counter() - t0
    out["parallel"] = {"seconds": wall_p, "chunks": rep_p.chunks, "chunks_per_s": rep_p.chunks / wall_p,
                       "worker_model_load_s": warm, "driver_stages": st_p, "stats": stats, "load": load()}

    same = (mem_s.network_ == mem_p.network_ and rep_s.chunks == rep_p.chunks
            and mem_s.store_._conn.execute("SELECT id, hash, codes, embedding FROM chunks ORDER BY id").fetchall()
            == mem_p.store_._conn.execute("SELECT id, hash, codes, embedding FROM chunks ORDER BY id").fetchall())
    import faiss

    same = same and bytes(faiss.serialize_index(mem_s.index_.index_)) == bytes(faiss.serialize_index(mem_p.index_.index_))
    out["identical"] = bool(same)
    n = rep_p.chunks
    worker_s = sum(stats[k] for k in ("read", "chunk", "embed", "encode", "delta"))
    driver_s = stats["plan"] + stats["commit"] + stats["save"]
    out["model"] = {"worker_s_per_chunk": worker_s / n, "driver_s_per_chunk": driver_s / n,
                    "driver_ceiling_chunks_per_s": n / driver_s,
                    "rate_for_N": {N: min(N * n / worker_s, n / driver_s) for N in (1, 2, 4, 8, 16, 32, 64)}}
    mem_s.close()
    mem_p.close()

    s, p = out["serial"], out["parallel"]
    print(f"{n_docs} Brown documents, {n} chunks, batch {args.batch_size}; load avg before {out['load_before']}")
    print(f"serial            {s['seconds']:7.1f} s  {s['chunks_per_s']:6.1f} chunks/s   (load {s['load']})")
    print(f"dask {args.workers} workers    {p['seconds']:7.1f} s  {p['chunks_per_s']:6.1f} chunks/s   "
          f"x{p['chunks_per_s'] / s['chunks_per_s']:.2f}  (workers' model load {warm:.1f} s apart; load {p['load']})")
    print(f"identical memories: {out['identical']}")
    print("serial stages (s):  " + ", ".join(f"{k} {v:.2f}" for k, v in st_s.items()))
    print("workers (s, summed): " + ", ".join(f"{k} {stats[k]:.2f}" for k in ("read", "chunk", "embed", "encode", "delta")))
    print("driver (s):          " + ", ".join(f"{k} {stats[k]:.2f}" for k in ("wait", "plan", "commit", "merge", "save"))
          + " | in commit: " + ", ".join(f"{k} {st_p.get(k, 0):.2f}" for k in
                                         ("sqlite_add", "index_add", "graph_add", "network_observe")))
    for st in (st_s, st_p):
        st["sqlite"] = st.get("commit", 0) - sum(st.get(k, 0) for k in ("index_add", "graph_add", "network_observe"))
    st_p["sqlite"] -= stats["merge"]
    print(f"SQLite (commit minus index, graph, network): serial {st_s['sqlite']:.2f} s, dask driver {st_p['sqlite']:.2f} s")
    m = out["model"]
    print(f"per chunk: workers {1e3 * m['worker_s_per_chunk']:.2f} ms, driver {1e3 * m['driver_s_per_chunk']:.3f} ms "
          f"-> driver ceiling {m['driver_ceiling_chunks_per_s']:.0f} chunks/s; model N workers: "
          + ", ".join(f"{N}: {r:.0f}" for N, r in m["rate_for_N"].items()))
    if args.out:
        args.out.write_text(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from core._script import run_main

    run_main(main)
