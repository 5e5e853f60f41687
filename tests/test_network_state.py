"""Merge, unobserve, determinism, the 65,536-node configuration and bad inputs."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.reasoning.mycelial import MycelialConfig, MycelialReasoning
from core.reasoning.mycelial_reasoning import MycelialConfig as ProtoConfig
from core.reasoning.mycelial_reasoning import MycelialReasoning as ProtoReasoning

CFG = dict(num_heads=3, codebook_size=5, window=2, eta_group=0.05)
rows_st = st.lists(st.lists(st.integers(0, 4), min_size=3, max_size=3), min_size=1, max_size=15)


def stream(seed, n, heads=4, codes=32):
    rng = np.random.default_rng(seed)
    return rng.integers(0, codes, size=(n, heads)), rng.integers(0, 5, size=n)


def test_prototype_import_path_gives_the_same_classes():
    assert ProtoConfig is MycelialConfig and ProtoReasoning is MycelialReasoning


@settings(max_examples=40, deadline=None)
@given(a=rows_st, b=rows_st, split=st.booleans())
def test_merge_equals_one_network_that_saw_both_streams(a, b, split):
    ga, gb = [i % 2 for i in range(len(a))], [i % 3 for i in range(len(b))]
    both = MycelialReasoning(MycelialConfig(**CFG))
    both.observe(a, groups=ga).observe(b, groups=gb)
    na = MycelialReasoning(MycelialConfig(**CFG)).observe(a, groups=ga)
    nb = MycelialReasoning(MycelialConfig(**CFG)).observe(b, groups=gb)
    merged = na.merge(nb) if split else nb.merge(na)
    assert merged.stats()["events"] == both.stats()["events"]
    np.testing.assert_array_equal(merged.keys_, both.keys_)
    np.testing.assert_array_equal(merged.counts_, both.counts_)  # whole counts: exact
    np.testing.assert_array_equal(merged.group_counts_, both.group_counts_)
    np.testing.assert_array_equal(merged.node_counts_, both.node_counts_)
    np.testing.assert_array_equal(merged.weights().toarray(), both.weights().toarray())


def test_merge_after_decay_combines_complements():
    ca, _ = stream(1, 300, 3, 5)
    cb, _ = stream(2, 300, 3, 5)
    na = MycelialReasoning(MycelialConfig(**CFG)).observe(ca).decay(0.7)
    nb = MycelialReasoning(MycelialConfig(**CFG)).observe(cb).decay(0.8)
    wa, wb = na.weights().toarray(), nb.weights().toarray()
    merged = na.merge(nb).weights().toarray()
    np.testing.assert_allclose(1 - merged, (1 - wa) * (1 - wb), atol=1e-12)


def test_merge_rejects_incompatible_networks():
    a = MycelialReasoning(MycelialConfig(**CFG))
    with pytest.raises(ValueError, match="codebook_size"):
        a.merge(MycelialReasoning(MycelialConfig(num_heads=3, codebook_size=6)))
    with pytest.raises(ValueError, match="learning_rate"):
        a.merge(MycelialReasoning(MycelialConfig(**CFG, learning_rate=0.2)))
    with pytest.raises(ValueError, match="MycelialReasoning"):
        a.merge("not a network")


def test_merge_refuses_group_counts_of_another_window():
    # group counts made over window 5 merged into a window-2 network: forgetting that document
    # afterwards (over window 2) left counts behind, so forget no longer equalled never having seen it
    codes, groups = stream(4, 30, 3, 5)
    a = MycelialReasoning(MycelialConfig(**CFG))
    wide = MycelialReasoning(MycelialConfig(**{**CFG, "window": 5}))
    with pytest.raises(ValueError, match="different window: 2 vs 5"):
        a.merge(copy.deepcopy(wide).observe(codes, groups=groups))
    assert a == MycelialReasoning(MycelialConfig(**CFG))
    a.merge(wide.observe(codes))  # no group counts: the window does not matter
    assert a == MycelialReasoning(MycelialConfig(**CFG)).observe(codes)


@settings(max_examples=40, deadline=None)
@given(a=rows_st, b=rows_st)
def test_unobserve_removes_a_document_exactly(a, b):
    ga, gb = [0] * len(a), [1] * len(b)
    only_a = MycelialReasoning(MycelialConfig(**CFG)).observe(a, groups=ga)
    net = MycelialReasoning(MycelialConfig(**CFG)).observe(a, groups=ga).observe(b, groups=gb)
    net.forget(b, groups=gb)
    assert net == only_a  # bit-identical state
    net.unobserve(a, groups=ga)
    assert net.stats()["num_edges"] == 0 and net.node_counts_.sum() == 0


def test_unobserve_of_unseen_events_fails_before_changing_anything():
    net = MycelialReasoning(MycelialConfig(**CFG)).observe([[0, 1, 2]] * 3)
    snapshot = MycelialReasoning(MycelialConfig(**CFG)).observe([[0, 1, 2]] * 3)
    with pytest.raises(ValueError, match="not observed"):
        net.unobserve([[0, 1, 3]])
    with pytest.raises(ValueError, match="not observed"):
        net.unobserve([[0, 1, 2]] * 4)
    assert net == snapshot


def test_unobserve_of_unseen_events_of_seen_nodes_fails_before_changing_anything():
    # every node of [[0, 1, 3]] was active, but never together: the node check passed, the missing
    # edges clamped at zero and node counts and events dropped, silently (also a wrong group layout)
    net = MycelialReasoning(MycelialConfig(**CFG)).observe([[0, 1, 2], [4, 4, 3], [0, 1, 2]], groups=[5, 6, 5])
    snapshot = MycelialReasoning(MycelialConfig(**CFG)).observe([[0, 1, 2], [4, 4, 3], [0, 1, 2]], groups=[5, 6, 5])
    with pytest.raises(ValueError, match=r"not observed: edge \(0, 0\)-\(2, 3\) was counted 0 times"):
        net.unobserve([[0, 1, 3]])
    with pytest.raises(ValueError, match="not observed: edge"):
        net.unobserve([[0, 1, 2], [4, 4, 3]], groups=[5, 5])  # the rows, grouped as they never were
    assert net == snapshot
    net.unobserve([[0, 1, 2], [4, 4, 3], [0, 1, 2]], groups=[5, 6, 5])
    assert net == MycelialReasoning(MycelialConfig(**CFG))


def test_unobserve_subtracts_in_place_without_rebuilding_the_edges():
    # every forget rebuilt all edge arrays through a merge (3.0 ms CPU at 523k edges for a 20-row document);
    # the counts are now subtracted where they are, and only edges left at zero are cut out
    codes, groups = stream(8, 400)
    net = MycelialReasoning(MycelialConfig(num_heads=4, codebook_size=32)).observe(codes, groups=groups)
    net.observe(codes[:20], groups=groups[:20])  # seen twice: forgetting once leaves every edge
    keys, counts = net.keys_, net.counts_
    net.unobserve(codes[:20], groups=groups[:20])
    assert net.keys_ is keys and net.counts_ is counts
    assert net == MycelialReasoning(MycelialConfig(num_heads=4, codebook_size=32)).observe(codes, groups=groups)


def test_unobserve_after_decay_clamps_at_zero():
    net = MycelialReasoning(MycelialConfig(**CFG, min_weight=0.0))
    net.observe([[0, 1, 2]] * 4).decay(0.5)
    net.unobserve([[0, 1, 2]] * 4)
    assert net.stats()["num_edges"] == 0 and (net.counts_ >= 0).all()


def test_same_stream_gives_bit_identical_state_and_answers():
    codes, groups = stream(3, 5000)
    runs = []
    for _ in range(2):
        net = MycelialReasoning(MycelialConfig(num_heads=4, codebook_size=32))
        for part, g in zip(np.array_split(codes, 7), np.array_split(groups, 7)):
            net.observe(part, groups=g)
        net.decay()
        runs.append(net)
    assert runs[0] == runs[1]
    q = codes[:10]
    np.testing.assert_array_equal(runs[0].propagate(q), runs[1].propagate(q))
    assert runs[0].bridges(q[0], q[1]) == runs[1].bridges(q[0], q[1])


def test_65536_node_configuration_stays_sparse():
    cfg = MycelialConfig(num_heads=16, codebook_size=4096)
    net = MycelialReasoning(cfg)
    rng = np.random.default_rng(4)
    codes = (rng.zipf(1.5, size=(20000, 16)) % 4096).astype(np.int32)
    net.observe(codes, groups=np.arange(20000) // 5)
    s = net.stats()
    assert s["num_nodes"] == 65536
    # memory follows the edges: nowhere near 65536**2 cells
    assert s["memory_bytes"] < 64 * 1024 * 1024 and s["num_edges"] <= 20000 * 120 + 20000 * 2 * 256
    W = net.weights()
    assert W.shape == (65536, 65536) and W.nnz == 2 * s["num_edges"]
    a, b = sorted((int(codes[0, 0]), 4096 + int(codes[0, 1])))
    assert W[a, b] >= 0.1
    act = net.propagate(codes[0])
    assert act.shape == (65536,) and 0 <= act.min() and act.max() <= 1
    assert (act[np.arange(16) * 4096 + codes[0]] >= 0.5).all()
    refined, _ = net.reason(codes[:3])
    assert refined.shape == (3, 16)
    net.unobserve(codes[:100], groups=np.arange(100) // 5)
    assert net.stats()["events"] == 19900


@pytest.mark.parametrize("field,value", [
    ("learning_rate", float("nan")), ("learning_rate", -0.1), ("learning_rate", 1.0),
    ("decay_rate", float("nan")), ("decay_rate", 0.0), ("decay_rate", 1.5),
    ("min_weight", -0.01), ("eta_group", float("inf")), ("damping", 1.0),
    ("activation_threshold", -1.0), ("num_heads", 0), ("codebook_size", 2.5),
    ("propagation_steps", -1), ("window", -2), ("num_heads", True),
])
def test_bad_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        MycelialConfig(**{field: value})


def test_too_many_nodes_rejected():
    with pytest.raises(ValueError, match="int32"):
        MycelialConfig(num_heads=2**16, codebook_size=2**16)


@pytest.mark.parametrize("codes,match", [
    ([[0, 1, 5]], r"\[0, 4\]"),            # code out of range
    ([[0, 1, -1]], r"\[0, 4\]"),           # negative
    ([[0, 1]], r"shape \(n, 3\)"),         # wrong number of heads
    (np.zeros((2, 3, 1), int), "shape"),   # wrong rank
    (np.zeros((0, 3), int), "empty"),
    ([[0.5, 1, 2]], "integers"),
    ([["a", "b", "c"]], "integers"),
])
def test_bad_codes_raise_clear_errors(codes, match):
    net = MycelialReasoning(MycelialConfig(**CFG))
    for call in (net.observe, net.propagate, net.reason, net.unobserve):
        with pytest.raises(ValueError, match=match):
            call(codes)
    assert net.stats()["events"] == 0


def test_bad_groups_and_query_arguments():
    net = MycelialReasoning(MycelialConfig(**CFG)).observe([[0, 1, 2], [1, 2, 3]])
    with pytest.raises(ValueError, match="groups"):
        net.observe([[0, 1, 2]], groups=[1, 2])
    with pytest.raises(ValueError, match="groups"):
        net.observe([[0, 1, 2]], groups=["x"])
    with pytest.raises(ValueError, match="steps"):
        net.propagate([0, 1, 2], steps=-1)
    with pytest.raises(ValueError, match="damping"):
        net.propagate([0, 1, 2], damping=math.nan)
    with pytest.raises(ValueError, match="threshold"):
        net.reason([0, 1, 2], threshold=2.0)
    with pytest.raises(ValueError, match="node"):
        net.neighbors((3, 0))
    with pytest.raises(ValueError, match="node"):
        net.neighbors(7)
    with pytest.raises(ValueError, match="top_k"):
        net.neighbors((0, 0), top_k=-1)
    with pytest.raises(ValueError, match="rate"):
        net.decay(float("nan"))
    with pytest.raises(ValueError, match="config"):
        MycelialReasoning({"num_heads": 3})


def test_empty_network_answers_with_no_signal():
    net = MycelialReasoning(MycelialConfig(**CFG))
    refined, act = net.reason([1, 2, 3])
    assert list(refined) == [1, 2, 3]
    assert np.count_nonzero(act) == 3  # only the seeds
    assert net.neighbors((0, 1)) == [] and net.strongest_connections() == []
    assert net.hub_codes() == [] and net.bridges([0, 1, 2], [3, 4, 3]) == []
    assert net.weights().nnz == 0 and net.stats()["active_nodes"] == 0


def test_torch_style_and_uint8_inputs_are_accepted():
    a = MycelialReasoning(MycelialConfig(**CFG)).observe(np.array([[0, 1, 2]], np.uint8))
    b = MycelialReasoning(MycelialConfig(**CFG)).observe([[0.0, 1.0, 2.0]])
    assert a == b


def test_radix_sort_matches_numpy_sort():
    from core.reasoning.mycelial import _kernels as K

    rng = np.random.default_rng(9)
    for max_key in (2**10, 2**32, 2**40):
        keys = rng.integers(0, max_key, size=150_000, dtype=np.int64)
        np.testing.assert_array_equal(K.radix_sort(keys, max_key), np.sort(keys))


def test_streaming_small_batches_equals_one_big_batch():
    # new edges go to a pending side list and known ones are updated in place; the state
    # read back must be the same as one observe of the whole stream
    codes, groups = stream(12, 30000, heads=4, codes=64)
    whole = MycelialReasoning(MycelialConfig(num_heads=4, codebook_size=64)).observe(codes)
    parts = MycelialReasoning(MycelialConfig(num_heads=4, codebook_size=64))
    for i in range(0, 30000, 700):
        parts.observe(codes[i:i + 700])
        if i == 14000:
            assert parts._pending is not None  # the side list is in use mid-stream
            np.testing.assert_array_equal(  # reads see pending edges
                parts.weights().toarray(),
                MycelialReasoning(whole.config).observe(codes[:14700]).weights().toarray())
    assert parts == whole


def test_config_is_frozen_and_round_trips_as_a_dict():
    import dataclasses

    cfg = MycelialConfig(num_heads=2, codebook_size=7, eta_group=0.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.learning_rate = 0.5
    assert MycelialConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown"):
        MycelialConfig.from_dict({**cfg.to_dict(), "bogus": 1})
    with pytest.raises(ValueError, match="learning_rate"):
        dataclasses.replace(cfg, learning_rate=float("nan"))


def test_observe_patches_the_propagation_cache_bit_identically():
    rng = np.random.default_rng(13)
    cfg = MycelialConfig(num_heads=4, codebook_size=8)
    live = MycelialReasoning(cfg).observe(rng.integers(0, 8, size=(400, 4)))
    q = [1, 2, 3, 4]
    live.propagate(q)  # builds the dense cache
    for step in range(30):  # observe-then-reason loop, with new edges and groups
        rows = rng.integers(0, 8, size=(2, 4))
        groups = [step, step] if step % 3 == 0 else None
        live.observe(rows, groups=groups)
        assert live._dense_cache is not None  # patched, not dropped
        fresh = MycelialReasoning.__new__(MycelialReasoning)
        fresh.__dict__.update(live.__dict__)
        fresh._dense_cache = None  # same counts, matrix rebuilt from scratch
        np.testing.assert_array_equal(live.propagate(q), fresh.propagate(q))
        np.testing.assert_array_equal(live._dense_cache[0], fresh._dense_cache[0])
        np.testing.assert_array_equal(live._dense_cache[1], fresh._dense_cache[1])


def test_unobserve_one_document_out_of_a_mixed_batch():
    # three documents observed in one call as contiguous blocks; remove the middle one
    codes, _ = stream(14, 60, heads=3, codes=5)
    groups = np.repeat([7, 8, 9], 20)
    net = MycelialReasoning(MycelialConfig(**CFG)).observe(codes, groups=groups)
    net.unobserve(codes[20:40], groups=groups[20:40])
    want = MycelialReasoning(MycelialConfig(**CFG))
    want.observe(codes[:20], groups=groups[:20]).observe(codes[40:], groups=groups[40:])
    # group pairs only join rows of one group, so the other blocks are untouched
    assert net == want


def test_a_network_merged_into_itself_is_refused_and_unchanged():
    # net.merge(net) doubled every count and the event total: merge is exact for disjoint streams only
    import copy

    codes, groups = stream(7, 40)
    cfg = dict(num_heads=4, codebook_size=32, window=2, eta_group=0.05)
    net = MycelialReasoning(MycelialConfig(**cfg)).observe(codes, groups=groups)
    before = (net.keys_.copy(), net.counts_.copy(), net.group_counts_.copy(), net.node_counts_.copy(), net.n_events_)
    with pytest.raises(ValueError, match="cannot merge a network into itself"):
        net.merge(net)
    for a, b in zip(before, (net.keys_, net.counts_, net.group_counts_, net.node_counts_, net.n_events_)):
        np.testing.assert_array_equal(a, b)
    # counting the stream twice is said with a copy: the network that observed it twice
    twice = MycelialReasoning(MycelialConfig(**cfg)).observe(codes, groups=groups).observe(codes, groups=groups)
    merged = net.merge(copy.deepcopy(net))
    assert merged.n_events_ == twice.n_events_ == 2 * before[4]
    np.testing.assert_array_equal(merged.counts_, twice.counts_)
    np.testing.assert_array_equal(merged.weights().toarray(), twice.weights().toarray())
