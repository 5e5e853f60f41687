"""Benchmark: end-to-end ingest of real chunks with the real model (no embedding cache).

What a user waits for: ``SemanticMemory.ingest`` of ``--chunks`` sentence chunks of the shared
corpora (as ``bench_scale_real.py`` builds them) into a new memory, the default embedder
computing every vector. Each setting is ``chunks_per_commit`` (chunks per transaction, the pool the
model embeds at once) and the OpenVINO batch cap in padded tokens. Every round also embeds the
same chunks with the model alone, in the same pools; the ingest's overhead is its wall time over
that (the engine embeds the next batch while it commits one, so the time inside the embedder no
longer separates the two). Rounds alternate between settings (the machine is shared); medians.

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


def _embedder(batch_tokens: int):
    from core.embedding import TextEmbedder

    emb = TextEmbedder(cache=False)
    emb.embed(["warm up"])
    enc = getattr(emb, "_onnx", None)
    if enc is not None:
        enc.max_batch_tokens = batch_tokens
    return emb


def model_alone(texts: list[str], batch_size: int, batch_tokens: int) -> float:
    """Seconds the model takes to embed ``texts`` in pools of ``batch_size``, nothing else."""
    emb = _embedder(batch_tokens)
    t0 = time.perf_counter()
    for s in range(0, len(texts), batch_size):
        emb.embed(texts[s:s + batch_size])
    return time.perf_counter() - t0


def ingest_once(records, batch_size: int, batch_tokens: int, workdir: Path) -> dict:
    """One fresh memory, every chunk embedded by the default backend: wall seconds and chunks."""
    from core.memory._retrain import wait_for_retrain
    from core.memory.semantic import SemanticMemory

    folder = workdir / "memory"
    shutil.rmtree(folder, ignore_errors=True)
    with SemanticMemory(folder, embedder=_embedder(batch_tokens), chunks_per_commit=batch_size) as mem:
        t0 = time.perf_counter()
        rep = mem.ingest(records)
        wall = time.perf_counter() - t0
        wait_for_retrain(mem)
    return {"wall_s": wall, "chunks": rep.new_chunks, "chunks_per_s": rep.new_chunks / wall,
            "load": os.getloadavg()[0]}


def main() -> None:
    import bench_scale_real as scale

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chunks", type=int, default=8000)
    ap.add_argument("--settings", default="256:8192,1024:2048", help="chunks_per_commit:batch_tokens, comma-separated")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    settings = [tuple(int(x) for x in s.split(":")) for s in args.settings.split(",") if s]
    if not settings or any(len(s) != 2 or min(s) < 1 for s in settings):
        ap.error("--settings takes chunks_per_commit:batch_tokens pairs of positive integers, e.g. 256:8192,1024:2048")
    records, _, total = scale.build_records(args.chunks, held_out=0, seed=1)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="ingest_e2e_"))
    texts = scale.record_chunks(records)
    runs: dict[str, list[dict]] = {f"{b}:{t}": [] for b, t in settings}
    for r in range(args.rounds):
        for b, t in (settings if r % 2 == 0 else settings[::-1]):
            model_s = model_alone(texts, b, t)
            out = ingest_once(records, b, t, workdir)
            out.update(model_s=model_s, overhead=out["wall_s"] / model_s - 1)
            runs[f"{b}:{t}"].append(out)
            print(f"round {r} batch {b} tokens {t}: {out['chunks_per_s']:.0f} chunks/s, wall {out['wall_s']:.1f}s; "
                  f"the model alone {model_s:.1f}s: overhead {100 * out['overhead']:.1f}% (load {out['load']:.1f})",
                  flush=True)
    print(f"\n{total:,} chunks, {args.rounds} rounds, medians\n\n| chunks_per_commit : OpenVINO batch tokens | chunks/s | "
          "ingest wall s | model alone s | overhead (wall / model - 1) |\n|---|---|---|---|---|")
    for key, rs in runs.items():
        med = {k: float(np.median([x[k] for x in rs])) for k in ("chunks_per_s", "wall_s", "model_s", "overhead")}
        print(f"| {key} | {med['chunks_per_s']:.0f} | {med['wall_s']:.1f} | {med['model_s']:.1f} | "
              f"{100 * med['overhead']:.1f}% |")
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=1))


if __name__ == "__main__":
    from core._script import run_main

    run_main(main)
