"""``scripts/train_vqvae.py`` checks every setting before it embeds (minutes), and says what is wrong in one line.

A typo in ``--set``/``--distill-set``, a missing ``--init`` or ``--config``, a non-.npy ``--extra-npy`` ran the whole
embedding first and then stopped on a traceback; a diverged training printed one too."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _scripts import load_script

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def script():
    return load_script("train_vqvae")


def _objects(tmp_path):
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return str(tmp_path / "objects.npy")


@pytest.mark.parametrize("argv, message", [
    (["--set", "epochs=-1"], "bad TrainConfig value(s): epochs=-1 must be > 0"),
    (["--set", "epoch=3"], "unknown TrainConfig key(s) ['epoch']"),
    (["--distill-set", "epoch=3"], "--distill-set: unknown DistillConfig key(s) ['epoch']; valid keys: ['sweeps'"),
    (["--distill-set", "epochs=ten"], "--distill-set 'epochs=ten': expected KEY=VALUE with a JSON value"),
    (["--init", "{tmp}/none.safetensors", "--distill"], "none.safetensors not found"),
    (["--config", "{tmp}/none.json"], "none.json: not a readable JSON file ([Errno 2]"),
    (["--config", "{tmp}/list.json"], "list.json: holds a JSON list, not an object of settings"),
    (["--extra-npy", "{tmp}/list.json"], "list.json': not a readable .npy array (no .npy header)"),
    (["--extra-npy", "{objects}"], "not a readable .npy array (it holds Python objects, never unpickled)"),
    (["--distill"], "--distill needs --init"),
])
def test_a_bad_setting_stops_before_the_embedding_in_one_line(script, tmp_path, capsys, argv, message):
    (tmp_path / "list.json").write_text("[1, 2]")
    argv = [a.format(tmp=tmp_path, objects=_objects(tmp_path) if "{objects}" in a else "") for a in argv]
    with pytest.raises(SystemExit) as stop:
        script.main(argv + ["--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert stop.value.code == 2 and out == ""  # nothing read nor embedded: the split prints first
    assert message in err.splitlines()[-1] and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_a_diverged_training_is_one_error_line_and_writes_no_weights(script, wiki_sample, tmp_path, capsys):
    """A tiny model at a learning rate that diverges: the first sentence of each WikiText article, and the
    suite's embedded sentences as extra rows (few sentences to embed here)."""
    np.save(tmp_path / "rows.npy", wiki_sample[2][:600])
    tiny = ["hidden_dim=64", "latent_dim=32", "codebook_size=16", "epochs=2", "warmup_epochs=1", "batch_size=64",
            "kmeans_samples=200", "kmeans_iters=2", "num_threads=1", "learning_rate=1e10", "refit_epochs=0"]
    with pytest.raises(SystemExit) as stop:
        script.main(["--sources", "wikitext", "--max-per-doc", "1", "--extra-npy", str(tmp_path / "rows.npy"),
                     "--set", *tiny, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert str(stop.value.code).startswith("Error: VQ-VAE training diverged at epoch 1 ")
    assert "lower learning_rate" in str(stop.value.code) and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_no_cached_held_out_sentence_is_one_error_line(script, tmp_path, capsys, monkeypatch):
    """--cached-only with an empty cache (a fresh one): no sentence to train on, said so, not a traceback."""
    monkeypatch.setenv("MYCELIAL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("MYCELIAL_CACHE_SEED", raising=False)
    with pytest.raises(SystemExit) as stop:
        script.main(["--cached-only", "--sources", "wikitext", "--max-per-doc", "2", "--out", str(tmp_path / "out")])
    assert stop.value.code == ("Error: 0 training and 0 held-out sentences in the embedding cache (--cached-only: "
                               "run once without it): training needs both")
    assert not (tmp_path / "out").exists()
