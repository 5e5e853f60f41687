"""The walk's steps in numpy: the reference the numba kernels (`_recall_kernels`) match bit
for bit, and the path for dtypes or powers the kernels do not cover. Split from ``graph.py``.
"""
from __future__ import annotations

import numpy as np


def _csr_index(indptr, rows, pos):
    """Positions in a CSR's indices/data of the entries of ``rows`` (``pos``: their offsets)."""
    return np.repeat(indptr[rows] - pos[:-1], np.diff(pos)) + np.arange(pos[-1])


def _csr_rows(indptr, indices, rows):
    """Column ids of the entries of ``rows`` (concatenated) and their offsets."""
    pos = np.concatenate(([0], np.cumsum(indptr[rows + 1] - indptr[rows])))
    return indices[_csr_index(indptr, rows, pos)], pos


def seed_phrases_numpy(g, n_ph, seed_rows, seed_weights, query_phrases, phrase_weight, query_phrase_weight):
    """`seed_phrases` in numpy (the reference; used for other dtypes)."""
    cols = vals = np.zeros(0, dtype=np.int64)
    if len(seed_rows) and n_ph:
        tot = g["row_tot"][seed_rows].copy()
        tot[tot == 0] = 1.0
        coef = np.asarray(seed_weights, dtype=np.float32) / tot
        cols, pos = _csr_rows(g["Mw_csr"][0], g["Mw_csr"][1], seed_rows)
        owner = np.repeat(np.arange(len(seed_rows)), np.diff(pos))
        vals = g["Mw_csr"][2][_csr_index(g["Mw_csr"][0], seed_rows, pos)] * coef[owner]
    query_phrases = np.asarray(query_phrases, dtype=np.int64)
    ph = np.unique(np.concatenate([cols, query_phrases]))
    act = np.zeros(len(ph), dtype=np.float32)
    if len(cols):
        seeded = np.zeros(len(ph), dtype=np.float32)
        np.add.at(seeded, np.searchsorted(ph, cols), vals)  # float32, in the order scipy's Mw[rows].T @ coef sums
        act += phrase_weight * seeded
    if len(query_phrases):
        w = g["idf"][query_phrases]
        if w.sum() > 0:
            act[np.searchsorted(ph, query_phrases)] += query_phrase_weight * w / w.sum()
    return ph, act


def _concept_step_numpy(ids, act, n_act: int, cgraph, idf, weight: float, top: int):
    """One damped step over the network's learned concept-concept edges.

    The activation is sparse: concepts ``ids`` (ascending) hold ``act`` (float32), every other
    one of the ``n_act`` concepts holds 0.
    The ``top`` most active concepts each pass ``weight`` x their activation to their ``top``
    neighbours with the highest npmi x n/(n+1) (more often together than chance, and seen
    more than once; rows come sorted that way), in proportion to it; hubs (idf 0: too common
    to associate) neither pass nor receive. Activations above 1 are rescaled into [0, 1].
    Returns (ids, activation, via) where ``via[concept] = (source concept, edge weight, npmi)`` of its
    strongest incoming edge; the weight is the one it passed activation by, npmi x n/(n+1), which
    ``associations`` and ``bridges`` show (not the soft-bound weight). Vectorised: no loop over sources or
    neighbours, nothing the size of the vocabulary; the floats are those of the dense step.
    """
    indptr, nbr, npmi, _, n_ab = cgraph
    n_c = min(n_act, len(indptr) - 1, len(idf))
    at = np.flatnonzero((ids < n_c) & (act != 0))
    at = at[idf[ids[at]] > 0]
    at = at[np.argsort(-act[at], kind="stable")[:top]]
    src = ids[at]
    lo = indptr[src]
    lens = np.minimum(indptr[src + 1] - lo, top)
    if not len(src) or not lens.sum():
        return ids, act.copy(), {}
    starts = np.zeros(len(src), dtype=np.int64)
    np.cumsum(lens[:-1], out=starts[1:])
    owner = np.repeat(np.arange(len(src)), lens)
    idx = np.repeat(lo - starts, lens) + np.arange(int(lens.sum()))
    b = nbr[idx]
    s = npmi[idx] * n_ab[idx] / (n_ab[idx] + 1.0)
    s = np.where(idf[np.minimum(b, len(idf) - 1)] > 0, s, 0.0)
    tot = np.bincount(owner, weights=s, minlength=len(src))
    give = weight * act[at][owner] * s / np.maximum(tot[owner], 1.0)
    inside = b < n_act
    got, to = np.unique(b[inside], return_inverse=True)
    new_ids = np.union1d(ids, got)
    out = np.zeros(len(new_ids), dtype=act.dtype)
    out[np.searchsorted(new_ids, ids)] = act
    # float64 sums per concept in input order, then float32: what the dense bincount gave
    out[np.searchsorted(new_ids, got)] += np.bincount(to, weights=give[inside], minlength=len(got)).astype(act.dtype)
    scale = max(float(out.max()), 1.0)  # activations stay in [0, 1]
    out /= scale
    # the strongest incoming edge of each reached concept, kept when it carried >= 1/4 of it
    order = np.lexsort((-give, b))
    first = order[np.r_[True, b[order][1:] != b[order][:-1]]]
    first = first[(give[first] > 0) & (give[first] / scale >= 0.25 * out[np.searchsorted(new_ids, b[first])])]
    via = {bj: (sj, wj, nj) for bj, sj, wj, nj in  # tolist: the python ints/floats int()/float() give
           zip(b[first].tolist(), src[owner[first]].tolist(), s[first].tolist(), npmi[idx[first]].tolist())}
    return new_ids, out, via
