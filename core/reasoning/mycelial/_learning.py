"""How a ``MycelialReasoning`` network learns from events: observe, unobserve (forget), decay.

These rules turn rows of codes into count deltas and apply them to the stored edges (the
count arithmetic, and how decay composes with merge and unobserve, is described in
``network.py``). They are kept apart from the network's state, storage and merge so each
file has one job; the dense pair-count buffer that every network of a thread shares is
here because only ``observe`` and ``unobserve`` use it.
"""
from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING

import numpy as np

from core.reasoning.mycelial import _kernels as K
from core.reasoning.mycelial.config import _is_real

if TYPE_CHECKING:  # annotations only: network.py imports this module
    from core.reasoning.mycelial.network import MycelialReasoning

# A dense count buffer (N*N int32) is used by observe when N*N is at most this many cells
# (1,024 nodes: 1M cells, 4 MB) and the batch is large enough to amortise zeroing it.
_DENSE_MAX_CELLS = 1 << 22


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


def first_short(skeys, sn, sg, keys, n, g) -> int:
    """Index of the first delta edge stored with fewer counts than ``n``/``g`` ask for, or -1.

    With whole counts (no decay yet) such an edge was never observed that often: unobserving it
    clamped at zero and took other events' counts, silently, whenever every node had been seen.
    """
    if keys.shape[0] == 0:
        return -1
    if skeys.shape[0] == 0:
        return 0
    pos = np.minimum(np.searchsorted(skeys, keys), skeys.shape[0] - 1)
    short = (skeys[pos] != keys) | (sn[pos] < n) | (sg[pos] < g)
    return int(np.argmax(short)) if short.any() else -1


def subtract_known(skeys, sn, sg, keys, n, g):
    """``skeys``/``sn``/``sg`` less a delta whose every key they hold with enough counts (``first_short``).

    Subtracts in place and removes the edges left at zero: the merge it replaces rebuilt every
    edge array for a document's few hundred keys (3.0 -> 0.17 ms CPU a forget at 523k edges).
    """
    pos = np.searchsorted(skeys, keys)
    sn[pos] -= n
    sg[pos] -= g
    gone = pos[(sn[pos] == 0) & (sg[pos] == 0)]
    if gone.shape[0] == 0:
        return skeys, sn, sg
    return np.delete(skeys, gone), np.delete(sn, gone), np.delete(sg, gone)


def _sort_keys(keys: np.ndarray, n_nodes: int) -> np.ndarray:
    """Sorted copy of edge keys: radix sort for large arrays, ``np.sort`` for small ones."""
    if keys.shape[0] >= 100_000:
        return K.radix_sort(keys, n_nodes * n_nodes)
    return np.sort(keys)


class LearningMixin:
    """``observe``/``unobserve``/``decay`` and the count deltas they apply; mixed into ``MycelialReasoning``."""

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
        the events were never observed (a node's activation count, or before any decay an
        edge's count, would turn negative), before changing anything.
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
        bad = first_short(self.keys_, self.counts_, self.group_counts_, keys, n, g) if self.n_decays_ == 0 else -1
        if bad >= 0:
            a, b = divmod(int(keys[bad]), self.num_nodes)
            i = min(int(np.searchsorted(self._keys, keys[bad])), max(self._keys.shape[0] - 1, 0))
            have = ((self._counts[i], self._group_counts[i]) if self._keys.shape[0] and self._keys[i] == keys[bad]
                    else (0.0, 0.0))
            raise ValueError(
                f"cannot unobserve codes that were not observed: edge {self._hc(a)}-{self._hc(b)} was counted "
                f"{have[0]:g} times ({have[1]:g} in groups), unobserve asks for {n[bad]:g} ({g[bad]:g}); "
                f"pass the rows and groups as they were observed")
        if self.n_decays_ == 0 and keys.shape[0]:  # every edge is there with enough counts (checked above)
            self.keys_, self.counts_, self.group_counts_ = subtract_known(
                self._keys, self._counts, self._group_counts, keys, n, g)
        else:
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
        self._decay_concepts(float(rate))
        self.n_decays_ += 1
        self._dirty()
        return self
