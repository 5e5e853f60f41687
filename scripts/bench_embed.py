"""Benchmark: embedding backends side by side on real chunks (torch, onnx, onnx-int8, openvino-int8).

``openvino-int8`` is the shipped recipe (calibrated on ``core/embedding_calibration.txt``),
``openvino-int8:brown`` the previous one (300 Brown chunks), for comparing the two.

Chunks are cut with the memory's own chunker (up to 128 word pieces) from the shared
multi-hop passages (HotpotQA, MuSiQue) and WikiText-2 articles, in equal parts, shuffled
with a fixed seed. Each backend embeds the same chunks with no cache; rounds alternate
between backends, odd rounds in reverse order (the machine is shared), and the best round
counts (with its process CPU time per chunk, which a shared machine's load distorts less).
Quality is the cosine of each chunk's vector to the fp32 torch vector. ONNX
backends may carry session options (``onnx-int8:spin``, ``onnx-int8:t1``) to compare them
in the same run.

Example:
    python scripts/bench_embed.py --chunks 2000 --threads 2 --out results/bench_embed.json
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402


def load_avg() -> str:
    """The 1/5/15-minute load average (the machine is shared: every timing carries it)."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def real_chunks(n: int, seed: int = 0) -> list[str]:
    """``n`` real chunks: a third each from HotpotQA, MuSiQue and WikiText-2 documents."""
    from core.datasets import passage_documents, wikitext_documents
    from core.memory.chunking import chunk_text

    docs = passage_documents()
    groups = {"hotpotqa": [d for d in docs if d.source == "hotpotqa"],
              "musique": [d for d in docs if d.source == "musique_train"],
              "wikitext": wikitext_documents()}
    rng = np.random.default_rng(seed)
    out: list[str] = []
    for i, group in enumerate(groups.values()):
        want = n // 3 + (1 if i < n % 3 else 0)
        chunks = [c for d in group for c in chunk_text(d.text)]
        pick = rng.choice(len(chunks), size=min(want, len(chunks)), replace=False)
        out += [chunks[j] for j in pick]
    rng.shuffle(out)
    return out


def make_embedder(spec: str, threads: int):
    """``backend[:spin][:t1]`` -> an uncached TextEmbedder with those ONNX Runtime session options."""
    from core.embedding import TextEmbedder
    from core.embedding_onnx import OnnxEncoder

    backend, *opts = spec.split(":")
    if backend == "openvino-int8" and opts == ["brown"]:  # the previous recipe: calibrated on Brown chunks
        from core.embedding_openvino import BROWN_RECIPE, OpenVinoEncoder

        emb = TextEmbedder(cache=False, backend=backend, threads=threads)
        emb._onnx = OpenVinoEncoder(emb._model_dir, threads=threads, base_recipe=BROWN_RECIPE)
        return emb
    unknown = set(opts) - {"spin", "t1"}
    if unknown or (opts and backend in ("torch", "openvino-int8")):
        raise SystemExit(f"bad backend spec {spec!r}: options spin/t1 go with onnx backends only; "
                         f"openvino-int8:brown is the Brown-calibrated build")
    emb = TextEmbedder(cache=False, backend=backend, threads=1 if "t1" in opts else threads)
    if "spin" in opts:
        emb._onnx = OnnxEncoder(emb._model_dir, quantized=backend == "onnx-int8", threads=emb.threads,
                                spinning=True)
    return emb


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="torch and ONNX Runtime intra-op threads")
    ap.add_argument("--backends", default="torch,onnx-int8,openvino-int8",
                    help="comma-separated (torch, onnx, onnx-int8, openvino-int8); an ONNX Runtime backend "
                         "may carry session options after a colon: "
                         "onnx-int8:spin (intra-op threads spin-wait, ONNX Runtime's default), "
                         "onnx-int8:t1 (one intra-op thread), onnx-int8:spin:t1; "
                         "openvino-int8:brown is openvino-int8 calibrated on Brown chunks (the previous recipe)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    import torch

    from core.memory.chunking import count_tokens

    torch.set_num_threads(args.threads)
    texts = real_chunks(args.chunks)
    tokens = np.asarray(count_tokens(texts))
    print(f"{len(texts)} chunks, word pieces mean {tokens.mean():.1f}, max {tokens.max()}, "
          f"{args.threads} thread(s)", flush=True)
    backends = args.backends.split(",")
    embedders, load_s = {}, {}
    for b in backends:
        t0 = time.perf_counter()
        embedders[b] = make_embedder(b, args.threads)
        embedders[b].embed(texts[:8])  # load (and on first use export) the model
        load_s[b] = time.perf_counter() - t0
    best = {b: float("inf") for b in backends}
    cpu = {b: float("inf") for b in backends}  # process CPU seconds of the best round: less load-bound
    vecs = {}
    for r in range(args.rounds):
        # ABBA: odd rounds run the backends in reverse, so a load that drifts during the run
        # favours no backend (the machine is shared; best round per backend counts)
        for b in backends if r % 2 == 0 else backends[::-1]:
            t0, c0 = time.perf_counter(), time.process_time()
            vecs[b] = embedders[b].embed(texts)
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            if dt < best[b]:
                best[b], cpu[b] = dt, dc
            print(f"round {r} {b:16s} {len(texts) / dt:7.1f} chunks/s  {1000 * dc / len(texts):6.1f} CPU ms/chunk  "
                  f"load {load_avg()}", flush=True)
    ref = vecs["torch"] if "torch" in vecs else None
    rows = []
    for b in backends:
        row = {"backend": b, "chunks_per_s": len(texts) / best[b], "cpu_ms_per_chunk": 1000 * cpu[b] / len(texts),
               "first_load_s": load_s[b]}
        if ref is not None:
            cos = (vecs[b] * ref).sum(axis=1)
            row |= {"ratio_vs_torch": best["torch"] / best[b], "cos_mean": float(cos.mean()),
                    "cos_min": float(cos.min()), "cos_p01": float(np.percentile(cos, 1))}
        rows.append(row)
    print("\n| backend | chunks/s | x torch | CPU ms/chunk | cos mean | cos min | first load s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['backend']} | {r['chunks_per_s']:.1f} | {r.get('ratio_vs_torch', float('nan')):.2f} | "
              f"{r['cpu_ms_per_chunk']:.1f} | "
              f"{r.get('cos_mean', float('nan')):.4f} | {r.get('cos_min', float('nan')):.4f} | "
              f"{r['first_load_s']:.1f} |")
    result = {"chunks": len(texts), "tokens_mean": float(tokens.mean()), "threads": args.threads,
              "loadavg": load_avg(),
              "rounds": args.rounds, "machine": platform.processor() or platform.machine(),
              "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rows": rows}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=1))
        tmp.replace(args.out)
    return result


if __name__ == "__main__":
    from core._script import run_main

    run_main(main)
