"""The codec's and the network's public options: none is accepted and then ignored, codes have one dtype.

Real sentences (WikiText) and their real embeddings, the shipped weights, the real network."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from core.reasoning.mycelial import MycelialConfig, MycelialReasoning, MycelialVQVAE
from core.reasoning.mycelial.numpy_codec import NumpyVQVAE, load_default_numpy
from core.reasoning.vqvae import MonolithWiki


@pytest.fixture(scope="module")
def mvq():
    return MycelialVQVAE.load_default()


BAD_SEARCH = [
    (dict(candidates=32), "candidates=32 tunes the refinement and needs refine >= 1"),  # was ignored silently
    (dict(refine=0, candidates=16), "candidates=16 tunes the refinement"),  # the default value, given: still ignored
    (dict(refine=1, candidates=1000), "candidates must be at most the codebook size 256"),  # was cut to 256
    (dict(refine=1, candidates=4, pairs=8), r"pairs must be at most candidates \(4\)"),  # was cut to 4
    (dict(refine=1, pairs=20), r"pairs must be at most candidates \(16\)"),  # the default 16 candidates
    (dict(beam=0), "beam must be an int >= 1"),  # was read as 1
]


def test_encode_refuses_search_options_it_would_not_use(mvq, wiki_sample):
    _, _, X = wiki_sample
    for options, message in BAD_SEARCH:
        with pytest.raises(ValueError, match=message):
            mvq.encode(X[:2], **options)
    plain = mvq.encode(X[:5])  # the options that are used still work
    assert np.array_equal(mvq.encode(X[:5], refine=1), mvq.encode(X[:5], refine=1, candidates=16))  # the default
    assert mvq.encode(X[:5], refine=1, candidates=256, pairs=2).shape == plain.shape  # the whole codebook
    assert np.array_equal(mvq.encode(X[:5], beam=1), plain)


def test_cli_refuses_more_pairs_than_candidates_before_embedding(tmp_path, wiki_sample, mvq):
    from core.cli import cli

    _, _, X = wiki_sample
    np.save(tmp_path / "x.npy", X[:3])
    res = CliRunner().invoke(cli, ["encode", "--npy", str(tmp_path / "x.npy"), "--refine", "1", "--pairs", "20"])
    assert res.exit_code == 2 and "--pairs 20 must be at most --candidates (16)" in res.output, res.output
    res = CliRunner().invoke(cli, ["encode", "--npy", str(tmp_path / "x.npy"), "--json"])  # the plain encoder
    assert res.exit_code == 0, res.output


def test_reason_gives_codes_in_the_dtype_encode_gives(mvq, wiki_sample):
    _, _, X = wiki_sample
    codes = mvq.encode(X[:200])
    net = MycelialReasoning(MycelialConfig()).observe(codes)
    for given in (codes, codes.astype(np.int64), codes[0], codes[:3].tolist()):
        refined, _ = net.reason(given)
        assert refined.dtype == codes.dtype == np.uint8, given  # reason gave int64
    assert mvq.decode(net.reason(codes[:3])[0]).shape == (3, 384)  # decode takes them as they come
    wide = MycelialReasoning(MycelialConfig(num_heads=2, codebook_size=512)).observe([[300, 1], [300, 2]])
    refined, _ = wide.reason([300, 1])
    assert refined.dtype == np.uint16 and refined.tolist()[0] == 300


def test_numpy_codec_of_a_wide_codebook_gives_uint16_codes(wiki_sample):
    """A 512-code model's numpy encode wrote its codes into uint8: code 300 came back as 44."""
    _, _, X = wiki_sample
    torch.manual_seed(0)
    model = MonolithWiki(codebook_size=512, kmeans_init=False).eval()
    codec = NumpyVQVAE({k: v.numpy() for k, v in model.state_dict().items()}, model.config)
    codes = codec.encode(X[:300])
    expected = model.encode_codes(X[:300])
    assert codes.dtype == expected.dtype == np.uint16
    assert expected.max() > 255 and np.array_equal(codes, expected)


@pytest.mark.parametrize("bad", [-1, 0, 1.5, True])
def test_numpy_codec_refuses_a_bad_batch_size(bad, wiki_sample):
    """batch_size=-1 skipped the loop and returned the uninitialised output array as codes."""
    _, _, X = wiki_sample
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        load_default_numpy().encode(X[:3], batch_size=bad)


def test_a_boolean_mask_is_not_codes(mvq, wiki_sample):
    """True/False were read as codes 1 and 0 by decode, reason and observe."""
    _, _, X = wiki_sample
    codes = mvq.encode(X[:3])
    net = MycelialReasoning(MycelialConfig()).observe(codes)
    for call in (mvq.decode, load_default_numpy().decode, net.reason, net.observe, net.propagate):
        with pytest.raises(ValueError, match="codes must be integer codes, got dtype bool"):
            call(codes > 100)
    assert net.n_events_ == 3  # the refused observe learnt nothing


def test_full_pipeline_refuses_a_flag_that_is_not_a_bool(mvq, wiki_sample):
    """observe="no" is truthy: it taught the network what the caller asked it not to."""
    _, _, X = wiki_sample
    mvq = MycelialVQVAE(mvq.model)
    with pytest.raises(ValueError, match="observe must be True or False, got 'no'"):
        mvq.full_pipeline(X[:3], observe="no")
    assert mvq.network is None or mvq.network.n_events_ == 0


def test_the_models_own_codec_methods_name_a_bad_argument(mvq, wiki_sample):
    """VQVAEBase.encode_codes (and then encode_indices) gave NaN rows codes and returned no codes for batch=-1; decode_indices and
    refine_indices failed deep in torch (IndexError, ZeroDivisionError) or ran no sweep for sweeps=-1."""
    _, _, X = wiki_sample
    model = mvq.model
    x = torch.from_numpy(np.ascontiguousarray(X[:3]))
    nan = X[:2].copy()
    nan[1, 7] = np.nan
    for call, message in [
        (lambda: model.encode_codes(nan), "X contains NaN or inf"),
        (lambda: model.encode_indices(torch.from_numpy(nan)), r"x contains NaN or inf \(first at row 1, column 7\)"),
        (lambda: model.encode_indices(torch.from_numpy(X[:2] * np.inf)), "x contains NaN or inf"),
        (lambda: model.encode_indices(x[:, :100]), r"x must be a float tensor of shape \(n, 384\)"),
        (lambda: model.encode_codes(X[:3], batch=-1), "batch must be an int >= 1, got -1"),
        (lambda: model.encode_codes(X[:3, :100]), "X must have 384 columns"),
        (lambda: model.decode_indices(torch.full((1, 4), 256)), r"indices must lie in \[0, 255\]"),
        (lambda: model.decode_indices(torch.zeros((1, 3), dtype=torch.long)), r"indices must have shape \(n, 4\)"),
        (lambda: model.refine_indices(x, sweeps=-1), "sweeps must be an int >= 0, got -1"),
        (lambda: model.refine_indices(x, candidates=0), "candidates must be an int >= 1, got 0"),
        (lambda: model.refine_indices(x, pairs=-1), "pairs must be an int >= 0, got -1"),
        (lambda: MonolithWiki(num_heads=0), "num_heads must be a positive integer, got 0"),
    ]:
        with pytest.raises(ValueError, match=message):
            call()
    assert np.array_equal(model.encode_codes(X[:3], batch=2), mvq.encode(X[:3]))  # good input as before


def test_concept_ids_are_whole_numbers(mvq, wiki_sample):
    """observe_concepts read concept 1.7 as 1 and an offset of 1.5 as 1; concept_edge(-1, 5) read -1 as the last
    code node and answered the edge of that code node as a concept edge."""
    _, _, X = wiki_sample
    codes = mvq.encode(X[:2])
    net = MycelialReasoning(MycelialConfig()).observe_concepts(codes, [0, 1, 2], [1, 2])
    before = net.cx_keys_.copy()
    for offsets, concepts, message in [([0, 1, 2], [1.7, 2.0], "concepts must be whole numbers"),
                                       ([0, 1, 2], [np.nan, 2], "concepts must be whole numbers"),
                                       ([0, 1.5, 2], [1, 2], "offsets must be whole numbers"),
                                       ([0, 1, 2], [True, False], "concepts must be whole numbers")]:
        with pytest.raises(ValueError, match=message):
            net.observe_concepts(codes, offsets, concepts)
    assert np.array_equal(net.cx_keys_, before)  # nothing was learnt
    net.observe_concepts(codes, [0.0, 1.0, 2.0], [3.0, 4.0])  # whole floats are whole numbers
    for a, b in [(-1, 5), (1.5, 2), (True, 2)]:
        with pytest.raises(ValueError, match="concept id a must be an integer"):
            net.concept_edge(a, b)
    assert net.concept_edge(1, 2) is None and net.concept_edge(np.int64(3), 3) is None
