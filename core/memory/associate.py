"""Reading the memory's associations: which concepts go with a concept, and its neighbourhood.

A concept is a phrase node of the passage graph (a name, a title, a technical term). Two
concepts are associated when they are named in the same chunks **more often than chance**:
the weight is the normalised pointwise mutual information of their chunk co-occurrence,

    npmi(a, b) = log(p(a, b) / (p(a) p(b))) / -log p(a, b),    p(.) = chunk counts / N,

clipped to [0, 1] and shrunk by ``n_ab / (n_ab + 1)`` so that a single shared chunk does not
outrank a link seen many times. Hubs (a phrase in most chunks) predict every co-occurrence,
so their npmi is ~0 and they never crowd the list. Read from the Hebbian network's
learned concept-concept edges (their co-occurrence counts and the nodes' event counts): the
associations are the edges the recall walk follows, no N x N structure.
"""
from __future__ import annotations

import numpy as np

from core.memory._checks import check_open
from core.memory._written import written_forms
from core.memory.keyterms import stem
from core.memory.phrases import extract_terms, normalize, title_phrase


class AssociateMixin:
    """``associations``, ``graph``, ``bridges`` and ``reconstruct`` (codes to chunks); mixed into `SemanticMemory`."""

    def _concept_id(self, concept) -> int | None:
        check_open(self)
        self._fresh()  # associations, graph, bridges: the network as a reopened memory reads it
        if not isinstance(concept, str) or not concept.strip():
            raise ValueError("concept must be a non-empty string, e.g. 'neil peart'")
        key, vocab = normalize(concept), self.graph_.vocab_
        if key in vocab:
            return vocab[key]
        # a technical term is stored as written, lower-cased ("crypto.createhash", "os.path.join"): normalising
        # made it "crypto createhash", so the concepts associations() lists (and the page's buttons) led nowhere;
        # a title is stored without its parenthesis ("Gordon Douglas (director)" -> "gordon douglas");
        # a plural is the singular concept, as recall's query_phrases folds it ("churches" -> "church")
        for alt in (" ".join(concept.lower().split()), *extract_terms(concept)[:1], title_phrase(concept),
                    singular(key)):
            if alt in vocab:
                return vocab[alt]
        if not key:
            raise ValueError(f"concept {concept!r} has no words left after normalisation; pass a name or term")
        return None

    def concept_key(self, concept: str) -> str | None:
        """The memory's concept that ``concept`` names (its folded key: ``'church'`` for "Churches",
        ``'aine'`` for "Áine"), or None when it names none."""
        j = self._concept_id(concept)
        return None if j is None else self.graph_.phrases_[j]

    def _neighbours(self, j: int):
        """(concept ids, weights, shared events) of every concept linked to concept ``j`` by a
        learned edge of the network (weight: npmi x n/(n+1), see the module docstring)."""
        empty = (np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0))
        with self._lock:
            indptr, nbr, npmi, _, n_ab = self.network_.concept_graph()
        if j + 1 >= len(indptr):
            return empty
        lo, hi = indptr[j], indptr[j + 1]
        cand, s, n = nbr[lo:hi], npmi[lo:hi], n_ab[lo:hi]
        w = s * n / (n + 1.0)
        keep = (w > 0) & (n >= 1)
        return cand[keep], w[keep], n[keep]

    def reconstruct(self, codes, k: int = 5) -> list:
        """Decode codes with the VQ-VAE and return, per row, the stored chunks nearest the decoded vector."""
        decoded = self.codec.decode(codes)
        decoded = decoded / np.maximum(np.linalg.norm(decoded, axis=1, keepdims=True), 1e-12)
        return [self.recall_vector(v, k, "similar") for v in decoded]

    def associations(self, concept: str, k: int = 10) -> list[dict]:
        """The ``k`` concepts most specifically associated with ``concept``, strongest first.

        Returns ``[{"concept": str, "written": str, "weight": float in [0, 1], "chunks": int}]``: ``concept``
        is the folded key (what to pass back), ``written`` the concept as the text writes it ("Cairistíona"
        for 'cairistiona') and ``chunks`` how many chunks name both; an unknown concept gives ``[]``.
        """
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        j = self._concept_id(concept)
        if j is None:
            return []
        cand, w, n_ab = self._strongest(j, int(k))
        phrases, shown = self.graph_.phrases_, written_forms(self, cand)
        return [{"concept": phrases[c], "written": shown[c], "weight": round(float(w[i]), 4), "chunks": int(n_ab[i])}
                for i, c in enumerate(cand.tolist())]

    def _strongest(self, j: int, k: int):
        """(concept ids, weights, shared chunks) of the ``k`` strongest associations of concept ``j``, strongest
        first (ties: more shared chunks, then the lower id)."""
        cand, w, n_ab = self._neighbours(j)
        order = np.lexsort((cand, -n_ab, -w))[:k]
        return cand[order], w[order], n_ab[order]

    def graph(self, concept: str, depth: int = 1, k: int = 10, top: int | None = None) -> dict:
        """The neighbourhood of ``concept`` for display: nodes within ``depth`` hops, edges between them.

        Each hop keeps the ``k`` strongest associations of every node reached. A node's
        ``weight`` is the strongest product of edge weights on a path from ``concept``
        (1.0 for the concept itself); its ``id`` is the folded concept, its ``label`` the concept as the
        text writes it. ``top`` keeps only the ``top`` strongest nodes (a node's path always runs through
        stronger ones, so they stay connected) and the edges among them; ``left_out`` counts the nodes and
        edges it dropped (depth 3 with k=50 reached 3,398 concepts: a drawing nobody can read).
        Unknown concept: just no nodes and no edges.
        """
        if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or not 1 <= depth <= 3:
            raise ValueError(f"depth must be 1, 2 or 3, got {depth!r}")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        if top is not None and (isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1):
            raise ValueError(f"top must be a positive integer or None (every node), got {top!r}")
        j = self._concept_id(concept)
        if j is None:
            return {"nodes": [], "edges": [], "left_out": {"nodes": 0, "edges": 0}}
        weight, edges = self._reach(j, int(depth), int(k))
        names = self.graph_.phrases_
        ranked = sorted(weight.items(), key=lambda x: (-x[1], names[x[0]]))
        kept = ranked if top is None else ranked[:int(top)]
        keep = {c for c, _ in kept}
        shown = written_forms(self, list(keep))
        kept_edges = sorted(((names[a], names[b]) if names[a] < names[b] else (names[b], names[a]), w)
                            for (a, b), w in edges.items() if a in keep and b in keep)
        return {"nodes": [{"id": names[c], "label": shown[c], "weight": round(w, 4)} for c, w in kept],
                "edges": [{"source": a, "target": b, "weight": w} for (a, b), w in kept_edges],
                "left_out": {"nodes": len(ranked) - len(kept), "edges": len(edges) - len(kept_edges)}}

    def _reach(self, j: int, depth: int, k: int) -> tuple[dict[int, float], dict[tuple[int, int], float]]:
        """Breadth-first ``depth`` hops of the ``k`` strongest associations from concept ``j``: {node: strongest
        path product}, {(a, b) with a < b: edge weight}."""
        weight = {j: 1.0}
        edges: dict[tuple[int, int], float] = {}
        frontier = [j]
        for _ in range(depth):
            nxt = []
            for src in frontier:
                cand, ws, _ = self._strongest(src, k)
                for dst, ew in zip(cand.tolist(), ws.tolist()):
                    ew = round(ew, 4)  # the weight associations() lists
                    key = (src, dst) if src < dst else (dst, src)
                    edges[key] = max(edges.get(key, 0.0), ew)
                    w = weight[src] * ew
                    if dst not in weight:
                        nxt.append(dst)
                    if w > weight.get(dst, -1.0):
                        weight[dst] = w
            frontier = nxt
        return weight, edges

    def bridges(self, concept_a: str, concept_b: str, k: int = 3, width: int = 20) -> list[dict]:
        """The ``k`` strongest paths (up to 3 edges) joining two concepts in the association graph.

        A path's ``strength`` is the product of its edge weights (the ``associations``
        weights): the direct edge, every concept both are associated with, and 3-edge paths
        through the ``width`` strongest associates of ``concept_a``. Returns
        ``[{"path": [concept, ...], "weights": [per edge], "strength": float}]``, strongest
        first, with ``written``: the path's concepts as the text writes them; an unknown concept, or none
        linking them, gives ``[]``.
        """
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        a, b = self._concept_id(concept_a), self._concept_id(concept_b)
        if a is not None and a == b:
            raise ValueError(f"concept_a and concept_b are the same concept ({concept_a!r}); give two concepts")
        if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 0:
            raise ValueError(f"width must be a whole number of at least 0 (associates of concept_a tried as 3-edge "
                             f"paths' first step), got {width!r}")  # -1 cut the list short of its last, 2.5 was 2
        if a is None or b is None:
            return []
        ca, wa, _ = self._neighbours(a)
        cb, wb, _ = self._neighbours(b)
        to_b = dict(zip(cb.tolist(), wb.tolist()))
        paths: list[tuple[float, list[int], list[float]]] = []
        if b in set(ca.tolist()):
            w = float(wa[ca == b][0])
            paths.append((w, [a, b], [w]))
        for m, w1 in zip(ca.tolist(), wa.tolist()):
            if m != b and m in to_b:
                paths.append((w1 * to_b[m], [a, m, b], [w1, to_b[m]]))
        for i in np.argsort(-wa, kind="stable")[:int(width)]:
            m1, w1 = int(ca[i]), float(wa[i])
            if m1 == b:
                continue
            c1, w1s, _ = self._neighbours(m1)
            for m2, w2 in zip(c1.tolist(), w1s.tolist()):
                if m2 not in (a, b, m1) and m2 in to_b:
                    paths.append((w1 * w2 * to_b[m2], [a, m1, m2, b], [w1, w2, to_b[m2]]))
        paths.sort(key=lambda p: (-p[0], len(p[1]), p[1]))
        names, paths = self.graph_.phrases_, paths[:int(k)]
        shown = written_forms(self, [i for _, p, _ in paths for i in p])
        return [{"path": [names[i] for i in p], "written": [shown[i] for i in p], "weights": [round(w, 4) for w in ws],
                 "strength": round(s, 6)} for s, p, ws in paths]


def singular(key: str) -> str:
    """A folded concept with its plurals folded, word by word ("roman emperors" -> "roman emperor")."""
    return " ".join(stem(w) for w in key.split())
