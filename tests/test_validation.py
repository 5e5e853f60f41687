import numpy as np
import pytest
import torch

from core._validation import check_codes, check_embeddings


def test_check_embeddings_promotes_and_converts():
    X = check_embeddings(np.ones(8, dtype=np.float64), dim=8)
    assert X.shape == (1, 8) and X.dtype == np.float32 and X.flags.c_contiguous
    T = check_embeddings(torch.ones(3, 8), dim=8)
    assert T.shape == (3, 8) and T.dtype == np.float32


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.ones((2, 7), dtype=np.float32), "8 columns"),
        (np.ones((0, 8), dtype=np.float32), "empty batch"),
        (np.ones((2, 2, 8), dtype=np.float32), "2-D"),
        (np.array([["a"] * 8]), "floating point"),
        (np.full((2, 8), np.nan, dtype=np.float32), "NaN or inf"),
        (np.array([[1.0] * 7 + [np.inf]]), "NaN or inf"),
    ],
)
def test_check_embeddings_rejects(bad, message):
    with pytest.raises(ValueError, match=message):
        check_embeddings(bad, dim=8, name="X")


def test_check_codes_accepts_integral_rows():
    codes = check_codes(np.array([1, 2, 3, 255], dtype=np.uint8), 4, 256)
    assert codes.shape == (1, 4) and codes.dtype == np.int64
    assert check_codes(np.array([[1.0, 2.0, 3.0, 4.0]]), 4, 256).tolist() == [[1, 2, 3, 4]]


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.array([[0, 1, 2, 256]]), r"\[0, 255\]"),
        (np.array([[0, -1, 2, 3]]), r"\[0, 255\]"),
        (np.array([[0, 1, 2]]), r"shape \(n, 4\)"),
        (np.array([[0.5, 1, 2, 3]]), "integers"),
        (np.zeros((0, 4), dtype=np.int64), "empty"),
    ],
)
def test_check_codes_rejects(bad, message):
    with pytest.raises(ValueError, match=message):
        check_codes(bad, 4, 256)
