"""MycelialVQVAE: shipped weights, codec round trips, persistence, fallback, bad input, CLI."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from core.reasoning.mycelial import MycelialVQVAE
from core.reasoning.mycelial.wrapper import DEFAULT_WEIGHTS, WEIGHTS_DIR, read_card
from core.reasoning.vqvae import MonolithV13, MonolithWiki


@pytest.fixture(scope="module")
def mvq():
    return MycelialVQVAE.load_default()


def test_default_loads_shipped_monolith_wiki(mvq):
    assert isinstance(mvq.model, MonolithWiki)
    assert (mvq.num_heads, mvq.codebook_size, mvq.dim) == (4, 256, 384)
    card = json.loads((WEIGHTS_DIR / DEFAULT_WEIGHTS).with_suffix(".json").read_text())
    held = card["held_out"]
    for key in ("mse", "cosine", "codes_used", "head_perplexity", "zipf_alpha", "zipf_r2", "search"):
        assert key in held
    assert {"R@1", "R@10", "R@100", "10-recall@10"} <= set(held["search"])
    assert (WEIGHTS_DIR / DEFAULT_WEIGHTS).stat().st_size < 20e6


def test_encode_decode_real_sentences(mvq, wiki_sample):
    _, _, X = wiki_sample
    codes = mvq.encode(X)
    assert codes.shape == (len(X), 4) and codes.dtype == np.uint8 and codes.flags.c_contiguous
    R = mvq.decode(codes)
    assert R.shape == X.shape and R.dtype == np.float32
    cos = np.sum(X * R, 1) / np.linalg.norm(R, axis=1)
    assert cos.mean() > 0.5  # a trained model, far above the ~0.1 of random vectors
    assert len(np.unique(codes.view(np.uint32))) > len(X) // 2
    # torch input and a single vector give the same codes
    assert np.array_equal(mvq.encode(torch.from_numpy(X[:10])), codes[:10])
    assert np.array_equal(mvq.encode(X[3]), codes[3:4])


def test_decode_of_encode_equals_eval_forward(mvq, wiki_sample):
    _, _, X = wiki_sample
    with torch.no_grad():
        recon, idx, _, _ = mvq.model.eval()(torch.from_numpy(X[:200]))
    codes = mvq.encode(X[:200])
    assert np.array_equal(codes, idx.numpy())
    np.testing.assert_allclose(mvq.decode(codes), recon.numpy(), atol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_save_load_round_trip_bit_identical(mvq, wiki_sample, tmp_path, dtype):
    _, _, X = wiki_sample
    path = mvq.save(tmp_path / "m.safetensors", card={"note": "test"}, dtype=dtype)
    assert json.loads((tmp_path / "m.json").read_text())["note"] == "test"
    assert read_card(path)["note"] == "test" and read_card(path)["model_class"] == "MonolithWiki"
    back = MycelialVQVAE.load(path)
    if dtype == "float32":
        assert np.array_equal(back.encode(X), mvq.encode(X))
        assert np.array_equal(back.decode(mvq.encode(X[:50])), mvq.decode(mvq.encode(X[:50])))
    # a float16 copy saved again and reloaded is bit-identical to itself
    again = MycelialVQVAE.load(back.save(tmp_path / "dir", dtype=dtype))
    assert np.array_equal(again.encode(X), back.encode(X))
    assert np.array_equal(again.decode(back.encode(X[:50])), back.decode(back.encode(X[:50])))
    assert sorted(p.name for p in (tmp_path / "dir").iterdir()) == ["config.json", "model.safetensors"]
    assert read_card(tmp_path / "dir")["model_class"] == "MonolithWiki"
    with pytest.raises(FileNotFoundError, match="model card"):
        read_card(tmp_path / "none.safetensors")


def _v13(tmp_path):
    torch.manual_seed(0)
    v13 = MycelialVQVAE(MonolithV13().eval())
    return v13


def test_fallback_to_monolith_v13(tmp_path, wiki_sample):
    _, _, X = wiki_sample
    v13 = _v13(tmp_path)
    v13.save(tmp_path / "monolith_v13.safetensors")
    with pytest.warns(UserWarning, match="legacy MonolithV13"):
        loaded = MycelialVQVAE.load_default(tmp_path)
    assert isinstance(loaded.model, MonolithV13)
    assert np.array_equal(loaded.encode(X[:20]), v13.encode(X[:20]))


def test_fallback_from_corrupt_wiki_weights_and_legacy_pth(tmp_path):
    (tmp_path / DEFAULT_WEIGHTS).write_bytes(b"not a safetensors file")
    v13 = _v13(tmp_path)
    torch.save({"model_state_dict": v13.model.state_dict()}, tmp_path / "monolith_v13_trained.pth")
    with pytest.warns(UserWarning, match="did not load"):
        loaded = MycelialVQVAE.load_default(tmp_path)
    x = np.random.default_rng(0).normal(size=(5, 384)).astype(np.float32)
    assert np.array_equal(loaded.encode(x), v13.encode(x))


def test_clear_error_when_nothing_loads(tmp_path):
    (tmp_path / DEFAULT_WEIGHTS).write_bytes(b"garbage")
    with pytest.raises(FileNotFoundError) as info:
        MycelialVQVAE.load_default(tmp_path)
    msg = str(info.value)
    assert DEFAULT_WEIGHTS in msg and "monolith_v13.safetensors" in msg and "not found" in msg


def test_default_load_writes_nothing(tmp_path):
    copy = tmp_path / "weights"
    shutil.copytree(WEIGHTS_DIR, copy)
    before = sorted((p.name, p.stat().st_mtime_ns) for p in copy.iterdir())
    MycelialVQVAE.load_default(copy).encode(np.ones(384, np.float32))
    assert sorted((p.name, p.stat().st_mtime_ns) for p in copy.iterdir()) == before


@pytest.mark.parametrize("bad, match", [
    (np.zeros((3, 100), np.float32), "384 columns"),
    (np.full((2, 384), np.nan, np.float32), "NaN or inf"),
    (np.zeros((0, 384), np.float32), "empty batch"),
    (np.array([["a"] * 384]), "floating point"),
    (np.zeros((2, 3, 384), np.float32), "2-D"),
])
def test_encode_rejects_bad_input(mvq, bad, match):
    with pytest.raises(ValueError, match=match):
        mvq.encode(bad)


@pytest.mark.parametrize("bad, match", [
    (np.array([[0, 1, 2, 256]]), r"\[0, 255\]"),
    (np.array([[0, 1, 2]]), r"shape \(n, 4\)"),
    (np.array([[0.5, 1, 2, 3]]), "integers"),
    (np.zeros((0, 4), np.int64), "empty"),
])
def test_decode_rejects_bad_codes(mvq, bad, match):
    with pytest.raises(ValueError, match=match):
        mvq.decode(bad)


def test_unloaded_wrapper_says_what_to_do():
    with pytest.raises(ValueError, match="load_default"):
        MycelialVQVAE().encode(np.ones((1, 384), np.float32))


# -- command line -------------------------------------------------------------------------

def test_cli_encode_texts_and_npy(tmp_path, wiki_sample, mvq):
    from core.cli import cli

    sentences, _, X = wiki_sample
    runner = CliRunner()
    res = runner.invoke(cli, ["encode", "--json", sentences[0], sentences[1]])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert rows[0]["text"] == sentences[0] and rows[0]["codes"] == mvq.encode(X[0]).tolist()[0]
    np.save(tmp_path / "x.npy", X[:30])
    res = runner.invoke(cli, ["encode", "--npy", str(tmp_path / "x.npy"), "-o", str(tmp_path / "c.npy")])
    assert res.exit_code == 0, res.output
    assert np.array_equal(np.load(tmp_path / "c.npy"), mvq.encode(X[:30]))
    assert "wrote 30 rows of codes to" in res.stderr  # "wrote 30 codes": each row is 4
    res = runner.invoke(cli, ["encode", sentences[0], "-o", str(tmp_path / "one.txt")])
    assert res.exit_code == 0 and "wrote 1 row of codes to" in res.stderr, res.output
    res = runner.invoke(cli, ["encode", "--npy", str(tmp_path / "x.npy"), "-o", str(tmp_path / "p.npy"),
                              "--refine", "1", "--candidates", "8", "--pairs", "4"])
    assert res.exit_code == 0, res.output
    assert np.array_equal(np.load(tmp_path / "p.npy"), mvq.encode(X[:30], refine=1, candidates=8, pairs=4))
    res = runner.invoke(cli, ["encode", "--npy", str(tmp_path / "x.npy"), "--pairs", "4"])
    assert res.exit_code == 2 and "--pairs tunes the refinement and needs --refine N" in res.output
    res = runner.invoke(cli, ["encode", "--npy", str(tmp_path / "missing.npy")])
    assert res.exit_code != 0 and "not found" in res.output
    np.save(tmp_path / "bad.npy", X[:3, :10])
    res = runner.invoke(cli, ["encode", "--npy", str(tmp_path / "bad.npy")])
    assert res.exit_code != 0 and "384 columns" in res.output


def test_cli_npy_that_is_not_an_array_of_numbers_says_what_it_is(tmp_path, wiki_sample):
    from core.cli import cli

    # a text file given as --npy got numpy's "This file contains pickled (object) data. If you trust the
    # file you can load it unsafely using the `allow_pickle=` keyword argument or `pickle.load()`"
    _, _, X = wiki_sample
    (tmp_path / "lines.txt").write_text("The cat sat on the mat.\n", encoding="utf-8")
    np.savez(tmp_path / "x.npz", X[:3])
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    for name, says in (("lines.txt", "is not a .npy file"), ("x.npz", "is an .npz archive"),
                       ("obj.npy", "holds Python objects")):
        for command in (["encode"], ["train", "--out", str(tmp_path / "w")]):
            res = CliRunner().invoke(cli, [*command, "--npy", str(tmp_path / name)])
            assert res.exit_code == 1 and says in res.output, (command, name, res.output)
            assert "pickle" not in res.output and "Traceback" not in res.output, res.output


def test_cli_encode_file_rows_stay_on_their_lines(tmp_path, wiki_sample, mvq):
    from core.cli import cli

    # blank lines were skipped, so row 3 of the plain output was the code of line 4
    sentences, _, X = wiki_sample
    (tmp_path / "s.txt").write_text(f"{sentences[0]}\n\n  \n{sentences[1]}\n", encoding="utf-8")
    res = CliRunner().invoke(cli, ["encode", "--file", str(tmp_path / "s.txt")])
    assert res.exit_code == 0, res.output
    want = [" ".join(map(str, c)) for c in mvq.encode(X[:2]).tolist()]
    assert res.stdout.split("\n") == [want[0], "", "", want[1], ""]
    res = CliRunner().invoke(cli, ["encode", "--file", str(tmp_path / "s.txt"), "--json"])
    assert [(r["line"], r["text"]) for r in json.loads(res.stdout)] == [(1, sentences[0]), (4, sentences[1])]
    res = CliRunner().invoke(cli, ["encode", "--file", str(tmp_path / "s.txt"), "-o", str(tmp_path / "c.npy")])
    assert res.exit_code == 1 and "lines 2, 3 are blank" in res.output and not (tmp_path / "c.npy").exists()
    (tmp_path / "blank.txt").write_text("\n \n", encoding="utf-8")
    res = CliRunner().invoke(cli, ["encode", "--file", str(tmp_path / "blank.txt")])
    assert res.exit_code == 1 and "every line is blank" in res.output, res.output


def test_cli_train_tiny(tmp_path, wiki_sample, tiny_train):
    from core.cli import cli

    X = wiki_sample[2]
    res = CliRunner().invoke(cli, tiny_train + [str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    back = MycelialVQVAE.load(tmp_path / "out")
    assert back.encode(X[:5]).shape == (5, 4)
    card = json.loads((tmp_path / "out" / "config.json").read_text())
    assert card["train_config"]["epochs"] == 2 and "cosine" in card["held_out"]
    (tmp_path / "bad.json").write_text(json.dumps({"epoch": 2}))
    res = CliRunner().invoke(cli, ["train", "--config", str(tmp_path / "bad.json"), "--out", str(tmp_path / "o2"),
                                   "--npy", str(tmp_path / "x.npy")])
    assert res.exit_code != 0 and "unknown TrainConfig key" in res.output


def test_cli_commands_have_examples():
    from core.cli.vqvae import COMMANDS

    for command in COMMANDS:
        assert "Example:" in command.help


def test_refined_encoding_improves_reconstruction(mvq, wiki_sample):
    _, _, X = wiki_sample
    plain, refined = mvq.encode(X[:200]), mvq.encode(X[:200], refine=1, candidates=8)
    assert refined.dtype == np.uint8
    def cos(c):
        R = mvq.decode(c)
        return np.mean(np.sum(X[:200] * R, 1) / np.linalg.norm(R, axis=1))
    assert cos(refined) > cos(plain)
    with pytest.raises(ValueError, match="refine"):
        mvq.encode(X[:2], refine=-1)
    paired = mvq.encode(X[:200], refine=1, candidates=8, pairs=4)
    assert paired.dtype == np.uint8 and cos(paired) > cos(refined)
    with pytest.raises(ValueError, match="pairs needs refine"):
        mvq.encode(X[:2], pairs=4)
    with pytest.raises(ValueError, match="pairs must be an int"):
        mvq.encode(X[:2], refine=1, pairs=2.5)


def test_load_names_what_a_weights_path_is(tmp_path, mvq):
    # `--weights notes.txt` said "VQ-VAE weights notes.txt/model.safetensors not found"; a folder of named
    # weights did not say which files it holds; the model card (.json) was taken for a folder
    from core.cli import cli

    mvq.save(tmp_path / "w" / "mine.safetensors")
    X = np.ones((1, 384), np.float32) / np.sqrt(384)
    assert np.array_equal(MycelialVQVAE.load(tmp_path / "w" / "mine.json").encode(X), mvq.encode(X))
    with pytest.raises(FileNotFoundError, match="no model.safetensors in .*w; it holds mine.safetensors"):
        MycelialVQVAE.load(tmp_path / "w")
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(ValueError, match="notes.txt is not a weights file"):
        MycelialVQVAE.load(tmp_path / "notes.txt")
    res = CliRunner().invoke(cli, ["encode", "hello", "--weights", str(tmp_path / "notes.txt")])
    assert res.exit_code == 1 and "is not a weights file" in res.output, res.output


def test_cli_train_npy_errors_name_the_files_rows(tmp_path, wiki_sample):
    # a NaN in row 5 was reported "X_train contains NaN or inf (first at row 1422 ...)": a row of the
    # shuffled split; 10 rows said "X_train has 9 rows; need at least codebook_size=256"
    from core.cli import cli

    _, _, X = wiki_sample
    bad = X[:300].copy()
    bad[5, 3] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    np.save(tmp_path / "few.npy", X[:10])
    for name, says in (("nan.npy", "nan.npy contains NaN or inf (first at row 5, column 3)"),
                       ("few.npy", "few.npy has 10 rows; training needs at least 284")):
        res = CliRunner().invoke(cli, ["train", "--npy", str(tmp_path / name), "--out", str(tmp_path / "w")])
        assert res.exit_code == 1 and says in res.output and "X_train" not in res.output, res.output
    assert not (tmp_path / "w").exists()
