"""The walk's numba row sums give numpy's floats bit for bit and leave their scratch clean."""
import numpy as np
import pytest

from core.memory._recall_kernels import f32_rows, pool_scores


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
    slot = np.full(n, -1, dtype=np.int32)
    want = _numpy_path(seed_rows, rows_hit, vals, cand, codes, node_share, 0.1, size, seed_add, alive)
    got = pool_scores(seed_rows, rows_hit, vals, cand, codes, node_share, np.float32(0.1), size, seed_add, alive, slot)
    assert np.array_equal(got[0], want[0])
    assert got[1].dtype == np.float32 and got[1].tobytes() == want[1].tobytes()
    assert (slot == -1).all()  # scratch reset for the next query


def test_pool_scores_empty_pool():
    e = np.zeros(0, dtype=np.int64)
    rows, scores = pool_scores(e, e, np.zeros(0, np.float32), e, np.zeros((3, 4), np.uint8), np.zeros(8, np.float32),
                               np.float32(0.1), 2, np.zeros(0, np.float32), np.ones(3, bool), np.full(3, -1, np.int32))
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
    from core.memory.graph import _concept_step_numpy, _concept_step_sparse

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
