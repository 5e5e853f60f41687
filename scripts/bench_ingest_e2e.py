"""Benchmark: end-to-end ingest of real chunks with the real model (no embedding cache).

What a user waits for: ``SemanticMemory.ingest`` of ``--chunks`` sentence chunks of the shared
corpora (as ``bench_scale_real.py`` builds them) into a new memory, the default embedder
computing every vector. Each setting is ``batch_size`` (chunks per transaction, the pool the
model embeds at once) and the OpenVINO batch cap in padded tokens; rounds alternate between
settings (the machine is shared) and the median counts. Time inside the embedder is the
model's, the rest the engine's own.

Example:
    python scripts/bench_ingest_e2e.py --chunks 8000 --settings 256:8192,1024:2048 --rounds 3
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402


def ingest_once(records, batch_size: int, batch_tokens: int, workdir: Path) -> dict:
    """One fresh memory, every chunk embedded by the default backend: wall, model and engine seconds."""
    from core.embedding import TextEmbedder
    from core.memory._retrain import wait_for_retrain
    from core.memory.semantic import SemanticMemory

    emb = TextEmbedder(cache=False)
    emb.embed(["warm up"])
    enc = getattr(emb, "_onnx", None)
    if enc is not None:
        enc.max_batch_tokens = batch_tokens
    spent = [0.0]
    embed = emb.embed

    def timed(texts, *a, **kw):
        t = time.perf_counter()
        try:
            return embed(texts, *a, **kw)
        finally:
            spent[0] += time.perf_counter() - t

    emb.embed = timed
    folder = workdir / "memory"
    shutil.rmtree(folder, ignore_errors=True)
    with SemanticMemory(folder, embedder=emb, batch_size=batch_size) as mem:
        t0 = time.perf_counter()
        rep = mem.ingest(records)
        wall = time.perf_counter() - t0
        wait_for_retrain(mem)
    return {"wall_s": wall, "model_s": spent[0], "engine_s": wall - spent[0], "chunks": rep.new_chunks,
            "chunks_per_s": rep.new_chunks / wall, "load": os.getloadavg()[0]}


def main() -> None:
    import bench_scale_real as scale

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chunks", type=int, default=8000)
    ap.add_argument("--settings", default="256:8192,1024:2048", help="batch_size:batch_tokens, comma-separated")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    settings = [tuple(int(x) for x in s.split(":")) for s in args.settings.split(",") if s]
    if not settings or any(len(s) != 2 or min(s) < 1 for s in settings):
        ap.error("--settings takes batch_size:batch_tokens pairs of positive integers, e.g. 256:8192,1024:2048")
    records, _, total = scale.build_records(args.chunks, held_out=0, seed=1)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="ingest_e2e_"))
    runs: dict[str, list[dict]] = {f"{b}:{t}": [] for b, t in settings}
    for r in range(args.rounds):
        for b, t in (settings if r % 2 == 0 else settings[::-1]):
            out = ingest_once(records, b, t, workdir)
            runs[f"{b}:{t}"].append(out)
            print(f"round {r} batch {b} tokens {t}: {out['chunks_per_s']:.0f} chunks/s, wall {out['wall_s']:.1f}s = "
                  f"model {out['model_s']:.1f}s + engine {out['engine_s']:.1f}s (load {out['load']:.1f})", flush=True)
    print(f"\n{total:,} chunks, {args.rounds} rounds, medians\n\n| batch_size : OpenVINO batch tokens | chunks/s | "
          "wall s | model s | engine own s | engine / model |\n|---|---|---|---|---|---|")
    for key, rs in runs.items():
        med = {k: float(np.median([x[k] for x in rs])) for k in ("chunks_per_s", "wall_s", "model_s", "engine_s")}
        print(f"| {key} | {med['chunks_per_s']:.0f} | {med['wall_s']:.1f} | {med['model_s']:.1f} | "
              f"{med['engine_s']:.1f} | {100 * med['engine_s'] / med['model_s']:.1f}% |")
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=1))


if __name__ == "__main__":
    main()
