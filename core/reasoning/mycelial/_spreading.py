"""Spreading activation over a ``MycelialReasoning`` network: propagate, spread, reason.

A mixin so the network class keeps to its state and learning rules; it reads the
network's weights through ``_csr``/``_edge_weights`` and never changes counts.
"""
from __future__ import annotations

import math

import numpy as np

from core._validation import codes_dtype
from core.reasoning.mycelial import _kernels as K
from core.reasoning.mycelial.config import _is_real, check_steps

# propagate switches to a dense float32 weight matrix (at most 16 MB) when the graph has at
# least N*N/8 stored entries: contiguous rows vectorise, CSR gathers do not.
_DENSE_SPREAD_MAX_NODES = 2048


class SpreadingMixin:
    """``propagate``/``spread``/``reason`` and the seed helpers; mixed into ``MycelialReasoning``."""

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
        check_steps(steps)
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
        refined : ndarray, shape like ``codes``
            uint8 up to 256 codes a head (uint16 up to 65,536), the dtype the codec's ``encode``
            gives, whatever integer dtype ``codes`` had (it was int64).
        activation : ndarray of float32, shape (num_nodes,) or (n, num_nodes)
        """
        seed_matrix, seeds, single = self._code_seeds(codes)
        act, signal = self._spread(seed_matrix, steps, damping, threshold)
        c = self.config
        sig = signal.reshape(signal.shape[0], c.num_heads, c.codebook_size)
        best = sig.argmax(axis=2)
        has = sig.max(axis=2) > 0
        original = seeds - np.arange(c.num_heads, dtype=np.int64) * c.codebook_size
        refined = np.where(has, best, original).astype(codes_dtype(c.codebook_size))
        return (refined[0], act[0]) if single else (refined, act)
