"""Numba kernels of the Hebbian network: raw int/float arrays in, raw arrays out.

Every function here is a module-level ``@njit(cache=True)`` kernel, so it compiles once per
dtype signature and the compiled code is cached on disk. No validation happens here: the
Python wrappers in ``network.py`` check their inputs once and then call these guts.

Edge keys
---------
An undirected edge between nodes ``a < b`` of an ``N``-node network is the int64 key
``a * N + b``. The network stores its edges as a sorted array of unique keys with two
float64 count arrays beside it (eta co-activations and group co-activations).
"""
from __future__ import annotations

import numpy as np
from numba import njit


# --------------------------------------------------------------------------- observe


@njit(cache=True)
def count_nodes(codes, codebook_size, node_counts, sign):
    """Add ``sign`` to ``node_counts[head * codebook_size + code]`` for every cell of ``codes``."""
    n, h = codes.shape
    for i in range(n):
        for j in range(h):
            node_counts[j * codebook_size + np.int64(codes[i, j])] += sign


@njit(cache=True)
def accumulate_event_pairs_dense(codes, codebook_size, n_nodes, buf):
    """Count every within-row pair of heads into a dense ``N*N`` int32 buffer.

    Rows activate one node per head, and node ids grow with the head, so head ``j < k``
    gives ``a < b`` and the key ``a * N + b`` lies in the upper triangle. This is the fastest
    path for small networks (1,024 nodes: a 4 MB buffer) and large batches. Four heads
    (the default) take an unrolled loop, 2.5x faster than the general one. Node counts
    are not touched here (that costs a third more); ``drain_dense`` derives them.
    """
    n, h = codes.shape
    c = np.int64(codebook_size)
    if h == 4:
        for i in range(n):
            a0 = np.int64(codes[i, 0])
            a1 = c + np.int64(codes[i, 1])
            a2 = 2 * c + np.int64(codes[i, 2])
            a3 = 3 * c + np.int64(codes[i, 3])
            r0 = a0 * n_nodes
            r1 = a1 * n_nodes
            buf[r0 + a1] += 1
            buf[r0 + a2] += 1
            buf[r0 + a3] += 1
            buf[r1 + a2] += 1
            buf[r1 + a3] += 1
            buf[a2 * n_nodes + a3] += 1
        return
    nodes = np.empty(h, dtype=np.int64)
    for i in range(n):
        for j in range(h):
            nodes[j] = j * c + np.int64(codes[i, j])
        for j in range(h):
            base = nodes[j] * n_nodes
            for k in range(j + 1, h):
                buf[base + nodes[k]] += 1


@njit(cache=True)
def event_pair_keys(codes, codebook_size, n_nodes):
    """Return the int64 key of every within-row pair, row by row (unsorted)."""
    n, h = codes.shape
    per_row = h * (h - 1) // 2
    out = np.empty(n * per_row, dtype=np.int64)
    nodes = np.empty(h, dtype=np.int64)
    t = 0
    for i in range(n):
        for j in range(h):
            nodes[j] = j * codebook_size + np.int64(codes[i, j])
        for j in range(h):
            for k in range(j + 1, h):
                out[t] = nodes[j] * n_nodes + nodes[k]
                t += 1
    return out


@njit(cache=True)
def group_pair_keys(codes, groups, window, codebook_size, n_nodes):
    """Return the key of every cross-row pair of the group co-activation rule (unsorted).

    Rows ``i < j <= i + window`` with ``groups[i] == groups[j]`` co-activate each other's
    nodes: every ordered choice of a node ``x`` of row ``i`` and ``y`` of row ``j`` with
    ``x != y`` strengthens the edge ``{x, y}`` once.
    """
    n, h = codes.shape
    total = 0
    for i in range(n):
        stop = min(n, i + window + 1)
        for j in range(i + 1, stop):
            if groups[j] == groups[i]:
                for p in range(h):
                    for q in range(h):
                        if p != q or codes[i, p] != codes[j, q]:
                            total += 1
    out = np.empty(total, dtype=np.int64)
    t = 0
    for i in range(n):
        stop = min(n, i + window + 1)
        for j in range(i + 1, stop):
            if groups[j] == groups[i]:
                for p in range(h):
                    x = p * codebook_size + np.int64(codes[i, p])
                    for q in range(h):
                        y = q * codebook_size + np.int64(codes[j, q])
                        if x < y:
                            out[t] = x * n_nodes + y
                            t += 1
                        elif y < x:
                            out[t] = y * n_nodes + x
                            t += 1
    return out


@njit(cache=True)
def radix_sort(keys, max_key):
    """Sort non-negative int64 keys below ``max_key`` (LSD radix, 11-bit digits).

    Edge keys of a 65,536-node network fit in 32 bits: three counting passes whose 2,048
    buckets stay in cache, several times faster than ``np.sort`` for the millions of pair
    keys of a large batch.
    """
    n = keys.shape[0]
    bits = 0
    while (np.int64(1) << bits) < max_key:
        bits += 1
    src = keys.copy()
    dst = np.empty_like(src)
    shift = 0
    count = np.empty(2049, dtype=np.int64)
    while shift < bits:
        count[:] = 0
        for i in range(n):
            count[((src[i] >> shift) & 0x7FF) + 1] += 1
        for d in range(2048):
            count[d + 1] += count[d]
        for i in range(n):
            d = (src[i] >> shift) & 0x7FF
            dst[count[d]] = src[i]
            count[d] += 1
        src, dst = dst, src
        shift += 11
    return src


@njit(cache=True)
def run_lengths(sorted_keys):
    """Collapse a sorted key array into (unique keys, float64 counts)."""
    n = sorted_keys.shape[0]
    if n == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    m = 1
    for i in range(1, n):
        if sorted_keys[i] != sorted_keys[i - 1]:
            m += 1
    keys = np.empty(m, dtype=np.int64)
    counts = np.zeros(m, dtype=np.float64)
    t = 0
    keys[0] = sorted_keys[0]
    counts[0] = 1.0
    for i in range(1, n):
        if sorted_keys[i] != sorted_keys[i - 1]:
            t += 1
            keys[t] = sorted_keys[i]
        counts[t] += 1.0
    return keys, counts


@njit(cache=True)
def drain_dense(buf, n_nodes, codebook_size, node_counts, max_out):
    """Return (sorted keys, float64 counts) of the non-zero cells of a dense pair buffer,
    and zero those cells so the buffer can be reused without reallocating 4 MB.

    Only cells ``(a, b)`` with ``b`` in a later head than ``a`` can hold event pairs, so
    each row is scanned from the next head's first node on; ``max_out`` (the batch's pair
    count) bounds the output, so one pass suffices. Node activation counts come for free:
    every event holds exactly one pair (head-0 node, head-h node) for each ``h >= 1``, so
    ``node_counts[b] += count`` for head-0 rows, and head-0 nodes take the counts of their
    pairs with head 1. Needs at least two heads.
    """
    keys = np.empty(max_out, dtype=np.int64)
    counts = np.empty(max_out, dtype=np.float64)
    t = 0
    head1_end = 2 * codebook_size
    for a in range(n_nodes):
        start = (a // codebook_size + 1) * codebook_size
        row = a * n_nodes
        first = a < codebook_size
        for b in range(start, n_nodes):
            v = buf[row + b]
            if v != 0:
                keys[t] = row + b
                counts[t] = v
                buf[row + b] = 0
                t += 1
                if first:
                    node_counts[b] += v
                    if b < head1_end:
                        node_counts[a] += v
    return keys[:t].copy(), counts[:t].copy()


@njit(cache=True)
def add_known(main_keys, main_n, main_g, keys, n, g):
    """Add the counts of the sorted ``keys`` that exist in ``main_keys`` in place.

    Both lists are sorted, so one sequential walk finds them (cheaper than a binary search
    per key once the batch holds more than a few percent of the edges). Returns the mask
    of keys found.
    """
    found = np.zeros(keys.shape[0], dtype=np.bool_)
    m = main_keys.shape[0]
    j = 0
    for i in range(keys.shape[0]):
        x = keys[i]
        while j < m and main_keys[j] < x:
            j += 1
        if j < m and main_keys[j] == x:
            main_n[j] += n[i]
            main_g[j] += g[i]
            found[i] = True
    return found


@njit(cache=True)
def add_known_sparse(main_keys, main_n, main_g, keys, n, g):
    """``add_known`` for a batch much smaller than ``main_keys``: galloping search from the
    previous hit, O(batch x log(edges / batch)) instead of a walk over every edge."""
    found = np.zeros(keys.shape[0], dtype=np.bool_)
    m = main_keys.shape[0]
    lo = 0
    for i in range(keys.shape[0]):
        x = keys[i]
        step = 1
        hi = lo
        while hi < m and main_keys[hi] < x:  # gallop: main_keys[lo:hi] < x
            lo = hi + 1
            hi = lo + step
            step *= 2
        if hi > m:
            hi = m
        while lo < hi:  # first position with main_keys[pos] >= x in [lo, hi]
            mid = (lo + hi) // 2
            if main_keys[mid] < x:
                lo = mid + 1
            else:
                hi = mid
        if lo < m and main_keys[lo] == x:
            main_n[lo] += n[i]
            main_g[lo] += g[i]
            found[i] = True
    return found


@njit(cache=True)
def merge_sorted(k1, n1, g1, k2, n2, g2, s2):
    """Union of two sorted edge lists; counts of shared keys are summed, list 2 scaled by ``s2``.

    ``s2 = -1`` subtracts (used by ``unobserve``); the caller removes edges left at zero.
    """
    a = k1.shape[0]
    b = k2.shape[0]
    keys = np.empty(a + b, dtype=np.int64)
    n = np.empty(a + b, dtype=np.float64)
    g = np.empty(a + b, dtype=np.float64)
    i = 0
    j = 0
    t = 0
    while i < a and j < b:
        if k1[i] < k2[j]:
            keys[t] = k1[i]
            n[t] = n1[i]
            g[t] = g1[i]
            i += 1
        elif k2[j] < k1[i]:
            keys[t] = k2[j]
            n[t] = s2 * n2[j]
            g[t] = s2 * g2[j]
            j += 1
        else:
            keys[t] = k1[i]
            n[t] = n1[i] + s2 * n2[j]
            g[t] = g1[i] + s2 * g2[j]
            i += 1
            j += 1
        t += 1
    while i < a:
        keys[t] = k1[i]
        n[t] = n1[i]
        g[t] = g1[i]
        i += 1
        t += 1
    while j < b:
        keys[t] = k2[j]
        n[t] = s2 * n2[j]
        g[t] = s2 * g2[j]
        j += 1
        t += 1
    return keys[:t].copy(), n[:t].copy(), g[:t].copy()


# --------------------------------------------------------------------------- weights and decay


@njit(cache=True)
def weights_from_counts(n, g, log_keep, log_keep_group):
    """``w = 1 - (1 - eta)**n * (1 - eta_group)**g``, computed as ``-expm1(log complement)``."""
    m = n.shape[0]
    w = np.empty(m, dtype=np.float64)
    for i in range(m):
        w[i] = -np.expm1(n[i] * log_keep + g[i] * log_keep_group)
    return w


@njit(cache=True)
def decay_counts(n, g, log_keep, log_keep_group, rate, min_weight):
    """Rescale counts so each weight becomes ``w * rate``; return the mask of edges kept.

    The log complement ``s = n log(1-eta) + g log(1-eta_group)`` of the decayed weight is
    ``log1p(-rate * w)``; both counts are scaled by the same factor ``s_new / s``, so the
    eta/group proportion of each edge is preserved. Edges whose decayed weight falls
    below ``min_weight`` are marked for removal.
    """
    m = n.shape[0]
    keep = np.empty(m, dtype=np.bool_)
    for i in range(m):
        s = n[i] * log_keep + g[i] * log_keep_group
        w_new = -np.expm1(s) * rate
        if w_new < min_weight or w_new <= 0.0:
            keep[i] = False
            continue
        keep[i] = True
        f = np.log1p(-w_new) / s
        n[i] *= f
        g[i] *= f
    return keep


# the reading kernels live in their own module; re-exported so ``K.<name>`` keeps working
from core.reasoning.mycelial._kernels_spread import (  # noqa: E402,F401
    dense_refresh, dense_weights, spread, spread_rows, spread_rows_dense, symmetric_csr,
)
