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

This file holds the state, its storage and ``merge``; the learning rules (observe,
unobserve, decay) are in ``_learning.py``, reading, spreading and concepts in the other mixins.
"""
from __future__ import annotations

import math
from dataclasses import asdict

import numpy as np

from core.reasoning.mycelial import _kernels as K
from core.reasoning.mycelial._checks import ChecksMixin
from core.reasoning.mycelial._concepts import ConceptMixin
from core.reasoning.mycelial._learning import LearningMixin
from core.reasoning.mycelial._reading import ReadingMixin
from core.reasoning.mycelial._spreading import SpreadingMixin
from core.reasoning.mycelial.config import MycelialConfig

__all__ = ["MycelialConfig", "MycelialReasoning"]

class MycelialReasoning(LearningMixin, ChecksMixin, SpreadingMixin, ReadingMixin, ConceptMixin):
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
        # Concept node ids are ids of one memory's SQLite store: the owner names that id space
        # here (a memory sets its store's uuid; saved in the file) so ``merge`` can refuse to mix
        # two memories' concepts. None: not owned by a memory (no claim about the ids).
        self.concept_space_: str | None = None
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
        self._reset_concepts()
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

    # ------------------------------------------------------------------ combining networks

    def merge(self, other: "MycelialReasoning") -> "MycelialReasoning":
        """Add the counts of ``other`` (same heads, codes and rates; same window when it holds group counts).

        Two networks that observed disjoint streams, merged, equal one network that observed
        both (when no decay ran); see the module docstring for decay. Returns ``self``.
        Concept nodes are numbered per memory, so when both networks hold concept counts their
        ``concept_space_`` must be equal (the networks of two memories raise ``ValueError``);
        a network without concept counts merges into any network. A network merged into
        itself raises ``ValueError`` (its counts would double).
        """
        if not isinstance(other, MycelialReasoning):
            raise ValueError(f"can only merge a MycelialReasoning, got {type(other).__name__}")
        if other is self:  # doubled every count: the same stream is not a disjoint one
            raise ValueError("cannot merge a network into itself: merge adds the counts of a disjoint stream; "
                             "to count this network's stream twice, merge a copy (net.merge(copy.deepcopy(net)))")
        a, b = self.config, other.config
        for name in ("num_heads", "codebook_size", "learning_rate", "eta_group"):
            if getattr(a, name) != getattr(b, name):
                raise ValueError(
                    f"cannot merge networks with different {name}: {getattr(a, name)} vs {getattr(b, name)}"
                )
        if a.window != b.window and (other.group_counts_.any() or other.cx_group_counts_.any()):
            # its group counts joined rows up to its own window apart: forget (with ours) could not take them out
            raise ValueError(f"cannot merge networks with different window: {a.window} vs {b.window} "
                             f"(the other network holds group co-activations counted over its window)")
        self._check_concept_space(other)
        self.keys_, self.counts_, self.group_counts_ = K.merge_sorted(
            self.keys_, self.counts_, self.group_counts_,
            other.keys_, other.counts_, other.group_counts_, 1.0,
        )
        self.node_counts_ = self.node_counts_ + other.node_counts_
        self._merge_concepts(other)
        self.n_events_ += other.n_events_
        self.n_decays_ = max(self.n_decays_, other.n_decays_)
        self._dirty()
        return self

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
                and self.n_events_ == other.n_events_ and self.n_decays_ == other.n_decays_
                and self._concepts_equal(other))

    __hash__ = None

    def __repr__(self) -> str:
        c = self.config
        return (f"MycelialReasoning(num_heads={c.num_heads}, codebook_size={c.codebook_size}, "
                f"edges={self.keys_.shape[0]}, events={self.n_events_})")
