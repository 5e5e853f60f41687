"""Reading the memory's associations: which concepts go with a concept, and its neighbourhood.

A concept is a phrase node of the passage graph (a name, a title, a technical term). Two
concepts are associated when they are named in the same chunks **more often than chance**:
the weight is the normalised pointwise mutual information of their chunk co-occurrence,

    npmi(a, b) = log(p(a, b) / (p(a) p(b))) / -log p(a, b),    p(.) = chunk counts / N,

clipped to [0, 1] and shrunk by ``n_ab / (n_ab + 1)`` so that a single shared chunk does not
outrank a link seen many times. Hubs (a phrase in most chunks) predict every co-occurrence,
so their npmi is ~0 and they never crowd the list. Computed from the chunk x phrase
incidence at call time: one sparse product over the concept's chunks, no N x N structure.
"""
from __future__ import annotations

import numpy as np

from core.memory.phrases import normalize


class AssociateMixin:
    """``associations`` and ``graph``; mixed into `SemanticMemory`."""

    def _concept_id(self, concept) -> int | None:
        if not isinstance(concept, str) or not concept.strip():
            raise ValueError("concept must be a non-empty string, e.g. 'neil peart'")
        key = normalize(concept)
        if not key:
            raise ValueError(f"concept {concept!r} has no words left after normalisation; pass a name or term")
        return self.graph_.vocab_.get(key)

    def associations(self, concept: str, k: int = 10) -> list[dict]:
        """The ``k`` concepts most specifically associated with ``concept``, strongest first.

        Returns ``[{"concept": str, "weight": float in [0, 1], "chunks": int}]`` where
        ``chunks`` is how many chunks name both; an unknown concept gives ``[]``.
        """
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        j = self._concept_id(concept)
        if j is None:
            return []
        g = self.graph_
        with g._lock:
            b = g._build()
            M, MT = b["M"], b["MT"]
            rows = MT.indices[MT.indptr[j]:MT.indptr[j + 1]]
            if not len(rows):
                return []
            co = np.asarray(M[rows].sum(axis=0)).ravel()
            df = b["df"]
            n = max(float(b["alive"].sum()), 1.0)
            phrases = g.phrases_
        co[j] = 0
        cand = np.flatnonzero(co)
        if not len(cand):
            return []
        n_ab = co[cand]
        p_ab = n_ab / n
        pmi = np.log(p_ab / ((df[j] / n) * (df[cand] / n)))
        denom = -np.log(p_ab)
        npmi = np.where(denom > 0, pmi / np.maximum(denom, 1e-12), 1.0)
        w = np.clip(npmi, 0.0, 1.0) * n_ab / (n_ab + 1.0)
        keep = w > 0
        cand, w, n_ab = cand[keep], w[keep], n_ab[keep]
        order = np.lexsort((cand, -n_ab, -w))[:int(k)]
        return [{"concept": phrases[int(c)], "weight": round(float(w[i]), 4), "chunks": int(n_ab[i])}
                for i, c in zip(order, cand[order])]

    def graph(self, concept: str, depth: int = 1, k: int = 10) -> dict:
        """The neighbourhood of ``concept`` for display: nodes within ``depth`` hops, edges between them.

        Each hop keeps the ``k`` strongest associations of every node reached. A node's
        ``weight`` is the strongest product of edge weights on a path from ``concept``
        (1.0 for the concept itself). Unknown concept: just no nodes and no edges.
        """
        if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or not 1 <= depth <= 3:
            raise ValueError(f"depth must be 1, 2 or 3, got {depth!r}")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        j = self._concept_id(concept)
        if j is None:
            return {"nodes": [], "edges": []}
        root = self.graph_.phrases_[j]
        weight = {root: 1.0}
        edges: dict[tuple[str, str], float] = {}
        frontier = [root]
        for _ in range(int(depth)):
            nxt = []
            for src in frontier:
                for a in self.associations(src, k):
                    dst = a["concept"]
                    key = (src, dst) if src < dst else (dst, src)
                    edges[key] = max(edges.get(key, 0.0), a["weight"])
                    w = weight[src] * a["weight"]
                    if dst not in weight:
                        nxt.append(dst)
                    if w > weight.get(dst, -1.0):
                        weight[dst] = w
            frontier = nxt
        nodes = [{"id": c, "label": c, "weight": round(w, 4)}
                 for c, w in sorted(weight.items(), key=lambda x: (-x[1], x[0]))]
        return {"nodes": nodes,
                "edges": [{"source": a, "target": b, "weight": w} for (a, b), w in sorted(edges.items())]}
