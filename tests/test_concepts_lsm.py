"""Concept edges observed batch by batch (in-place adds + pending LSM runs) read bit-identical
to merging every batch into the sorted arrays at once, through decay, unobserve, merge, save."""
from __future__ import annotations

import numpy as np
import pytest

from core.reasoning.mycelial import MycelialConfig, MycelialReasoning
from core.reasoning.mycelial import _kernels as K

CFG = MycelialConfig(num_heads=3, codebook_size=8, window=2)


def _batch(rng, n=30, vocab=400):
    codes = rng.integers(0, 8, (n, 3)).astype(np.uint8)
    rows = [np.sort(rng.choice(vocab, int(rng.integers(0, 7)), replace=False)) for _ in range(n)]
    offsets = np.zeros(n + 1, np.int64)
    offsets[1:] = np.cumsum([len(r) for r in rows])
    groups = np.repeat(rng.integers(0, 1000, n // 5 + 1), 5)[:n]
    return codes, offsets, np.concatenate(rows).astype(np.int64), groups


class _Reference:
    """The plain rule: every batch's delta merged into the whole sorted key array."""

    def __init__(self):
        self.k, self.n, self.g = np.empty(0, np.int64), np.empty(0), np.empty(0)

    def observe(self, net, codes, offsets, concepts, groups, sign=1.0):
        k, n, g, _ = net._concept_delta(codes, offsets, concepts, groups)
        self.k, self.n, self.g = K.merge_sorted(self.k, self.n, self.g, k, n, g, sign)
        if sign < 0:
            np.maximum(self.n, 0.0, out=self.n)
            np.maximum(self.g, 0.0, out=self.g)
            keep = (self.n > 0) | (self.g > 0)
            self.k, self.n, self.g = self.k[keep], self.n[keep], self.g[keep]

    def decay(self, rate, cfg):
        lk, lg = np.log1p(-cfg.learning_rate), np.log1p(-cfg.eta_group)
        keep = K.decay_counts(self.n, self.g, lk, lg, rate, cfg.min_weight)
        self.k, self.n, self.g = self.k[keep], self.n[keep], self.g[keep]


def _same(net, ref):
    return (np.array_equal(net.cx_keys_, ref.k) and np.array_equal(net.cx_counts_, ref.n)
            and np.array_equal(net.cx_group_counts_, ref.g))


@pytest.mark.parametrize("compact_min", [64, 16384])
def test_batches_decay_unobserve_read_bit_identical(compact_min, monkeypatch, tmp_path):
    monkeypatch.setattr(MycelialReasoning, "_CX_COMPACT_MIN", compact_min)
    rng = np.random.default_rng(compact_min)
    net, ref = MycelialReasoning(CFG), _Reference()
    kept = []
    for step in range(120):
        b = _batch(rng, n=int(rng.integers(1, 40)))
        net.observe_concepts(*b)
        ref.observe(net, *b)
        kept.append(b)
        assert len(net._cx_runs) <= 12  # sizes halve run to run: logarithmically many
        if step == 40:  # pending runs are never left behind by a decay
            assert net._cx_runs
            net.decay(0.9)
            ref.decay(0.9, CFG)
        if step in (60, 100):  # forget an earlier batch (exact subtraction, clamped after the decay)
            old = kept[int(rng.integers(0, len(kept)))]
            net.unobserve_concepts(*old)
            ref.observe(net, *old, sign=-1.0)
        if step % 37 == 0:
            assert _same(net, ref)
    assert net._cx_runs and _same(net, ref) and not net._cx_runs  # a read merges the runs
    net.observe_concepts(*_batch(rng))
    net.save(tmp_path / "n.npz")  # save reads the merged state
    assert not net._cx_runs and MycelialReasoning.load(tmp_path / "n.npz") == net


def test_merge_of_whole_counts_equals_one_network():
    rng = np.random.default_rng(5)
    batches = [_batch(rng) for _ in range(30)]
    one, parts = MycelialReasoning(CFG), MycelialReasoning(CFG)
    for b in batches:
        one.observe_concepts(*b)
    for b in batches[:10]:
        parts.observe_concepts(*b)
    for i in range(10, 30, 5):  # deltas merged in, as the parallel ingest does
        delta = MycelialReasoning(CFG)
        for b in batches[i:i + 5]:
            delta.observe_concepts(*b)
        parts.merge(delta)
    assert parts == one
    decayed = MycelialReasoning(CFG).observe_concepts(*batches[0]).decay(0.5)  # fractional counts
    ref = _Reference()
    ref.k, ref.n, ref.g = K.merge_sorted(one.cx_keys_, one.cx_counts_, one.cx_group_counts_,
                                         decayed.cx_keys_, decayed.cx_counts_, decayed.cx_group_counts_, 1.0)
    assert _same(one.merge(decayed), ref)


def test_deepcopy_carries_pending_runs():
    import copy

    rng = np.random.default_rng(2)
    net = MycelialReasoning(CFG)
    for _ in range(20):
        net.observe_concepts(*_batch(rng))
    twin = copy.deepcopy(net)
    assert twin == net
    b = _batch(rng)
    assert twin.observe_concepts(*b) == net.observe_concepts(*b)
