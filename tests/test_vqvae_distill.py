"""Amortised search (the distilled encoder) and the whole-source hold-out split."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from _scripts import load_script

from core.reasoning.mycelial import MycelialVQVAE
from core.reasoning.vqvae import train_vqvae
from core.reasoning.vqvae.data import source_holdout_split
from core.reasoning.vqvae.distill import DistillConfig, agreement, distill, search_targets

TINY = dict(hidden_dim=128, latent_dim=64, codebook_size=32, epochs=4, batch_size=128,
            kmeans_samples=1500, kmeans_iters=5, num_threads=1)
FAST = DistillConfig(sweeps=1, candidates=8, pairs=4, epochs=6, learning_rate=1e-3, decoder_epochs=3)


@pytest.fixture(scope="module")
def trained(wiki_sample):
    """A tiny model trained on real WikiText sentences, its inputs and its searched codes."""
    X = wiki_sample[2][:1500]
    torch.set_num_threads(1)
    model, _ = train_vqvae(X, TINY, progress=False)
    Xt = torch.from_numpy(X)
    return model, Xt, search_targets(model, Xt, FAST.sweeps, FAST.candidates, FAST.pairs)


def test_distilled_encoder_learns_the_searched_codes(trained):
    model, X, targets = trained
    before = agreement(model, X, targets)
    student, history = distill(model, X, targets, FAST, progress=False)
    after = agreement(student, X, targets)
    assert after > before + 0.1, (before, after)
    assert history[-1]["train_agreement_eval"] == pytest.approx(after)
    assert agreement(model, X, targets) == before  # the teacher is not changed


def test_distilled_codes_in_range_round_trip_and_deterministic(trained, wiki_sample):
    model, X, targets = trained
    a, _ = distill(model, X, targets, FAST, progress=False)
    b, _ = distill(model, X, targets, FAST, progress=False)
    mvq = MycelialVQVAE(a)
    held = wiki_sample[2][1500:1800]
    codes = mvq.encode(held)
    assert codes.shape == (len(held), TINY["latent_dim"] // 16) and codes.dtype == np.uint8
    assert codes.max() < TINY["codebook_size"]
    R = mvq.decode(codes)
    assert R.shape == held.shape and R.dtype == np.float32 and np.isfinite(R).all()
    assert np.array_equal(mvq.encode(held), codes)  # encode is deterministic
    assert np.array_equal(MycelialVQVAE(b).encode(held), codes)  # so is distillation, seed for seed
    assert np.array_equal(MycelialVQVAE(b).decode(codes), R)


def test_distilled_model_saves_and_loads(trained, tmp_path):
    model, X, targets = trained
    student, _ = distill(model, X, targets, FAST, progress=False)
    path = MycelialVQVAE(student).save(tmp_path / "d.safetensors")
    assert np.array_equal(MycelialVQVAE.load(path).encode(X[:200].numpy()),
                          MycelialVQVAE(student).encode(X[:200].numpy()))


def test_distill_rejects_bad_targets_and_config(trained):
    model, X, targets = trained
    with pytest.raises(ValueError, match="targets must have shape"):
        distill(model, X, targets[:10], FAST, progress=False)
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 31\]"):
        distill(model, X, targets + 100, FAST, progress=False)
    with pytest.raises(ValueError, match="candidates=0"):
        DistillConfig(candidates=0)


def _train_script():
    return load_script("train_vqvae")


def test_a_distilled_card_keeps_the_init_time_beside_its_own(trained, tmp_path):
    """``train_vqvae.py --distill --init`` wrote training_seconds = init's + distillation's under one name
    (the stage's own time was lost), and an init without a card counted as 0 s."""
    model, X, _ = trained
    init = MycelialVQVAE(model).save(tmp_path / "init.safetensors",
                                     card={"training_seconds": 5000.0, "history": [{"epoch": 1}], "train_config": TINY})
    script = _train_script()
    settings = ["sweeps=1", "candidates=8", "pairs=4", "epochs=2", "decoder_epochs=1"]
    student, history, extra, timing, base = script.on_init(
        str(init), "distill", lambda m: script._distill(m, X.numpy(), settings, None, 300))
    own = timing["stage_seconds"]
    assert 0 < own < 600 and timing["stage"] == "distill" and timing["init_training_seconds"] == 5000.0
    assert timing["training_seconds"] == round(5000.0 + own, 1)
    assert history[0] == {"epoch": 1} and len(history) > 1 and extra["target_rows"] == 300
    assert base["train_config"] == TINY and isinstance(student, type(model))
    # weights whose card has no training time: unknown, not 0 s; the stage's own is still recorded
    bare = MycelialVQVAE(model).save(tmp_path / "bare.safetensors")
    _, _, _, timing, _ = script.on_init(str(bare), "refit", lambda m: (m, [], None))
    assert timing["training_seconds"] is None and timing["init_training_seconds"] is None
    assert timing["stage"] == "refit" and timing["stage_seconds"] >= 0


def test_whole_source_holdout_keeps_every_held_out_sentence_out_of_training():
    from core.datasets import wikitext_documents

    train, val, test = source_holdout_split(["wikitext", "passages"], "wikitext")
    wiki = {s for d in wikitext_documents() for s in d.sentences}
    assert set(test) == wiki and len(test) == len(wiki)
    assert not wiki & set(train) and not wiki & set(val)
    assert len(train) > 10 * len(val) / 2 and len(val) > 1000  # passages, split by documents
    # holding out the passages: WikiText trains, nothing of the passage sets does
    train2, _, test2 = source_holdout_split(["wikitext", "passages"], "passages")
    assert not set(train2) & set(test2) and set(train2) <= wiki


def test_whole_source_holdout_bad_names():
    with pytest.raises(ValueError, match="unknown held-out corpus 'reddit'"):
        source_holdout_split(["wikitext"], "reddit")
    with pytest.raises(ValueError, match="leaves no training corpus"):
        source_holdout_split(["wikitext"], "wikitext")


@pytest.mark.parametrize("setting", ["learning_rate", "decoder_learning_rate"])
def test_a_diverging_distillation_stops_naming_its_rate(trained, setting):
    # distill's own loops had no divergence check: 1e30 trained the weights into NaN without a word
    from core.reasoning.vqvae.diverged import TrainingDiverged

    model, X, targets = trained
    cfg = DistillConfig(sweeps=1, candidates=8, pairs=4, epochs=1, decoder_epochs=1, **{setting: 1e30})
    with pytest.raises(TrainingDiverged, match=f"VQ-VAE training diverged at epoch 1 .*: lower {setting} "
                                               r"\(it is 1e\+30\); no model was saved"):
        distill(model, X[:600], targets[:600], cfg, progress=False)
    assert np.isfinite(MycelialVQVAE(model).decode(np.zeros((1, model.num_heads), np.uint8))).all()
