"""The network's exactness claims on real sentences embedded by the real model and coded by the
shipped codec: merge of two streams, forgetting an article, and refusing to forget what was never seen."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from core.reasoning.mycelial import MycelialConfig, MycelialReasoning, MycelialVQVAE


@pytest.fixture(scope="module")
def stream(wiki_sample):
    _, article, X = wiki_sample
    return MycelialVQVAE.load_default().encode(X), article


def test_merge_and_forget_on_real_codes_are_exact(stream):
    codes, art = stream
    cfg = MycelialConfig()
    full = MycelialReasoning(cfg).observe(codes, groups=art)
    cut = int(np.flatnonzero(np.diff(art))[50]) + 1  # an article boundary: group windows stay whole
    a = MycelialReasoning(cfg).observe(codes[:cut], groups=art[:cut])
    assert a.merge(MycelialReasoning(cfg).observe(codes[cut:], groups=art[cut:])) == full
    m = art == 7
    never = MycelialReasoning(cfg).observe(codes[~m], groups=art[~m])
    assert copy.deepcopy(full).forget(codes[m], groups=art[m]) == never


def test_forgetting_a_real_event_never_observed_changes_nothing(stream):
    # each node was active somewhere, never all in one sentence: forget took other sentences' counts
    codes, art = stream
    cfg = MycelialConfig()
    net = MycelialReasoning(cfg).observe(codes, groups=art)
    before = copy.deepcopy(net)
    mixed = np.array([[codes[0, 0], codes[1, 1], codes[2, 2], codes[3, 3]]], dtype=np.uint8)
    assert not any((codes == mixed).all(axis=1))
    with pytest.raises(ValueError, match="not observed: edge"):
        net.forget(mixed)
    with pytest.raises(ValueError, match="not observed: edge"):
        two = (art == 7) | (art == 8)  # two articles as one group: windows across them never counted
        net.forget(codes[two], groups=np.zeros(int(two.sum()), np.int64))
    assert net == before
