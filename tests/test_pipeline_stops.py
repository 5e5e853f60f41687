"""The compression stages stop cleanly: a diverging VQ-VAE, a re-run over an evaluated run, Ctrl-C and SIGTERM,
FAISS's warning flood, and the messages of a missing data file, a too-small sample and a UTF-16 config.

Each case was a traceback, a silently useless run or a confusing message before (tester's findings, 2026-12-03).
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from core.cli import cli
from core.compression.artifacts import EVALUATE_WRITES, save_json
from core.compression.codecs import build_opq_index
from core.compression.config import PipelineConfig, load_config
from core.compression.decoding import run_decode
from core.compression.evaluate import run_evaluate
from core.compression.pipeline import run_pipeline, wikitext_files
from core.config import data_file
from core.reasoning.vqvae.train import TrainConfig, refit_vqvae, train_vqvae

WIKI_TEST = data_file("wikitext2/wiki.test.raw")


def _config(folder: Path, **kw) -> PipelineConfig:
    """One head of 16 codes: one byte an item (the messages said "1 heads", "1 bytes/item")."""
    values = dict(data_path=str(WIKI_TEST), sample_size=1300, test_fraction=0.1, opq_iterations=1, pq_M=8,
                  vqvae_num_heads=1, vqvae_embedding_dim=16, vqvae_hidden_dim=32, vqvae_num_embeddings=16,
                  vqvae_epochs=2, batch_size=128, artifacts_dir=str(folder / "artifacts"))
    values.update(kw)
    return PipelineConfig(**values)


def _write(path: Path, cfg: PipelineConfig) -> str:
    path.write_text(json.dumps(cfg.to_dict()))
    return str(path)


def _unit_rows(n: int, d: int = 384) -> np.ndarray:
    X = np.random.default_rng(0).standard_normal((n, d)).astype(np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


# ---------------------------------------------------------------------------- a diverging VQ-VAE
@pytest.mark.parametrize("lr,what", [(1e10, "loss is nan"), (1e300, "overflow")])
def test_training_stops_at_the_first_non_finite_loss(lr, what):
    # 1e10 trained every weight into NaN without a word; 1e300 was a torch traceback from Adam's step
    config = TrainConfig(hidden_dim=32, latent_dim=16, num_heads=2, codebook_size=16, epochs=2, batch_size=128,
                         kmeans_samples=300, kmeans_iters=2, learning_rate=lr)
    with pytest.raises(ValueError, match=rf"VQ-VAE training diverged at epoch 1 \(.*{what}.*\): lower "
                                         rf"learning_rate \(it is {re.escape(f'{lr:g}')}\)"):
        train_vqvae(_unit_rows(300), config, progress=False)


def test_refit_stops_at_the_first_non_finite_loss():
    # `mycelial train`'s refit stage shares the loop's risk, with its own learning rate
    X = _unit_rows(300)
    config = TrainConfig(hidden_dim=32, latent_dim=16, num_heads=2, codebook_size=16, epochs=2, batch_size=128,
                         kmeans_samples=300, kmeans_iters=2, refit_epochs=1, refit_learning_rate=1e10)
    model, _ = train_vqvae(X, TrainConfig.from_dict({**config.to_dict(), "refit_epochs": 0}), progress=False)
    with pytest.raises(ValueError, match="diverged at epoch 1 .*lower refit_learning_rate"):
        refit_vqvae(model, X, config, progress=False)


def test_artifacts_are_strict_json(tmp_path):
    # pipeline.json and metrics.json held a bare NaN: no JSON, refused by strict readers (jq, JavaScript)
    save_json(tmp_path / "x.json", {"mean_cosine": math.nan, "rows": [{"r2": math.inf}, 1.5]})

    def refuse(name):
        raise ValueError(name)

    assert json.loads((tmp_path / "x.json").read_text(), parse_constant=refuse) == {
        "mean_cosine": None, "rows": [{"r2": None}, 1.5]}


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """A complete small run, decoded and evaluated, and what the pipeline said."""
    folder = tmp_path_factory.mktemp("stops")
    cfg, said = _config(folder), []
    run_pipeline(cfg, progress=False, log=said.append)
    run_decode(cfg, env={}, log=lambda *_: None)
    run_evaluate(cfg, log=lambda *_: None, bertscore=False)
    return cfg, said


def test_a_diverged_rerun_stops_with_one_line_and_leaves_nothing_that_claims_success(evaluated, tmp_path):
    # the re-run exited 0 with NaN weights, and the previous run's metrics.json/metrics.md/PNGs stayed beside it
    cfg, _ = evaluated
    shutil.copytree(cfg.artifacts, tmp_path / "artifacts")
    assert all((tmp_path / "artifacts" / name).is_file() for name in EVALUATE_WRITES)
    bad = _config(tmp_path, vqvae_learning_rate=1e10)
    res = CliRunner().invoke(cli, ["pipeline", "--config", _write(tmp_path / "c.json", bad)])
    assert res.exit_code == 1, res.output
    assert ("Error: VQ-VAE training diverged at epoch 1 (loss is nan): lower vqvae_learning_rate (it is 1e+10)"
            in res.output and "Traceback" not in res.output), res.output
    left = {p.name for p in (tmp_path / "artifacts").iterdir()}
    assert not left & {"pipeline.json", "decoded.json", "decoded_vectors.npy", *EVALUATE_WRITES}, left


def test_messages_say_one_head_and_one_byte_and_faiss_once(evaluated):
    # "VQ-VAE (1 heads x 16 codes ...) ... (1 bytes/item", and FAISS's warning once per sub-quantizer
    cfg, said = evaluated
    assert any(line.startswith("VQ-VAE (1 head x 16 codes, uint8)") and "(1 byte/item;" in line for line in said), said
    assert sum("FAISS advises" in line for line in said) == 1, said
    assert "VQ-VAE this run (1 head × 16 codes" in (cfg.artifacts / "metrics.md").read_text()


def test_faiss_training_prints_no_warning_per_sub_quantizer(capfd):
    build_opq_index(_unit_rows(600, 32), _unit_rows(0, 32), 4, iterations=1)
    assert "WARNING clustering" not in capfd.readouterr().err


def test_faiss_training_shows_its_time_when_asked(capfd):
    # 10**6 OPQ rounds ran for days without a word: the pipeline shows a timer while FAISS trains
    index = build_opq_index(_unit_rows(600, 32), _unit_rows(3, 32), 4, iterations=1, progress=True)
    assert index.ntotal == 3 and index.is_trained
    assert "train FAISS OPQ4,PQ4 (1 round)" in capfd.readouterr().err


# ---------------------------------------------------------------------------- Ctrl-C and SIGTERM
@pytest.mark.parametrize("sig,status", [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_signal_stops_the_pipeline_with_one_line(tmp_path, sig, status):
    # Ctrl-C printed click's "Aborted!" (exit 1); SIGTERM ended it without a word (143)
    cfg = _write(tmp_path / "c.json", _config(tmp_path, vqvae_epochs=1000))  # the bound
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    boot = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\nfrom core.cli import main; main()"
    proc = subprocess.Popen([sys.executable, "-c", boot, "pipeline", "--config", cfg], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        lines, deadline = [], time.monotonic() + 120
        while time.monotonic() < deadline and not any(line.startswith("loaded") for line in lines):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
        assert any(line.startswith("loaded") for line in lines), "".join(lines)
        time.sleep(0.5)
        proc.send_signal(getattr(signal, sig))
        out = "".join(lines) + proc.communicate(timeout=60)[0]
    finally:
        proc.kill()
    assert proc.returncode == status, out
    assert out.rstrip().splitlines()[-1].startswith("interrupted: `mycelial pipeline` stopped before it finished"), out
    assert "Aborted!" not in out and "Traceback" not in out, out
    assert not (tmp_path / "artifacts" / "pipeline.json").exists()


# ---------------------------------------------------------------------------- messages
def test_a_missing_data_path_is_said_not_to_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"data_path {tmp_path / 'nope.raw'} does not exist"):
        wikitext_files(_config(tmp_path, data_path=str(tmp_path / "nope.raw")))


def test_too_few_sentences_names_sample_size_when_it_is_the_limit(tmp_path):
    # the data holds thousands more sentences: "give more data (data_path, dataset_split)" sent the user astray
    with pytest.raises(ValueError, match=r"sample_size=1300 of the [\d,]+ sentences of .* gave 1300 sentences, "
                                         r".*need at least 4000 .*: raise sample_size$"):
        run_pipeline(_config(tmp_path, vqvae_num_embeddings=4000), progress=False, log=lambda *_: None)
    assert not (tmp_path / "artifacts").exists()


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "utf-8-sig"])
def test_a_config_with_a_byte_order_mark_is_read(tmp_path, encoding):
    # PowerShell's `>` writes UTF-16 with a BOM: "not valid JSON: 'utf-8' codec can't decode byte 0xff"
    (tmp_path / "c.json").write_bytes(json.dumps({"sample_size": 2000}).encode(encoding))
    assert load_config(tmp_path / "c.json").sample_size == 2000


def test_a_config_in_another_encoding_is_named_so(tmp_path):
    (tmp_path / "c.json").write_bytes('{"artifacts_dir": "caf\u00e9"}'.encode("latin-1"))
    with pytest.raises(ValueError, match=r"c.json is not UTF-8 text \(byte 22: .*\); save it as UTF-8"):
        load_config(tmp_path / "c.json")


def test_a_new_decode_removes_the_previous_evaluation(evaluated, tmp_path):
    # metrics.json of the previous decode (another LLM, none) stayed beside the new decoded.json
    cfg, _ = evaluated
    shutil.copytree(cfg.artifacts, tmp_path / "artifacts")
    run_decode(_config(tmp_path), env={}, log=lambda *_: None)
    assert not any((tmp_path / "artifacts" / name).exists() for name in EVALUATE_WRITES)
    assert (tmp_path / "artifacts" / "decoded.json").is_file()


def test_a_nan_model_of_an_earlier_run_is_named_not_decoded(evaluated, tmp_path):
    # a diverged run's NaN weights (written before training stopped on them) decoded every item to its own
    # text; evaluate then blamed decoded_vectors.npy and sent the user to re-run decode, forever
    from safetensors.torch import load, save

    cfg, _ = evaluated
    art = tmp_path / "artifacts"
    shutil.copytree(cfg.artifacts, art)
    state = load((art / "vqvae.safetensors").read_bytes())
    (art / "vqvae.safetensors").write_bytes(save({k: v.fill_(math.nan) if v.is_floating_point() else v
                                                  for k, v in state.items()}))
    res = CliRunner().invoke(cli, ["evaluate", "--config", _write(tmp_path / "c.json", _config(tmp_path))])
    assert res.exit_code == 1, res.output
    assert (f"{art / 'vqvae.safetensors'} is damaged (its weights decode to NaN or inf: a diverged training); run "
            f"`mycelial pipeline` again" in res.output), res.output
