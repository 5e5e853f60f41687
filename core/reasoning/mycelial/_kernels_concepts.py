"""Numba kernels of the network's concept nodes: ragged events (CSR offsets + node ids).

A chunk is one event over its code nodes (one per head, ids below ``n_code``) and a variable
number of concept nodes (ids ``n_code + concept id``). Edge keys are ``a * KEY_BASE + b``
(``a < b``) with ``KEY_BASE = 2**31``: no N x N structure, room for 2**31 nodes. Only pairs
with at least one concept node come out of here; code-code pairs stay on the fixed-width path.
"""
from __future__ import annotations

import numpy as np
from numba import njit

KEY_BASE = np.int64(1) << np.int64(31)


@njit(cache=True)
def _row_nodes(codes, offsets, cnodes, i, codebook_size, out):
    h = codes.shape[1]
    for j in range(h):
        out[j] = j * codebook_size + np.int64(codes[i, j])
    m = offsets[i + 1] - offsets[i]
    for j in range(m):
        out[h + j] = cnodes[offsets[i] + j]
    return h + m


@njit(cache=True)
def ragged_pair_keys(codes, offsets, cnodes, groups, window, codebook_size, n_code, base):
    """(event keys, group keys), unsorted, of every pair involving a concept node.

    Within a row: code x concept and concept x concept pairs. Rows ``i < j <= i + window``
    of the same group: every node ``x`` of row ``i`` and ``y != x`` of row ``j`` with at least
    one of them a concept (the fixed-width rule, extended to ragged rows).
    """
    n, h = codes.shape
    maxm = 0
    for i in range(n):
        maxm = max(maxm, offsets[i + 1] - offsets[i])
    a = np.empty(h + maxm, dtype=np.int64)
    b = np.empty(h + maxm, dtype=np.int64)
    ne = 0
    ng = 0
    for i in range(n):
        m = offsets[i + 1] - offsets[i]
        ne += h * m + m * (m - 1) // 2
        if window > 0:
            for j in range(i + 1, min(n, i + window + 1)):
                if groups[j] == groups[i]:
                    mj = offsets[j + 1] - offsets[j]
                    ng += (h + m) * (h + mj) - h * h
    ev = np.empty(ne, dtype=np.int64)
    gr = np.empty(ng, dtype=np.int64)
    te = 0
    tg = 0
    for i in range(n):
        la = _row_nodes(codes, offsets, cnodes, i, codebook_size, a)
        for p in range(la):
            for q in range(max(p + 1, h), la):
                x, y = a[p], a[q]
                if x == y:
                    continue
                ev[te] = min(x, y) * base + max(x, y)
                te += 1
        if window > 0:
            for j in range(i + 1, min(n, i + window + 1)):
                if groups[j] != groups[i]:
                    continue
                lb = _row_nodes(codes, offsets, cnodes, j, codebook_size, b)
                for p in range(la):
                    for q in range(lb):
                        if p < h and q < h:
                            continue
                        x, y = a[p], b[q]
                        if x == y:
                            continue
                        gr[tg] = min(x, y) * base + max(x, y)
                        tg += 1
    return ev[:te], gr[:tg]


@njit(cache=True)
def count_concepts(cnodes, n_code, counts, sign):
    for j in range(cnodes.shape[0]):
        counts[cnodes[j] - n_code] += sign
