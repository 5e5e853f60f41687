"""ONNX backends: equivalence to torch on real text, the exported-model cache, and memory binding.

The model is exported once per session into a temporary cache folder (conftest's ``fresh_onnx_export``,
about 10-30 s on 2 shared cores, shared with the OpenVINO build); this module works on a copy of it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from core.config import data_file
from core.embedding import TextEmbedder, default_model_path
from core.embedding_onnx import cache_key, exported_model, is_valid


@pytest.fixture(scope="module")
def onnx_root(tmp_path_factory, fresh_onnx_export):
    """A private MYCELIAL_CACHE_DIR holding one export (fp32 + int8) for the whole module: a copy of the
    session's fresh export (a test below truncates the int8 file and exports it again)."""
    import shutil

    root = tmp_path_factory.mktemp("mycelial_cache")
    shutil.copytree(fresh_onnx_export / "onnx", root / "onnx")
    mp = pytest.MonkeyPatch()
    mp.setenv("MYCELIAL_CACHE_DIR", str(root))
    path = exported_model(default_model_path(), quantized=True)  # found, not exported again
    yield root, path
    mp.undo()


@pytest.fixture(scope="module")
def passages():
    """60 real MuSiQue passages (title + text), of 20 to 200+ word pieces."""
    with open(data_file("multihop_dev/musique_train_corpus.json"), encoding="utf-8") as fh:
        recs = json.load(fh)[:60]
    return [f"{r['title']}. {r['text']}" for r in recs]


@pytest.fixture(scope="module")
def torch_vecs(passages):
    return TextEmbedder(cache=False, backend="torch").embed(passages)


def test_onnx_fp32_matches_torch(onnx_root, passages, torch_vecs):
    v = TextEmbedder(cache=False, backend="onnx").embed(passages)
    assert v.shape == torch_vecs.shape and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert (v * torch_vecs).sum(axis=1).min() > 0.9999


def test_onnx_int8_holds_cosine_bound(onnx_root, passages, torch_vecs):
    v = TextEmbedder(cache=False, backend="onnx-int8").embed(passages)
    cos = (v * torch_vecs).sum(axis=1)
    assert cos.mean() >= 0.99 and cos.min() >= 0.97, (cos.mean(), cos.min())


def test_int8_export_is_the_fused_graph_and_matches_torch(onnx_root, passages, torch_vecs):
    """The int8 file is built from ONNX Runtime's fused BERT graph, and still holds the cosine bar."""
    import onnx

    _, path = onnx_root
    ops = {n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node}
    assert {"QAttention", "EmbedLayerNormalization", "SkipLayerNormalization", "BiasGelu"} <= ops, ops
    assert not ops & {"Softmax", "Attention"}  # every attention block fused, and all of them int8
    assert json.loads(path.with_name(path.name + ".json").read_text())["fused"]["Attention"] == 6
    assert not list(path.parent.glob("*.tmp"))  # the intermediate fused fp32 graph is removed
    sentences = ["The jury praised the handling of the city election.", "Who wrote the opera Carmen?",
                 "Photosynthesis turns light into chemical energy in plants.",
                 "The river flooded the lower town twice in the spring of 1927."]
    emb = TextEmbedder(cache=False, backend="onnx-int8")
    cos = (emb.embed(sentences) * TextEmbedder(cache=False, backend="torch").embed(sentences)).sum(axis=1)
    assert cos.mean() >= 0.99 and cos.min() >= 0.97, cos
    cos = (emb.embed(passages[:8]) * torch_vecs[:8]).sum(axis=1)
    assert cos.mean() >= 0.99 and cos.min() >= 0.97, cos


def test_order_and_token_batches_do_not_change_vectors(onnx_root, passages):
    """Length-sorted, token-sized batches: each row is its own text's vector, whatever the batching."""
    emb = TextEmbedder(cache=False, backend="onnx")
    texts = passages[:12]
    whole = emb.embed(texts)
    emb.onnx_.max_batch_tokens = 256  # forces small batches
    rev = emb.embed(texts[::-1])[::-1]
    np.testing.assert_allclose(rev, whole, atol=2e-5)
    lengths = np.array([5, 300, 20, 20, 7, 64, 100, 90])
    batches = list(emb.onnx_.batches(lengths))
    assert sorted(np.concatenate(batches).tolist()) == list(range(8))
    for b in batches:
        assert len(b) == 1 or len(b) * lengths[b].max() <= 256


def test_second_load_reuses_cached_export(onnx_root):
    root, path = onnx_root
    before = path.stat().st_mtime_ns
    again = exported_model(default_model_path(), quantized=True)
    assert again == path and path.stat().st_mtime_ns == before
    assert path.parent.name == cache_key(Path(default_model_path()))
    assert path.is_relative_to(root)


@pytest.fixture(scope="module")
def reexported(onnx_root):
    """The int8 export truncated to half (a crashed copy or a full disk) and exported again with `mycelial -v`
    logging on, once for the module: (path, its size before, valid once truncated, path returned, stderr).
    The two tests below read this one re-export (each made its own: ~5 s apiece)."""
    import contextlib
    import io
    import logging

    from core.log import LOGGER, configure_cli

    _, path = onnx_root
    good = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.truncate(good // 2)
    valid = is_valid(path)
    level, err = LOGGER.level, io.StringIO()
    configure_cli(verbose=1)
    try:
        with contextlib.redirect_stderr(err):  # the CLI's handler writes to the sys.stderr of the moment
            again = exported_model(default_model_path(), quantized=True)
    finally:
        LOGGER.setLevel(level or logging.NOTSET)
    return path, good, valid, again, err.getvalue()


def test_corrupt_cached_file_is_re_exported(reexported, passages):
    path, good, valid, again, _ = reexported
    assert not valid
    assert again == path and is_valid(path) and path.stat().st_size == good
    v = TextEmbedder(cache=False, backend="onnx-int8").embed(passages[:4])
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


def test_embedding_cache_is_kept_per_backend(onnx_root, passages, tmp_path):
    db = tmp_path / "emb.sqlite"
    a = TextEmbedder(cache=db, backend="onnx-int8").embed(passages[:3])
    b = TextEmbedder(cache=db, backend="torch").embed(passages[:3])
    assert not np.array_equal(a, b)  # torch did not read the int8 vectors back
    np.testing.assert_array_equal(TextEmbedder(cache=db, backend="onnx-int8").embed(passages[:3]), a)


def test_bad_backend_is_a_clear_error():
    with pytest.raises(ValueError, match="backend must be one of torch, onnx, onnx-int8"):
        TextEmbedder(backend="tensorrt")


def test_memory_records_backend_and_refuses_another(onnx_root, passages, tmp_path):
    from core.memory import SemanticMemory
    from core.reasoning.mycelial import MycelialVQVAE

    codec = MycelialVQVAE.load_default()
    folder = tmp_path / "mem"
    with SemanticMemory(folder, embedder=TextEmbedder(cache=False, backend="onnx-int8"), codec=codec) as m:
        m.ingest([{"id": "p0", "text": passages[0]}, {"id": "p1", "text": passages[1]}], progress=False)
    with pytest.raises(ValueError, match="embedded with backend 'onnx-int8'.*--embedder onnx-int8"):
        SemanticMemory(folder, embedder=TextEmbedder(cache=False, backend="torch"), codec=codec)
    with SemanticMemory(folder, codec=codec) as m:  # no embedder given: the recorded one
        assert m.embedder.backend == "onnx-int8"
        assert m.recall(passages[1], k=1, mode="similar")[0].doc_id == "p1"

    from core.cli import cli

    res = CliRunner().invoke(cli, ["recall", "anything", "--memory", str(folder), "--embedder", "onnx"])
    assert res.exit_code == 1 and "embedded with backend 'onnx-int8'" in res.output
    assert "Traceback" not in res.output
    assert os.environ["MYCELIAL_CACHE_DIR"] == str(onnx_root[0])


def test_checksum_sidecar_skips_rehash_only_while_size_and_mtime_hold(tmp_path):
    """A checked file is not hashed again on every load (0.15 s of a CLI query); any rewrite is."""
    from core.embedding_onnx import _commit, _sidecar

    tmp, final = tmp_path / "m.tmp", tmp_path / "m.onnx"
    tmp.write_bytes(b"x" * 4096)
    _commit(tmp, final, {})
    meta = json.loads(_sidecar(final).read_text())
    assert meta["mtime_ns"] == final.stat().st_mtime_ns and is_valid(final)
    with open(final, "r+b") as fh:  # same size, other bytes, a later mtime: hashed and refused
        fh.write(b"y")
    os.utime(final, ns=(meta["mtime_ns"] + 10**9, meta["mtime_ns"] + 10**9))
    assert not is_valid(final)
    final.write_bytes(b"x" * 4096)  # the right bytes again: hashed, valid, stamped with the new mtime
    del meta["mtime_ns"]
    _sidecar(final).write_text(json.dumps(meta))  # a sidecar written before stamps existed
    assert is_valid(final)
    assert json.loads(_sidecar(final).read_text())["mtime_ns"] == final.stat().st_mtime_ns
    assert is_valid(final, full=True)


def test_is_exported_tells_without_exporting(onnx_root, tmp_path):
    from core.embedding_onnx import is_exported

    assert is_exported(default_model_path(), quantized=True) and is_exported(default_model_path(), quantized=False)
    assert not is_exported(default_model_path(), quantized=False, root=tmp_path)  # an empty cache folder
    assert not list(tmp_path.iterdir())  # and nothing was exported into it
    assert not is_exported(tmp_path / "no_model", quantized=False)


def test_an_export_logs_through_the_mycelial_logger_the_cli_formats(reexported):
    # `core.embedding_onnx` was outside `mycelial`: `mycelial -v` did not show "exported ..." as its own lines
    path, *_, err = reexported  # a crashed copy, exported again
    assert "INFO mycelial.embedding.onnx: fused operators before quantization: " in err, err
    assert f"INFO mycelial.embedding.onnx: exported {path} in " in err, err
