"""OpenVINO backend ("openvino-int8"): the ONNX export, statically quantized to int8 by NNCF.

Static quantization fixes each activation's int8 scale from calibration text once, instead
of measuring it per batch as ONNX Runtime's dynamic int8 does; the OpenVINO CPU plugin then
runs every MatMul and the attention blocks in int8 (VNNI where the CPU has it). On the
2-core AVX-512-VNNI test machine it is ~1.7x the chunks/s of "onnx-int8" (8.6 vs 15 ms CPU per
chunk) and closer to the fp32 vectors: cosine .997 mean / .990 min (figures in notes/embed-6.md).

Built at first use from the cached fp32 ONNX export (``core.embedding_onnx``, no hub
download), calibrated on chunks of the shared Brown corpus (not the multi-hop corpora the
benchmarks query), and cached under ``<cache_dir>/openvino/<key>/`` where the key names the
weights, the ONNX export recipe and ``RECIPE``; each file has a SHA-256 sidecar, a corrupt
file is rebuilt, and files are written under temporary names and renamed.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

from core.config import cache_dir
from core.embedding_onnx import PooledEncoder, _commit, cache_key, exported_model, is_valid

# Bump "version" when the recipe changes: the cache key includes all of it.
RECIPE = {"version": "1", "preset": "mixed", "model_type": "transformer",
          "calibration": {"corpus": "brown", "chunks": 300, "per_document": 5, "seed": 1, "batch_tokens": 2048}}
_log = logging.getLogger(__name__)
_build_lock = threading.Lock()


def _require(module: str):
    """Import openvino or nncf (the ``openvino`` extra), or raise `MissingExtraError` naming it."""
    import importlib

    from core._extras import MissingExtraError

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(f"backend 'openvino-int8' needs {module}, an optional part of mycelial; "
                                f"install it with: pip install 'mycelial[openvino]'") from exc


def calibration_texts(n: int | None = None) -> list[str]:
    """``n`` real chunks (the memory's chunker) of randomly picked Brown documents, a few from each.

    Only the picked documents are chunked (chunking all 500 takes ~20-45 s on 2 shared cores).
    """
    from core.datasets import brown_documents
    from core.memory.chunking import chunk_text

    cal = RECIPE["calibration"]
    n, per_doc = cal["chunks"] if n is None else int(n), cal["per_document"]
    docs = brown_documents()
    rng = np.random.default_rng(cal["seed"])
    out: list[str] = []
    for d in rng.permutation(len(docs)):
        chunks = chunk_text(docs[d].text)
        out += [chunks[j] for j in sorted(rng.choice(len(chunks), size=min(per_doc, len(chunks)), replace=False))]
        if len(out) >= n:
            break
    return out[:n]


def recipe(calibration_chunks: int | None = None) -> dict:
    """RECIPE, with another number of calibration chunks if given (tests calibrate on a few)."""
    if calibration_chunks is None:
        return RECIPE
    if int(calibration_chunks) < 1:
        raise ValueError(f"calibration_chunks must be >= 1, got {calibration_chunks!r}")
    return {**RECIPE, "calibration": {**RECIPE["calibration"], "chunks": int(calibration_chunks)}}


def model_folder(model_dir, root: Path | None = None, calibration_chunks: int | None = None) -> Path:
    key = cache_key(Path(model_dir), {"openvino": recipe(calibration_chunks)})
    return (Path(root) if root else cache_dir() / "openvino") / key


def _quantize(model_dir: Path, onnx_fp32: Path, xml: Path, rec: dict) -> None:
    ov, nncf = _require("openvino"), _require("nncf")

    batcher = PooledEncoder(model_dir, max_batch_tokens=rec["calibration"]["batch_tokens"])
    data = [feed for _, feed in batcher.feeds(calibration_texts(rec["calibration"]["chunks"]))]
    model = ov.Core().read_model(str(onnx_fp32))
    nncf_log = logging.getLogger("nncf")
    level = nncf_log.level
    nncf_log.setLevel(max(level, logging.WARNING))  # its INFO lines go to stdout
    try:  # its progress bars (rich, on sys.stdout) to stderr: stdout is a command's answer
        with contextlib.redirect_stdout(sys.stderr):
            quantized = nncf.quantize(model, nncf.Dataset(data), preset=nncf.QuantizationPreset.MIXED,
                                      model_type=nncf.ModelType.TRANSFORMER, subset_size=len(data))
    finally:
        nncf_log.setLevel(level)
    tmp = xml.with_name(f"{xml.stem}.{os.getpid()}.tmp.xml")
    try:
        ov.save_model(quantized, str(tmp))  # writes tmp and its .bin beside it
        meta = {"openvino": ov.__version__, "nncf": nncf.__version__, "recipe": rec}
        # the weights first: a valid .xml then always has its .bin
        _commit(tmp.with_suffix(".bin"), xml.with_suffix(".bin"), meta)
        _commit(tmp, xml, meta)
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_suffix(".bin").unlink(missing_ok=True)


def is_built(model_dir, root: Path | None = None, calibration_chunks: int | None = None) -> bool:
    """True when the int8 OpenVINO model for ``model_dir`` is cached and intact (nothing is built)."""
    try:
        xml = model_folder(model_dir, root, calibration_chunks) / "model.int8.xml"
    except (ValueError, OSError):
        return False
    return is_valid(xml.with_suffix(".bin")) and is_valid(xml)


def quantized_model(model_dir, root: Path | None = None, onnx_root: Path | None = None,
                    calibration_chunks: int | None = None) -> Path:
    """Path of the cached int8 OpenVINO model (.xml, .bin beside it); built if missing or corrupt."""
    model_dir = Path(model_dir)
    rec = recipe(calibration_chunks)
    xml = model_folder(model_dir, root, calibration_chunks) / "model.int8.xml"
    with _build_lock:
        if is_valid(xml.with_suffix(".bin")) and is_valid(xml):
            return xml
        xml.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        onnx_fp32 = exported_model(model_dir, quantized=False, root=onnx_root)
        _quantize(model_dir, onnx_fp32, xml, rec)
        _log.info("built %s in %.1f s", xml, time.perf_counter() - t0)
    return xml


class OpenVinoEncoder(PooledEncoder):
    """The int8 model in OpenVINO's CPU plugin: ``threads`` streams of one thread each.

    Batches go to the streams asynchronously, each stream running one batch on one core:
    1.2x the chunks/s of one stream with two threads on 2 shared cores (threads of one stream
    wait for each other at every operator). ``threads=1`` (one query) is one stream.
    """

    def __init__(self, model_dir, max_seq_length: int | None = None, max_batch_tokens: int = 8192,
                 threads: int | None = None, root: Path | None = None, onnx_root: Path | None = None,
                 calibration_chunks: int | None = None):
        ov = _require("openvino")
        super().__init__(model_dir, max_seq_length, max_batch_tokens)
        self.path = quantized_model(model_dir, root, onnx_root, calibration_chunks)
        self.streams = max(1, int(threads or os.cpu_count() or 1))
        core = ov.Core()
        # read the weights into memory: a memory-mapped .bin truncated or rewritten in place
        # (a full disk, a user's cleanup) would crash this process with SIGBUS on the next batch
        core.set_property({"ENABLE_MMAP": False})
        model = core.read_model(str(self.path), str(self.path.with_suffix(".bin")))
        self.compiled = core.compile_model(model, "CPU", {"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": self.streams,
                                                          "INFERENCE_NUM_THREADS": self.streams})
        self._queue = ov.AsyncInferQueue(self.compiled, self.streams)
        self._lock = threading.Lock()  # one encode at a time drives the queue

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        errors: list[BaseException] = []

        def done(request, userdata):
            idx, mask = userdata
            try:
                out[idx] = self.pool(request.get_output_tensor(0).data, mask)
            except BaseException as exc:  # raised in OpenVINO's thread: re-raised below
                errors.append(exc)

        with self._lock:
            self._queue.set_callback(done)
            for idx, feed in self.feeds(texts):
                self._queue.start_async(feed, (idx, feed["attention_mask"]))
            self._queue.wait_all()
        if errors:
            raise errors[0]
        return out
