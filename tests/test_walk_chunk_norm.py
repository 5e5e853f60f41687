"""The walk's symmetric normalisation: a chunk's share of a concept's mass is divided by the
chunk's own concept count (relative to the mean) as the concept's is by its chunk count, so a
chunk that names many concepts (an author list repeated under every page of a family) cannot
gather association by count. Checked against a brute-force formula on a small incidence."""
from __future__ import annotations

import numpy as np

from core.memory.graph import PassageGraph


def _graph(rows):
    vocab = sorted({p for r in rows for p in r})
    g = PassageGraph(num_nodes=12, codebook_size=4)
    g.sync_vocab([(i, p) for i, p in enumerate(vocab)])
    g.add(np.arange(10, 10 + len(rows)), np.zeros((len(rows), 3), np.uint8), rows)
    return g


def _brute(rows, query, df_power=0.5, weight=0.25):
    """Chunk scores from query concepts only, written out with loops."""
    n = len(rows)
    df = {p: sum(p in r for r in rows) for p in {p for r in rows for p in r}}
    idf = {p: np.log((n + 1) / (d + 1)) for p, d in df.items()}
    act = {p: weight * idf[p] / sum(idf[q] for q in query) for p in query}
    mean_deg = np.mean([len(set(r)) for r in rows if r])
    out = {}
    for i, r in enumerate(rows):
        s = sum(act[p] / df[p] ** df_power for p in set(r) if p in act)
        if s:
            out[10 + i] = s * (mean_deg / len(set(r))) ** df_power
    return out


def test_a_chunk_naming_many_concepts_does_not_gather_by_count():
    rows = [["openssh"], ["openssh"] + [f"author {j}" for j in range(8)], ["scp", "copy"], ["copy"],
            ["author 1", "scp"], ["tar"], ["gzip", "tar"], ["cp", "copy", "source"]]
    g = _graph(rows)
    queries = (["openssh"], ["copy", "scp"], ["author 1", "openssh"])
    for query, df_power in [(q, d) for q in queries for d in (0.5, 0.7)]:  # 0.5: the numba kernel; 0.7: numpy
        got_rows, scores, _ = g.spread(np.zeros(0, np.int64), np.zeros(0, np.float32), g.phrase_ids(query), None,
                                       query_phrase_weight=0.25, df_power=df_power, code_weight=0.0)
        got = dict(zip(g.chunk_ids_at(got_rows).tolist(), scores.tolist()))
        want = _brute(rows, query, df_power)
        assert set(got) == set(want)
        for c in want:
            np.testing.assert_allclose(got[c], want[c], rtol=1e-5)
    # the same concept reaches both chunks; the one naming nine concepts gets 1/3 of the one naming one
    got_rows, scores, _ = g.spread(np.zeros(0, np.int64), np.zeros(0, np.float32), g.phrase_ids(["openssh"]), None,
                                   query_phrase_weight=0.25, df_power=0.5, code_weight=0.0)
    s = dict(zip(g.chunk_ids_at(got_rows).tolist(), scores.tolist()))
    np.testing.assert_allclose(s[11] / s[10], 1 / 3, rtol=1e-5)
