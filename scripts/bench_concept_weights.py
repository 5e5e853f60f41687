"""How the network's weights spread on a large real memory: concept and code edges.

Builds one memory from every real corpus on this machine whose text we can read (WikiText-2
sentences, Brown, the HotpotQA/MuSiQue/2WikiMultihopQA passages, and the rendered real
documents of scripts/bench_realdocs.py when a folder is given), then reports the soft-bound
weight distribution (share of edges at >= 0.99, quantiles), how many edges have a concept end,
and the npmi the walk reads. Usage::

    python scripts/bench_concept_weights.py --workdir /tmp/cw [--realdocs /tmp/realdocs/corpus]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

import bench_multihop as B  # noqa: E402
from core.config import data_file  # noqa: E402
from core.memory.semantic import SemanticMemory  # noqa: E402


def records() -> list[dict]:
    out = []
    for corpus in ("wikitext", "brown"):
        out += [dict(r, id=f"{corpus}:{r['id']}") for r in B.same_document_records(corpus)]
    for name in ("hotpotqa", "musique"):
        out += [dict(r, id=f"{name}:{r['id']}") for r in B.load_dataset(name)[0]]
    wiki2 = json.load(open(data_file("multihop_dev/2wikimultihopqa_corpus.json"), encoding="utf-8"))
    out += [{"id": f"2wiki:{i}", "title": p["title"], "text": p["text"]} for i, p in enumerate(wiki2)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default="/tmp/mycelial_concept_weights")
    ap.add_argument("--realdocs", help="the corpus folder rendered by bench_realdocs.py (optional)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    with SemanticMemory(Path(args.workdir) / "memory") as mem:
        mem.ingest(records())
        if args.realdocs:
            mem.ingest([args.realdocs])
        net = mem.network_
        st = mem.stats()
        t1 = time.perf_counter()
        print(f"{st['documents']} documents, {st['chunks']} chunks, {net.n_events_} events "
              f"(ingest {t1 - t0:.0f}s)")
        dist = net.weight_distribution()
        print(json.dumps(dist, indent=1))
        a, b = net.edge_ends()
        cc = a >= net.num_nodes
        print(f"concept edges: {int(cc.sum())} concept-concept, {int((~cc).sum())} concept-code; "
              f"concepts {int((net.concept_counts_ > 0).sum())}")
        _, _, npmi, w, n_ab = net.concept_graph()
        print("npmi quantiles (concept-concept):",
              {q: round(float(np.quantile(npmi, q)), 3) for q in (0.1, 0.5, 0.9, 0.99)})
        hub = int(np.argmax(net.concept_counts_))
        lo, hi = net.concept_graph()[0][hub], net.concept_graph()[0][hub + 1]
        print(f"largest hub: {mem.graph_.phrases_[hub]!r} in {int(net.concept_counts_[hub])} events, "
              f"{hi - lo} edges, max npmi {float(npmi[lo:hi].max()) if hi > lo else 0:.3f}, "
              f"max soft-bound weight {float(w[lo:hi].max()) if hi > lo else 0:.3f}")


if __name__ == "__main__":
    from core._script import run_main

    run_main(main)
