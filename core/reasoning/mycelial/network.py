"""The Hebbian co-activation network over code nodes: ``MycelialConfig`` and ``MycelialReasoning``.

Node ``head * codebook_size + code``; an event (one row of codes) activates one node per
head and strengthens every pair of its nodes with the soft bound ``w <- w + eta (1 - w)``.

What is stored
--------------
Per undirected edge, two co-activation counts: ``n`` (events, rate ``eta``) and ``g``
(group co-activations, rate ``eta_group``). The weight is derived from them::

    w = 1 - (1 - eta)**n * (1 - eta_group)**g

which is exactly the weight the soft-bound rule gives after ``n`` and ``g`` updates in any
order (each update multiplies ``1 - w`` by ``1 - eta``). Counts are whole numbers held in
float64 until a decay runs, so observing, merging (adding counts) and unobserving
(subtracting them) are exact and bit-reproducible.

Decay and how it composes
-------------------------
``decay()`` multiplies every weight by ``decay_rate`` exactly: each edge's counts are
rescaled (both by the same factor) so that the derived weight becomes ``w * decay_rate``,
then edges below ``min_weight`` are pruned. Counts stop being whole numbers. ``merge`` and
``unobserve`` keep working on counts, that is on the log complement ``log(1 - w)``:

* merge of two networks gives ``1 - w = (1 - w_a) (1 - w_b)`` per edge. This equals one
  network that observed both streams exactly when neither network decayed; after a decay
  it is the soft-bounded union of the two decayed networks (decay, then merge, is not
  merge, then decay).
* unobserve removes the same counts observe added; this restores the previous state
  exactly when no decay ran in between. After a decay it removes as many soft-bound
  steps as were added (clamped at zero; an edge left with no count disappears).
"""
from __future__ import annotations

import math
import threading
from dataclasses import asdict, dataclass, fields

import numpy as np

from core.reasoning.mycelial import _kernels as K

__all__ = ["MycelialConfig", "MycelialReasoning"]

# A dense count buffer (N*N int32) is used by observe when N*N is at most this many cells
# (1,024 nodes: 1M cells, 4 MB) and the batch is large enough to amortise zeroing it.
_DENSE_MAX_CELLS = 1 << 22
# propagate switches to a dense float32 weight matrix (at most 16 MB) when the graph has at
# least N*N/8 stored entries: contiguous rows vectorise, CSR gathers do not.
_DENSE_SPREAD_MAX_NODES = 2048


_SCRATCH = threading.local()


def _scratch(cells: int) -> np.ndarray:
    """A zeroed int32 pair buffer of ``cells`` cells, reused by every network of this thread.

    ``drain_dense`` leaves it all zero again, so observe never pays for allocating and
    page-faulting 4 MB per call or per network.
    """
    buf = getattr(_SCRATCH, "buf", None)
    if buf is None or buf.shape[0] != cells:
        buf = _SCRATCH.buf = np.zeros(cells, dtype=np.int32)
    return buf


def _sort_keys(keys: np.ndarray, n_nodes: int) -> np.ndarray:
    """Sorted copy of edge keys: radix sort for large arrays, ``np.sort`` for small ones."""
    if keys.shape[0] >= 100_000:
        return K.radix_sort(keys, n_nodes * n_nodes)
    return np.sort(keys)


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_real(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


@dataclass(frozen=True)
class MycelialConfig:
    """Parameters of a ``MycelialReasoning`` network, checked on construction.

    Frozen: the stored counts are read through ``learning_rate`` and ``eta_group``, so a
    rate changed under a live network would silently reinterpret it. Make a new config
    with ``dataclasses.replace(config, ...)``; propagation settings are also per-call
    arguments of ``propagate``/``reason``.

    Parameters
    ----------
    num_heads : int, default=4
        Quantizer heads; each event activates one node per head.
    codebook_size : int, default=256
        Codes per head. Nodes = ``num_heads * codebook_size`` (at most 2**31 - 1).
    learning_rate : float, default=0.1
        ``eta`` of the soft-bound rule ``w <- w + eta (1 - w)``, in (0, 1).
    decay_rate : float, default=0.99
        Factor applied to every weight by ``decay()``, in (0, 1].
    min_weight : float, default=0.01
        Edges whose weight falls below this after a decay are pruned, in [0, 1).
    propagation_steps : int, default=3
        Spreading steps of ``propagate``/``reason`` when ``steps`` is not given.
    activation_threshold : float, default=0.1
        Nodes below this activation neither spread nor are reported, in [0, 1].
    damping : float, default=0.5
        Share of a node's activation that comes from its neighbours, in [0, 1); the rest
        is the seed (personalised PageRank's restart).
    window : int, default=2
        Rows of one ``observe`` call at most this far apart co-activate when they share a
        group id (neighbouring chunks of a document).
    eta_group : float, default=0.05
        Soft-bound rate of group co-activations, in [0, 1); 0 disables them.
    """

    num_heads: int = 4
    codebook_size: int = 256
    learning_rate: float = 0.1
    decay_rate: float = 0.99
    min_weight: float = 0.01
    propagation_steps: int = 3
    activation_threshold: float = 0.1
    damping: float = 0.5
    window: int = 2
    eta_group: float = 0.05

    def __post_init__(self) -> None:
        self._validate()

    def _validate(self) -> None:
        for name in ("num_heads", "codebook_size"):
            v = getattr(self, name)
            if not _is_int(v) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if self.num_heads * self.codebook_size > np.iinfo(np.int32).max:
            raise ValueError(
                f"num_heads * codebook_size = {self.num_heads * self.codebook_size} nodes "
                f"exceeds the int32 node ids; use fewer heads or codes"
            )
        for name in ("propagation_steps", "window"):
            v = getattr(self, name)
            if not _is_int(v) or v < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {v!r}")
        ranges = {
            "learning_rate": (0.0, 1.0, False, False),
            "decay_rate": (0.0, 1.0, False, True),
            "min_weight": (0.0, 1.0, True, False),
            "activation_threshold": (0.0, 1.0, True, True),
            "damping": (0.0, 1.0, True, False),
            "eta_group": (0.0, 1.0, True, False),
        }
        for name, (lo, hi, lo_ok, hi_ok) in ranges.items():
            v = getattr(self, name)
            if not _is_real(v) or not math.isfinite(v):
                raise ValueError(f"{name} must be a finite number, got {v!r}")
            if (v < lo or (v == lo and not lo_ok)) or (v > hi or (v == hi and not hi_ok)):
                lb, rb = "[" if lo_ok else "(", "]" if hi_ok else ")"
                raise ValueError(f"{name} must lie in {lb}{lo}, {hi}{rb}, got {v!r}")

    @property
    def num_nodes(self) -> int:
        """``num_heads * codebook_size``."""
        return self.num_heads * self.codebook_size

    def to_dict(self) -> dict:
        """Plain JSON-able dict of the fields."""
        return {f.name: (int(v) if _is_int(v) else float(v))
                for f, v in ((f, getattr(self, f.name)) for f in fields(self))}

    @classmethod
    def from_dict(cls, d: dict) -> "MycelialConfig":
        """Inverse of ``to_dict``; unknown keys raise ``ValueError``."""
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown MycelialConfig fields: {sorted(unknown)}")
        return cls(**d)


class MycelialReasoning:
    """A sparse Hebbian co-activation network over ``num_heads * codebook_size`` code nodes.

    Parameters
    ----------
    config : MycelialConfig, optional
        Defaults to ``MycelialConfig()`` (4 heads x 256 codes = 1,024 nodes).

    Attributes
    ----------
    keys_ : ndarray of int64, shape (n_edges,)
        Sorted edge keys ``a * num_nodes + b`` with ``a < b``.
    counts_ : ndarray of float64, shape (n_edges,)
        Eta co-activation count of each edge (decayed counts are fractional).
    group_counts_ : ndarray of float64, shape (n_edges,)
        Group co-activation count of each edge.
    node_counts_ : ndarray of int64, shape (num_nodes,)
        Events in which each node was active (never decayed).
    n_events_ : int
        Events observed (minus those unobserved).
    n_decays_ : int
        Decay steps applied.

    Notes
    -----
    An empty network is a valid state (it answers every query with "no signal"), so the
    constructor sets it up from the config; nothing is learnt until ``observe``.

    Examples
    --------
    >>> net = MycelialReasoning(MycelialConfig(num_heads=4, codebook_size=16))
    >>> _ = net.observe([[1, 2, 3, 4], [1, 2, 3, 5]])
    >>> round(float(net.weights()[1, 16 + 2]), 3)
    0.19
    """

    def __init__(self, config: MycelialConfig | None = None):
        self.config = config if config is not None else MycelialConfig()
        if not isinstance(self.config, MycelialConfig):
            raise ValueError(f"config must be a MycelialConfig, got {type(self.config).__name__}")
        self._reset()

    # ------------------------------------------------------------------ state

    def _reset(self) -> None:
        """Forget everything learnt; the config is not touched."""
        self._keys = np.empty(0, dtype=np.int64)
        self._counts = np.empty(0, dtype=np.float64)
        self._group_counts = np.empty(0, dtype=np.float64)
        self._pending = None  # sorted (keys, n, g) of new edges not yet merged into the above
        self.node_counts_ = np.zeros(self.config.num_nodes, dtype=np.int64)
        self.n_events_ = 0
        self.n_decays_ = 0
        self._dirty()

    # The edge arrays are read through properties that first merge the pending new edges:
    # observe adds counts of known edges in place and collects new edges in a small sorted
    # side list, merged (O(edges)) only when it grows past 1/8 of the edges or on any read.

    def _compact(self) -> None:
        if self._pending is not None:
            pk, pn, pg = self._pending
            self._pending = None
            self._keys, self._counts, self._group_counts = K.merge_sorted(
                self._keys, self._counts, self._group_counts, pk, pn, pg, 1.0)

    @property
    def keys_(self) -> np.ndarray:
        self._compact()
        return self._keys

    @keys_.setter
    def keys_(self, value) -> None:
        self._pending = None
        self._keys = value

    @property
    def counts_(self) -> np.ndarray:
        self._compact()
        return self._counts

    @counts_.setter
    def counts_(self, value) -> None:
        self._pending = None
        self._counts = value

    @property
    def group_counts_(self) -> np.ndarray:
        self._compact()
        return self._group_counts

    @group_counts_.setter
    def group_counts_(self, value) -> None:
        self._pending = None
        self._group_counts = value

    def _dirty(self) -> None:
        self._w_cache = None
        self._csr_cache = None
        self._dense_cache = None

    @property
    def num_nodes(self) -> int:
        """``num_heads * codebook_size``: the size of every node-indexed array."""
        return self.config.num_nodes

    @property
    def _log_keep(self) -> tuple[float, float]:
        c = self.config
        return math.log1p(-c.learning_rate), math.log1p(-c.eta_group)

    def _edge_weights(self) -> np.ndarray:
        if self._w_cache is None:
            lk, lg = self._log_keep
            self._w_cache = K.weights_from_counts(self.counts_, self.group_counts_, lk, lg)
        return self._w_cache

    def _csr(self):
        if self._csr_cache is None:
            self._csr_cache = K.symmetric_csr(self.keys_, self._edge_weights(), self.num_nodes)
        return self._csr_cache

    # ------------------------------------------------------------------ input checks

    def _check_codes(self, codes, name: str = "codes") -> np.ndarray:
        """Integer codes of shape (n, heads) in range; keeps a narrow integer dtype as is."""
        c = self.config
        if hasattr(codes, "detach") and hasattr(codes, "cpu"):  # torch.Tensor
            codes = codes.detach().cpu().numpy()
        arr = np.asarray(codes) if not isinstance(codes, np.ndarray) else codes
        if arr.dtype.kind in "iu" and arr.ndim in (1, 2):
            if arr.ndim == 1:
                arr = arr[None, :]
            if arr.shape[1] != c.num_heads:
                raise ValueError(f"{name} must have shape (n, {c.num_heads}), got {np.shape(codes)}")
            if arr.shape[0] == 0:
                raise ValueError(f"{name} is an empty batch (shape {arr.shape})")
            lo, hi = int(arr.min()), int(arr.max())
            if lo < 0 or hi >= c.codebook_size:
                raise ValueError(
                    f"{name} must lie in [0, {c.codebook_size - 1}], got values from {lo} to {hi}"
                )
            return np.ascontiguousarray(arr)
        from core._validation import check_codes

        return check_codes(codes, c.num_heads, c.codebook_size, name)

    @staticmethod
    def _check_groups(groups, n: int) -> np.ndarray:
        g = np.asarray(groups)
        if g.ndim != 1 or g.shape[0] != n:
            raise ValueError(f"groups must have shape ({n},) (one id per row of codes), got {g.shape}")
        if g.dtype.kind not in "iu":
            if g.dtype.kind == "f" and np.isfinite(g).all() and np.all(g == np.round(g)):
                g = g.astype(np.int64)
            else:
                raise ValueError(f"groups must be integer ids, got dtype {g.dtype}")
        return np.ascontiguousarray(g, dtype=np.int64)

    def _node(self, node) -> int:
        c = self.config
        try:
            head, code = (int(v) for v in node)
        except (TypeError, ValueError):
            raise ValueError(f"node must be a (head, code) pair, got {node!r}") from None
        if not (0 <= head < c.num_heads and 0 <= code < c.codebook_size):
            raise ValueError(
                f"node (head, code) must lie in [0, {c.num_heads - 1}] x [0, {c.codebook_size - 1}], "
                f"got {node!r}"
            )
        return head * c.codebook_size + code

    def _hc(self, node: int) -> tuple[int, int]:
        return divmod(int(node), self.config.codebook_size)

    # ------------------------------------------------------------------ learning

    def _delta(self, codes: np.ndarray, groups: np.ndarray | None):
        """Sorted (keys, eta counts, group counts) and node counts that observing ``codes`` adds.

        Large batches on small networks count into a dense N*N buffer (one pass, sorted
        keys for free); otherwise the pair keys are generated, sorted and run-length coded,
        so memory follows the batch, never N*N.
        """
        c = self.config
        n_nodes = self.num_nodes
        node_delta = np.zeros(n_nodes, dtype=np.int64)
        pairs = codes.shape[0] * c.num_heads * (c.num_heads - 1) // 2
        if (c.num_heads >= 2 and n_nodes * n_nodes <= _DENSE_MAX_CELLS
                and pairs * 64 >= n_nodes * n_nodes and codes.shape[0] < 2**31):  # int32 cells
            buf = _scratch(n_nodes * n_nodes)
            cells = n_nodes * n_nodes * (c.num_heads - 1) // (2 * c.num_heads)
            try:
                K.accumulate_event_pairs_dense(codes, c.codebook_size, n_nodes, buf)
                ke, ne = K.drain_dense(buf, n_nodes, c.codebook_size, node_delta,
                                       min(pairs, cells))  # zeroes buf
            except BaseException:  # e.g. KeyboardInterrupt between the two: never reuse dirt
                buf.fill(0)
                raise
        else:
            keys = _sort_keys(K.event_pair_keys(codes, c.codebook_size, n_nodes), n_nodes)
            ke, ne = K.run_lengths(keys)
            K.count_nodes(codes, c.codebook_size, node_delta, 1)
        ge = np.zeros_like(ne)
        if groups is not None and c.eta_group > 0 and c.window > 0:
            gk = K.group_pair_keys(codes, groups, c.window, c.codebook_size, n_nodes)
            if gk.shape[0]:
                kg, cg = K.run_lengths(_sort_keys(gk, n_nodes))
                ke, ne, ge = K.merge_sorted(ke, ne, ge, kg, np.zeros_like(cg), cg, 1.0)
        return ke, ne, ge, node_delta

    def _apply(self, keys, n, g, sign: float) -> None:
        """Add (sign=+1) or subtract (sign=-1) a sorted delta into the stored counts."""
        if keys.shape[0] == 0:
            return
        if sign < 0:
            self.keys_, self.counts_, self.group_counts_ = K.merge_sorted(
                self.keys_, self.counts_, self.group_counts_, keys, n, g, sign)
            np.maximum(self._counts, 0.0, out=self._counts)
            np.maximum(self._group_counts, 0.0, out=self._group_counts)
            self._drop_empty()
            return
        if self._keys.shape[0] == 0 and self._pending is None:
            self._keys, self._counts, self._group_counts = keys, n, g
            return
        if keys.shape[0] * 16 >= self._keys.shape[0]:  # big batch: one sequential walk
            found = K.add_known(self._keys, self._counts, self._group_counts, keys, n, g)
        else:  # a few keys: binary search each
            pos = np.searchsorted(self._keys, keys)
            found = pos < self._keys.shape[0]
            found[found] = self._keys[pos[found]] == keys[found]
            hit = pos[found]  # unique keys: fancy-index adds are exact
            self._counts[hit] += n[found]
            self._group_counts[hit] += g[found]
        if found.all():  # every edge exists already: updated in place, no reallocation
            return
        new = ~found  # new edges: into the pending side list, never yet in the main arrays
        if self._pending is None:
            self._pending = (keys[new], n[new], g[new])
        else:
            self._pending = K.merge_sorted(*self._pending, keys[new], n[new], g[new], 1.0)
        if self._pending[0].shape[0] > max(4096, self._keys.shape[0] // 8):
            self._compact()

    def _drop_empty(self) -> None:
        keep = (self.counts_ > 0) | (self.group_counts_ > 0)
        if not keep.all():
            self.keys_ = self.keys_[keep]
            self.counts_ = self.counts_[keep]
            self.group_counts_ = self.group_counts_[keep]

    def observe(self, codes, groups=None) -> "MycelialReasoning":
        """Learn from events: every pair of nodes active in one row is strengthened.

        Parameters
        ----------
        codes : array-like of int, shape (num_heads,) or (n, num_heads)
            One row = one co-activation event (uint8 codes are used without a copy).
        groups : array-like of int, shape (n,), optional
            Group id per row (e.g. document id). Rows ``i < j <= i + window`` with the
            same id also co-activate each other's nodes at rate ``eta_group``: every node
            ``x`` of row ``i`` and ``y != x`` of row ``j`` strengthen ``{x, y}`` once.
            Windows do not span ``observe`` calls.

        Returns
        -------
        self
        """
        codes = self._check_codes(codes)
        if groups is not None:
            groups = self._check_groups(groups, codes.shape[0])
        keys, n, g, node_delta = self._delta(codes, groups)
        self._apply(keys, n, g, 1.0)
        self.node_counts_ += node_delta
        self.n_events_ += int(codes.shape[0])
        dense = self._dense_cache
        self._dirty()
        if dense is not None and keys.shape[0] * 4 <= self._keys.shape[0]:
            # observe-then-reason loops: patch the cached propagation matrix, don't rebuild it
            empty_i, empty_f = np.empty(0, np.int64), np.empty(0, np.float64)
            pk, pn, pg = self._pending if self._pending is not None else (empty_i, empty_f, empty_f)
            lk, lg = self._log_keep
            K.dense_refresh(dense[0], dense[1], keys, self._keys, self._counts,
                            self._group_counts, pk, pn, pg, lk, lg)
            self._dense_cache = dense
        return self

    def unobserve(self, codes, groups=None) -> "MycelialReasoning":
        """Subtract exactly what ``observe(codes, groups)`` added (e.g. to delete a document).

        Exact when no ``decay`` ran since the matching ``observe``; after a decay, the same
        number of soft-bound steps is removed, clamped at zero. Group windows count rows
        of one call, so pass a document's rows as they were laid out when observed: a
        document observed as one contiguous block (alone or inside a bigger batch) is
        removed exactly by ``unobserve(its_rows, groups=its_ids)``. Raises ``ValueError`` when
        the events were never observed (a node's activation count would turn negative),
        before changing anything.
        """
        codes = self._check_codes(codes)
        if groups is not None:
            groups = self._check_groups(groups, codes.shape[0])
        keys, n, g, node_delta = self._delta(codes, groups)
        short = node_delta > self.node_counts_
        if short.any():
            bad = int(np.flatnonzero(short)[0])
            raise ValueError(
                f"cannot unobserve codes that were not observed: node {self._hc(bad)} was active "
                f"{self.node_counts_[bad]} times, unobserve asks for {node_delta[bad]}"
            )
        self._apply(keys, n, g, -1.0)
        self.node_counts_ -= node_delta
        self.n_events_ -= int(codes.shape[0])
        self._dirty()
        return self

    forget = unobserve

    def decay(self, rate: float | None = None) -> "MycelialReasoning":
        """Multiply every weight by ``rate`` (default ``decay_rate``); prune below ``min_weight``.

        Node activation counts are kept; nodes left without edges vanish from ``stats``.
        """
        rate = self.config.decay_rate if rate is None else rate
        if not _is_real(rate) or not math.isfinite(rate) or not 0 < rate <= 1:
            raise ValueError(f"rate must lie in (0, 1], got {rate!r}")
        lk, lg = self._log_keep
        keep = K.decay_counts(self.counts_, self.group_counts_, lk, lg, float(rate),
                              float(self.config.min_weight))
        if not keep.all():
            self.keys_ = self.keys_[keep]
            self.counts_ = self.counts_[keep]
            self.group_counts_ = self.group_counts_[keep]
        self.n_decays_ += 1
        self._dirty()
        return self

    def merge(self, other: "MycelialReasoning") -> "MycelialReasoning":
        """Add the counts of ``other`` (same heads, codes and rates) into this network.

        Two networks that observed disjoint streams, merged, equal one network that observed
        both (when no decay ran); see the module docstring for decay. Returns ``self``.
        """
        if not isinstance(other, MycelialReasoning):
            raise ValueError(f"can only merge a MycelialReasoning, got {type(other).__name__}")
        a, b = self.config, other.config
        for name in ("num_heads", "codebook_size", "learning_rate", "eta_group"):
            if getattr(a, name) != getattr(b, name):
                raise ValueError(
                    f"cannot merge networks with different {name}: {getattr(a, name)} vs {getattr(b, name)}"
                )
        self.keys_, self.counts_, self.group_counts_ = K.merge_sorted(
            self.keys_, self.counts_, self.group_counts_,
            other.keys_, other.counts_, other.group_counts_, 1.0,
        )
        self.node_counts_ = self.node_counts_ + other.node_counts_
        self.n_events_ += other.n_events_
        self.n_decays_ = max(self.n_decays_, other.n_decays_)
        self._dirty()
        return self

    # ------------------------------------------------------------------ reading

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

    def _seed_nodes(self, codes) -> tuple[np.ndarray, bool]:
        arr = self._check_codes(codes)
        single = np.ndim(codes) == 1
        offsets = np.arange(self.config.num_heads, dtype=np.int64) * self.config.codebook_size
        return np.ascontiguousarray(arr.astype(np.int64) + offsets), single

    def node_ids(self, codes) -> np.ndarray:
        """Node ids ``head * codebook_size + code`` of codes, int64 (n, num_heads).

        Index a ``propagate`` result with them to score stored items by their codes'
        activation, e.g. ``act[net.node_ids(doc_codes)].mean(axis=1)``.
        """
        return self._seed_nodes(codes)[0]

    def _spread(self, seeds: np.ndarray, steps, damping, threshold):
        """Guts of propagate/spread/reason: ``seeds`` float32 (n, N) already checked."""
        c = self.config
        steps = c.propagation_steps if steps is None else steps
        damping = c.damping if damping is None else damping
        threshold = c.activation_threshold if threshold is None else threshold
        if not _is_int(steps) or steps < 0:
            raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
        for name, v, hi_ok in (("damping", damping, False), ("threshold", threshold, True)):
            if not _is_real(v) or not math.isfinite(v) or v < 0 or v > 1 or (v == 1 and not hi_ok):
                raise ValueError(f"{name} must lie in [0, 1{']' if hi_ok else ')'}, got {v!r}")
        n_nodes = self.num_nodes
        args = (int(steps), np.float32(damping), np.float32(threshold))
        if n_nodes <= _DENSE_SPREAD_MAX_NODES and self.keys_.shape[0] * 16 >= n_nodes * n_nodes:
            if self._dense_cache is None:
                lk, lg = self._log_keep
                self._dense_cache = K.dense_weights(self.keys_, self.counts_, self.group_counts_,
                                                    lk, lg, n_nodes)
            dense, strength = self._dense_cache
            return K.spread_rows_dense(dense, strength, seeds, *args)
        indptr, indices, data, strength = self._csr()
        return K.spread_rows(indptr, indices, data, strength, seeds, *args)

    def _code_seeds(self, codes):
        seeds_idx, single = self._seed_nodes(codes)
        seeds = np.zeros((seeds_idx.shape[0], self.num_nodes), dtype=np.float32)
        np.put_along_axis(seeds, seeds_idx, 1.0, axis=1)
        return seeds, seeds_idx, single

    def propagate(self, codes, steps: int | None = None, damping: float | None = None,
                  threshold: float | None = None) -> np.ndarray:
        """Damped spreading activation seeded by the codes' nodes.

        Each step computes ``x_i = sum_j w_ij a_j / max(1, sum_j w_ij)`` from the nodes
        with ``a_j >= threshold`` (a hub's share is divided by its strength, so touching
        everything does not make it win), rescales ``x`` so its maximum is 1, and sets
        ``a = (1 - d) * seed + d * x``. Activations lie in [0, 1] whatever the degree; seed
        nodes keep at least ``1 - d``, the strongest associate gets about ``d``.

        Parameters
        ----------
        codes : array-like of int, shape (num_heads,) or (n, num_heads)
        steps, damping, threshold : optional
            Default to ``propagation_steps``, ``damping``, ``activation_threshold``.

        Returns
        -------
        ndarray of float32, shape (num_nodes,) or (n, num_nodes)
            Final activation per node (0 below ``threshold``).
        """
        seeds, _, single = self._code_seeds(codes)
        act, _ = self._spread(seeds, steps, damping, threshold)
        return act[0] if single else act

    def spread(self, seed, steps: int | None = None, damping: float | None = None,
               threshold: float | None = None) -> np.ndarray:
        """``propagate`` from any seed activation over the nodes (e.g. a weighted set of codes).

        Parameters
        ----------
        seed : array-like of float, shape (num_nodes,) or (n, num_nodes), values in [0, 1]
        steps, damping, threshold : optional
            As in ``propagate``.

        Returns
        -------
        ndarray of float32, same shape as ``seed``, values in [0, 1]
        """
        arr = np.asarray(seed, dtype=np.float64) if not isinstance(seed, np.ndarray) else seed
        if arr.dtype.kind not in "fiub":
            raise ValueError(f"seed must be numbers, got dtype {arr.dtype}")
        single = arr.ndim == 1
        arr = np.atleast_2d(arr)
        if arr.ndim != 2 or arr.shape[1] != self.num_nodes or arr.shape[0] == 0:
            raise ValueError(f"seed must have shape ({self.num_nodes},) or (n, {self.num_nodes}), "
                             f"got {np.shape(seed)}")
        if not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1:
            raise ValueError("seed must hold finite values in [0, 1]")
        act, _ = self._spread(np.ascontiguousarray(arr, dtype=np.float32), steps, damping, threshold)
        return act[0] if single else act

    def reason(self, codes, steps: int | None = None, damping: float | None = None,
               threshold: float | None = None):
        """Propagate, then winner-take-all per head: the code the rest of the pattern favours.

        The winner of a head is its node with the largest signal the network sent to it
        (activation minus the seed's own share), so a code can be replaced by the one its
        co-active partners point to; a head that receives no signal keeps its code.

        Returns
        -------
        refined : ndarray of int64, shape like ``codes``
        activation : ndarray of float32, shape (num_nodes,) or (n, num_nodes)
        """
        seed_matrix, seeds, single = self._code_seeds(codes)
        act, signal = self._spread(seed_matrix, steps, damping, threshold)
        c = self.config
        sig = signal.reshape(signal.shape[0], c.num_heads, c.codebook_size)
        best = sig.argmax(axis=2)
        has = sig.max(axis=2) > 0
        original = seeds - np.arange(c.num_heads, dtype=np.int64) * c.codebook_size
        refined = np.where(has, best, original).astype(np.int64)
        return (refined[0], act[0]) if single else (refined, act)

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

    @staticmethod
    def _check_k(k, name: str) -> int:
        if not _is_int(k) or k < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {k!r}")
        return int(k)

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

    # ------------------------------------------------------------------ persistence and export

    def save(self, path) -> None:
        """Write the network atomically as ``.npz`` arrays + a JSON header (no pickle)."""
        from core.reasoning.mycelial.persistence import save_network

        save_network(self, path)

    @classmethod
    def load(cls, path) -> "MycelialReasoning":
        """Read a network written by ``save``; a corrupt or foreign file raises ``ValueError``."""
        from core.reasoning.mycelial.persistence import load_network

        return load_network(path)

    def to_networkx(self, min_weight: float = 0.0, top: int | None = None):
        """A ``networkx.Graph`` of the edges (attribute ``weight``), nodes ``(head, code)``."""
        from core.reasoning.mycelial.export import to_networkx

        return to_networkx(self, min_weight=min_weight, top=top)

    def __eq__(self, other) -> bool:
        """Bit-identical state and equal config."""
        if not isinstance(other, MycelialReasoning):
            return NotImplemented
        return (asdict(self.config) == asdict(other.config)
                and np.array_equal(self.keys_, other.keys_)
                and np.array_equal(self.counts_, other.counts_)
                and np.array_equal(self.group_counts_, other.group_counts_)
                and np.array_equal(self.node_counts_, other.node_counts_)
                and self.n_events_ == other.n_events_ and self.n_decays_ == other.n_decays_)

    __hash__ = None

    def __repr__(self) -> str:
        c = self.config
        return (f"MycelialReasoning(num_heads={c.num_heads}, codebook_size={c.codebook_size}, "
                f"edges={self.keys_.shape[0]}, events={self.n_events_})")
