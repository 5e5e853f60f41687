"""MycelialVQVAE joined to the Hebbian network: observe, reason, full_pipeline on real sentences."""
import numpy as np
import pytest

from core.reasoning.mycelial import MycelialConfig, MycelialReasoning, MycelialVQVAE


@pytest.fixture(scope="module")
def mvq():
    return MycelialVQVAE.load_default()


def test_observe_feeds_the_codes_to_the_network(mvq, wiki_sample):
    _, article, X = wiki_sample
    mvq = MycelialVQVAE(mvq.model)
    codes = mvq.observe(X[:300], groups=article[:300])
    reference = MycelialReasoning(MycelialConfig()).observe(mvq.encode(X[:300]), groups=article[:300])
    assert codes.dtype == np.uint8 and codes.shape == (300, 4)
    assert mvq.network == reference
    assert mvq.network.n_events_ == 300


def test_reason_completes_a_pattern_the_network_has_learned(mvq, wiki_sample):
    _, _, X = wiki_sample
    mvq = MycelialVQVAE(mvq.model)
    codes = mvq.observe(X[:500])
    refined, activation = mvq.reason(X[:20])
    assert refined.dtype == np.uint8 and refined.shape == (20, 4)
    assert activation.shape == (20, 1024)
    assert activation.min() >= 0.0 and activation.max() <= 1.0
    # Every observed code pattern seeds its own nodes: they carry activation.
    nodes = codes[:20].astype(np.int64) + np.arange(4) * 256
    assert (np.take_along_axis(activation, nodes, axis=1) > 0).all()


def test_full_pipeline_reports_both_reconstructions(mvq, wiki_sample):
    _, _, X = wiki_sample
    mvq = MycelialVQVAE(mvq.model)
    out = mvq.full_pipeline(X[:400])
    np.testing.assert_array_equal(out["codes"], mvq.encode(X[:400]))
    np.testing.assert_allclose(out["reconstruction"], mvq.decode(out["codes"]), atol=1e-6)
    cos = np.sum(X[:400] * out["reconstruction"], 1) / np.linalg.norm(out["reconstruction"], axis=1)
    assert out["cosine"] == pytest.approx(float(cos.mean()), abs=1e-5)
    assert 0.3 < out["cosine"] <= 1.0 and -1.0 <= out["refined_cosine"] <= 1.0
    assert mvq.network.n_events_ == 400
    mvq.full_pipeline(X[:10], observe=False)
    assert mvq.network.n_events_ == 400


def test_network_of_the_wrong_size_is_refused(mvq, wiki_sample):
    wrong = MycelialVQVAE(mvq.model, network=MycelialReasoning(MycelialConfig(num_heads=4, codebook_size=128)))
    with pytest.raises(ValueError, match="4 x 256"):
        wrong.observe(wiki_sample[2][:2])


def test_prototype_import_path_reexports_the_same_classes():
    import core.reasoning.mycelial_reasoning as legacy

    assert legacy.MycelialVQVAE is MycelialVQVAE
    assert legacy.MycelialReasoning is MycelialReasoning and legacy.MycelialConfig is MycelialConfig
