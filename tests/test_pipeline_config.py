"""vqvae_config.json: defaults, round trip, and errors that name the bad key."""
from __future__ import annotations

import json

import pytest

from core.compression.config import DEFAULT_CONFIG_PATH, PipelineConfig, load_config

SEED_KEYS = {"device", "dataset_split", "sample_size", "batch_size", "test_fraction", "pq_M",
             "vqvae_hidden_dim", "vqvae_embedding_dim", "vqvae_num_embeddings",
             "vqvae_learning_rate", "vqvae_epochs", "embedding_dimension"}


def _write(tmp_path, values):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(values))
    return path


def test_shipped_file_holds_the_defaults_and_every_seed_key():
    values = json.loads(DEFAULT_CONFIG_PATH.read_text())
    assert SEED_KEYS <= set(values)
    assert load_config(DEFAULT_CONFIG_PATH) == PipelineConfig()
    assert load_config(None) == PipelineConfig()


def test_partial_file_keeps_defaults_for_the_rest(tmp_path):
    cfg = load_config(_write(tmp_path, {"sample_size": 2000, "vqvae_epochs": 2, "test_fraction": 0.4}))
    assert (cfg.sample_size, cfg.vqvae_epochs, cfg.test_fraction) == (2000, 2, 0.4)
    assert cfg.pq_M == PipelineConfig().pq_M
    assert PipelineConfig.from_dict(cfg.to_dict()) == cfg


def test_int_is_accepted_for_a_float_key(tmp_path):
    assert load_config(_write(tmp_path, {"vqvae_learning_rate": 1})).vqvae_learning_rate == 1


@pytest.mark.parametrize("values,key", [
    ({"sample_sise": 100}, "sample_sise"),
    ({"sample_size": "10000"}, "sample_size"),
    ({"sample_size": 10.0}, "sample_size"),
    ({"vqvae_epochs": True}, "vqvae_epochs"),
    ({"vqvae_learning_rate": "fast"}, "vqvae_learning_rate"),
    ({"vqvae_learning_rate": 0}, "vqvae_learning_rate"),
    ({"device": 0}, "device"),
    ({"device": "gpu"}, "device"),
    ({"dataset_split": "dev"}, "dataset_split"),
    ({"test_fraction": 1.0}, "test_fraction"),
    ({"test_fraction": 0}, "test_fraction"),
    ({"pq_M": 7}, "pq_M"),
    ({"pq_M": 0}, "pq_M"),
    ({"vqvae_num_embeddings": 65537}, "vqvae_num_embeddings"),
    ({"vqvae_num_embeddings": 1}, "vqvae_num_embeddings"),
    ({"compression_method": "best"}, "compression_method"),
    ({"vqvae_num_heads": 3}, "vqvae_num_heads"),
    ({"embedding_dimension": 768}, "embedding_dimension"),
    ({"batch_size": -1}, "batch_size"),
    ({"sample_size": 1500, "test_fraction": 0.5}, "sample_size"),
    ({"opq_iterations": 0}, "opq_iterations"),
    ({"opq_iterations": 1_000_000}, "opq_iterations must be at most 500"),
    ({"vqvae_epochs": 100_000_000}, "vqvae_epochs must be at most 1,000"),
    ({"sample_size": 1000, "test_fraction": 0.0001}, "test_fraction"),
    ({"artifacts_dir": None}, "artifacts_dir"),
    ({"data_path": 3}, "data_path"),
])
def test_bad_values_name_the_key(tmp_path, values, key):
    with pytest.raises(ValueError, match=key):
        load_config(_write(tmp_path, values))


def test_the_bounds_themselves_are_accepted():
    cfg = PipelineConfig(vqvae_epochs=1000, opq_iterations=500)
    assert (cfg.vqvae_epochs, cfg.opq_iterations) == (1000, 500)


def test_codebooks_past_256_take_two_bytes_a_code(tmp_path):
    cfg = load_config(_write(tmp_path, {"vqvae_num_embeddings": 512}))     # the seed's quick-start value
    assert (cfg.code_bytes, cfg.bytes_per_item) == (2, 2 * cfg.vqvae_num_heads)
    assert PipelineConfig(vqvae_num_embeddings=256).bytes_per_item == PipelineConfig().vqvae_num_heads


def test_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        load_config(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{sample_size: 3")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_config(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match="JSON object"):
        load_config(bad)
