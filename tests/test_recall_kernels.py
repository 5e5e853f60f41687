"""The walk's numba kernels give numpy's floats bit for bit; their scratch needs no reset."""
import numpy as np
import pytest

from core.memory._recall_kernels import _distinct, f32_rows, new_scratch, pool_scores


def _numpy_path(seed_rows, rows_hit, vals, cand, codes, node_share, code_weight, size, seed_add, alive):
    """What `PassageGraph.spread` computed before the kernel (unique, bincount, fancy-indexed sum)."""
    pool, inv = np.unique(np.concatenate([seed_rows, rows_hit, cand]), return_inverse=True)
    nodes = codes[pool].astype(np.int64) + np.arange(codes.shape[1], dtype=np.int64) * size
    n_s = len(seed_rows)
    acc = np.bincount(inv[n_s:n_s + len(rows_hit)], weights=vals, minlength=len(pool))
    acc += code_weight * node_share[nodes].sum(axis=1)
    if len(seed_add):
        np.add.at(acc, inv[:n_s], seed_add)
    scores = acc.astype(np.float32)
    keep = (scores > 0) & alive[pool]
    return pool[keep], scores[keep]


@pytest.mark.parametrize("seed", range(6))
def test_pool_scores_bit_identical_to_numpy(seed):
    rng = np.random.default_rng(seed)
    n, heads, size = 5000, 4, 256
    codes = rng.integers(0, size, (n, heads)).astype(np.uint8)
    alive = rng.random(n) > 0.1
    node_share = np.zeros(heads * size, dtype=np.float32)
    used = rng.choice(heads * size, 16 if seed < 3 else heads * size, replace=False)  # all nonzero: order shows
    node_share[used] = (rng.random(len(used)) * 10.0 ** rng.uniform(-6, 0, len(used))).astype(np.float32)
    seed_rows = rng.choice(n, 5, replace=False).astype(np.int64)
    rows_hit = rng.integers(0, n, int(rng.integers(0, 6000))).astype(np.int64)  # repeats, like phrases sharing rows
    vals = (rng.random(len(rows_hit)) * 10.0 ** rng.uniform(-8, 0, len(rows_hit))).astype(np.float32)
    vals[rng.random(len(vals)) < 0.05] = 0.0
    cand = rng.choice(n, 100, replace=False).astype(np.int64)
    seed_add = (0.15 * rng.dirichlet(np.ones(5))).astype(np.float32) if seed % 2 else np.zeros(0, np.float32)
    scratch = new_scratch(n)
    want = _numpy_path(seed_rows, rows_hit, vals, cand, codes, node_share, 0.1, size, seed_add, alive)
    args = (seed_rows, rows_hit, vals, cand, codes, node_share, np.float32(0.1), size, seed_add, alive, scratch)
    got = pool_scores(*args)
    assert np.array_equal(got[0], want[0])
    assert got[1].dtype == np.float32 and got[1].tobytes() == want[1].tobytes()
    # the scratch serves the next query as is, even after a call stopped between its two passes
    other = rng.integers(0, n, 3000).astype(np.int64)
    pool_scores(cand, other, np.ones(3000, np.float32), seed_rows, *args[4:])
    _distinct(seed_rows, rows_hit, cand, scratch[0], scratch[2][0] + 1)
    scratch[2][0] += 1
    again = pool_scores(*args)
    assert np.array_equal(again[0], want[0]) and again[1].tobytes() == want[1].tobytes()


def test_pool_scores_empty_pool():
    e = np.zeros(0, dtype=np.int64)
    rows, scores = pool_scores(e, e, np.zeros(0, np.float32), e, np.zeros((3, 4), np.uint8), np.zeros(8, np.float32),
                               np.float32(0.1), 2, np.zeros(0, np.float32), np.ones(3, bool), new_scratch(3))
    assert len(rows) == 0 and len(scores) == 0


def test_f32_rows_exact_for_every_float16_and_flags_zero_rows():
    from core.memory._vecfile import _F32_OF_F16

    every = np.arange(1 << 16, dtype=np.uint16).reshape(256, 256)  # every float16 bit pattern (nan, inf, subnormals)
    rows = np.concatenate([every, np.zeros((2, 256), np.uint16)])
    rows[-1, 7] = 0x8000  # -0.0 only: a nonzero bit, as the file's check on the bits counts it
    ids = np.array([257, 3, 256, 0, 255, 3], dtype=np.int64)
    out, have = f32_rows(rows, ids, _F32_OF_F16)
    want = rows[ids].view(np.float16).astype(np.float32)
    assert out.dtype == np.float32 and out.view(np.uint32).tobytes() == want.view(np.uint32).tobytes()
    assert have.tolist() == [True, True, False, True, True, True]


def _random_step_inputs(rng, n_ph, n_c, n_ab_dtype):
    rows = [rng.choice(n_c, int(rng.integers(0, 40)), replace=False) for _ in range(n_c)]
    twins = rng.choice(n_c, 40, replace=False).reshape(20, 2)
    for a, b in twins:  # identical rows: equal gifts, so the tie rule of `via` shows
        rows[b] = rows[a]
    indptr = np.zeros(n_c + 1, dtype=np.int64)
    np.cumsum([len(r) for r in rows], out=indptr[1:])
    nbr = np.concatenate(rows).astype(np.int64)  # some beyond the activation's concepts
    vals = {c: (rng.random(), rng.random(), rng.integers(1, 50)) for c in range(n_c)}  # per target: twins agree
    npmi, w, n_ab = (np.array([vals[c][i] for c in nbr]) for i in range(3))
    n_ab = n_ab.astype(n_ab_dtype)
    idf = (rng.random(n_ph) * 8).astype(np.float32)
    idf[rng.random(n_ph) < 0.1] = 0.0  # hubs neither pass nor receive
    ids = np.unique(np.concatenate([rng.integers(0, n_ph, int(rng.integers(1, 60))), twins[:10].ravel() % n_ph]))
    act = (rng.random(len(ids)) * 10.0 ** rng.uniform(-4, 0, len(ids))).astype(np.float32)
    act[rng.random(len(ids)) < 0.1] = 0.0
    for a, b in twins[:10] % n_ph:
        act[np.searchsorted(ids, b)] = act[np.searchsorted(ids, a)]
    return ids.astype(np.int64), act, (indptr, nbr, npmi, w, n_ab), idf


@pytest.mark.parametrize("seed", range(40))
def test_concept_step_kernel_bit_identical_to_numpy(seed):
    from core.memory._walk_numpy import _concept_step_numpy
    from core.memory.graph import _concept_step_sparse

    rng = np.random.default_rng(seed)
    n_ph = 400
    n_c = n_ph if seed % 2 else 300  # the network may know fewer concepts than the graph
    ids, act, cg, idf = _random_step_inputs(rng, n_ph, n_c, (np.float64, np.float32, np.int64)[seed % 3])
    weight, top = (1.0, 0.7, 0.3)[seed % 3], (16, 4)[seed % 2]
    want = _concept_step_numpy(ids, act, n_ph, cg, idf, weight, top)
    got = _concept_step_sparse(ids, act, n_ph, cg, idf, weight, top)
    assert np.array_equal(got[0], want[0])
    assert got[1].dtype == np.float32 and got[1].tobytes() == want[1].tobytes()
    assert list(got[2].items()) == list(want[2].items())  # same entries, same order, python numbers
    assert all(type(x) is type(y) for a, b in zip(got[2].items(), want[2].items()) for x, y in zip(a[1], b[1]))


def _csr(rng, n_rows, n_cols, max_len):
    lens = rng.integers(0, max_len, n_rows)
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(lens, out=indptr[1:])
    indices = np.concatenate([np.sort(rng.choice(n_cols, n, replace=False)) for n in lens]).astype(np.int64)
    return indptr, indices, (rng.random(indptr[-1]) * 10.0 ** rng.uniform(-3, 1, indptr[-1])).astype(np.float32)


@pytest.mark.parametrize("seed", range(20))
def test_walk_first_steps_bit_identical_to_numpy(seed):
    from core.memory._recall_kernels import phrase_rows_sqrt, seed_phrases
    from core.memory._walk_numpy import _csr_index, seed_phrases_numpy

    rng = np.random.default_rng(seed)
    n_rows, n_ph = 300, 200
    Mw = _csr(rng, n_rows, n_ph, 30)
    row_tot = np.add.reduceat(Mw[2], Mw[0][:-1]) if len(Mw[2]) else np.zeros(n_rows, np.float32)
    row_tot = np.where(np.diff(Mw[0]) > 0, row_tot, 0).astype(np.float32)  # empty rows: 0, read as 1
    idf = (rng.random(n_ph) * 5).astype(np.float32)
    idf[rng.random(n_ph) < 0.2] = 0.0
    g = {"row_tot": row_tot, "Mw_csr": Mw, "idf": idf}
    seeds = rng.choice(n_rows, 5, replace=False).astype(np.int64)
    w = rng.dirichlet(np.ones(5)).astype(np.float32)
    q = np.unique(rng.integers(0, n_ph, int(rng.integers(0, 12)))).astype(np.int64)
    want = seed_phrases_numpy(g, n_ph, seeds, w, q, 1.0 if seed % 2 else 0.7, 0.25)
    q_add = np.zeros(0, np.float32)
    if len(q) and idf[q].sum() > 0:
        q_add = 0.25 * idf[q] / idf[q].sum()
    got = seed_phrases(seeds, w, row_tot, *Mw, q, q_add, np.float32(1.0 if seed % 2 else 0.7))
    assert np.array_equal(got[0], want[0]) and got[1].tobytes() == want[1].tobytes()

    MT = _csr(rng, n_ph, n_rows, 60)
    df = np.diff(MT[0]).astype(np.float32)
    deg = (rng.integers(1, 30, n_rows)).astype(np.float32)
    deg_ref = float(rng.uniform(2, 9))
    active = np.unique(rng.integers(0, n_ph, 40)).astype(np.int64)
    act = (rng.random(len(active)) * 10.0 ** rng.uniform(-5, 0, len(active))).astype(np.float32)
    rows, vals = phrase_rows_sqrt(active, act, df, *MT, deg, np.float32(deg_ref))
    share = act / np.maximum(df[active], 1.0) ** 0.5  # what spread computes for df_power 0.5
    pos = np.concatenate(([0], np.cumsum(MT[0][active + 1] - MT[0][active])))
    idx = _csr_index(MT[0], active, pos)
    norm = (deg_ref / deg[MT[1][idx]]) ** np.float32(0.5)
    assert np.array_equal(rows, MT[1][idx])
    assert vals.tobytes() == (np.repeat(share, np.diff(pos)) * MT[2][idx] * norm).tobytes()


def _walk(g, seeds, q_phrases, node_act, cands):
    rows, scores, _ = g.spread(g.rows_of(seeds), np.full(len(seeds), 1 / len(seeds), np.float32), g.phrase_ids(q_phrases),
                               node_act, candidate_rows=g.rows_of(cands), query_phrase_weight=0.25, code_weight=0.1)
    return dict(zip(g.chunk_ids_at(rows).tolist(), scores.tolist()))


def test_walk_after_remove_and_add_equals_a_graph_built_without_or_with_them():
    """The kernels' scratch lives in the built state, rebuilt on add/remove: a graph
    that lost or gained chunks walks exactly as one built from its current chunks."""
    from core.memory.graph import PassageGraph

    rng = np.random.default_rng(3)
    vocab = [f"concept {i}" for i in range(60)]
    n = 400
    ids = np.arange(1, n + 1)
    codes = rng.integers(0, 16, (n, 4)).astype(np.uint8)
    phrases = [list(rng.choice(vocab, int(rng.integers(0, 6)), replace=False)) for _ in range(n)]

    def build(keep):
        g = PassageGraph(num_nodes=64, codebook_size=16)
        g.sync_vocab(list(enumerate(vocab)))
        g.add(ids[keep], codes[keep], [phrases[i] for i in np.flatnonzero(keep)])
        return g

    node_act = rng.random(64).astype(np.float32)
    seeds, q, cands = [5, 17, 40], ["concept 3", "concept 7"], list(range(1, 120, 3))
    full = np.ones(n, bool)
    g = build(full)
    before = _walk(g, seeds, q, node_act, cands)
    gone = np.zeros(n, bool)
    gone[rng.choice(np.arange(50, n), 120, replace=False)] = True
    g.remove(ids[gone])
    assert _walk(g, seeds, q, node_act, cands) == _walk(build(~gone), seeds, q, node_act, cands) != before
    g2 = build(np.arange(n) < 250)
    _walk(g2, seeds, q, node_act, cands)  # built (and its scratch sized) before the rest arrives
    g2.add(ids[250:], codes[250:], phrases[250:])
    assert _walk(g2, seeds, q, node_act, cands) == before
    assert len(g2._build()["scratch"][0]) == n
