"""The dense spreading kernel steps all seed rows together: each row must come out exactly as alone."""
import numpy as np

from core.reasoning.mycelial import MycelialConfig, MycelialReasoning


def test_batched_dense_propagate_is_bit_identical_to_one_row_at_a_time():
    rng = np.random.default_rng(0)
    net = MycelialReasoning(MycelialConfig(num_heads=4, codebook_size=8))
    net.observe(rng.integers(0, 8, size=(600, 4)))
    assert net.keys_.shape[0] * 16 >= net.num_nodes ** 2  # the dense kernel runs
    rows = rng.integers(0, 8, size=(7, 4))
    for steps, damping, thr in [(2, 0.5, 0.1), (3, 0.8, 0.0), (1, 0.3, 0.05)]:
        batch = net.propagate(rows, steps=steps, damping=damping, threshold=thr)
        alone = np.stack([net.propagate(r, steps=steps, damping=damping, threshold=thr) for r in rows])
        assert batch.shape == (7, 32)
        np.testing.assert_array_equal(batch, alone)
        assert len({a.tobytes() for a in batch}) > 1  # different seeds, different activations
