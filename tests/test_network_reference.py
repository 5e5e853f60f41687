"""A brute-force, pure-Python reference of the Hebbian network rules, and checks of it.

The other ``test_network_*`` files compare ``MycelialReasoning`` against ``Ref``: weights
applied one soft-bound update at a time in a dict, decay and pruning edge by edge, and
spreading activation with plain loops. Nothing here shares code with the package.
"""
from __future__ import annotations

import math

import numpy as np


class Ref:
    """Dict-of-weights network following the issue's rules literally."""

    def __init__(self, heads, codes, eta=0.1, eta_group=0.05, window=2, decay_rate=0.9,
                 min_weight=0.0123):
        self.H, self.C = heads, codes
        self.N = heads * codes
        self.eta, self.eta_group, self.window = eta, eta_group, window
        self.decay_rate, self.min_weight = decay_rate, min_weight
        self.w: dict[tuple[int, int], float] = {}
        self.node_counts = [0] * self.N

    def _bump(self, x, y, eta):
        assert x != y
        e = (min(x, y), max(x, y))
        w = self.w.get(e, 0.0)
        self.w[e] = w + eta * (1.0 - w)

    def observe(self, codes, groups=None):
        rows = [[h * self.C + int(c) for h, c in enumerate(row)] for row in np.atleast_2d(codes)]
        for nodes in rows:
            for n in nodes:
                self.node_counts[n] += 1
            for j in range(len(nodes)):
                for k in range(j + 1, len(nodes)):
                    self._bump(nodes[j], nodes[k], self.eta)
        if groups is not None and self.eta_group > 0:
            for i in range(len(rows)):
                for j in range(i + 1, min(len(rows), i + self.window + 1)):
                    if groups[i] == groups[j]:
                        for x in rows[i]:
                            for y in rows[j]:
                                if x != y:
                                    self._bump(x, y, self.eta_group)

    def decay(self):
        for e in list(self.w):
            self.w[e] *= self.decay_rate
            if self.w[e] < self.min_weight:
                del self.w[e]

    def dense(self):
        W = np.zeros((self.N, self.N))
        for (a, b), w in self.w.items():
            W[a, b] = W[b, a] = w
        return W

    def propagate(self, codes, steps, damping, threshold):
        """The documented rule, with loops: frontier push, degree norm, max rescale."""
        adj = [[] for _ in range(self.N)]
        for (a, b), w in self.w.items():
            adj[a].append((b, w))
            adj[b].append((a, w))
        strength = [sum(w for _, w in adj[i]) for i in range(self.N)]
        if len(codes) == self.N:  # already a seed vector over the nodes
            seed = [float(v) for v in codes]
        else:
            seed = [0.0] * self.N
            for h, c in enumerate(codes):
                seed[h * self.C + int(c)] = 1.0
        cur = list(seed)
        signal = [0.0] * self.N
        for _ in range(steps):
            x = [0.0] * self.N
            for j in range(self.N):
                if cur[j] > 0 and cur[j] >= threshold:
                    for i, w in adj[j]:
                        x[i] += w * cur[j]
            x = [x[i] / max(1.0, strength[i]) for i in range(self.N)]
            top = max(x)
            signal = [damping * v / top if top > 0 else 0.0 for v in x]
            cur = [min(1.0, (1 - damping) * seed[i] + signal[i]) for i in range(self.N)]
        act = [v if v >= threshold else 0.0 for v in cur]
        return np.array(act), np.array(signal)


def test_reference_soft_bound_by_hand():
    ref = Ref(2, 3, eta=0.5, eta_group=0.25, window=1)
    ref.observe([[0, 1], [0, 1]])
    assert ref.w == {(0, 4): 0.75}  # 0 -> .5 -> .75
    ref.observe([[0, 1], [2, 1]], groups=[7, 7])
    # event pairs: (0,4) -> .875, (2,4) -> .5 ; group: 0-2, 0-4, 4-2 (4-4 is a self pair)
    assert math.isclose(ref.w[(0, 4)], 0.875 + 0.25 * 0.125)
    assert math.isclose(ref.w[(2, 4)], 0.5 + 0.25 * 0.5)
    assert math.isclose(ref.w[(0, 2)], 0.25)
    assert ref.node_counts == [3, 0, 1, 0, 4, 0]
