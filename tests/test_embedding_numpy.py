"""Torch-free query path: numpy BERT forward and numpy VQ-VAE codec against torch on real text."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from core._numpy_nn import erf, read_safetensors
from core.config import data_file
from core.embedding import TextEmbedder, default_model_path, onnx_equivalent
from core.embedding_numpy import NumpyBertEncoder
from core.reasoning.mycelial import MycelialVQVAE
from core.reasoning.mycelial.numpy_codec import WEIGHTS_DIR, load_default_numpy, load_numpy


@pytest.fixture(scope="module")
def texts():
    """12 real MuSiQue passages (up to 256 word pieces) and 16 real questions of the realdocs benchmark."""
    with open(data_file("multihop_dev/musique_train_corpus.json"), encoding="utf-8") as fh:
        passages = [f"{r['title']}. {r['text']}" for r in json.load(fh)[:12]]
    qfile = Path(__file__).resolve().parent.parent / "scripts" / "realdocs_questions.json"
    questions = [q["q"] for q in json.loads(qfile.read_text(encoding="utf-8"))["questions"][:16]]
    return passages + questions


@pytest.fixture(scope="module")
def torch_vecs(texts):
    return TextEmbedder(cache=False, backend="torch").embed(texts)


def test_numpy_bert_matches_torch_on_real_text(texts, torch_vecs):
    v = NumpyBertEncoder(default_model_path()).encode(texts)
    assert v.shape == torch_vecs.shape and v.dtype == np.float32
    cos = (v * torch_vecs).sum(axis=1)
    assert cos.min() >= 0.9999, cos.min()
    assert np.abs(v - torch_vecs).max() < 1e-5


def test_torch_runtime_numpy_is_the_torch_backend_with_its_own_cache_key(texts, torch_vecs, tmp_path):
    db = tmp_path / "c.sqlite"
    emb = TextEmbedder(cache=db, backend="torch", torch_runtime="numpy")
    assert emb.backend == "torch" and emb.runtime == "numpy" and emb.cache_model == "all-MiniLM-L6-v2|numpy"
    v = emb.embed(texts[-3:])
    assert (v * torch_vecs[-3:]).sum(axis=1).min() >= 0.9999
    # sentence-transformers' own cached vectors are not the numpy ones
    st = TextEmbedder(cache=db, backend="torch")
    assert st.runtime == "sentence-transformers" and st.cache_model == "all-MiniLM-L6-v2"
    assert st._cache.get(st.cache_model, [st._cache.key(t) for t in texts[-3:]], 384) == {}
    with pytest.raises(ValueError, match="torch_runtime must be one of"):
        TextEmbedder(torch_runtime="jax")


def test_other_pooling_falls_back_to_sentence_transformers(tmp_path):
    assert onnx_equivalent(default_model_path())
    folder = tmp_path / "cls_model"
    shutil.copytree(default_model_path(), folder, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    (folder / "model.safetensors").symlink_to(Path(default_model_path()) / "model.safetensors")
    assert onnx_equivalent(folder)
    cfg = folder / "1_Pooling" / "config.json"
    pooling = json.loads(cfg.read_text())
    cfg.write_text(json.dumps({**pooling, "pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}))
    assert not onnx_equivalent(folder)
    emb = TextEmbedder(model=str(folder), backend="torch", torch_runtime="numpy")
    assert emb.runtime == "sentence-transformers" and emb.cache_model == str(folder)
    assert not onnx_equivalent(tmp_path / "missing")


def test_numpy_codec_gives_torch_codes_on_real_embeddings(torch_vecs):
    import torch

    tc, nc = MycelialVQVAE.load_default(), load_default_numpy()
    assert nc is not None and (nc.num_heads, nc.codebook_size, nc.dim) == (tc.num_heads, tc.codebook_size, tc.dim)
    with torch.inference_mode():
        z = tc.model.quantizer.prepare(tc.model.encoder(torch.from_numpy(torch_vecs))).numpy()
    np.testing.assert_allclose(nc.latents(torch_vecs), z, atol=1e-5)
    np.testing.assert_array_equal(nc.encode(torch_vecs), tc.encode(torch_vecs))
    rows = np.concatenate([nc.encode(torch_vecs[i]) for i in range(len(torch_vecs))])  # one query at a time
    np.testing.assert_array_equal(rows, tc.encode(torch_vecs))
    codes = tc.encode(torch_vecs)
    np.testing.assert_allclose(nc.decode(codes), tc.decode(codes), atol=1e-5)
    # the probe a memory fingerprints its codec with (core/memory/semantic.py): same hash
    probe = np.random.default_rng(0).standard_normal((64, 384)).astype(np.float32)
    probe /= np.linalg.norm(probe, axis=1, keepdims=True)
    assert hashlib.sha1(nc.encode(probe).tobytes()).digest() == hashlib.sha1(tc.encode(probe).tobytes()).digest()


def test_numpy_codec_declines_other_or_damaged_weights(tmp_path):
    assert load_default_numpy(tmp_path) is None  # no weights
    bad = tmp_path / "monolith_wiki.safetensors"
    bad.write_bytes((WEIGHTS_DIR / "monolith_wiki.safetensors").read_bytes()[:5000])  # truncated
    assert load_default_numpy(tmp_path) is None


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_numpy_codec_refuses_nan_or_inf_weights_naming_the_file(tmp_path, value):
    # a damaged weights file loaded: every code came out 0 and every decoded vector NaN, without a word
    src = WEIGHTS_DIR / "monolith_wiki.safetensors"
    raw = bytearray(src.read_bytes())
    header = 8 + int.from_bytes(raw[:8], "little")
    info = json.loads(raw[8:header])["decoder.4.weight"]
    assert info["dtype"] == "F16"  # as shipped
    at = header + info["data_offsets"][0] + 2 * 1000
    raw[at:at + 2] = np.float16(value).tobytes()
    bad = tmp_path / "monolith_wiki.safetensors"
    bad.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=rf"^{bad}: tensor decoder.4.weight holds NaN or inf values \(damaged"):
        load_numpy(bad)
    assert load_default_numpy(tmp_path) is None  # the memory's fallback: the torch loader says why, naming it
    with pytest.raises(FileNotFoundError, match=rf"{bad}: {bad}: tensor decoder.4.weight holds NaN or inf"):
        MycelialVQVAE.load_default(tmp_path)
    assert load_numpy(src).encode(np.eye(2, 384, dtype=np.float32)).shape == (2, 4)  # the shipped file loads
    with pytest.raises(ValueError, match=rf"^{src.parent / 'monolith_v13.safetensors'}: NumpyVQVAE reads "
                                         rf"MonolithWiki weights only"):
        load_numpy(src.parent / "monolith_v13.safetensors")


def test_safetensors_reader_checks_the_file(tmp_path):
    from safetensors.numpy import load_file

    path = WEIGHTS_DIR / "monolith_wiki.safetensors"
    tensors, meta = read_safetensors(path)
    ref = load_file(str(path))
    assert set(tensors) == set(ref) and "config" in meta
    for k, v in ref.items():
        np.testing.assert_array_equal(tensors[k], v)
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match="does not fit the file"):
        read_safetensors(cut)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes((2 ** 40).to_bytes(8, "little") + b"{}")
    with pytest.raises(ValueError, match="not a safetensors file"):
        read_safetensors(junk)


def test_erf_equals_scipy_bit_for_bit():
    from scipy.special import erf as scipy_erf

    x = (np.random.default_rng(0).standard_normal(5000) * 4).astype(np.float32)
    np.testing.assert_array_equal(erf(x), scipy_erf(x))
