"""A user's first afternoon with the codec, the network and their CLI commands: bad input.

Each test is one thing that went wrong before: a hang, a crash from deep inside torch, a
silently wrong result, a half-written model, or a message naming the wrong value.
"""
from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
import torch
from _tiny_codec import tiny_weights
from click.testing import CliRunner
from safetensors.torch import save_file

from core.reasoning.mycelial import MycelialConfig, MycelialReasoning, MycelialVQVAE
from core.reasoning.mycelial.wrapper import read_card


@pytest.fixture(scope="module")
def mvq():
    return MycelialVQVAE.load_default()


@pytest.fixture(scope="module")
def X():
    x = np.random.default_rng(0).standard_normal((3, 384)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _cli():
    from core.cli import cli

    return cli


# -- loading model files ---------------------------------------------------------------------

def test_pickled_pth_is_refused_without_advice_to_unpickle(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'ran'}",))

    torch.save({"x": Evil()}, tmp_path / "evil.pth")
    (tmp_path / "plain.pth").write_bytes(pickle.dumps(3))  # a pickle that is no torch file
    (tmp_path / "text.pth").write_text("hello")
    for name in ("evil.pth", "plain.pth", "text.pth"):
        with pytest.raises(ValueError, match="not a PyTorch checkpoint of plain tensors") as e:
            MycelialVQVAE.load(tmp_path / name)
        assert "weights_only" not in str(e.value) and name in str(e.value)
    assert not (tmp_path / "ran").exists()


def test_foreign_model_config_is_named_with_the_file(tmp_path):
    configs = {"kwarg": {"bogus": 1}, "negative": {"hidden_dim": -5, "latent_dim": 7},
               "text": {"hidden_dim": "big"}}
    for name, cfg in configs.items():
        path = tmp_path / f"{name}.safetensors"
        save_file({"a": torch.zeros(3)}, path,
                  metadata={"config": json.dumps({"model_class": "MonolithWiki", "model_config": cfg})})
        with pytest.raises(ValueError, match="does not build a MonolithWiki") as e:
            MycelialVQVAE.load(path)
        assert str(path) in str(e.value)
    path = tmp_path / "cls.safetensors"
    save_file({"a": torch.zeros(3)}, path, metadata={"config": json.dumps({"model_class": ["x"]})})
    with pytest.raises(ValueError, match="unknown model_class"):
        MycelialVQVAE.load(path)


def test_nan_weights_are_refused_not_encoded_as_zeros(mvq, tmp_path):
    state = {k: torch.full_like(v, float("nan")) if k == "decoder.4.bias" else v
             for k, v in mvq.model.state_dict().items()}
    info = {"model_class": "MonolithWiki", "model_config": mvq.model.config}
    save_file(state, tmp_path / "nan.safetensors", metadata={"config": json.dumps(info)})
    with pytest.raises(ValueError, match="decoder.4.bias holds NaN or inf"):
        MycelialVQVAE.load(tmp_path / "nan.safetensors")


def test_weights_of_other_shapes_or_integer_weights_name_the_tensor(mvq, tmp_path):
    # the message was torch's first line alone ("Error(s) in loading state_dict for MonolithWiki:"),
    # and integer weights were cast into the float model and loaded without a word
    info = {"model_class": "MonolithWiki", "model_config": mvq.model.config}
    state = mvq.model.state_dict()
    bad = {"shape": {**state, "decoder.0.bias": torch.zeros(3, 3)},
           "missing": {k: v for k, v in state.items() if k != "decoder.0.bias"},
           "int": {k: v.to(torch.int32) if v.is_floating_point() else v for k, v in state.items()}}
    want = {"shape": r"size mismatch for decoder.0.bias: .*\[3, 3\]", "missing": r"Missing key.*decoder.0.bias",
            "int": r"tensor decoder.0.bias is torch.int32, the model's is torch.float32"}
    for name, tensors in bad.items():
        save_file(tensors, tmp_path / f"{name}.safetensors", metadata={"config": json.dumps(info)})
        with pytest.raises(ValueError, match=want[name]):
            MycelialVQVAE.load(tmp_path / f"{name}.safetensors")


def test_load_and_save_expand_home_and_refuse_empty(mvq, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    mvq.save("~/m.safetensors")
    assert (tmp_path / "m.safetensors").is_file() and not (tmp_path / "~").exists()
    assert MycelialVQVAE.load("~/m.safetensors").num_heads == 4
    with pytest.raises(ValueError, match="path is empty"):
        MycelialVQVAE.load("")
    mvq.save("~/w/monolith_wiki.safetensors")
    assert MycelialVQVAE.load_default(weights_dir="~/w").num_heads == 4
    net = MycelialReasoning(MycelialConfig())
    net.save("~/n.npz")
    assert (tmp_path / "n.npz").is_file() and not (tmp_path / "~").exists()
    assert MycelialReasoning.load("~/n.npz") == net


# -- saving ----------------------------------------------------------------------------------

def test_save_with_a_bad_card_writes_nothing(mvq, tmp_path):
    mvq.save(tmp_path / "m.safetensors", card={"note": "first"})
    before = (tmp_path / "m.safetensors").read_bytes(), (tmp_path / "m.json").read_text()
    with pytest.raises(TypeError, match="card"):
        mvq.save(tmp_path / "m.safetensors", card={"x": object()}, dtype="float16")
    with pytest.raises(TypeError, match="card must be a dict"):
        mvq.save(tmp_path / "other.safetensors", card="hello")
    assert ((tmp_path / "m.safetensors").read_bytes(), (tmp_path / "m.json").read_text()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.safetensors"]
    # numpy numbers, the usual metrics, are written as JSON numbers
    mvq.save(tmp_path / "n.safetensors", card={"cosine": np.float32(0.5), "used": np.arange(2)})
    card = json.loads((tmp_path / "n.json").read_text())
    assert card["cosine"] == 0.5 and card["used"] == [0, 1] and card["model_class"] == "MonolithWiki"


def test_save_never_replaces_a_json_or_weights_file_that_is_not_a_models(tmp_path):
    # save(folder) replaced a project's own config.json, save("results.safetensors") a results.json, silently
    tiny = MycelialVQVAE.load(tiny_weights(tmp_path / "tiny.safetensors"))
    project = tmp_path / "project"
    project.mkdir()
    cases = [(project, project / "config.json", b'{"name": "my app"}'),
             (tmp_path / "results.safetensors", tmp_path / "results.json", b'{"accuracy": 0.9}'),
             (tmp_path / "bare", tmp_path / "bare" / "model.safetensors", b"mine")]   # weights without a card
    for target, theirs, data in cases:
        theirs.parent.mkdir(exist_ok=True)
        theirs.write_bytes(data)
        before = {p: p.read_bytes() for p in theirs.parent.iterdir() if p.is_file()}
        with pytest.raises(FileExistsError, match=f"{theirs} exists .*; nothing was written"):
            tiny.save(target)
        assert {p: p.read_bytes() for p in theirs.parent.iterdir() if p.is_file()} == before
    for target in (tmp_path / "again", tmp_path / "again.safetensors"):   # a model's own files are replaced
        tiny.save(target, card={"n": 1})
        tiny.save(target, card={"n": 2})
        assert read_card(target)["n"] == 2


def test_float16_save_of_weights_beyond_its_range_writes_nothing(tmp_path):
    # a weight of 1e5 was written as inf, and the file then failed to load as "damaged weights"
    big = MycelialVQVAE.load_default()
    with torch.no_grad():
        big.model.decoder[4].bias[0] = 1e5
    with pytest.raises(ValueError, match=r"tensor decoder.4.bias does not fit float16"):
        big.save(tmp_path / "m.safetensors", dtype="float16")
    assert list(tmp_path.iterdir()) == []
    big.save(tmp_path / "m.safetensors")
    assert MycelialVQVAE.load(tmp_path / "m.safetensors").model.decoder[4].bias[0] == 1e5


# -- encode / decode -------------------------------------------------------------------------

def test_refine_has_a_ceiling_instead_of_hanging(mvq, X):
    with pytest.raises(ValueError, match="refine must be at most 100"):
        mvq.encode(X, refine=10 ** 9)
    assert np.array_equal(mvq.encode(X, refine=100), mvq.encode(X, refine=100))


def test_huge_values_are_refused_not_coded_as_zeros(mvq, X):
    with pytest.raises(ValueError, match="normalise them first"):
        mvq.encode(X * np.float32(1e30))
    with pytest.raises(ValueError, match=r"1e\+300 .*beyond float32's range"):
        mvq.encode(np.full((1, 384), 1e300))
    assert np.array_equal(mvq.encode(X * np.float32(1e3)), mvq.encode(X * np.float32(1e3)))


def test_the_value_check_does_not_copy_a_large_batch(mvq):
    # the |value| <= 1e15 check took np.abs of the whole batch: a second copy of it at the peak
    import tracemalloc

    X = np.tile(np.eye(8, 384, dtype=np.float32), (2500, 1))  # 30 MB
    mvq.encode(X[:2])
    tracemalloc.start()
    try:
        mvq.encode(X, batch_size=X.shape[0])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < X.nbytes // 2, peak  # the finiteness mask (a quarter) and the codes


def test_bfloat16_tensor_encodes_like_float32(mvq, X):
    t = torch.from_numpy(X).bfloat16()
    assert np.array_equal(mvq.encode(t), mvq.encode(t.float().numpy()))


def test_out_of_range_codes_are_named_by_their_value(mvq):
    with pytest.raises(ValueError, match=r"from 0 to 9223372036854775813"):
        mvq.decode(np.array([[2 ** 63 + 5, 0, 0, 0]], dtype=np.uint64))
    with pytest.raises(ValueError, match=r"from 0 to 1e\+20"):
        mvq.decode(np.array([[1e20, 0, 0, 0]]))
    with pytest.raises(ValueError, match=r"from 0 to 256"):
        mvq.decode(np.array([[256.0, 0, 0, 0]]))


# -- the network -----------------------------------------------------------------------------

def test_spreading_steps_have_a_ceiling_instead_of_hanging():
    net = MycelialReasoning(MycelialConfig())
    net.observe(np.random.default_rng(1).integers(0, 256, (200, 4)))
    for call in (net.propagate, net.reason):
        with pytest.raises(ValueError, match="steps must be at most 1000"):
            call(np.array([1, 2, 3, 4]), steps=10 ** 9)
    with pytest.raises(ValueError, match="propagation_steps must be at most 1000"):
        MycelialConfig(propagation_steps=10 ** 9)
    assert net.propagate(np.array([1, 2, 3, 4]), steps=1000).shape == (1024,)


# -- CLI -------------------------------------------------------------------------------------

def test_cli_encode_with_a_pickled_pth_is_one_error_line(tmp_path):
    (tmp_path / "p.pth").write_bytes(pickle.dumps(3))
    np.save(tmp_path / "x.npy", np.eye(2, 384, dtype=np.float32))
    r = CliRunner().invoke(_cli(), ["encode", "--weights", str(tmp_path / "p.pth"), "--npy",
                                    str(tmp_path / "x.npy")])
    assert r.exit_code == 1 and not isinstance(r.exception, RuntimeError), r.output
    assert "not a PyTorch checkpoint" in r.output


def test_cli_encode_and_train_name_a_path_that_is_no_regular_file(tmp_path):
    # /dev/null given as --file/--npy said "/dev/null not found"
    for args in (["encode", "--file", "/dev/null"], ["encode", "--npy", os.devnull],
                 ["train", "--out", str(tmp_path / "w"), "--npy", os.devnull]):
        r = CliRunner().invoke(_cli(), args)
        assert r.exit_code == 1 and "is not a regular file (a folder, device or FIFO)" in r.output, r.output
    assert not (tmp_path / "w").exists()


def test_cli_encode_never_writes_its_codes_over_its_input(tmp_path):
    # `encode --npy x.npy -o x.npy` replaced the user's embeddings with their codes
    X = np.eye(3, 384, dtype=np.float32)
    np.save(tmp_path / "x.npy", X)
    (tmp_path / "s.txt").write_text("a cat\na dog\n", encoding="utf-8")
    x, s = str(tmp_path / "x.npy"), str(tmp_path / "s.txt")
    for args in (["--npy", x, "-o", x], ["--file", s, "-o", str(tmp_path / "." / "s.txt")], ["--file", s, "-o", s]):
        before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
        r = CliRunner().invoke(_cli(), ["encode", *args])
        assert r.exit_code == 2 and "is the input file" in r.output, r.output
        assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_cli_encode_never_writes_its_codes_over_its_weights_or_their_card(tmp_path, monkeypatch):
    # `encode hello --weights W.safetensors -o W.safetensors` exited 0: the model became a 30-byte text file
    np.save(tmp_path / "x.npy", np.eye(2, 384, dtype=np.float32))
    w, card = tiny_weights(tmp_path / "W.safetensors"), tmp_path / "W.json"
    folder = tmp_path / "f"
    tiny_weights(folder)
    (tmp_path / "link").symlink_to(w)
    os.link(card, tmp_path / "hard.json")
    cases = [(w, w), (w, card), (w, tmp_path / "link"), (w, tmp_path / "hard.json"), (card, w),
             (folder, folder / "config.json"), (folder, folder / "model.safetensors")]
    for weights, out in cases:
        before = {p: p.read_bytes() for p in (*tmp_path.iterdir(), *folder.iterdir()) if p.is_file()}
        r = CliRunner().invoke(_cli(), ["encode", "--npy", str(tmp_path / "x.npy"), "--weights", str(weights),
                                        "-o", str(out)])
        assert r.exit_code == 2 and "is the input file (--weights" in r.output, (weights, out, r.output)
        assert {p: p.read_bytes() for p in before} == before
    r = CliRunner().invoke(_cli(), ["encode", "--npy", str(tmp_path / "x.npy"), "--weights", str(w),
                                    "-o", str(tmp_path / "codes.txt")])
    assert r.exit_code == 0 and len((tmp_path / "codes.txt").read_text().splitlines()) == 2, r.output
    # without --weights the shipped model is the input (here a stand-in folder)
    from core.reasoning.mycelial import wrapper

    monkeypatch.setattr(wrapper, "WEIGHTS_DIR", tmp_path / "shipped")
    shipped = tiny_weights(tmp_path / "shipped" / wrapper.DEFAULT_WEIGHTS)
    r = CliRunner().invoke(_cli(), ["encode", "--npy", str(tmp_path / "x.npy"), "-o", str(shipped)])
    assert r.exit_code == 2 and "is the input file (the shipped weights" in r.output, r.output


def test_cli_train_refuses_a_max_per_doc_below_one():
    for value in ("-1", "0"):  # -1 dropped each document's last sentence; 0 meant "all"
        r = CliRunner().invoke(_cli(), ["train", "--out", "never", "--sources", "nope",
                                        "--max-per-doc", value])
        assert r.exit_code == 2 and "--max-per-doc" in r.output, r.output


def test_cli_train_never_overwrites_a_folders_own_config_or_weights(tmp_path, tiny_train):
    # `train --out myproject` trained, then replaced the project's own config.json with its card
    args = tiny_train
    project = tmp_path / "project"
    project.mkdir()
    for name, data in (("config.json", b'{"name": "my app", "debug": true}\n'), ("model.safetensors", b"mine")):
        (project / name).write_bytes(data)
        r = CliRunner().invoke(_cli(), args + [str(project)])
        assert r.exit_code == 1 and "nothing was trained: give --out a new or empty folder" in r.output, r.output
        assert str(project / name) in r.output and (project / name).read_bytes() == data
        (project / name).unlink()
    out = tmp_path / "weights"
    for _ in range(2):  # a folder an earlier `train` wrote is written again
        r = CliRunner().invoke(_cli(), args + [str(out)])
        assert r.exit_code == 0, r.output
    assert json.loads((out / "config.json").read_text())["train_config"]["epochs"] == 2


def test_pipeline_json_of_another_shape_is_named_damaged(tmp_path):
    from core.compression.artifacts import load_json

    art = tmp_path / "art"
    art.mkdir()
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"artifacts_dir": str(art)}))
    (art / "pipeline.json").write_text("[1]")
    r = CliRunner().invoke(_cli(), ["decode", "--config", str(config)])
    assert r.exit_code == 1 and "pipeline.json is damaged (a JSON list" in r.output, r.output
    (art / "pipeline.json").write_text('{"method": "opq_pq"}')
    (art / "decoded.json").write_text('{"items": [], "summary": {}}')
    r = CliRunner().invoke(_cli(), ["evaluate", "--config", str(config)])
    assert r.exit_code == 1 and "pipeline.json is damaged (no 'methods'" in r.output, r.output
    (art / "items.json").write_text('{"x": 1}')
    with pytest.raises(ValueError, match=r"items.json is damaged \(no 'sentences' entry\).*mycelial pipeline"):
        load_json(art / "items.json", ("sentences",))


def test_graph_export_never_leaves_a_half_written_file(tmp_path, monkeypatch):
    import networkx as nx

    from core.reasoning.mycelial.export import write_graphml

    net = MycelialReasoning(MycelialConfig())
    net.observe(np.random.default_rng(2).integers(0, 256, (50, 4)))
    path = write_graphml(net, tmp_path / "n.graphml")
    before = path.read_bytes()
    real = nx.write_graphml

    def interrupted(g, target, *a, **kw):  # networkx's writer stopped part-way (Ctrl-C, a full disk)
        real(g, target, *a, **kw)
        raise KeyboardInterrupt

    monkeypatch.setattr(nx, "write_graphml", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_graphml(net, path, top=3)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["n.graphml"]
