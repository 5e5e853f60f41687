"""Numba kernels that read the network: symmetric CSR, spreading activation, dense matrices.

Split from ``_kernels.py`` (which learns: counts, sorting, merging, decay); the same rules
hold: module-level ``@njit(cache=True)`` guts, no validation, edge keys ``a * N + b``.
"""
from __future__ import annotations

import numpy as np
from numba import njit


# --------------------------------------------------------------------------- CSR and propagation


@njit(cache=True)
def symmetric_csr(keys, w, n_nodes):
    """Build a symmetric CSR (int32 indptr/indices, float32 data) from sorted upper keys.

    Keys are sorted by (a, b), so each row receives its lower entries (ascending) before its
    upper entries (ascending): the column indices of every row come out sorted.
    Also returns the float32 weighted degree of every node.
    """
    m = keys.shape[0]
    deg_count = np.zeros(n_nodes + 1, dtype=np.int64)
    for i in range(m):
        a = keys[i] // n_nodes
        b = keys[i] - a * n_nodes
        deg_count[a + 1] += 1
        deg_count[b + 1] += 1
    indptr = np.empty(n_nodes + 1, dtype=np.int32)
    indptr[0] = 0
    acc = 0
    for r in range(n_nodes):
        acc += deg_count[r + 1]
        indptr[r + 1] = acc
    fill = np.empty(n_nodes, dtype=np.int64)
    for r in range(n_nodes):
        fill[r] = indptr[r]
    indices = np.empty(2 * m, dtype=np.int32)
    data = np.empty(2 * m, dtype=np.float32)
    strength = np.zeros(n_nodes, dtype=np.float64)
    for i in range(m):
        a = keys[i] // n_nodes
        b = keys[i] - a * n_nodes
        wi = w[i]
        indices[fill[a]] = b
        data[fill[a]] = wi
        fill[a] += 1
        indices[fill[b]] = a
        data[fill[b]] = wi
        fill[b] += 1
        strength[a] += wi
        strength[b] += wi
    return indptr, indices, data, strength.astype(np.float32)


@njit(cache=True)
def spread(indptr, indices, data, strength, seed, steps, damping, threshold, act, signal):
    """Damped spreading activation from one seed vector; writes ``act`` and ``signal``.

    Each step computes ``x_i = sum_j w_ij a_j / max(1, s_i)`` over the active frontier
    (nodes with ``a_j >= threshold``; cost follows the frontier's degree, not the graph
    size), where ``s_i`` is node ``i``'s weighted degree, so hubs are not favoured just for
    touching everything. ``x`` is then rescaled by its maximum, making the strongest
    associate receive 1, and ``a <- (1 - d) * seed + d * x``. With seed, x in [0, 1] every
    activation stays in [0, 1] whatever the degree. ``signal`` receives the last ``d * x``
    (what the network added on top of the seed); ``act`` the final activation with values
    below ``threshold`` set to 0.
    """
    n = seed.shape[0]
    cur = np.empty(n, dtype=np.float32)
    for i in range(n):
        cur[i] = seed[i]
        signal[i] = 0.0
    x = np.zeros(n, dtype=np.float32)
    touched = np.empty(n, dtype=np.int64)
    mark = np.zeros(n, dtype=np.bool_)
    for _ in range(steps):
        nt = 0
        for j in range(n):
            aj = cur[j]
            if aj > 0.0 and aj >= threshold:
                for p in range(indptr[j], indptr[j + 1]):
                    i = indices[p]
                    x[i] += data[p] * aj
                    if not mark[i]:
                        mark[i] = True
                        touched[nt] = i
                        nt += 1
        top = np.float32(0.0)
        for t in range(nt):
            i = touched[t]
            norm = strength[i]
            if norm < 1.0:
                norm = 1.0
            x[i] = x[i] / norm
            if x[i] > top:
                top = x[i]
        for i in range(n):
            cur[i] = (1.0 - damping) * seed[i]
            signal[i] = 0.0
        for t in range(nt):
            i = touched[t]
            v = damping * (x[i] / top) if top > 0.0 else np.float32(0.0)
            signal[i] = v
            cur[i] += v
            if cur[i] > 1.0:
                cur[i] = 1.0
            x[i] = 0.0
            mark[i] = False
    for i in range(n):
        v = cur[i]
        act[i] = v if v >= threshold else 0.0


@njit(cache=True)
def spread_rows(indptr, indices, data, strength, seeds, steps, damping, threshold):
    """Spread from each row of ``seeds`` (float32, shape (n_rows, N), values in [0, 1])."""
    n_rows, n_nodes = seeds.shape
    act = np.zeros((n_rows, n_nodes), dtype=np.float32)
    signal = np.zeros((n_rows, n_nodes), dtype=np.float32)
    for r in range(n_rows):
        spread(indptr, indices, data, strength, seeds[r], steps, damping, threshold, act[r], signal[r])
    return act, signal


@njit(cache=True)
def spread_rows_dense(dense, strength, seeds, steps, damping, threshold):
    """``spread_rows`` over a dense float32 (N, N) weight matrix, for small dense graphs.

    Same rule as ``spread``; each frontier node adds its whole contiguous row, which
    vectorises, where the CSR push gathers and scatters. All seed rows step together, so
    each weight row is read once per step for all of them (the matrix, 4 MB at 1,024
    nodes, does not stay in cache between rows); every ``x[r, i]`` still sums its terms in
    ascending ``j``, so the result is bit-identical to spreading the rows one by one.
    """
    n = dense.shape[0]
    n_rows = seeds.shape[0]
    act = np.zeros((n_rows, n), dtype=np.float32)
    signal = np.zeros((n_rows, n), dtype=np.float32)
    cur = np.empty((n_rows, n), dtype=np.float32)
    x = np.empty((n_rows, n), dtype=np.float32)
    inv = np.empty(n, dtype=np.float32)
    for i in range(n):
        inv[i] = 1.0 / max(strength[i], np.float32(1.0))
    for r in range(n_rows):
        for i in range(n):
            cur[r, i] = seeds[r, i]
    for _ in range(steps):
        x[:, :] = 0.0
        for j in range(n):
            row = dense[j]
            for r in range(n_rows):
                aj = cur[r, j]
                if aj > 0.0 and aj >= threshold:
                    xr = x[r]
                    for i in range(n):
                        xr[i] += row[i] * aj
        for r in range(n_rows):
            top = np.float32(0.0)
            for i in range(n):
                x[r, i] *= inv[i]
                if x[r, i] > top:
                    top = x[r, i]
            scale = damping / top if top > 0.0 else np.float32(0.0)
            for i in range(n):
                v = x[r, i] * scale
                signal[r, i] = v
                c = (1.0 - damping) * seeds[r, i] + v
                cur[r, i] = c if c < 1.0 else np.float32(1.0)
    for r in range(n_rows):
        for i in range(n):
            v = cur[r, i]
            act[r, i] = v if v >= threshold else 0.0
    return act, signal


@njit(cache=True)
def _row_strength(W, r):
    acc = 0.0
    row = W[r]
    for i in range(row.shape[0]):
        acc += row[i]
    return np.float32(acc)


@njit(cache=True)
def dense_weights(keys, n, g, log_keep, log_keep_group, n_nodes):
    """Dense symmetric float32 weight matrix and float32 weighted degrees, from counts.

    One pass over the edges, for small dense graphs, where it is much cheaper than
    building a CSR first. Degrees are float64 sums of each float32 row in column order,
    exactly as ``dense_refresh`` recomputes them, so a refreshed matrix is bit-identical
    to a rebuilt one.
    """
    W = np.zeros((n_nodes, n_nodes), dtype=np.float32)
    for i in range(keys.shape[0]):
        a = keys[i] // n_nodes
        b = keys[i] - a * n_nodes
        w = -np.expm1(n[i] * log_keep + g[i] * log_keep_group)
        W[a, b] = w
        W[b, a] = w
    strength = np.empty(n_nodes, dtype=np.float32)
    for r in range(n_nodes):
        strength[r] = _row_strength(W, r)
    return W, strength


@njit(cache=True)
def _lookup(keys, x):
    lo = 0
    hi = keys.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if keys[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo if lo < keys.shape[0] and keys[lo] == x else -1


@njit(cache=True)
def dense_refresh(W, strength, changed, main_keys, main_n, main_g, pend_keys, pend_n, pend_g,
                  log_keep, log_keep_group):
    """Rewrite the cells of the ``changed`` edge keys in a cached dense matrix, in place.

    Each changed edge's counts are looked up (main arrays, else the pending side list), its
    weight recomputed as ``dense_weights`` does, and the degrees of the touched rows summed
    again, so after an observe the cache matches a rebuild bit for bit at a fraction of
    the cost.
    """
    n_nodes = W.shape[0]
    touched = np.zeros(n_nodes, dtype=np.bool_)
    for i in range(changed.shape[0]):
        k = changed[i]
        j = _lookup(main_keys, k)
        if j >= 0:
            c_n = main_n[j]
            c_g = main_g[j]
        else:
            j = _lookup(pend_keys, k)
            c_n = pend_n[j]
            c_g = pend_g[j]
        a = k // n_nodes
        b = k - a * n_nodes
        w = -np.expm1(c_n * log_keep + c_g * log_keep_group)
        W[a, b] = w
        W[b, a] = w
        touched[a] = True
        touched[b] = True
    for r in range(n_nodes):
        if touched[r]:
            strength[r] = _row_strength(W, r)
