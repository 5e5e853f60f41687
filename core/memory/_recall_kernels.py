"""Numba guts of recall: the walk's per-row sums, the re-rank rows' float16 -> float32.

`pool_scores` (`PassageGraph.spread`): the walk's chunk side used ``np.unique`` (a sort with an inverse) over the ~4k rows the
phrases reach, a gather of their codes widened to int64 and a fancy-indexed sum: ~0.4 ms a
query at 100k chunks, mostly allocation and sorting. Here one pass marks the rows in
persistent per-graph scratch arrays, then sums in exactly the order and precision numpy did
(numpy sorts the distinct rows), so the scores are bit-identical.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _mark(rows, stamp, gen, pool, m):
    for t in range(rows.shape[0]):
        r = rows[t]
        if stamp[r] != gen:
            stamp[r] = gen
            pool[m] = r
            m += 1
    return m


@njit(cache=True)
def _distinct(seed_rows, rows_hit, cand_rows, stamp, gen):
    """The distinct rows of the three arrays, unsorted (``stamp[row] = gen`` marks them)."""
    pool = np.empty(seed_rows.shape[0] + rows_hit.shape[0] + cand_rows.shape[0], dtype=np.int64)
    m = _mark(seed_rows, stamp, gen, pool, 0)
    m = _mark(rows_hit, stamp, gen, pool, m)
    m = _mark(cand_rows, stamp, gen, pool, m)
    return pool[:m]


@njit(cache=True)
def _sums(pool, seed_rows, rows_hit, vals, codes, node_share, code_weight, size, seed_add, alive, slot):
    m = pool.shape[0]
    for i in range(m):
        slot[pool[i]] = i  # only the pool's rows are read below: no reset needed
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
        sc = np.float32(acc[i])
        if sc > 0 and alive[p]:
            out_rows[k] = p
            out_scores[k] = sc
            k += 1
    return out_rows[:k], out_scores[:k]


def pool_scores(seed_rows, rows_hit, vals, cand_rows, codes, node_share, code_weight, size, seed_add, alive, scratch):
    """(rows ascending, float32 scores) of every row that gets mass, scores > 0 and alive only.

    A row's score is, in float64 as ``np.bincount``/``np.add.at`` sum: its phrase masses
    ``vals`` in input order, then ``code_weight`` x the float32 sum of its codes' node shares
    (heads in order, as numpy's ``sum(axis=1)`` adds fewer than 8 terms), then ``seed_add``
    (the restart mass) in seed order; rounded to float32. ``scratch`` is `new_scratch(rows)`,
    one per graph, used under its lock: each call marks rows with a new stamp, so nothing
    is reset and a call interrupted half-way leaves nothing behind. The rows are sorted by
    numpy (~10x faster than numba's sort on ~4k int64).
    """
    stamp, slot, gen = scratch
    gen[0] += 1
    pool = np.sort(_distinct(seed_rows, rows_hit, cand_rows, stamp, gen[0]))
    return _sums(pool, seed_rows, rows_hit, vals, codes, node_share, code_weight, size, seed_add, alive, slot)


def new_scratch(n: int):
    """(stamps, slots, generation) for `pool_scores` over a graph of ``n`` rows."""
    return np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int32), np.zeros(1, dtype=np.int64)


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


@njit(cache=True)
def concept_step(ids, act, n_act, indptr, nbr, npmi, n_ab, one, idf, weight, top):
    """`_walk_numpy._concept_step_numpy` for float32 ``act``/``idf`` (``weight`` float32, ``one`` 1 in
    the dtype numpy adds to ``n_ab``), in the same order and precision: bit-identical.

    Returns (ok, new ids, activation, via's reached ids, sources, edge weights, npmi); ok False
    when no concept passes anything (the caller keeps its activation). Many small numpy
    calls (~25 a query, 0.36 ms at 100k chunks) become one pass over a few hundred edges.
    """
    n_c = min(n_act, indptr.shape[0] - 1, idf.shape[0])
    cand = np.empty(ids.shape[0], dtype=np.int64)
    m = 0
    for i in range(ids.shape[0]):
        if ids[i] < n_c and act[i] != 0 and idf[ids[i]] > 0:
            cand[m] = i
            m += 1
    keys = np.empty(m, dtype=np.float32)
    for j in range(m):
        keys[j] = -act[cand[j]]
    at = cand[:m][np.argsort(keys, kind="mergesort")[:top]]  # stable: ties keep id order
    k = at.shape[0]
    lens = np.empty(k, dtype=np.int64)
    n_e = 0
    for a in range(k):
        c = ids[at[a]]
        lens[a] = min(indptr[c + 1] - indptr[c], top)
        n_e += lens[a]
    e_f32 = np.zeros(0, dtype=np.float32)
    e_i64 = np.zeros(0, dtype=np.int64)
    e_f64 = np.zeros(0, dtype=np.float64)
    if k == 0 or n_e == 0:
        return False, e_i64, e_f32, e_i64, e_i64, e_f64, e_f64
    owner = np.empty(n_e, dtype=np.int64)
    idx = np.empty(n_e, dtype=np.int64)
    b = np.empty(n_e, dtype=np.int64)
    s = np.empty(n_e, dtype=np.float64)
    tot = np.zeros(k, dtype=np.float64)
    last = idf.shape[0] - 1
    e = 0
    for a in range(k):
        lo = indptr[ids[at[a]]]
        for t in range(lens[a]):
            p = lo + t
            owner[e] = a
            idx[e] = p
            b[e] = nbr[p]
            sv = npmi[p] * n_ab[p] / (n_ab[p] + one)
            if not idf[min(b[e], last)] > 0:
                sv = 0.0
            s[e] = sv
            tot[a] += sv
            e += 1
    give = np.empty(n_e, dtype=np.float64)
    n_in = 0
    for e in range(n_e):
        a = owner[e]
        give[e] = (weight * act[at[a]]) * s[e] / max(tot[a], 1.0)
        if b[e] < n_act:
            n_in += 1
    inside = np.empty(n_in, dtype=np.int64)
    j = 0
    for e in range(n_e):
        if b[e] < n_act:
            inside[j] = b[e]
            j += 1
    got = np.unique(inside)
    add = np.zeros(got.shape[0], dtype=np.float64)
    for e in range(n_e):
        if b[e] < n_act:
            add[np.searchsorted(got, b[e])] += give[e]
    new_ids = np.unique(np.concatenate((ids, got)))
    out = np.zeros(new_ids.shape[0], dtype=np.float32)
    for i in range(ids.shape[0]):
        out[np.searchsorted(new_ids, ids[i])] = act[i]
    for g in range(got.shape[0]):
        q = np.searchsorted(new_ids, got[g])
        out[q] = out[q] + np.float32(add[g])
    scale = max(np.float64(out.max()), 1.0)
    sc32 = np.float32(scale)
    for i in range(out.shape[0]):
        out[i] = out[i] / sc32
    # via: per reached id (ascending) its strongest edge (first in edge order on ties)
    ub = np.unique(b)
    best = np.full(ub.shape[0], -1, dtype=np.int64)
    for e in range(n_e):
        u = np.searchsorted(ub, b[e])
        if best[u] < 0 or give[e] > give[best[u]]:
            best[u] = e
    keep = np.zeros(ub.shape[0], dtype=np.bool_)
    n_v = 0
    for u in range(ub.shape[0]):
        f = best[u]
        q = np.searchsorted(new_ids, b[f])
        if q >= new_ids.shape[0]:
            raise IndexError("reached concept beyond the activation")  # as numpy's indexing would
        if give[f] > 0 and give[f] / scale >= np.float32(0.25) * out[q]:
            keep[u] = True
            n_v += 1
    vb = np.empty(n_v, dtype=np.int64)
    vs = np.empty(n_v, dtype=np.int64)
    vw = np.empty(n_v, dtype=np.float64)
    vn = np.empty(n_v, dtype=np.float64)
    j = 0
    for u in range(ub.shape[0]):
        if keep[u]:
            f = best[u]
            vb[j] = b[f]
            vs[j] = ids[at[owner[f]]]
            vw[j] = s[f]  # npmi x n/(n+1): what the edge passed on, as associations() weighs it
            vn[j] = npmi[idx[f]]
            j += 1
    return True, new_ids, out, vb, vs, vw, vn


@njit(cache=True)
def seed_phrases(seed_rows, seed_w, row_tot, indptr, indices, data, q_ids, q_add, phrase_weight):
    """The walk's first step (float32 throughout, as `PassageGraph.spread`'s numpy did):
    (phrase ids ascending, activation).

    Each seed row passes ``seed_w / row_tot`` x its idf-weighted entries (``row_tot`` 0 read
    as 1), summed per phrase in entry order, times ``phrase_weight``; then the query's
    phrases ``q_ids`` get ``q_add`` (gathered, added, written back in order, as numpy's
    fancy ``+=`` does).
    """
    n = 0
    for s in range(seed_rows.shape[0]):
        n += indptr[seed_rows[s] + 1] - indptr[seed_rows[s]]
    cols = np.empty(n, dtype=np.int64)
    vals = np.empty(n, dtype=np.float32)
    e = 0
    for s in range(seed_rows.shape[0]):
        r = seed_rows[s]
        t = row_tot[r]
        if t == 0:
            t = np.float32(1.0)
        coef = seed_w[s] / t
        for p in range(indptr[r], indptr[r + 1]):
            cols[e] = indices[p]
            vals[e] = data[p] * coef
            e += 1
    ph = np.unique(np.concatenate((cols, q_ids)))
    act = np.zeros(ph.shape[0], dtype=np.float32)
    if n:
        seeded = np.zeros(ph.shape[0], dtype=np.float32)
        for e in range(n):
            j = np.searchsorted(ph, cols[e])
            seeded[j] = seeded[j] + vals[e]
        for i in range(ph.shape[0]):
            act[i] = act[i] + phrase_weight * seeded[i]
    if q_add.shape[0]:
        at = np.empty(q_ids.shape[0], dtype=np.int64)
        new = np.empty(q_ids.shape[0], dtype=np.float32)
        for j in range(q_ids.shape[0]):
            at[j] = np.searchsorted(ph, q_ids[j])
            new[j] = act[at[j]] + q_add[j]
        for j in range(q_ids.shape[0]):
            act[at[j]] = new[j]
    return ph, act


@njit(cache=True)
def phrase_rows_sqrt(active, act, df, indptr, indices, data, deg, deg_ref):
    """(rows, float32 mass) the active phrases pass to their chunks, for ``df_power`` 0.5:
    ``act / sqrt(max(df, 1))`` x entry x ``sqrt(deg_ref / deg[row])``, entries in phrase order.

    float32 ``x ** 0.5`` is ``sqrt(x)`` (correctly rounded both; numpy gives them equal), so
    the floats are numpy's.
    """
    n = 0
    for a in range(active.shape[0]):
        n += indptr[active[a] + 1] - indptr[active[a]]
    rows = np.empty(n, dtype=np.int64)
    vals = np.empty(n, dtype=np.float32)
    e = 0
    for a in range(active.shape[0]):
        c = active[a]
        d = df[c]
        if d < 1.0:  # np.maximum(df, 1)
            d = np.float32(1.0)
        share = act[a] / np.sqrt(d)
        for p in range(indptr[c], indptr[c + 1]):
            r = indices[p]
            rows[e] = r
            vals[e] = (share * data[p]) * np.sqrt(deg_ref / deg[r])
            e += 1
    return rows, vals
