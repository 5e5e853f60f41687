"""Reading a ``MycelialReasoning`` network: weights, neighbours, hubs, stats, bridges.

A mixin of read-only queries over the learnt edges; nothing here changes the counts.
"""
from __future__ import annotations

import numpy as np


class ReadingMixin:
    """Read-only views of the learnt edges; mixed into ``MycelialReasoning``."""

    def weights(self):
        """The current weights as a symmetric ``scipy.sparse.csr_matrix`` (float64, N x N)."""
        from scipy import sparse

        n_nodes = self.num_nodes
        a = self.keys_ // n_nodes
        b = self.keys_ - a * n_nodes
        w = self._edge_weights()
        m = sparse.coo_matrix(
            (np.concatenate([w, w]), (np.concatenate([a, b]), np.concatenate([b, a]))),
            shape=(n_nodes, n_nodes),
        ).tocsr()
        m.sort_indices()
        return m

    def neighbors(self, node, top_k: int = 10) -> list[tuple[tuple[int, int], float]]:
        """The ``top_k`` strongest neighbours of ``(head, code)`` as ``((head, code), weight)``."""
        i = self._node(node)
        top_k = self._check_k(top_k, "top_k")
        indptr, indices, data, _ = self._csr()
        lo, hi = indptr[i], indptr[i + 1]
        nbr, w = indices[lo:hi], self._row_weights(i, indices[lo:hi])
        order = np.lexsort((nbr, -w))[:top_k]
        return [(self._hc(nbr[j]), float(w[j])) for j in order]

    def _row_weights(self, i: int, nbr: np.ndarray) -> np.ndarray:
        """Exact float64 weights of the edges between node ``i`` and ``nbr``."""
        a = np.minimum(i, nbr).astype(np.int64)
        b = np.maximum(i, nbr).astype(np.int64)
        pos = np.searchsorted(self.keys_, a * self.num_nodes + b)
        return self._edge_weights()[pos]

    def strongest_connections(self, n: int = 20) -> list[tuple[tuple[int, int], tuple[int, int], float]]:
        """The ``n`` strongest edges as ``((head, code), (head, code), weight)``, strongest first."""
        n = self._check_k(n, "n")
        w = self._edge_weights()
        order = np.lexsort((self.keys_, -w))[:n]
        out = []
        for j in order:
            a, b = divmod(int(self.keys_[j]), self.num_nodes)
            out.append((self._hc(a), self._hc(b), float(w[j])))
        return out

    def node_strength(self) -> np.ndarray:
        """Weighted degree (sum of edge weights) of every node, float64 (num_nodes,)."""
        n_nodes = self.num_nodes
        a = self.keys_ // n_nodes
        b = self.keys_ - a * n_nodes
        w = self._edge_weights()
        return np.bincount(a, w, n_nodes) + np.bincount(b, w, n_nodes)

    def hub_codes(self, n: int = 10) -> list[tuple[tuple[int, int], float]]:
        """The ``n`` nodes of largest weighted degree as ``((head, code), strength)``."""
        n = self._check_k(n, "n")
        s = self.node_strength()
        order = np.lexsort((np.arange(s.shape[0]), -s))
        order = [j for j in order[:n] if s[j] > 0]
        return [(self._hc(j), float(s[j])) for j in order]

    def stats(self) -> dict:
        """Summary counts: nodes with edges, edges, weight distribution, events, decays."""
        w = self._edge_weights()
        degree = np.bincount(self.keys_ // self.num_nodes, minlength=self.num_nodes) + \
            np.bincount(self.keys_ % self.num_nodes, minlength=self.num_nodes)
        active = int((degree > 0).sum())
        n_edges = int(self.keys_.shape[0])
        return {
            "num_nodes": self.num_nodes,
            "active_nodes": active,
            "num_edges": n_edges,
            "density": n_edges / max(1, self.num_nodes * (self.num_nodes - 1) // 2),
            "mean_weight": float(w.mean()) if n_edges else 0.0,
            "max_weight": float(w.max()) if n_edges else 0.0,
            "mean_degree": float(2 * n_edges / active) if active else 0.0,
            "events": int(self.n_events_),
            "observed_nodes": int((self.node_counts_ > 0).sum()),
            "decays": int(self.n_decays_),
            "memory_bytes": int(self.keys_.nbytes + self.counts_.nbytes + self.group_counts_.nbytes
                                + self.node_counts_.nbytes),
        }

    def bridges(self, codes_a, codes_b, k: int = 3) -> list[dict]:
        """Strongest paths of at most two edges joining the nodes of ``codes_a`` and ``codes_b``.

        A path's strength is the product of its weights: a direct edge, or two edges through
        one bridge node (which may be a code both patterns share). Endpoints are the nodes
        only one of the patterns has.

        Returns
        -------
        list of dict, strongest first, each with ``path`` (list of ``(head, code)``),
        ``weights`` (per edge) and ``strength`` (their product); at most ``k`` items.
        """
        k = self._check_k(k, "k")
        sa, _ = self._seed_nodes(codes_a)
        sb, _ = self._seed_nodes(codes_b)
        if sa.shape[0] != 1 or sb.shape[0] != 1:
            raise ValueError("bridges takes one row of codes for each concept")
        A, B = np.setdiff1d(sa[0], sb[0]), np.setdiff1d(sb[0], sa[0])
        n_nodes = self.num_nodes
        indptr, indices, data, _ = self._csr()
        rows = {}
        for v in np.union1d(A, B):
            r = np.zeros(n_nodes, dtype=np.float64)
            nbr = indices[indptr[v]:indptr[v + 1]]
            r[nbr] = self._row_weights(int(v), nbr)
            rows[int(v)] = r
        excluded = np.zeros(n_nodes, dtype=bool)
        excluded[A] = True
        excluded[B] = True
        cands = []
        for a in A:
            for b in B:
                if a == b:
                    continue
                direct = rows[int(a)][b]
                if direct > 0:
                    cands.append((direct, [int(a), int(b)], [direct]))
                prod = rows[int(a)] * rows[int(b)]
                prod[excluded] = 0
                nz = np.flatnonzero(prod)
                if nz.size:
                    top = nz[np.lexsort((nz, -prod[nz]))[:k]]
                    for m in top:
                        cands.append((prod[m], [int(a), int(m), int(b)],
                                      [rows[int(a)][m], rows[int(b)][m]]))
        cands.sort(key=lambda t: (-t[0], t[1]))
        return [
            {"path": [self._hc(v) for v in p], "weights": [float(x) for x in ws], "strength": float(s)}
            for s, p, ws in cands[:k]
        ]
