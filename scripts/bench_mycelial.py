"""Benchmark the Hebbian network's observe against plain baselines, on one core.

One run, one stream: 2,000,000 events of 4 codes (uint8, Zipf-like code frequencies per
head) over the default 4 x 256 = 1,024 nodes. Every method starts from the same (N, 4)
codes, so building its pair index is part of its time. Each method is timed
``--repeats`` times; the table shows the median and the best.

Methods: ``MycelialReasoning.observe``; a pure-Python dict-of-dicts soft-bound update
(first 100k events, extrapolated); ``np.add.at`` and ``np.bincount`` into a dense count
array; ``scipy.sparse`` COO -> CSR accumulation; a plain numba loop over a dense float32
array (the practical ceiling, it keeps no sparse state). Then ``propagate``/``reason``
latency on the grown network, ``merge`` of two half-stream networks (checked equal to the
whole-stream network), and observe on the 16 x 4,096 = 65,536-node configuration.

Usage::

    python scripts/bench_mycelial.py [--events 2000000] [--repeats 3] [--out table.md]
"""
from __future__ import annotations

import os

for _v in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numba  # noqa: E402
import numpy as np  # noqa: E402
from numba import njit  # noqa: E402
from scipy import sparse  # noqa: E402

from core.reasoning.mycelial import MycelialConfig, MycelialReasoning  # noqa: E402

HEADS, CODES = 4, 256
N = HEADS * CODES
PAIRS = HEADS * (HEADS - 1) // 2


def zipf_codes(n: int, heads: int = HEADS, codes: int = CODES, s: float = 1.0, seed: int = 0):
    """uint8/uint16 codes, each head with p(rank r) ~ 1 / r**s over a shuffled codebook."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, codes + 1) ** s
    p /= p.sum()
    dtype = np.uint8 if codes <= 256 else np.uint16
    out = np.empty((n, heads), dtype=dtype)
    for h in range(heads):
        out[:, h] = rng.permutation(codes)[rng.choice(codes, size=n, p=p)]
    return out


def pair_keys(codes: np.ndarray) -> np.ndarray:
    """int64 keys a*N+b of every within-row pair (the numpy baselines' pair index)."""
    nodes = codes.astype(np.int64) + np.arange(HEADS, dtype=np.int64) * CODES
    return np.concatenate([nodes[:, j] * N + nodes[:, k]
                           for j in range(HEADS) for k in range(j + 1, HEADS)])


def run_ours(codes):
    return MycelialReasoning(MycelialConfig(num_heads=HEADS, codebook_size=CODES)).observe(codes)


def run_add_at(codes):
    counts = np.zeros(N * N, dtype=np.int64)
    np.add.at(counts, pair_keys(codes), 1)
    return counts


def run_bincount(codes):
    return np.bincount(pair_keys(codes), minlength=N * N)


def run_scipy(codes):
    keys = pair_keys(codes)
    a, b = np.divmod(keys, N)
    m = sparse.coo_matrix((np.ones(keys.shape[0], dtype=np.float32), (a, b)), shape=(N, N))
    return m.tocsr()  # sums duplicates


@njit(cache=True)
def _dense_loop(codes, c, n, buf):
    for i in range(codes.shape[0]):
        a0 = np.int64(codes[i, 0])
        a1 = c + np.int64(codes[i, 1])
        a2 = 2 * c + np.int64(codes[i, 2])
        a3 = 3 * c + np.int64(codes[i, 3])
        buf[a0 * n + a1] += 1.0
        buf[a0 * n + a2] += 1.0
        buf[a0 * n + a3] += 1.0
        buf[a1 * n + a2] += 1.0
        buf[a1 * n + a3] += 1.0
        buf[a2 * n + a3] += 1.0


def run_numba_dense(codes):
    buf = np.zeros(N * N, dtype=np.float32)
    _dense_loop(codes, CODES, N, buf)
    return buf


def run_python(codes, eta=0.1):
    """Dict-of-dicts, symmetric soft-bound update per pair, as one would write it first."""
    w: dict[int, dict[int, float]] = {}
    for row in codes.tolist():
        nodes = [h * CODES + c for h, c in enumerate(row)]
        for j in range(HEADS):
            a = nodes[j]
            for k in range(j + 1, HEADS):
                b = nodes[k]
                wa = w.setdefault(a, {})
                v = wa.get(b, 0.0)
                v += eta * (1.0 - v)
                wa[b] = v
                w.setdefault(b, {})[a] = v
    return w


CPU = {}  # wall-clock array id -> CPU-time array of the same runs


def timed(fn, *args, repeats=3):
    """Wall-clock seconds of ``repeats`` runs (CPU time of this thread kept in ``CPU``)."""
    ts, cs = [], []
    for _ in range(repeats):
        c = time.thread_time()
        t = time.perf_counter()
        out = fn(*args)
        ts.append(time.perf_counter() - t)
        cs.append(time.thread_time() - c)
    ts = np.array(ts)
    CPU[id(ts)] = np.array(cs)
    return ts, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--python-events", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=None,
                    help="also write the table to this Markdown file (default: print it only)")
    args = ap.parse_args()
    numba.set_num_threads(1)

    codes = zipf_codes(args.events)
    n_pairs = args.events * PAIRS
    # warm up (numba compile / cache load) on a small stream, outside the timings
    for fn in (run_ours, run_numba_dense, run_add_at, run_bincount, run_scipy):
        fn(codes[:50_000])
    ref = run_bincount(codes)

    rows = []

    def add(name, ts, pairs, note="", cpu=None):
        med, best = float(np.median(ts)), float(ts.min())
        cpu = CPU.get(id(ts)) if cpu is None else cpu
        cpu_med = float(np.median(cpu))
        rows.append((name, med, best, pairs / med, pairs / best, note, pairs / cpu_med))
        print(f"{name:40s} median {med * 1e3:9.1f} ms  {pairs / med / 1e6:8.1f} M pair-updates/s "
              f"(CPU time: {pairs / cpu_med / 1e6:8.1f})", flush=True)

    ts, net = timed(run_ours, codes, repeats=args.repeats)
    assert np.array_equal(net.counts_, ref[net.keys_].astype(np.float64)) and net.keys_.shape[0] == np.count_nonzero(ref)
    add("MycelialReasoning.observe (numba)", ts, n_pairs, "sparse state, soft-bound weights")
    def batched(c, size=10_000):
        net = MycelialReasoning(MycelialConfig(num_heads=HEADS, codebook_size=CODES))
        for i in range(0, c.shape[0], size):
            net.observe(c[i:i + size])
        return net

    ts, net_b = timed(batched, codes, repeats=args.repeats)
    assert net_b == net
    add("MycelialReasoning.observe, 10k-event batches", ts, n_pairs, "streaming: 200 calls, same final state")
    ts, _ = timed(run_numba_dense, codes, repeats=args.repeats)
    add("plain numba loop, dense float32 (ceiling)", ts, n_pairs, "counts only, N x N array")
    ts, _ = timed(run_bincount, codes, repeats=args.repeats)
    add("np.bincount, dense", ts, n_pairs, "counts only, N x N array")
    ts, _ = timed(run_add_at, codes, repeats=args.repeats)
    add("np.add.at, dense int64", ts, n_pairs, "counts only, N x N array")
    ts, m = timed(run_scipy, codes, repeats=args.repeats)
    assert m.nnz == np.count_nonzero(ref)
    add("scipy.sparse COO -> CSR", ts, n_pairs, "counts only")
    n_py = min(args.python_events, args.events)
    ts, _ = timed(run_python, codes[:n_py], repeats=1)
    cpu = CPU[id(ts)] * (args.events / n_py)
    ts = ts * (args.events / n_py)
    add("pure Python dict-of-dicts", ts, n_pairs, f"first {n_py:,} events, extrapolated", cpu=cpu)

    # propagate / reason latency on the grown network, one query at a time
    rng = np.random.default_rng(1)
    queries = codes[rng.integers(0, args.events, size=args.queries)]
    net.propagate(queries[0])  # builds the cached matrices
    lat, cpu = {}, {}
    for name, fn in (("propagate", net.propagate), ("reason", net.reason)):
        ts = np.empty(args.queries)
        cs = np.empty(args.queries)
        for i, q in enumerate(queries):
            c = time.thread_time()
            t = time.perf_counter()
            fn(q)
            ts[i] = time.perf_counter() - t
            cs[i] = time.thread_time() - c
        lat[name] = (np.percentile(ts, 50), np.percentile(ts, 99))
        cpu[name] = (np.percentile(cs, 50), np.percentile(cs, 99))
        print(f"{name} p50 {lat[name][0] * 1e3:.3f} ms p99 {lat[name][1] * 1e3:.3f} ms "
              f"(CPU time p50 {cpu[name][0] * 1e3:.3f} p99 {cpu[name][1] * 1e3:.3f})", flush=True)
    ol = np.empty(min(args.queries, 500))  # observe one event, then reason (full_pipeline)
    for i in range(ol.shape[0]):
        t = time.perf_counter()
        net.observe(queries[i])
        net.reason(queries[-1 - i])
        ol[i] = time.perf_counter() - t
    for i in range(ol.shape[0]):
        net.unobserve(queries[i])  # back to the stream's state, for the merge check below
    lat["observe+reason"] = (np.percentile(ol, 50), np.percentile(ol, 99))
    cold = np.empty(args.repeats)
    for i in range(args.repeats):  # first query after a change rebuilds the CSR/dense cache
        net._dirty()
        t = time.perf_counter()
        net.propagate(queries[i])
        cold[i] = time.perf_counter() - t

    # merge: two half-stream networks into one; equal to the whole-stream network
    half = args.events // 2
    a0, b0 = run_ours(codes[:half]), run_ours(codes[half:])
    mts = []
    for _ in range(args.repeats):
        a = MycelialReasoning(a0.config)
        a.keys_, a.counts_, a.group_counts_ = a0.keys_.copy(), a0.counts_.copy(), a0.group_counts_.copy()
        a.node_counts_, a.n_events_ = a0.node_counts_.copy(), a0.n_events_
        t = time.perf_counter()
        a.merge(b0)
        mts.append(time.perf_counter() - t)
    assert a == net, "merge of the halves differs from the whole stream"
    print(f"merge median {np.median(mts) * 1e3:.2f} ms", flush=True)

    # the 65,536-node configuration (sorted-key path, no N x N array)
    big_events = min(100_000, args.events)
    big_codes = zipf_codes(big_events, heads=16, codes=4096, seed=2)
    big_cfg = MycelialConfig(num_heads=16, codebook_size=4096)
    MycelialReasoning(big_cfg).observe(big_codes[:1000])
    ts, big = timed(lambda c: MycelialReasoning(big_cfg).observe(c), big_codes, repeats=args.repeats)
    big_pairs = big_events * 16 * 15 // 2
    big_rate = big_pairs / np.median(ts)
    bts = np.empty(200)
    big.propagate(big_codes[0])
    for i in range(200):
        t = time.perf_counter()
        big.propagate(big_codes[i])
        bts[i] = time.perf_counter() - t
    print(f"65,536 nodes: {big_rate / 1e6:.1f} M pair-updates/s, propagate p50 {np.median(bts) * 1e3:.2f} ms", flush=True)

    ours = rows[0][3]  # the single-call observe
    numpy_best = max(r[3] for r in rows if r[0].startswith(("np.", "scipy")))
    st = net.stats()
    lines = [
        "## Hebbian network benchmark (`scripts/bench_mycelial.py`)",
        "",
        f"{args.events:,} events x 4 codes (Zipf-like, s=1.0 per head), {N:,} nodes, "
        f"{n_pairs:,} pair updates; one thread (numba {numba.__version__}, numpy {np.__version__}, "
        f"{platform.processor() or platform.machine()}, machine shared with other jobs). "
        f"Every method starts from the same uint8 codes; median and best of {args.repeats} runs. "
        "Wall clock is what the targets use; the CPU-time column (this thread's CPU seconds) "
        "shows how much of it was lost to other processes on the shared cores.",
        "",
        "| method | median ms | M pair-updates/s (median) | M pair-updates/s (best) | "
        "M pair-updates/s (CPU time) | M events/s (median) | ours is | notes |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, med, best, r_med, r_best, note, r_cpu in rows:
        lines.append(f"| {name} | {med * 1e3:,.1f} | {r_med / 1e6:,.1f} | {r_best / 1e6:,.1f} | "
                     f"{r_cpu / 1e6:,.1f} | {r_med / PAIRS / 1e6:,.2f} | {ours / r_med:,.2f}x | {note} |")
    lines += [
        "",
        f"Grown network: {st['num_edges']:,} edges over {st['active_nodes']:,} nodes.",
        "",
        "| query / operation | p50 ms | p99 ms |",
        "|---|---:|---:|",
        f"| propagate, one query (3 steps), wall clock | {lat['propagate'][0] * 1e3:.3f} | {lat['propagate'][1] * 1e3:.3f} |",
        f"| propagate, one query, CPU time of the thread | {cpu['propagate'][0] * 1e3:.3f} | {cpu['propagate'][1] * 1e3:.3f} |",
        f"| reason, one query, wall clock | {lat['reason'][0] * 1e3:.3f} | {lat['reason'][1] * 1e3:.3f} |",
        f"| observe one event, then reason (cache patched, not rebuilt) | {lat['observe+reason'][0] * 1e3:.3f} | {lat['observe+reason'][1] * 1e3:.3f} |",
        f"| first propagate after a change (rebuilds cached matrices) | {np.median(cold) * 1e3:.2f} | {cold.max() * 1e3:.2f} (max) |",
        f"| merge of two half-stream networks (median / max) | {np.median(mts) * 1e3:.2f} | {max(mts) * 1e3:.2f} |",
        f"| 65,536 nodes (16 x 4,096): propagate, one query | {np.median(bts) * 1e3:.3f} | {np.percentile(bts, 99) * 1e3:.3f} |",
        "",
        f"65,536 nodes: observe of {big_events:,} events ({big_pairs:,} pair updates) at "
        f"{big_rate / 1e6:.1f} M pair-updates/s (sorted-key path), {big.stats()['num_edges']:,} edges, "
        f"{big.stats()['memory_bytes'] / 2**20:.1f} MiB of state.",
        "",
        "Targets: "
        f">= 200 M pair-updates/s: **{'met' if ours >= 200e6 else 'missed'}** ({ours / 1e6:.0f} M/s); "
        f">= 2x every numpy/scipy baseline: **{'met' if ours >= 2 * numpy_best else 'missed'}** "
        f"({ours / numpy_best:.1f}x the best of them); propagate p50 < 1 ms: "
        f"**{'met' if lat['propagate'][0] < 1e-3 else 'missed'}**.",
        "",
    ]
    table = "\n".join(lines)
    print()
    print(table)
    if args.out:
        write_section(args.out, table)
        print(f"wrote {args.out}")


START, END = "<!-- bench_mycelial:start -->", "<!-- bench_mycelial:end -->"


def write_section(path: Path, table: str) -> None:
    """Replace the marked benchmark section of ``path`` (or create it), keeping other text."""
    block = f"{START}\n{table}\n{END}\n"
    old = path.read_text() if path.exists() else ""
    if START in old and END in old:
        new = old[:old.index(START)] + block + old[old.index(END) + len(END) + 1:]
    else:
        new = old + ("\n" if old else "") + block
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(new)
    os.replace(tmp, path)


if __name__ == "__main__":
    from core._script import run_main

    run_main(main)
