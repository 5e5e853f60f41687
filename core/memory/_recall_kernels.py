"""Numba guts of recall: the walk's per-row sums, the re-rank rows' float16 -> float32.

`pool_scores` (`PassageGraph.spread`): the walk's chunk side used ``np.unique`` (a sort with an inverse) over the ~4k rows the
phrases reach, a gather of their codes widened to int64 and a fancy-indexed sum: ~0.4 ms a
query at 100k chunks, mostly allocation and sorting. Here one pass marks the rows in a
persistent slot array (one int32 per row, reset before returning), then sums in exactly
the order and precision numpy did (numpy sorts the distinct rows), so the scores are bit-identical.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _mark(rows, slot, pool, m):
    for t in range(rows.shape[0]):
        r = rows[t]
        if slot[r] < 0:
            slot[r] = 0
            pool[m] = r
            m += 1
    return m


@njit(cache=True)
def _distinct(seed_rows, rows_hit, cand_rows, slot):
    """The distinct rows of the three arrays, unsorted; marks them in ``slot`` (0)."""
    pool = np.empty(seed_rows.shape[0] + rows_hit.shape[0] + cand_rows.shape[0], dtype=np.int64)
    m = _mark(seed_rows, slot, pool, 0)
    m = _mark(rows_hit, slot, pool, m)
    m = _mark(cand_rows, slot, pool, m)
    return pool[:m]


@njit(cache=True)
def _sums(pool, seed_rows, rows_hit, vals, codes, node_share, code_weight, size, seed_add, alive, slot):
    m = pool.shape[0]
    for i in range(m):
        slot[pool[i]] = i
    acc = np.zeros(m, dtype=np.float64)
    for t in range(rows_hit.shape[0]):
        acc[slot[rows_hit[t]]] += np.float64(vals[t])
    heads = codes.shape[1]
    for i in range(m):
        p = pool[i]
        s = node_share[np.int64(codes[p, 0])]
        for h in range(1, heads):
            s = s + node_share[np.int64(codes[p, h]) + h * size]
        acc[i] += np.float64(code_weight * s)
    for t in range(seed_add.shape[0]):
        acc[slot[seed_rows[t]]] += np.float64(seed_add[t])
    out_rows = np.empty(m, dtype=np.int64)
    out_scores = np.empty(m, dtype=np.float32)
    k = 0
    for i in range(m):
        p = pool[i]
        slot[p] = -1
        sc = np.float32(acc[i])
        if sc > 0 and alive[p]:
            out_rows[k] = p
            out_scores[k] = sc
            k += 1
    return out_rows[:k], out_scores[:k]


def pool_scores(seed_rows, rows_hit, vals, cand_rows, codes, node_share, code_weight, size, seed_add, alive, slot):
    """(rows ascending, float32 scores) of every row that gets mass, scores > 0 and alive only.

    A row's score is, in float64 as ``np.bincount``/``np.add.at`` sum: its phrase masses
    ``vals`` in input order, then ``code_weight`` x the float32 sum of its codes' node shares
    (heads in order, as numpy's ``sum(axis=1)`` adds fewer than 8 terms), then ``seed_add``
    (the restart mass) in seed order; rounded to float32. ``slot`` (int32, one per graph
    row, all -1) is scratch and is all -1 again on return. The rows are sorted by numpy
    (~10x faster than numba's sort on ~4k int64).
    """
    pool = _distinct(seed_rows, rows_hit, cand_rows, slot)
    try:
        pool = np.sort(pool)
    except BaseException:
        slot[pool] = -1
        raise
    return _sums(pool, seed_rows, rows_hit, vals, codes, node_share, code_weight, size, seed_add, alive, slot)


@njit(cache=True)
def f32_rows(rows_u16, ids, f32_of_f16):
    """(float32 rows ``ids`` of the float16 matrix viewed as uint16, True where a row has a nonzero bit).

    Gather and conversion in one pass through the exact 65,536-entry table (the float32 of
    every float16): a fancy-indexed copy and ``np.take`` on it read and wrote the rows twice.
    """
    d = rows_u16.shape[1]
    out = np.empty((ids.shape[0], d), dtype=np.float32)
    have = np.zeros(ids.shape[0], dtype=np.bool_)
    for k in range(ids.shape[0]):
        r = rows_u16[ids[k]]
        o = out[k]
        bits = np.uint16(0)
        for j in range(d):
            h = r[j]
            bits |= h
            o[j] = f32_of_f16[h]
        have[k] = bits != 0
    return out, have
