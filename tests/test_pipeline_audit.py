"""The compression pipeline under a demanding user: odd configs, someone else's folder, hand-edited artifacts.

Every case here was a traceback, a wrong figure or an overwritten file before (2026-12-02 audit).
"""
from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from core.cli import cli
from core.cli.pipeline import pipeline_cmd
from core.compression.artifacts import MARKER, foreign_file
from core.compression.config import PipelineConfig
from core.compression.decoding import run_decode
from core.compression.evaluate import run_evaluate
from core.compression.pipeline import run_pipeline
from core.config import data_file
from core.reasoning.vqvae.train import TrainConfig, train_vqvae

WIKI_TEST = data_file("wikitext2/wiki.test.raw")


def _config(folder, **kw) -> PipelineConfig:
    """5 heads x 300 codes: uint16 codes, 10 bytes an item, which do not divide 384 (no OPQ10 exists)."""
    values = dict(data_path=str(WIKI_TEST), sample_size=1300, opq_iterations=1, pq_M=8, vqvae_num_heads=5,
                  vqvae_embedding_dim=40, vqvae_hidden_dim=64, vqvae_num_embeddings=300, vqvae_epochs=2,
                  batch_size=128, artifacts_dir=str(folder / "artifacts"))
    values.update(kw)
    return PipelineConfig(**values)


def _write(path, cfg: PipelineConfig):
    path.write_text(json.dumps(cfg.to_dict()))
    return str(path)


# ---------------------------------------------------------------------------- config
@pytest.mark.parametrize("values,key", [
    ({"vqvae_learning_rate": math.inf}, "vqvae_learning_rate"),   # trained into NaN, then a torch traceback
    ({"seed": 2**64}, "seed"),                                    # "Overflow when unpacking long long"
    ({"decode_neighbours": 10**9}, "decode_neighbours"),          # every reference sentence in every LLM prompt
])
def test_config_refuses_what_training_cannot_take(values, key):
    with pytest.raises(ValueError, match=key):
        PipelineConfig(**values)
    assert PipelineConfig(seed=2**64 - 1).seed == 2**64 - 1


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_train_config_refuses_non_finite_numbers(value):
    with pytest.raises(ValueError, match="learning_rate=.* must be a finite number"):   # NaN passed `<= 0`
        TrainConfig(learning_rate=value)


def test_two_epochs_of_one_batch_train(capsys):
    # batch_size >= the training rows with 2 epochs: 2 steps in all, and OneCycleLR divided by zero; without
    # validation rows (the pipeline's case) the bar said val_cos=nan at every epoch
    X = np.random.default_rng(0).standard_normal((300, 384)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    config = TrainConfig(hidden_dim=32, latent_dim=16, num_heads=2, codebook_size=16, epochs=2, batch_size=1000,
                         kmeans_samples=300, kmeans_iters=2)
    model, history = train_vqvae(X, config, progress=True)
    assert len(history) == 2
    err = capsys.readouterr().err
    assert "loss=" in err and "nan" not in err, err


# ---------------------------------------------------------------------------- whose folder
def test_pipeline_refuses_a_folder_holding_someone_elses_files(tmp_path):
    # artifacts_dir "artifacts" is a common name: a project's own metrics.json there was replaced by the run's
    art = tmp_path / "artifacts"
    art.mkdir()
    (art / "metrics.json").write_text('{"mine": true}')
    res = CliRunner().invoke(cli, ["pipeline", "--config", _write(tmp_path / "c.json", _config(tmp_path))])
    assert res.exit_code == 1 and f"{art / 'metrics.json'} exists and was not written by" in res.output, res.output
    assert (art / "metrics.json").read_text() == '{"mine": true}' and sorted(p.name for p in art.iterdir()) == [
        "metrics.json"]
    # a run's folder from before the mark is still the pipeline's
    (art / "pipeline.json").write_text(json.dumps({"methods": {}, "config": {}}))
    assert foreign_file(art) is None


def test_pipeline_writes_only_into_a_new_empty_or_run_folder(tmp_path):
    # a user's folder holding notes.txt was written into and marked as the pipeline's own
    art = tmp_path / "artifacts"
    art.mkdir()
    (art / "notes.txt").write_text("mine")
    (art / "drafts").mkdir()
    res = CliRunner().invoke(cli, ["pipeline", "--config", _write(tmp_path / "c.json", _config(tmp_path))])
    assert res.exit_code == 1 and f"{art / 'drafts'} exists and was not written by" in res.output, res.output
    assert "nothing was written: set artifacts_dir to a new or empty folder" in res.output
    assert sorted(p.name for p in art.iterdir()) == ["drafts", "notes.txt"]
    for p in art.iterdir():
        (p.unlink if p.is_file() else p.rmdir)()
    assert foreign_file(art) is None and foreign_file(tmp_path / "new") is None


# ---------------------------------------------------------------------------- one small run
@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("audit")
    cfg = _config(tmp)
    run_pipeline(cfg, progress=False, log=lambda *_: None)
    run_decode(cfg, env={}, log=lambda *_: None)
    return cfg


def test_uint16_run_is_counted_honestly_and_evaluates_with_a_budget_faiss_cannot_build(run):
    out = run.artifacts
    assert (out / MARKER).is_file()
    summary = json.loads((out / "pipeline.json").read_text())
    vq = summary["methods"]["vqvae"]
    codes = np.load(out / "codes.npy")
    assert codes.dtype == np.uint16 and vq["bytes_per_item"] == 10
    assert vq["bytes_out"] == (out / "codes.npy").stat().st_size == codes.nbytes + 128   # the .npy header
    assert vq["compression_ratio"] == (out / "test_embeddings.npy").stat().st_size / vq["bytes_out"]
    notes = []
    metrics = run_evaluate(run, log=notes.append, bertscore=False)   # OPQ10,PQ10 was a FAISS RuntimeError
    assert any("no FAISS OPQ10,PQ10 row" in str(n) for n in notes)
    assert [r["bytes_per_item"] for r in metrics["comparison"][:3]] == [8, 10, 4]


def _edited(run, tmp_path, name, edit):
    art = tmp_path / "artifacts"
    shutil.copytree(run.artifacts, art)
    path = art / name
    if name.endswith(".npy"):
        np.save(path, edit(np.load(path)))
    else:
        obj = json.loads(path.read_text())
        edit(obj)
        path.write_text(json.dumps(obj))
    return _write(tmp_path / "c.json", PipelineConfig(**{**run.to_dict(), "artifacts_dir": str(art)})), path


def _vqvae(o):
    o["method"] = "vqvae"


@pytest.mark.parametrize("stage,name,edit,says", [
    ("decode", "items.json", lambda o: o.update(reference_index=[10**6] * len(o["reference_index"])),
     "'reference_index' holds 1000000"),                                           # IndexError
    ("decode", "items.json", lambda o: o.update(reference_index=o["reference_index"][:3]),
     "3 'reference_index' where the run has"),                                     # IndexError
    ("decode", "reference.json", lambda o: o.update(sentences=5), "'sentences' entry is not a list"),   # TypeError
    ("decode", "reference_embeddings.npy", lambda a: a[:, :100], "shape (n, 384)"),  # numpy's matmul message
    ("decode", "reference_embeddings.npy", lambda a: a * np.nan, "NaN"),           # decoded garbage silently
    ("decode", "vqvae_train_config.json", lambda o: o.update(hidden_dim=10**6),     # a model of gigabytes
     "hidden_dim=1000000 where the run's config gives 64"),
    ("evaluate", "reference.json", lambda o: o.update(is_test=o["is_test"][:5]), "'is_test'"),   # IndexError
    ("evaluate", "decoded.json", lambda o: o.update(summary=[]), "'summary'"),      # AttributeError
    ("evaluate", "decoded.json", lambda o: o["items"][0].pop("similarity_text"), "item 0"),   # KeyError
    ("evaluate", "test_embeddings.npy", lambda a: a[:, :100], "shape (n, 384)"),
])
def test_hand_edited_artifacts_are_named_not_a_traceback(run, tmp_path, stage, name, edit, says):
    config, path = _edited(run, tmp_path, name, edit)
    if name == "vqvae_train_config.json":
        pipe = json.loads((path.parent / "pipeline.json").read_text())
        (path.parent / "pipeline.json").write_text(json.dumps({**pipe, "method": "vqvae"}))
    res = CliRunner().invoke(cli, [stage, "--config", config], env={"SEMANTIC_RECON_BACKEND": ""})
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit), (res.output, res.exception)
    assert f"{path} is damaged" in res.output and says in res.output, res.output


@pytest.mark.parametrize("key,value", [("vqvae_num_embeddings", 512), ("vqvae_num_embeddings", 16), ("pq_M", 16)])
def test_decode_and_evaluate_refuse_another_configs_artifacts(run, tmp_path, key, value):
    # evaluate under 512 codes scored the run's 300-code codes as if 512 (usage halved, labels wrong); under
    # 16 "cannot reshape array of size ..."; pq_M=16 labelled the OPQ8 codes as OPQ16
    other = _write(tmp_path / "c.json", PipelineConfig(**{**run.to_dict(), key: value}))
    for stage in ("decode", "evaluate"):
        res = CliRunner().invoke(cli, [stage, "--config", other], env={"SEMANTIC_RECON_BACKEND": ""})
        assert res.exit_code == 1 and f"made with another config: {key}=" in res.output, (stage, res.output)


def test_the_script_reports_a_file_error_without_a_traceback(run, tmp_path):
    # scripts/pipeline.py runs the command without the `mycelial` group that turns OSError into one line
    art = tmp_path / "artifacts"
    shutil.copytree(run.artifacts, art)
    shutil.rmtree(art / "decoded.json", ignore_errors=True)
    (art / "vqvae.safetensors").unlink()
    (art / "vqvae.safetensors").mkdir()          # the write cannot replace a folder: IsADirectoryError
    res = CliRunner().invoke(pipeline_cmd, ["--config", _write(tmp_path / "c.json", PipelineConfig(
        **{**run.to_dict(), "artifacts_dir": str(art)}))])
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit), (res.output, res.exception)
    assert "Is a directory" in res.output and "vqvae.safetensors" in res.output, res.output


def test_too_little_data_is_refused_before_the_embedding(tmp_path):
    # ~300 training sentences: FAISS's OPQ training aborted the process after the training ("munmap_chunk():
    # invalid pointer", exit 134; under 256, a FAISS RuntimeError traceback); sample_size cannot tell
    import subprocess
    import sys

    words = WIKI_TEST.read_text(encoding="utf-8").split()[:5000]
    rng = np.random.default_rng(0)
    articles = [f" = Article {a} = \n\n " + " ".join("The " + " ".join(rng.choice(words, 8)) + " ." for _ in range(25))
                for a in range(16)]
    (tmp_path / "few.raw").write_text("\n\n".join(articles) + "\n", encoding="utf-8")
    cfg = _write(tmp_path / "c.json", _config(tmp_path, data_path=str(tmp_path / "few.raw"), vqvae_num_embeddings=16))
    import os
    from pathlib import Path

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent), OMP_NUM_THREADS="1")
    res = subprocess.run([sys.executable, "-m", "mycelial", "pipeline", "--config", cfg], capture_output=True,
                         text=True, timeout=600, env=env)
    assert res.returncode == 1 and "for training once test_fraction=0.2 held out whole articles; need at least " \
        "384" in res.stderr, res.stderr[-2000:]
    assert not (tmp_path / "artifacts").exists()


def test_encode_keeps_codes_past_255_of_a_512_code_model(tmp_path):
    # MycelialVQVAE.encode (and `mycelial encode --weights`) cast every code to uint8: code 300 became 44
    import torch

    from core.reasoning.mycelial.wrapper import MycelialVQVAE
    from core.reasoning.vqvae.model_wiki import MonolithWiki

    torch.manual_seed(0)
    model = MonolithWiki(hidden_dim=64, latent_dim=32, num_heads=4, codebook_size=512).eval()
    X = np.random.default_rng(0).standard_normal((1500, 384)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    model.quantizer.init_codebook_(model.encoder(torch.from_numpy(X)).detach(), num_iters=1)
    want = model.encode_indices(torch.from_numpy(X)).numpy()
    assert want.max() > 255
    mvq = MycelialVQVAE(model)
    for kw in ({}, {"batch_size": 100}):
        codes = mvq.encode(X, **kw)
        assert codes.dtype == np.uint16 and np.array_equal(codes, want), kw
    mvq.save(tmp_path / "m512")
    np.save(tmp_path / "x.npy", X[:200])
    res = CliRunner().invoke(cli, ["encode", "--npy", str(tmp_path / "x.npy"), "--weights", str(tmp_path / "m512"),
                                   "-o", str(tmp_path / "c.npy")])
    assert res.exit_code == 0, res.output
    assert np.array_equal(np.load(tmp_path / "c.npy"), want[:200])


def test_paths_take_the_home_folder_and_refuse_empty_ones(tmp_path, monkeypatch):
    # artifacts_dir "~/runs" made a folder named "~" in the working folder; "" wrote into the working folder
    from core.compression.pipeline import wikitext_files

    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "w.raw").write_text(" = T = \n\n Text here .\n")
    cfg = PipelineConfig(artifacts_dir="~/runs", data_path="~/w.raw")
    assert cfg.artifacts == tmp_path / "runs" and wikitext_files(cfg) == [tmp_path / "w.raw"]
    for key in ("artifacts_dir", "data_path"):
        with pytest.raises(ValueError, match=f"{key} is empty"):
            PipelineConfig(**{key: " "})
    res = CliRunner().invoke(cli, ["decode", "--config", ""])      # "config file . not found"
    assert res.exit_code == 2 and "--config is empty" in res.output, res.output


def test_a_vqvae_too_big_for_the_machine_is_refused_before_the_embedding(tmp_path):
    # vqvae_hidden_dim 10**9 (a typo) embedded, then died allocating the model; 4,096 codes x 64 heads ran
    # the k-means seeding into ~23 GB
    from core.compression.pipeline import _fits_in_memory

    cfg = _write(tmp_path / "c.json", _config(tmp_path, vqvae_hidden_dim=10**9))
    res = CliRunner().invoke(cli, ["pipeline", "--config", cfg])
    assert res.exit_code == 1 and "the VQ-VAE would need about" in res.output and "vqvae_hidden_dim" in res.output, \
        (res.output, res.exception)
    assert not (tmp_path / "artifacts").exists()
    _fits_in_memory(PipelineConfig(vqvae_num_embeddings=512), 8000, total=20 * 2**30)
    with pytest.raises(ValueError, match="k-means of 64 heads x 8,000 samples x 4,096 codes"):
        _fits_in_memory(PipelineConfig(vqvae_num_embeddings=4096), 8000, total=20 * 2**30)


def test_config_file_with_a_byte_order_mark_loads_and_a_repeated_key_is_refused(tmp_path):
    # Notepad's BOM was "not valid JSON: Unexpected UTF-8 BOM"; a key given twice silently took the last value
    from core.compression.config import load_config

    (tmp_path / "bom.json").write_bytes(b'\xef\xbb\xbf{"sample_size": 2000}')
    assert load_config(tmp_path / "bom.json").sample_size == 2000
    (tmp_path / "dup.json").write_text('{"vqvae_epochs": 20, "seed": 1, "vqvae_epochs": 2}')
    with pytest.raises(ValueError, match="gives key 'vqvae_epochs' more than once"):
        load_config(tmp_path / "dup.json")


def test_a_second_stage_on_the_same_folder_is_refused_while_one_runs(run, tmp_path):
    # two runs in two terminals with the default artifacts/ interleaved their files
    import fcntl

    from core.compression.artifacts import LOCK

    art = tmp_path / "artifacts"
    shutil.copytree(run.artifacts, art)
    config = _write(tmp_path / "c.json", PipelineConfig(**{**run.to_dict(), "artifacts_dir": str(art)}))
    before = {p.name: p.stat().st_mtime_ns for p in art.iterdir()}
    with open(art / LOCK, "a+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)   # as the running stage's process holds it
        for stage in ("pipeline", "decode", "evaluate"):
            res = CliRunner().invoke(cli, [stage, "--config", config], env={"SEMANTIC_RECON_BACKEND": ""})
            assert res.exit_code == 1 and "another pipeline stage is running in" in res.output, (stage, res.output)
    assert {p.name: p.stat().st_mtime_ns for p in art.iterdir()} == before
    res = CliRunner().invoke(cli, ["decode", "--config", config], env={"SEMANTIC_RECON_BACKEND": ""})
    assert res.exit_code == 0, res.output                   # the lock goes with its holder


@pytest.mark.parametrize("device", ["cuda", "cuda:3", "mps"])
def test_a_device_this_machine_lacks_is_refused(tmp_path, device):
    # device "cuda" on a machine without CUDA ran the whole run on the CPU, the note saying "used for embedding"
    import torch

    index = int(device.split(":")[1]) if ":" in device else 0
    cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if device.startswith("cuda") and cuda > index or device == "mps" and torch.backends.mps.is_available():
        pytest.skip(f"this machine has {device}")
    res = CliRunner().invoke(cli, ["pipeline", "--config", _write(tmp_path / "c.json", _config(tmp_path, device=device))])
    assert res.exit_code == 1 and f"device={device!r} but torch" in res.output, (res.output, res.exception)
    assert not (tmp_path / "artifacts").exists()
