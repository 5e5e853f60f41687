"""A chunk's similarity read with its neighbours in the document.

The best chunk of a document is the maximum of as many cosines as the document has chunks,
and a maximum grows with the number of draws: a long passage split in three gets three
chances for one short stretch to happen to match the query, where a passage embedded whole
gets one. On HotpotQA every passage `similar` lost to dense whole passages (title: text)
lost to such a multi-chunk passage (best chunk 0.33-0.63, whole passage 0.11-0.50). Blending
a chunk's cosine with the mean cosine of its adjacent chunks (same document, position +-1)
keeps a match that its context supports and discounts a stretch its context does not; a chunk
with no neighbour (a one-chunk document) keeps its cosine, and the score stays a weighted mean
of cosines, so in cosine units.
"""
from __future__ import annotations

import numpy as np

# share of the neighbours' mean cosine in a chunk's score: 0.1 closes the HotpotQA gap to dense whole passages
# and lowers no benchmark; 0.25 gains more (WikiText, Brown, real docs) but costs MuSiQue one gold passage
NEIGHBOUR_WEIGHT = 0.1


def neighbour_rows(graph, rows) -> tuple[np.ndarray, np.ndarray]:
    """(i, row) pairs: ``row`` is a live chunk stored next to ``rows[i]`` in the same document.

    Chunks of a document are stored in reading order, so a neighbour is one row away with
    the position one apart: no lookup beyond the two adjacent rows. A chunk a document
    shares with an earlier one keeps its first place, so it has no neighbours there."""
    rows = np.asarray(rows, dtype=np.int64)
    place, alive, n = graph._place.values, graph._alive.values, graph._place.n
    out_i, out_r = [], []
    for step in (-1, 1):
        other = rows + step
        i = np.flatnonzero((rows >= 0) & (other >= 0) & (other < n))
        a, b = place[rows[i]], place[other[i]]
        ok = (a[:, 0] >= 0) & (b[:, 0] == a[:, 0]) & (b[:, 1] == a[:, 1] + step) & alive[other[i]]
        out_i.append(i[ok])
        out_r.append(other[i[ok]])
    return np.concatenate(out_i), np.concatenate(out_r)


def with_neighbours(graph, store, q: np.ndarray, ids: np.ndarray, sims: np.ndarray,
                    weight: float = NEIGHBOUR_WEIGHT, exclude=(), blend=None) -> np.ndarray:
    """``sims`` of ``ids`` as ``(1 - weight) * cosine + weight * mean cosine of the adjacent
    chunks`` (`neighbour_rows`: in memory, no SQL); a chunk without an adjacent
    chunk keeps its cosine. Only the positions ``blend`` (all when None) are blended; the
    others lend their cosines. Neighbours outside ``ids`` are scored from their stored
    vectors (one read for all of them). ``exclude``d chunks count as absent: they lend
    nothing (a chunk used as the query would lift its own neighbours)."""
    if weight <= 0 or not len(ids):
        return sims
    ids = np.asarray(ids, dtype=np.int64)
    mine = np.arange(len(ids)) if blend is None else np.asarray(blend, dtype=np.int64)
    with graph._lock:
        src, rows = neighbour_rows(graph, graph.rows_of(ids[mine]))
        src, nbr = mine[src], graph.chunk_ids_at(rows)
    if len(exclude):
        keep = ~np.isin(nbr, np.fromiter(exclude, dtype=np.int64, count=len(exclude)))
        src, nbr = src[keep], nbr[keep]
    if not len(src):
        return sims
    order = np.argsort(ids, kind="stable")  # a neighbour among ``ids`` takes its cosine from ``sims``
    at = np.minimum(np.searchsorted(ids, nbr, sorter=order), len(ids) - 1)
    inside = ids[order[at]] == nbr
    nbr_sim = np.full(len(nbr), np.nan)
    nbr_sim[inside] = sims[order[at[inside]]]
    missing = np.unique(nbr[~inside])
    if len(missing):
        found, X = store.vectors(missing)  # a neighbour forgotten meanwhile stays NaN: left out
        pos = np.searchsorted(found, nbr[~inside])
        ok = pos < len(found)
        ok[ok] = found[pos[ok]] == nbr[~inside][ok]
        out_sims = np.full(int((~inside).sum()), np.nan)
        out_sims[ok] = (X @ q)[pos[ok]]
        nbr_sim[~inside] = out_sims
    keep = ~np.isnan(nbr_sim)
    src, nbr_sim = src[keep], nbr_sim[keep]
    total = np.bincount(src, weights=nbr_sim, minlength=len(ids))
    count = np.bincount(src, minlength=len(ids))
    out = sims.astype(np.float64)  # a copy
    has = count > 0
    out[has] = (1 - weight) * out[has] + weight * total[has] / count[has]
    return out.astype(sims.dtype)
