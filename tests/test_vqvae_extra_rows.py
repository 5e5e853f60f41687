"""Extra training rows (augmentation, issue 16): appended to training only, bad files refused."""
from __future__ import annotations

import numpy as np
import pytest

from core.reasoning.vqvae.data import with_extra_rows


def _unit(n, seed):
    X = np.random.default_rng(seed).normal(size=(n, 384)).astype(np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def test_extra_rows_are_appended_after_the_training_rows(tmp_path):
    X, A, B = _unit(5, 0), _unit(3, 1), _unit(2, 2)
    np.save(tmp_path / "a.npy", A)
    np.save(tmp_path / "b.npy", B.astype(np.float64))
    out, record = with_extra_rows(X, [tmp_path / "a.npy", tmp_path / "b.npy"])
    assert out.shape == (10, 384) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:5], X)
    np.testing.assert_array_equal(out[5:8], A)
    np.testing.assert_allclose(out[8:], B, rtol=1e-6)
    assert [r["rows"] for r in record] == [3, 2]
    same, none = with_extra_rows(X, [])
    assert same is X and none == []


@pytest.mark.parametrize("bad, message", [
    (np.zeros((4, 100), np.float32), r"shape \(4, 100\), expected \(n, 384\)"),
    (np.zeros(384, np.float32), r"shape \(384,\)"),
    (np.full((2, 384), np.nan, np.float32), "NaN or inf"),
    (np.array([{"a": 1}], dtype=object), "not a readable .npy"),
])
def test_bad_extra_files_are_refused_with_a_clear_error(tmp_path, bad, message):
    path = tmp_path / "bad.npy"
    np.save(path, bad, allow_pickle=True)
    with pytest.raises(ValueError, match=message):
        with_extra_rows(_unit(3, 0), [path])


def test_a_file_that_is_not_npy_is_refused(tmp_path):
    path = tmp_path / "rows.npy"
    path.write_text("not an array")
    with pytest.raises(ValueError, match="not a readable .npy"):
        with_extra_rows(_unit(3, 0), [path])
    with pytest.raises(ValueError, match="not a readable .npy"):
        with_extra_rows(_unit(3, 0), [tmp_path / "missing.npy"])
