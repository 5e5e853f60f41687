"""Hybrid scores: a chunk's cosine (read with its neighbours) plus a bounded lift from association."""
from __future__ import annotations

import numpy as np

from core.memory._neighbours import with_neighbours


def fused(cfg, s: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Hybrid score: cosine + top cosine x min(``fusion_weight``, ``fusion_gain`` x association),
    for chunks whose cosine is at least ``fusion_floor`` of the top cosine.

    The association is read in absolute terms, not relative to the strongest one: the walk
    hands out a bounded mass (concept activations in [0, 1], the seeds' summing to 1, each
    shared among the chunks holding it), so a chunk that gathers 1/``fusion_gain`` or
    more is pointed at as strongly as the network can, while a walk that spreads thin
    over common concepts (prose with few names) lifts little. Scaling
    by the strongest association instead gave the weakest walk the full lift (multi-hop
    R@5 +2.3 points over dense; +9.2 on the same walk read absolutely). Evidence added,
    never substituted: the lift scales with the top cosine, so a query nothing answers
    keeps low scores and a hybrid score is at most (1 + fusion_weight) x the top cosine."""
    cos_top = float(s.max()) if len(s) else 0.0
    if cos_top <= 0:
        return s.copy()
    lift = cos_top * np.minimum(cfg.fusion_weight, cfg.fusion_gain * a)
    return np.where((a > 0) & (s >= cfg.fusion_floor * cos_top), s + lift, s)


def hybrid_scores(mem, q: np.ndarray, sim_of: dict, assoc: dict, want: int, excl=()) -> tuple[dict, dict]:
    """({chunk: hybrid score}, {chunk: the cosine it used}) for the chunks of ``sim_of``.

    The walk was seeded by plain cosines; fusion reads them with their neighbours
    (`RecallConfig.neighbour_weight`), and only for the 4 x ``want`` best by the plain fused
    score: the blend moves a score by a tenth of a cosine gap, so those alone can reach the top."""
    cfg = mem.recall_config
    ids = np.fromiter(sim_of, dtype=np.int64, count=len(sim_of))
    s = np.fromiter(sim_of.values(), dtype=np.float64, count=len(sim_of))
    a = np.fromiter((assoc.get(c, 0.0) for c in sim_of), dtype=np.float64, count=len(sim_of))
    out = fused(cfg, s, a)
    if cfg.neighbour_weight > 0 and len(ids):
        m = 4 * want
        top = np.argpartition(-out, m)[:m] if len(out) > m else None
        s = with_neighbours(mem.graph_, mem.store_, q, ids, s, cfg.neighbour_weight, excl, blend=top)
        out = fused(cfg, s, a)
        sim_of = dict(zip(ids.tolist(), s.tolist()))
    return dict(zip(ids.tolist(), out.tolist())), sim_of
