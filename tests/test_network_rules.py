"""Every learning and spreading rule of ``MycelialReasoning`` against the brute-force ``Ref``."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.reasoning.mycelial import MycelialConfig, MycelialReasoning
from test_network_reference import Ref


def make(heads=3, codes=5, **kw):
    cfg = dict(num_heads=heads, codebook_size=codes, learning_rate=0.1, eta_group=0.05,
               window=2, decay_rate=0.9, min_weight=0.0123)
    cfg.update(kw)
    net = MycelialReasoning(MycelialConfig(**cfg))
    ref = Ref(heads, codes, eta=cfg["learning_rate"], eta_group=cfg["eta_group"],
              window=cfg["window"], decay_rate=cfg["decay_rate"], min_weight=cfg["min_weight"])
    return net, ref


def assert_same(net, ref):
    W = net.weights().toarray()
    R = ref.dense()
    np.testing.assert_allclose(W, R, rtol=1e-12, atol=1e-15)
    assert (W != 0).sum() == (R != 0).sum()
    np.testing.assert_array_equal(net.node_counts_, ref.node_counts)


batches = st.lists(
    st.tuples(
        st.lists(st.lists(st.integers(0, 4), min_size=3, max_size=3), min_size=1, max_size=12),
        st.one_of(st.none(), st.lists(st.integers(0, 2), min_size=12, max_size=12)),
        st.booleans(),  # decay after this batch?
    ),
    min_size=1, max_size=5,
)


@settings(max_examples=60, deadline=None)
@given(batches=batches, window=st.integers(0, 3))
def test_observe_groups_decay_match_brute_force(batches, window):
    net, ref = make(window=window)
    for rows, groups, do_decay in batches:
        g = None if groups is None else groups[: len(rows)]
        net.observe(np.array(rows), groups=g)
        ref.observe(rows, g)
        if do_decay:
            net.decay()
            ref.decay()
        assert_same(net, ref)


def test_weights_are_symmetric_bounded_without_self_edges():
    net, _ = make(heads=4, codes=8)
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 8, size=(3000, 4))
    net.observe(codes, groups=np.repeat(np.arange(300), 10))
    W = net.weights()
    assert (W != W.T).nnz == 0
    assert W.diagonal().max() == 0
    assert W.data.min() > 0 and W.data.max() < 1 + 1e-15
    # the stored counts give the soft-bound weight exactly as the closed form says
    lk = np.log1p(-0.1)
    lg = np.log1p(-0.05)
    np.testing.assert_allclose(
        np.sort(W.data)[::2], np.sort(-np.expm1(net.counts_ * lk + net.group_counts_ * lg)), rtol=1e-12
    )


def test_dense_and_sorted_observe_paths_are_bit_identical():
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 16, size=(4000, 4)).astype(np.uint8)
    big = MycelialReasoning(MycelialConfig(num_heads=4, codebook_size=16)).observe(codes)  # dense
    small = MycelialReasoning(MycelialConfig(num_heads=4, codebook_size=16))
    for part in np.array_split(codes, 400):  # 10 rows: below the dense threshold
        small.observe(part.astype(np.int64))
    assert big == small


def test_decay_multiplies_prunes_and_keeps_node_counts():
    net, ref = make(heads=2, codes=3, learning_rate=0.5, decay_rate=0.5, min_weight=0.2)
    net.observe([[0, 0], [0, 0], [1, 2]])
    ref.observe([[0, 0], [0, 0], [1, 2]])
    before = net.weights().toarray()
    net.decay()
    ref.decay()
    assert_same(net, ref)
    after = net.weights().toarray()
    assert after[0, 3] == pytest.approx(before[0, 3] * 0.5, rel=1e-12)  # .75 -> .375
    assert after[1, 5] == pytest.approx(0.25, rel=1e-12)  # .5 -> .25, still >= .2
    net.decay()
    ref.decay()  # .375 -> .1875 and .25 -> .125: both pruned
    assert_same(net, ref)
    assert net.stats()["num_edges"] == 0
    assert list(net.node_counts_) == [2, 1, 0, 2, 0, 1]


def test_decay_prunes_isolated_nodes_from_stats():
    net, _ = make(heads=2, codes=3, learning_rate=0.5, decay_rate=0.5, min_weight=0.3)
    net.observe([[0, 0], [0, 0], [1, 2]])
    assert net.stats()["active_nodes"] == 4
    net.decay()  # .75 -> .375 kept, .5 -> .25 pruned
    s = net.stats()
    assert s["active_nodes"] == 2 and s["num_edges"] == 1 and s["observed_nodes"] == 4


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("dense", [False, True])
def test_propagate_matches_brute_force(seed, dense):
    rng = np.random.default_rng(seed)
    heads, codes = 4, 6
    net, ref = make(heads=heads, codes=codes)
    n_rows = 400 if dense else 6  # many rows: most pairs present, the dense kernel runs
    rows = rng.integers(0, codes, size=(n_rows, heads))
    net.observe(rows)
    ref.observe(rows)
    uses_dense = net.keys_.shape[0] * 2 * 8 >= net.num_nodes ** 2
    assert uses_dense == dense
    for q in rng.integers(0, codes, size=(5, heads)):
        for steps, damping, thr in [(3, 0.5, 0.1), (1, 0.3, 0.0), (5, 0.8, 0.05)]:
            act = net.propagate(q, steps=steps, damping=damping, threshold=thr)
            want, signal = ref.propagate(q, steps, damping, thr)
            np.testing.assert_allclose(act, want, atol=2e-6)
            refined, act2 = net.reason(q, steps=steps, damping=damping, threshold=thr)
            np.testing.assert_array_equal(act, act2)
            sig = signal.reshape(heads, codes)
            expect = np.where(sig.max(1) > 0, sig.argmax(1), q)
            # ties between float32 and float64 argmax are possible only for equal signals
            for h in range(heads):
                assert sig[h, refined[h]] == pytest.approx(sig[h, expect[h]], abs=2e-6)


def test_activations_stay_in_unit_interval_for_any_degree():
    rng = np.random.default_rng(5)
    net = MycelialReasoning(MycelialConfig(num_heads=2, codebook_size=64, learning_rate=0.9))
    # node (0, 0) co-fires with every code of head 1 thousands of times: a huge hub
    codes = np.stack([np.zeros(20000, int), rng.integers(0, 64, 20000)], 1)
    net.observe(codes)
    for q in ([0, 5], [1, 5], [0, 0]):
        for steps in (1, 3, 10):
            act = net.propagate(q, steps=steps, damping=0.9, threshold=0.0)
            assert act.min() >= 0 and act.max() <= 1


def test_reason_keeps_code_without_signal_and_completes_patterns():
    net = MycelialReasoning(MycelialConfig(num_heads=3, codebook_size=8))
    net.observe([[1, 2, 3]] * 5 + [[4, 5, 6]] * 5)
    refined, act = net.reason([1, 2, 6])  # head 2 swapped: pattern (1, 2, 3) takes it back
    assert list(refined) == [1, 2, 3]
    refined, _ = net.reason([7, 7, 7])  # nodes with no edges: nothing changes
    assert list(refined) == [7, 7, 7]
    batch, acts = net.reason(np.array([[1, 2, 6], [7, 7, 7]]))
    assert batch.tolist() == [[1, 2, 3], [7, 7, 7]] and acts.shape == (2, 24)


def test_queries_match_brute_force():
    rng = np.random.default_rng(7)
    net, ref = make(heads=3, codes=6)
    rows = rng.integers(0, 6, size=(60, 3))
    net.observe(rows)
    ref.observe(rows)
    R = ref.dense()
    # neighbors: sorted by weight, ties by node id
    nb = net.neighbors((1, 2), top_k=4)
    i = 1 * 6 + 2
    order = sorted((j for j in range(18) if R[i, j] > 0), key=lambda j: (-R[i, j], j))[:4]
    assert [n for n, _ in nb] == [divmod(j, 6) for j in order]
    assert [w for _, w in nb] == pytest.approx([R[i, j] for j in order], rel=1e-12)
    # strongest connections
    edges = sorted(ref.w.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    got = net.strongest_connections(5)
    assert [(a, b) for a, b, _ in got] == [(divmod(a, 6), divmod(b, 6)) for (a, b), _ in edges]
    # hubs: weighted degree
    s = R.sum(1)
    hubs = sorted(range(18), key=lambda j: (-s[j], j))[:3]
    assert [n for n, _ in net.hub_codes(3)] == [divmod(j, 6) for j in hubs]
    assert net.hub_codes(3)[0][1] == pytest.approx(s[hubs[0]], rel=1e-12)
    st_ = net.stats()
    assert st_["num_edges"] == len(ref.w) and st_["events"] == 60
    assert st_["max_weight"] == pytest.approx(max(ref.w.values()), rel=1e-12)


def test_bridges_are_the_strongest_two_edge_paths():
    rng = np.random.default_rng(8)
    net, ref = make(heads=3, codes=5)
    rows = rng.integers(0, 5, size=(40, 3))
    net.observe(rows)
    ref.observe(rows)
    R = ref.dense()
    a, b = [0, 1, 2], [3, 4, 2]
    A = {0, 5 + 1}
    B = {3, 5 + 4}  # (2, 2) is shared: a bridge candidate, not an endpoint
    cands = []
    for x in A:
        for y in B:
            if R[x, y] > 0:
                cands.append((R[x, y], [x, y]))
            for m in range(15):
                if m not in A | B and R[x, m] * R[m, y] > 0:
                    cands.append((R[x, m] * R[m, y], [x, m, y]))
    cands.sort(key=lambda t: (-t[0], t[1]))
    got = net.bridges(a, b, k=3)
    assert [g["strength"] for g in got] == pytest.approx([c[0] for c in cands[:3]], rel=1e-12)
    for g in got:
        nodes = [h * 5 + c for h, c in g["path"]]
        assert nodes[0] in A and nodes[-1] in B
        assert np.prod(g["weights"]) == pytest.approx(g["strength"], rel=1e-12)
        assert g["weights"] == pytest.approx([R[u, v] for u, v in zip(nodes, nodes[1:])], rel=1e-12)


@pytest.mark.parametrize("dense", [False, True])
def test_spread_from_weighted_seeds_matches_brute_force(dense):
    rng = np.random.default_rng(11)
    net, ref = make(heads=4, codes=6)
    rows = rng.integers(0, 6, size=(400 if dense else 6, 4))
    net.observe(rows)
    ref.observe(rows)
    seeds = np.zeros((3, 24))
    seeds[0, [0, 7]] = [1.0, 0.4]
    seeds[1] = rng.random(24) * (rng.random(24) < 0.2)
    seeds[2, 12:18] = 0.3
    got = net.spread(seeds, steps=3, damping=0.6, threshold=0.05)
    for s, g in zip(seeds, got):
        want, _ = ref.propagate(s, 3, 0.6, 0.05)
        np.testing.assert_allclose(g, want, atol=2e-6)
    one_hot = np.zeros(24)
    one_hot[[1, 6 + 2, 12 + 3, 18 + 4]] = 1
    np.testing.assert_array_equal(net.spread(one_hot), net.propagate([1, 2, 3, 4]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        net.spread(one_hot * 2)
    with pytest.raises(ValueError, match="shape"):
        net.spread(np.ones(23))


def test_node_ids_index_activations():
    net = MycelialReasoning(MycelialConfig(num_heads=3, codebook_size=8))
    net.observe([[1, 2, 3]] * 4)
    ids = net.node_ids([[1, 2, 3], [0, 0, 7]])
    assert ids.tolist() == [[1, 10, 19], [0, 8, 23]]
    act = net.propagate([1, 2, 4])
    score = act[ids].mean(axis=1)
    assert score[0] > score[1] == 0
