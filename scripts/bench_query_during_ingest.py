"""Latency of a query's embedding while another thread embeds an ingest (OpenVINO int8).

A server shares one embedder between the memories it serves and their ingest jobs. The
ingest embeds 1,024 chunks a call; a query (one text, not in the cache) embeds on a request
of its own. The baseline in the same run makes the query wait for the ingest call's lock,
which is what every query did before it had its own request. Rounds alternate the two.

    .venv/bin/python scripts/bench_query_during_ingest.py --texts 6144 --rounds 2
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.datasets import brown_documents  # noqa: E402
from core.embedding import TextEmbedder  # noqa: E402
from core.memory.semantic import CHUNKS_PER_COMMIT as BATCH_SIZE  # noqa: E402


def one_round(emb: TextEmbedder, texts: list[str], queries: list[str], wait_for_ingest: bool) -> dict:
    """Embed ``texts`` in ingest-sized calls in a thread; meanwhile embed a query every 50 ms."""
    enc = emb.onnx_
    ingest_done = threading.Event()
    ingest_s: list[float] = []

    def ingest():
        start = time.perf_counter()
        for s in range(0, len(texts), BATCH_SIZE):
            emb.embed(texts[s:s + BATCH_SIZE])
        ingest_s.append(time.perf_counter() - start)
        ingest_done.set()

    worker = threading.Thread(target=ingest)
    worker.start()
    latencies = []
    while not ingest_done.is_set():
        q = queries[len(latencies) % len(queries)]
        start = time.perf_counter()
        if wait_for_ingest:
            with enc._lock:  # the queue's lock, held by an ingest call for its whole length
                emb.embed([q])
        else:
            emb.embed([q])
        latencies.append((time.perf_counter() - start) * 1e3)
        time.sleep(0.05)
    worker.join()
    return {"query_p50_ms": float(np.percentile(latencies, 50)), "query_p95_ms": float(np.percentile(latencies, 95)),
            "query_max_ms": float(max(latencies)), "queries": len(latencies),
            "ingest_texts_per_s": len(texts) / ingest_s[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--texts", type=int, default=6144, help="Brown sentences the ingest embeds")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", help="write the rows here")
    args = ap.parse_args()
    sentences = [s for d in brown_documents() for s in d.sentences]
    texts = sentences[:args.texts]
    queries = [s[:80] for s in sentences[args.texts:args.texts + 200]]
    emb = TextEmbedder(cache=False, backend="openvino-int8").load()
    idle = []
    for q in queries[:30]:
        start = time.perf_counter()
        emb.embed([q])
        idle.append((time.perf_counter() - start) * 1e3)
    rows = {"idle_query_p50_ms": float(np.percentile(idle[5:], 50)), "before": [], "after": []}
    for r in range(args.rounds):
        for name in ("before", "after"):
            row = one_round(emb, texts, queries, wait_for_ingest=name == "before")
            row["load"] = open("/proc/loadavg").read().split()[0]
            rows[name].append(row)
            print(f"round {r + 1} {name:6s} " + "  ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}"
                                                         for k, v in row.items()), flush=True)
    for key in ("query_p50_ms", "query_max_ms", "ingest_texts_per_s"):
        before = np.median([r[key] for r in rows["before"]])
        after = np.median([r[key] for r in rows["after"]])
        better = before / after if key.endswith("_ms") else after / before  # > 1: after is better
        print(f"{key}: before {before:.1f}  after {after:.1f}  after is {better:.2f}x better")
    print(f"idle query p50 {rows['idle_query_p50_ms']:.1f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    from core._script import run_main

    run_main(main)
