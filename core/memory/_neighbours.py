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

_SQL = ("SELECT c.id, n.chunk_id FROM chunks c JOIN doc_chunks n ON n.doc_id = c.doc_id"
        " AND n.position IN (c.position - 1, c.position + 1) WHERE c.id IN ({marks})")


def neighbour_ids(store, chunk_ids) -> tuple[np.ndarray, np.ndarray]:
    """(chunk, neighbour) id pairs: the chunks at the positions next to each chunk in its own
    document (the one it is reported under), read from ``doc_chunks`` by its primary key."""
    rows = [r for r in store._in_batches(np.asarray(chunk_ids, dtype=np.int64), _SQL) if r[0] != r[1]]
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    a = np.asarray(rows, dtype=np.int64)
    return a[:, 0], a[:, 1]


def with_neighbours(store, q: np.ndarray, ids: np.ndarray, sims: np.ndarray,
                    weight: float = NEIGHBOUR_WEIGHT, exclude=()) -> np.ndarray:
    """``sims`` of ``ids`` as ``(1 - weight) * cosine + weight * mean cosine of the adjacent
    chunks``; a chunk without an adjacent chunk keeps its cosine. Neighbours outside ``ids`` are
    scored from their stored vectors (one read for all of them). ``exclude``d chunks count as
    absent: they lend nothing (a chunk used as the query would lift its own neighbours)."""
    if weight <= 0 or not len(ids):
        return sims
    src, nbr = neighbour_ids(store, ids)
    if len(exclude):
        keep = ~np.isin(nbr, np.fromiter(exclude, dtype=np.int64, count=len(exclude)))
        src, nbr = src[keep], nbr[keep]
    if not len(src):
        return sims
    known = dict(zip(ids.tolist(), sims.tolist()))
    missing = np.unique(nbr[~np.isin(nbr, ids)])
    if len(missing):
        found, X = store.vectors(missing)
        known.update(zip(found.tolist(), (X @ q).tolist()))
    keep = np.asarray([n in known for n in nbr.tolist()], dtype=bool)  # a neighbour forgotten meanwhile
    src, nbr = src[keep], nbr[keep]
    at = {c: i for i, c in enumerate(ids.tolist())}
    row = np.asarray([at[c] for c in src.tolist()], dtype=np.int64)
    total = np.bincount(row, weights=np.asarray([known[n] for n in nbr.tolist()]), minlength=len(ids))
    count = np.bincount(row, minlength=len(ids))
    out = sims.astype(np.float64).copy()
    has = count > 0
    out[has] = (1 - weight) * out[has] + weight * total[has] / count[has]
    return out.astype(np.float32)


def neighboured(store, q: np.ndarray, sims: dict, weight: float = NEIGHBOUR_WEIGHT, exclude=()) -> dict:
    """:func:`with_neighbours` of a {chunk id: cosine} dict."""
    if weight <= 0 or not sims:
        return sims
    ids = np.fromiter(sims, dtype=np.int64, count=len(sims))
    out = with_neighbours(store, q, ids, np.asarray(list(sims.values()), dtype=np.float32), weight, exclude)
    return dict(zip(ids.tolist(), out.tolist()))
