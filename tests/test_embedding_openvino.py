"""OpenVINO int8 backend: cosine to torch on real text, the quantized-model cache, memory binding.

The model is quantized once per module into a temporary cache folder, calibrated on 24 of
the shipped calibration text's 300 chunks (same code path, ~10 s of CPU), with
MYCELIAL_DATA_DIR pointing at an empty folder: a build needs no shared corpus. The cosine
bar below holds for both. The fp32 ONNX file it starts from is a copy of the session's fresh
export (conftest's ``fresh_onnx_export``), not a second export.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.config import data_file
from core.embedding import TextEmbedder, default_model_path
from core.embedding_onnx import is_valid
from core.embedding_openvino import (BROWN_RECIPE, CALIBRATION_FILE, OpenVinoEncoder, calibration_texts, is_built,
                                     model_folder, quantized_model, recipe)

CAL = 24


@pytest.fixture(scope="module")
def texts():
    """Real text: 4 sentences and 12 MuSiQue passages (20 to 200+ word pieces)."""
    with open(data_file("multihop_dev/musique_train_corpus.json"), encoding="utf-8") as fh:
        recs = json.load(fh)[:12]
    return ["The jury praised the handling of the city election.", "Who wrote the opera Carmen?",
            "Photosynthesis turns light into chemical energy in plants.",
            "The river flooded the lower town twice in the spring of 1927."] + \
        [f"{r['title']}. {r['text']}" for r in recs]


@pytest.fixture(scope="module")
def ov_root(tmp_path_factory, texts, fresh_onnx_export):
    """A private MYCELIAL_CACHE_DIR holding one quantized model for the whole module, built from the
    shipped calibration text with no shared corpus reachable (MYCELIAL_DATA_DIR is an empty folder)."""
    import shutil

    root = tmp_path_factory.mktemp("mycelial_cache")
    shutil.copytree(fresh_onnx_export / "onnx", root / "onnx")  # the fp32 export the build reads
    mp, no_data = pytest.MonkeyPatch(), pytest.MonkeyPatch()
    mp.setenv("MYCELIAL_CACHE_DIR", str(root))
    no_data.setenv("MYCELIAL_DATA_DIR", str(tmp_path_factory.mktemp("no_shared_data")))
    try:
        with pytest.raises(FileNotFoundError, match="MYCELIAL_DATA_DIR"):
            calibration_texts(rec=BROWN_RECIPE)  # the previous recipe needed the corpus
        enc = OpenVinoEncoder(default_model_path(), threads=2, calibration_chunks=CAL)
    finally:
        no_data.undo()
    yield root, enc
    mp.undo()


def test_shipped_calibration_text_is_the_recipe(ov_root):
    """The recipe names the packaged text and its SHA-256 (an edited text rebuilds), the build records it."""
    import hashlib

    _, enc = ov_root
    cal = recipe()["calibration"]
    assert cal["text"] == CALIBRATION_FILE.name == "embedding_calibration.txt" and CALIBRATION_FILE.is_file()
    assert cal["sha256"] == hashlib.sha256(CALIBRATION_FILE.read_bytes()).hexdigest()
    texts = calibration_texts()
    assert len(texts) == cal["chunks"] == 300 and len(set(texts)) == 300 and all(t.strip() for t in texts)
    some = calibration_texts(CAL)  # spread over the whole file, not its first register only
    assert len(some) == CAL and some[0] == texts[0] and some[-1] in texts[-300 // CAL:]
    meta = json.loads(enc.path.with_name(enc.path.name + ".json").read_text())
    assert meta["recipe"]["calibration"] == recipe(CAL)["calibration"] and enc.recipe == recipe(CAL)
    # the Brown-calibrated builds of the previous recipe live under another key: never reused
    assert model_folder(default_model_path(), base=BROWN_RECIPE) != model_folder(default_model_path())
    assert "corpus" not in cal and BROWN_RECIPE["version"] != recipe()["version"]
    # pyproject ships it in the wheel
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    assert CALIBRATION_FILE.name in pyproject["tool"]["setuptools"]["package-data"]["core"]


def test_int8_holds_cosine_bar_to_torch(ov_root, texts):
    _, enc = ov_root
    v = enc.encode(texts)
    assert v.shape == (len(texts), 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    cos = (v * TextEmbedder(cache=False, backend="torch").embed(texts)).sum(axis=1)
    assert cos.mean() >= 0.99 and cos.min() >= 0.97, cos
    # the model really is int8: quantize/dequantize pairs around the MatMuls
    import openvino as ov

    ops = [op.get_type_name() for op in ov.Core().read_model(str(enc.path)).get_ops()]
    assert ops.count("FakeQuantize") >= 36, ops.count("FakeQuantize")


def test_rows_do_not_depend_on_batch_mates(ov_root, texts):
    """Static activation scales: a text's vector is the same alone or in a batch of long passages."""
    _, enc = ov_root
    whole = enc.encode(texts)
    alone = np.stack([enc.encode([t])[0] for t in texts[:5]])
    assert np.abs(alone - whole[:5]).max() < 2e-3
    assert enc.streams == 2  # batches ran on two streams, out of order; rows still land in place
    one = OpenVinoEncoder(default_model_path(), threads=1, max_batch_tokens=512, calibration_chunks=CAL)
    assert one.streams == 1
    v1 = one.encode(texts)  # other batches (other padding), one stream: each row is still its own text's
    assert (v1 * whole).sum(axis=1).min() > 0.9995 and np.abs(v1 - whole).max() < 5e-3


def test_a_query_does_not_wait_for_a_long_encode(ov_root, texts):
    """A one-batch encode (a query) runs on its own request: served beside an ingest it used to wait
    for the whole ingest call's lock (p50 1.5 s); now it waits for a stream's batch at most. Both
    results equal the same encodes run alone (the two requests never share an output)."""
    import threading
    import time

    _, enc = ov_root
    long = texts[4:] * 20  # 240 passages, ~25 batches of 2,048 tokens: ~1 s, the query comes 0.2 s in
    query = texts[1]
    expected_long, expected_query = enc.encode(long), enc.encode([query])
    finished = {}

    def ingest():
        finished["long"] = (enc.encode(long), time.perf_counter())

    worker = threading.Thread(target=ingest)
    worker.start()
    time.sleep(0.2)  # the long encode holds the queue
    got = enc.encode([query])
    finished["query"] = time.perf_counter()
    worker.join()
    assert finished["query"] < finished["long"][1], "the query waited for the long encode"
    np.testing.assert_allclose(got, expected_query, atol=1e-6)
    np.testing.assert_allclose(finished["long"][0], expected_long, atol=1e-6)


def test_a_dropped_encoder_is_freed(ov_root, texts):
    """The async queue's callback held the encoder: every TextEmbedder made and dropped kept its
    model (116 MB) for the life of the process."""
    import gc
    import weakref

    enc = OpenVinoEncoder(default_model_path(), threads=2, calibration_chunks=CAL)
    assert enc.encode(texts[:6]).shape == (6, 384)
    ref = weakref.ref(enc)
    del enc
    gc.collect()
    assert ref() is None


def test_cache_is_reused_and_keyed_by_recipe(ov_root):
    root, enc = ov_root
    before = enc.path.stat().st_mtime_ns
    assert quantized_model(default_model_path(), calibration_chunks=CAL) == enc.path
    assert enc.path.stat().st_mtime_ns == before and enc.path.is_relative_to(root)
    assert is_built(default_model_path(), calibration_chunks=CAL)
    assert not is_built(default_model_path())  # the shipped recipe (300 chunks) is another file
    assert model_folder(default_model_path()) != enc.path.parent
    assert recipe()["calibration"]["chunks"] == 300 and recipe(CAL)["calibration"]["chunks"] == CAL
    assert not list(enc.path.parent.glob("*.tmp*"))
    # the compiled model is cached too, under the model's SHA-256 (a rebuilt model never loads another's)
    sha = json.loads(enc.path.with_name("model.int8.bin.json").read_text())["sha256"]
    assert [p.name for p in enc.path.parent.glob("compiled-*")] == [f"compiled-{sha[:16]}"]
    assert any(enc.path.parent.glob(f"compiled-{sha[:16]}/*.blob"))
    with pytest.raises(ValueError, match="calibration_chunks"):
        recipe(0)


def test_a_model_reached_through_a_symlink_reuses_its_compiled_blob(ov_root, tmp_path):
    """OpenVINO names a compiled blob by the model's path as given: every linked cache folder (the test
    suite links the developer's) wrote another 59 MB blob beside the model; 440 of them filled 26 GB."""
    _, enc = ov_root
    exports = enc.path.parent.parent
    blobs = lambda: sorted(p.name for p in enc.path.parent.glob("compiled-*/*.blob"))  # noqa: E731
    before = blobs()
    assert before
    for name in ("link_a", "link_b"):
        (tmp_path / name).symlink_to(exports, target_is_directory=True)
        linked = OpenVinoEncoder(default_model_path(), threads=2, calibration_chunks=CAL, root=tmp_path / name)
        assert linked.path.resolve() == enc.path.resolve()
    assert blobs() == before


def test_compiled_blobs_are_pruned_to_the_most_recently_used(tmp_path):
    """OpenVINO never deletes a blob (a config no longer used, one half-written by a killed process)."""
    import os
    import time

    from core.embedding_openvino import MAX_COMPILED_BLOBS, prune_blobs

    now = time.time()
    for i in range(11):
        blob = tmp_path / f"{i}.blob"
        blob.write_bytes(b"x")
        os.utime(blob, (now - 3600 + i, now - 3600 + i))
    os.utime(tmp_path / "0.blob", (now, now - 3600))  # the oldest written, but read last: kept
    (tmp_path / "model.int8.xml").write_text("<not a blob/>")
    assert prune_blobs(tmp_path, keep=8) == 3
    assert sorted(p.name for p in tmp_path.glob("*.blob")) == sorted(f"{i}.blob" for i in (0, *range(4, 11)))
    assert (tmp_path / "model.int8.xml").exists()
    # the default keeps two (one blob serves every stream count and batch; two for a second config)
    assert MAX_COMPILED_BLOBS == 2 and prune_blobs(tmp_path) == 6
    assert sorted(p.name for p in tmp_path.glob("*.blob")) == ["0.blob", "10.blob"]


def test_a_blob_unused_for_a_week_goes_but_the_last_used_stays(tmp_path):
    """Under the count a blob stayed for good: the 8 of paths no longer used (453 MB) were never removed."""
    import os
    import time

    from core.embedding_openvino import prune_blobs

    week = 7 * 86_400
    for name, age in (("recent", 60), ("stale", week + 60)):
        (tmp_path / f"{name}.blob").write_bytes(b"x")
        os.utime(tmp_path / f"{name}.blob", (time.time() - age,) * 2)
    assert prune_blobs(tmp_path) == 1 and [p.name for p in tmp_path.glob("*.blob")] == ["recent.blob"]
    os.utime(tmp_path / "recent.blob", (time.time() - 2 * week,) * 2)  # the last used stays, however old
    assert prune_blobs(tmp_path) == 0 and (tmp_path / "recent.blob").exists()


def test_one_blob_serves_every_stream_count_and_batch_and_old_builds_go(ov_root, texts, tmp_path):
    """Real compiles through the cache: 1 and 2 streams, batches of 1 to 300 texts, a model rebuilt with
    other bytes (its ``compiled-<sha>`` folder can never be loaded again: it went only with the export)."""
    import shutil

    _, enc = ov_root
    folder = tmp_path / "openvino" / enc.path.parent.name
    folder.mkdir(parents=True)
    for f in enc.path.parent.glob("model.int8.*"):
        shutil.copy2(f, folder / f.name)
    stale = folder / "compiled-0123456789abcdef"
    stale.mkdir()
    (stale / "1.blob").write_bytes(b"x" * 1000)
    for threads in (1, 2, 1):
        e = OpenVinoEncoder(default_model_path(), threads=threads, calibration_chunks=CAL, root=tmp_path / "openvino")
        for n in (1, 7, 64, 300):
            assert e.encode((texts * 20)[:n]).shape == (n, 384)
        del e
    compiled = sorted(p.name for p in folder.glob("compiled-*"))
    assert compiled == [next(enc.path.parent.glob("compiled-*")).name], compiled
    assert len(list(folder.glob("compiled-*/*.blob"))) == 1


def test_corrupt_cached_weights_are_rebuilt(ov_root, texts):
    _, enc = ov_root
    bin_ = enc.path.with_suffix(".bin")
    good = bin_.read_bytes()
    with open(bin_, "r+b") as fh:  # truncated: a crashed copy or a full disk
        fh.truncate(len(good) // 2)
    assert not is_valid(bin_) and not is_built(default_model_path(), calibration_chunks=CAL)
    again = OpenVinoEncoder(default_model_path(), threads=2, calibration_chunks=CAL)
    assert again.path == enc.path and is_valid(bin_) and bin_.stat().st_size == len(good)
    np.testing.assert_allclose(again.encode(texts[:4]), enc.encode(texts[:4]), atol=1e-5)


def test_memory_records_backend_and_refuses_another(ov_root, texts, tmp_path, monkeypatch):
    from core.memory import SemanticMemory
    from core.reasoning.mycelial import MycelialVQVAE

    emb = TextEmbedder(cache=False, backend="openvino-int8")
    emb._onnx = ov_root[1]  # the module's model (the shipped recipe would calibrate on 300 chunks)
    codec = MycelialVQVAE.load_default()
    folder = tmp_path / "mem"
    with SemanticMemory(folder, embedder=emb, codec=codec) as m:
        m.ingest([{"id": "p0", "text": texts[4]}, {"id": "p1", "text": texts[5]}], progress=False)
        assert m.recall(texts[5], k=1, mode="similar")[0].doc_id == "p1"
    with pytest.raises(ValueError, match="embedded with backend 'openvino-int8'.*--embedder openvino-int8"):
        SemanticMemory(folder, embedder=TextEmbedder(cache=False, backend="onnx-int8"), codec=codec)


def test_missing_openvino_names_the_extra(monkeypatch, tmp_path):
    import sys

    from core._extras import MissingExtraError

    monkeypatch.setitem(sys.modules, "openvino", None)  # what an install without the extra looks like
    with pytest.raises(MissingExtraError, match=r"pip install 'mycelial\[openvino\]'"):
        OpenVinoEncoder(default_model_path(), root=tmp_path)


def test_a_compile_logs_through_the_mycelial_logger_the_cli_formats(ov_root, tmp_path, capsys):
    # `core.embedding_openvino` was outside `mycelial`: `mycelial -vv` did not show its lines as its own
    import logging
    import shutil

    import openvino as ov

    from core.embedding_openvino import _compile
    from core.log import LOGGER, configure_cli

    _, enc = ov_root
    for suffix in (".xml", ".bin"):  # no checksum sidecar: the compiled-model cache is not used
        shutil.copy(enc.path.with_suffix(suffix), tmp_path / f"model.int8{suffix}")
    level = LOGGER.level
    configure_cli(verbose=2)
    try:
        capsys.readouterr()
        _compile(ov, tmp_path / "model.int8.xml", {})
        err = capsys.readouterr().err
    finally:
        LOGGER.setLevel(level or logging.NOTSET)
    assert "DEBUG mycelial.embedding.openvino: compiled-model cache unusable (" in err, err
