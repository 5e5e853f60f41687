"""Evaluation figures against values computed by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest

from core.compression.metrics import BertScorer, bleu, code_statistics, exact_match_rate, greedy_match, row_cosines
from core.compression.report import markdown_table, plot_code_usage, plot_cosine_histogram


def test_row_cosines_by_hand():
    X = np.array([[1.0, 0.0], [1.0, 1.0], [2.0, 0.0]])
    R = np.array([[0.0, 1.0], [1.0, 0.0], [-3.0, 0.0]])
    np.testing.assert_allclose(row_cosines(X, R), [0.0, 1 / math.sqrt(2), -1.0], atol=1e-12)
    with pytest.raises(ValueError, match="same shape"):
        row_cosines(X, R[:2])


def test_exact_match_rate_normalises_whitespace():
    assert exact_match_rate(["a  b", "c", "x"], ["a b", "d", "x "]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="differ in length"):
        exact_match_rate(["a"], ["a", "b"])


def test_bleu_by_hand():
    # modified n-gram precisions 5/6, 3/5, 2/4, 1/3; equal lengths so no brevity penalty
    expected = 100 * (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25
    assert bleu(["the cat sat on the mat"], ["the cat sat on a mat"]) == pytest.approx(expected, abs=0.01)
    assert bleu(["a b c d e"], ["a b c d e"]) == pytest.approx(100.0)
    with pytest.raises(ValueError, match="no hypotheses"):
        bleu([], [])


def test_greedy_match_by_hand():
    hyp = np.array([[1.0, 0.0], [0.0, 1.0]])
    ref = np.array([[1.0, 0.0]])
    p, r, f = greedy_match(hyp, ref)
    assert (p, r) == (0.5, 1.0)
    assert f == pytest.approx(2 / 3)
    # a token at 60 degrees from the only reference token
    p, r, f = greedy_match(np.array([[0.5, math.sqrt(3) / 2]]), ref)
    assert p == pytest.approx(0.5) and r == pytest.approx(0.5) and f == pytest.approx(0.5)
    assert greedy_match(np.zeros((0, 2)), ref) == (0.0, 0.0, 0.0)


@pytest.fixture(scope="module")
def scorer():
    return BertScorer()


def test_bertscore_with_packaged_minilm(scorer):
    tokens = scorer.token_embeddings(["a cat", "The cathedral was rebuilt in 1250."])
    assert tokens[0].shape == (2, 384)           # [CLS] and [SEP] left out
    np.testing.assert_allclose(np.linalg.norm(tokens[1], axis=1), 1.0, atol=1e-5)
    refs = ["The cathedral was rebuilt in 1250.", "The cathedral was rebuilt in 1250."]
    hyps = ["The cathedral was rebuilt in 1250.", "Shares fell sharply on Tuesday."]
    P, R, F = scorer.score(hyps, refs)
    assert F[0] == pytest.approx(1.0, abs=1e-5) and P[0] == pytest.approx(1.0, abs=1e-5)
    assert F[1] < 0.8
    # the score is the greedy matching of those very token vectors
    h, r = scorer.token_embeddings([hyps[1], refs[1]])
    assert (P[1], R[1], F[1]) == pytest.approx(greedy_match(h, r), abs=1e-6)
    assert "all-MiniLM-L6-v2" in scorer.description and "layer 6" in scorer.description


def test_code_statistics_by_hand():
    codes = np.array([[0, 1], [0, 2], [1, 1]])
    stats = code_statistics(codes, codebook_size=4)
    assert (stats["codes_used"], stats["codes_total"], stats["codebook_usage"]) == (4, 8, 0.5)
    # counts 6, 3, 2 = 6 / rank: a perfect power law with alpha 1
    codes = np.array([[0]] * 6 + [[1]] * 3 + [[2]] * 2)
    stats = code_statistics(codes, codebook_size=4)
    assert stats["zipf_alpha"] == pytest.approx(1.0) and stats["zipf_r2"] == pytest.approx(1.0)


def test_markdown_table():
    text = markdown_table([{"name": "vq", "cos": 0.81234, "x": None}],
                          [("name", "method", ""), ("cos", "cosine", ".3f"), ("x", "X", ".1f")])
    assert text.splitlines() == ["| method | cosine | X |", "|---|---|---|", "| vq | 0.812 | — |"]


def test_plots_are_png(tmp_path):
    rng = np.random.default_rng(0)
    codes = rng.zipf(1.5, size=(500, 4)) % 256
    plot_code_usage(codes, tmp_path / "usage.png")
    plot_cosine_histogram({"a": rng.uniform(0.5, 1, 100), "b": rng.uniform(0, 1, 100)}, tmp_path / "cos.png")
    for name in ("usage.png", "cos.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cos.png", "usage.png"]
