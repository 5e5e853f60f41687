"""Concept nodes of the Hebbian network: an open vocabulary beside the code nodes.

Node ids: ``0 .. num_nodes - 1`` are the code nodes (head x code), ``num_nodes + c`` the
concept with vocabulary id ``c`` (the memory's SQLite ``concepts`` table). A chunk is one
event over its code nodes and its concept nodes; edges with a concept end (concept-concept,
concept-code) live in their own sorted key array (``cx_keys_``, key ``a * 2**31 + b``), with
the same two soft-bound counts per edge as the code edges, so merge, unobserve and decay are
as exact as theirs. The code-code edges keep their fixed-width fast path.

Observing without touching every edge
-------------------------------------
An ingest observes one batch at a time while the concept edges grow with the memory (2.4M
at 100k chunks), so merging each batch into the sorted arrays made ingest O(n^2). Observe
instead adds the counts of edges it already holds in place (a galloping search per key) and
puts new edges into sorted runs kept in geometrically decreasing sizes (LSM-style: a run
merges into the one before it once it is at least half its size); the runs merge into the
main arrays when they reach a quarter of them, and on any read of ``cx_keys_``,
``cx_counts_``, ``cx_group_counts_`` (recall, save, merge, decay, unobserve). Counts in runs
are whole numbers (a decay compacts first), so their sums are exact in any order and the
state read is bit-identical to merging every batch at once.

Reading the weights
-------------------
The stored weight is the soft-bound ``1 - (1 - eta)**n (1 - eta_group)**g``. A walk reads an
edge through how much more often its ends co-occur than chance: the normalised PMI

    npmi(a, b) = log(p(a, b) / (p(a) p(b))) / -log p(a, b),   p = event counts / events,

clipped to [0, 1]. A hub (a concept in a large share of chunks) predicts every co-occurrence,
so its npmi is ~0 and it cannot flood the walk.
"""
from __future__ import annotations

import threading

import numpy as np

from core._validation import unmasked
from core.reasoning.mycelial import _kernels as K
from core.reasoning.mycelial._kernels_concepts import KEY_BASE, count_concepts, ragged_pair_keys
from core.reasoning.mycelial._learning import first_short, subtract_known
from core.reasoning.mycelial.config import _is_int

BASE = int(KEY_BASE)


def check_ragged(offsets, concepts, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR offsets (n_rows + 1, from 0, non-decreasing, ending at len(concepts)) and concept ids >= 0."""
    offsets, concepts = _whole(offsets, "offsets"), _whole(concepts, "concepts")
    if offsets.shape[0] != n_rows + 1 or offsets[0] != 0 or offsets[-1] != concepts.shape[0] \
            or (n_rows and np.any(np.diff(offsets) < 0)):
        raise ValueError(f"offsets must be {n_rows + 1} non-decreasing values from 0 to len(concepts) "
                         f"= {concepts.shape[0]}")
    if concepts.size and (concepts.min() < 0 or concepts.max() >= BASE // 2):
        raise ValueError(f"concept ids must lie in [0, {BASE // 2}), got {concepts.min()}..{concepts.max()}")
    _distinct_per_row(offsets, concepts)
    return offsets, concepts


def _distinct_per_row(offsets: np.ndarray, concepts: np.ndarray) -> None:
    """A concept named twice in one row is a ``ValueError``: it was counted twice (its edges and its event count),
    not one event. The memory never passes one (a chunk's concepts are distinct in its incidence)."""
    rows = np.repeat(np.arange(offsets.shape[0] - 1, dtype=np.int64), np.diff(offsets))
    keys = np.sort(rows * (BASE // 2) + concepts)
    dup = np.flatnonzero(keys[1:] == keys[:-1])
    if dup.size:
        row, concept = divmod(int(keys[dup[0]]), BASE // 2)
        raise ValueError(f"concept {concept} appears more than once in row {row}; the concepts of a row must be "
                         f"distinct (a duplicate was counted twice)")


def _whole(values, name: str) -> np.ndarray:
    """``values`` as flat int64; a fraction (concept 1.7 was read as 1), NaN, a bool or text is a ``ValueError``."""
    arr = np.asarray(unmasked(values, name))
    if arr.dtype == bool or arr.dtype.kind not in "iuf" or (
            arr.dtype.kind == "f" and not (np.isfinite(arr).all() and np.array_equal(arr, np.round(arr)))):
        raise ValueError(f"{name} must be whole numbers, got dtype {arr.dtype}"
                         + (" with a fraction or NaN" if arr.dtype.kind == "f" else ""))
    return np.ascontiguousarray(arr, dtype=np.int64).ravel()


MAX_ROW_CONCEPTS = 128  # a chunk of <= 128 word pieces names fewer; only one huge token (a 5 MB base64 line) more


def cap_rows(offsets: np.ndarray, concepts: np.ndarray, cap: int = MAX_ROW_CONCEPTS):
    """The first ``cap`` concepts of each row (CSR). A 5 MB base64 line stays one chunk and named 112,128
    "terms": their 6.3e9 concept pairs failed with MemoryError at its ingest and then at every open of
    the memory (the catch-up observes it again), so no command could reach it."""
    lengths = np.diff(offsets)
    if lengths.size == 0 or lengths.max() <= cap:
        return offsets, concepts
    keep = np.arange(concepts.shape[0]) - np.repeat(offsets[:-1], lengths) < cap
    return np.concatenate([[0], np.cumsum(np.minimum(lengths, cap))]).astype(np.int64), concepts[keep]


class ConceptMixin:
    """Concept nodes and their edges; mixed into `MycelialReasoning`."""

    _CX_COMPACT_MIN = 16384  # pending new edges below a quarter of this never force a merge

    def _reset_concepts(self) -> None:
        self._cx_lock = threading.RLock()  # a reader's compaction never interleaves with an observe
        self._cx_runs = []  # sorted (keys, n, g) of edges not in the main arrays, sizes decreasing
        self.cx_keys_ = np.empty(0, dtype=np.int64)
        self.cx_counts_ = np.empty(0, dtype=np.float64)
        self.cx_group_counts_ = np.empty(0, dtype=np.float64)
        self.concept_counts_ = np.zeros(0, dtype=np.int64)
        self._cx_csr = None

    def __getstate__(self) -> dict:  # copy.deepcopy: the runs merged, the lock not copied
        self._cx_compact()
        state = dict(self.__dict__)
        del state["_cx_lock"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._cx_lock = threading.RLock()

    def _cx_compact(self) -> None:
        """Merge the pending runs into the main arrays (smallest first)."""
        with self._cx_lock:
            runs = self._cx_runs
            if not runs:
                return
            k, n, g = runs[-1]
            for rk, rn, rg in reversed(runs[:-1]):
                k, n, g = K.merge_sorted(rk, rn, rg, k, n, g, 1.0)
            self._cx_keys, self._cx_counts, self._cx_group_counts = K.merge_sorted(
                self._cx_keys, self._cx_counts, self._cx_group_counts, k, n, g, 1.0)
            self._cx_runs = []

    @property
    def cx_keys_(self) -> np.ndarray:
        self._cx_compact()
        return self._cx_keys

    @cx_keys_.setter
    def cx_keys_(self, value) -> None:
        self._cx_runs = []
        self._cx_keys = value

    @property
    def cx_counts_(self) -> np.ndarray:
        self._cx_compact()
        return self._cx_counts

    @cx_counts_.setter
    def cx_counts_(self, value) -> None:
        self._cx_runs = []
        self._cx_counts = value

    @property
    def cx_group_counts_(self) -> np.ndarray:
        self._cx_compact()
        return self._cx_group_counts

    @cx_group_counts_.setter
    def cx_group_counts_(self, value) -> None:
        self._cx_runs = []
        self._cx_group_counts = value

    def _cx_add(self, keys, n, g) -> None:
        """Add a sorted delta of whole counts: known edges in place, new ones into the runs."""
        with self._cx_lock:
            main = self._cx_keys
            if main.shape[0] == 0 and not self._cx_runs:
                self._cx_keys, self._cx_counts, self._cx_group_counts = keys, n, g
                return
            if keys.shape[0] * 16 >= main.shape[0]:  # big batch: one sequential walk
                found = K.add_known(main, self._cx_counts, self._cx_group_counts, keys, n, g)
            else:
                found = K.add_known_sparse(main, self._cx_counts, self._cx_group_counts, keys, n, g)
            if found.all():
                return
            new = ~found
            runs = self._cx_runs
            runs.append((keys[new], n[new], g[new]))
            while len(runs) > 1 and 2 * runs[-1][0].shape[0] >= runs[-2][0].shape[0]:
                b, a = runs.pop(), runs.pop()
                runs.append(K.merge_sorted(*a, *b, 1.0))
            if sum(r[0].shape[0] for r in runs) * 4 > max(main.shape[0], self._CX_COMPACT_MIN):
                self._cx_compact()

    def _concept_delta(self, codes, offsets, concepts, groups):
        offsets, concepts = cap_rows(offsets, concepts)  # observe and unobserve alike: the counts stay exact
        c = self.config
        n_code = self.num_nodes
        g = groups if groups is not None else np.zeros(codes.shape[0], dtype=np.int64)
        window = c.window if (groups is not None and c.eta_group > 0) else 0
        ev, gr = ragged_pair_keys(codes, offsets, concepts + n_code, g, window, c.codebook_size, n_code, BASE)
        ke, ne = K.run_lengths(np.sort(ev))
        ge = np.zeros_like(ne)
        if gr.shape[0]:
            kg, cg = K.run_lengths(np.sort(gr))
            ke, ne, ge = K.merge_sorted(ke, ne, ge, kg, np.zeros_like(cg), cg, 1.0)
        delta = np.zeros(int(concepts.max()) + 1 if concepts.size else 0, dtype=np.int64)
        count_concepts(concepts, 0, delta, 1)
        return ke, ne, ge, delta

    def observe_concepts(self, codes, offsets, concepts, groups=None):
        """Learn the concept side of events: row ``i`` holds the code nodes ``codes[i]`` and the
        concepts ``concepts[offsets[i]:offsets[i+1]]`` (distinct per row).

        Adds every code-concept and concept-concept pair of a row at ``learning_rate`` and, rows
        ``i < j <= i + window`` of one group, their cross pairs at ``eta_group``. Pair with
        ``observe(codes, groups)`` (code-code pairs, event count) for the whole event.
        """
        codes = self._check_codes(codes)
        offsets, concepts = check_ragged(offsets, concepts, codes.shape[0])
        if groups is not None:
            groups = self._check_groups(groups, codes.shape[0])
        keys, n, g, delta = self._concept_delta(codes, offsets, concepts, groups)
        self._cx_add(keys, n, g)
        self._grow_concepts(len(delta))
        self.concept_counts_[:len(delta)] += delta
        self._cx_csr = None
        return self

    def unobserve_concepts(self, codes, offsets, concepts, groups=None):
        """Subtract exactly what ``observe_concepts`` with the same arguments added."""
        codes = self._check_codes(codes)
        offsets, concepts = check_ragged(offsets, concepts, codes.shape[0])
        if groups is not None:
            groups = self._check_groups(groups, codes.shape[0])
        keys, n, g, delta = self._concept_delta(codes, offsets, concepts, groups)
        have = np.zeros(len(delta), dtype=np.int64)
        m = min(len(delta), len(self.concept_counts_))
        have[:m] = self.concept_counts_[:m]
        if np.any(delta > have):
            bad = int(np.flatnonzero(delta > have)[0])
            raise ValueError(f"cannot unobserve concepts that were not observed: concept {bad} was active "
                             f"{have[bad]} times, unobserve asks for {delta[bad]}")
        short = first_short(self.cx_keys_, self.cx_counts_, self.cx_group_counts_, keys, n, g) if self.n_decays_ == 0 else -1
        if short >= 0:  # whole counts: a pair counted fewer times than asked was never observed that often
            a, b = (int(v[0]) for v in self.edge_ends(keys[short:short + 1]))
            end = (f"code node {self._hc(a)}" if a < self.num_nodes else f"concept {a - self.num_nodes}")
            raise ValueError(f"cannot unobserve concepts that were not observed: the edge of {end} and concept "
                             f"{b - self.num_nodes} was counted fewer times than unobserve asks for "
                             f"({n[short]:g}, {g[short]:g} in groups)")
        if self.n_decays_ == 0 and keys.shape[0]:  # every pair is there with enough counts (checked above)
            with self._cx_lock:
                self.cx_keys_, self.cx_counts_, self.cx_group_counts_ = subtract_known(
                    self.cx_keys_, self.cx_counts_, self.cx_group_counts_, keys, n, g)
        else:
            k, cn, cg = K.merge_sorted(self.cx_keys_, self.cx_counts_, self.cx_group_counts_, keys, n, g, -1.0)
            np.maximum(cn, 0.0, out=cn)
            np.maximum(cg, 0.0, out=cg)
            keep = (cn > 0) | (cg > 0)
            self.cx_keys_, self.cx_counts_, self.cx_group_counts_ = k[keep], cn[keep], cg[keep]
        self.concept_counts_[:len(delta)] -= delta
        self._cx_csr = None
        return self

    def _grow_concepts(self, n: int) -> None:
        if n > len(self.concept_counts_):
            grown = np.zeros(max(n, 2 * len(self.concept_counts_)), dtype=np.int64)
            grown[:len(self.concept_counts_)] = self.concept_counts_
            self.concept_counts_ = grown

    def _decay_concepts(self, rate: float) -> None:
        lk, lg = self._log_keep
        keep = K.decay_counts(self.cx_counts_, self.cx_group_counts_, lk, lg, float(rate),
                              float(self.config.min_weight))
        if not keep.all():
            self.cx_keys_, self.cx_counts_ = self.cx_keys_[keep], self.cx_counts_[keep]
            self.cx_group_counts_ = self.cx_group_counts_[keep]
        self._cx_csr = None

    def _merge_concepts(self, other) -> None:
        k, n, g = other.cx_keys_, other.cx_counts_, other.cx_group_counts_
        if np.array_equal(n, np.rint(n)) and np.array_equal(g, np.rint(g)):  # whole counts (never decayed)
            self._cx_add(k.copy(), n.copy(), g.copy())  # e.g. a parallel ingest's delta: no O(edges) merge
        else:
            self.cx_keys_, self.cx_counts_, self.cx_group_counts_ = K.merge_sorted(
                self.cx_keys_, self.cx_counts_, self.cx_group_counts_, k, n, g, 1.0)
        self._grow_concepts(len(other.concept_counts_))
        self.concept_counts_[:len(other.concept_counts_)] += other.concept_counts_
        self._cx_csr = None

    def _has_concepts(self) -> bool:
        """Whether any concept node was counted (so the concept id space matters)."""
        return bool(self.concept_counts_.any() or self.cx_keys_.size)

    def _check_concept_space(self, other) -> None:
        """Refuse to merge concept counts numbered by another memory's store (before any change)."""
        if not other._has_concepts():
            return
        if self._has_concepts() and other.concept_space_ != self.concept_space_:
            raise ValueError(
                f"cannot merge networks of different concept spaces ({self.concept_space_!r} vs "
                f"{other.concept_space_!r}): concept ids are the ids of one memory's store, so the networks "
                f"of two memories would mix unrelated concepts; merge only networks of the same memory")
        if self.concept_space_ is None:
            self.concept_space_ = other.concept_space_

    def _concepts_equal(self, other) -> bool:
        n = max(len(self.concept_counts_), len(other.concept_counts_))
        a = np.zeros(n, np.int64)
        b = np.zeros(n, np.int64)
        a[:len(self.concept_counts_)] = self.concept_counts_
        b[:len(other.concept_counts_)] = other.concept_counts_
        return (np.array_equal(a, b) and np.array_equal(self.cx_keys_, other.cx_keys_)
                and np.array_equal(self.cx_counts_, other.cx_counts_)
                and np.array_equal(self.cx_group_counts_, other.cx_group_counts_))

    # -- reading ------------------------------------------------------------------------
    def concept_weights(self) -> np.ndarray:
        """Soft-bound weight of every concept edge (aligned with ``cx_keys_``)."""
        lk, lg = self._log_keep
        return K.weights_from_counts(self.cx_counts_, self.cx_group_counts_, lk, lg)

    def edge_ends(self, keys=None) -> tuple[np.ndarray, np.ndarray]:
        """Node ids (a < b) of concept edges (code node < num_nodes <= concept node)."""
        keys = self.cx_keys_ if keys is None else keys
        return keys // BASE, keys % BASE

    def _node_count(self, nodes: np.ndarray) -> np.ndarray:
        """Events each node (code or concept) was active in."""
        out = np.zeros(len(nodes), dtype=np.float64)
        code = nodes < self.num_nodes
        out[code] = self.node_counts_[nodes[code]]
        cid = nodes[~code] - self.num_nodes
        ok = cid < len(self.concept_counts_)
        vals = np.zeros(len(cid))
        vals[ok] = self.concept_counts_[cid[ok]]
        out[~code] = vals
        return out

    def npmi(self, a: np.ndarray, b: np.ndarray, n_ab: np.ndarray) -> np.ndarray:
        """Normalised PMI of co-occurrence counts, clipped to [0, 1]: "more often than chance"."""
        n = max(float(self.n_events_), 1.0)
        na, nb = np.maximum(self._node_count(a), 1.0), np.maximum(self._node_count(b), 1.0)
        n_ab = np.minimum(np.asarray(n_ab, dtype=np.float64), np.minimum(na, nb))
        p_ab = np.maximum(n_ab, 1e-12) / n
        pmi = np.log(p_ab * n / na * n / nb)
        denom = -np.log(p_ab)
        out = np.where(denom > 1e-12, pmi / np.maximum(denom, 1e-12), 1.0)
        return np.clip(np.where(n_ab > 0, out, 0.0), 0.0, 1.0)

    def concept_graph(self):
        """Symmetric CSR over concept ids of the concept-concept edges: (indptr, neighbour ids,
        npmi, soft-bound weight, co-occurrence count), each row ordered by npmi x n/(n+1)
        descending; cached until the network changes."""
        if self._cx_csr is not None:
            return self._cx_csr
        a, b = self.edge_ends()
        cc = a >= self.num_nodes
        a, b = a[cc], b[cc]
        n_ab = self.cx_counts_[cc]
        w = self.concept_weights()[cc]
        s = self.npmi(a, b, n_ab)
        a, b = a - self.num_nodes, b - self.num_nodes
        n_c = len(self.concept_counts_)
        src = np.concatenate([a, b])
        dst = np.concatenate([b, a])
        both = np.concatenate([s * n_ab / (n_ab + 1.0)] * 2)
        order = np.lexsort((-both, src))  # by concept, strongest first: a row's best k are its first k
        indptr = np.zeros(n_c + 1, dtype=np.int64)
        np.cumsum(np.bincount(src, minlength=n_c), out=indptr[1:])
        self._cx_csr = (indptr, dst[order], np.concatenate([s, s])[order], np.concatenate([w, w])[order],
                        np.concatenate([n_ab, n_ab])[order])
        return self._cx_csr

    def concept_edge(self, a: int, b: int) -> tuple[float, float] | None:
        """(soft-bound weight, npmi) of the edge between concepts ``a`` and ``b``, or None.

        A concept id is a whole number >= 0: -1 was read as the last code node (an edge of it was answered as
        a concept edge) and 1.5 as concept 1."""
        for name, v in (("a", a), ("b", b)):
            if not _is_int(v) or not 0 <= v < BASE // 2:
                raise ValueError(f"concept id {name} must be an integer in [0, {BASE // 2}), got {v!r}")
        x, y = sorted((int(a) + self.num_nodes, int(b) + self.num_nodes))
        key = x * BASE + y
        i = int(np.searchsorted(self.cx_keys_, key))
        if i >= len(self.cx_keys_) or self.cx_keys_[i] != key:
            return None
        w = float(self.concept_weights()[i])
        return w, float(self.npmi(np.asarray([x]), np.asarray([y]), self.cx_counts_[i:i + 1])[0])

    def weight_distribution(self) -> dict:
        """Share of edges at each soft-bound weight level, code edges and concept edges apart."""
        out = {}
        for name, w in (("code", self._edge_weights()), ("concept", self.concept_weights())):
            w = np.asarray(w)
            out[name] = {"edges": int(len(w)),
                         "share_ge_0.99": float((w >= 0.99).mean()) if len(w) else 0.0,
                         "quantiles": {q: round(float(np.quantile(w, q)), 4) for q in (0.5, 0.9, 0.99)}
                         if len(w) else {}}
        allw = np.concatenate([self._edge_weights(), self.concept_weights()])
        out["all"] = {"edges": int(len(allw)), "share_ge_0.99": float((allw >= 0.99).mean()) if len(allw) else 0.0}
        return out
