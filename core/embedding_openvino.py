"""OpenVINO backend ("openvino-int8", the default): the ONNX export, statically quantized to int8 by NNCF.

Static quantization fixes each activation's int8 scale from calibration text once, instead
of measuring it per batch as ONNX Runtime's dynamic int8 does; the OpenVINO CPU plugin then
runs every MatMul and the attention blocks in int8 (VNNI where the CPU has it). On the
2-core AVX-512-VNNI test machine it is ~3.4x the chunks/s of torch and ~1.7x "onnx-int8"
at cosine ~.997 mean / ~.99 min to the fp32 vectors (figures in README section 6).

Built at first use from the cached fp32 ONNX export (``core.embedding_onnx``, no hub
download), calibrated on ``embedding_calibration.txt``, shipped with the package: 300
chunks (blank-line separated) of original English written for this purpose: news, fiction
and dialogue, essays, encyclopedic facts with names and dates, questions as typed, chat
messages, technical notes, code documentation, lists, letters, reviews, long passages;
4-124 word pieces, mean 69, most packed by the memory's own chunker as a document's would
be. A build needs no corpus and no network. The
int8 scales depend on it: editing the file changes its SHA-256, which is part of the cache
key, so the model is rebuilt. Cached under ``<cache_dir>/openvino/<key>/`` where the key
names the weights, the ONNX export recipe and the recipe (``recipe()``); each file has a
SHA-256 sidecar, a corrupt file is rebuilt, and files are written under temporary names and
renamed. ``BROWN_RECIPE``, the previous calibration on chunks of the shared Brown corpus,
is kept for benchmarks only (it needs ``MYCELIAL_DATA_DIR``).
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import logging
import os
import shutil
import sys
import threading
import time
import weakref
from pathlib import Path

import numpy as np

from core._exports import STALE_DAYS, hold, prune_stale
from core._io import sweep_dead_temporaries
from core.config import cache_dir
from core.log import get_logger
from core.embedding_onnx import PooledEncoder, _commit, cache_key, exported_model, is_valid

CALIBRATION_FILE = Path(__file__).with_name("embedding_calibration.txt")
# Bump "version" when the recipe changes: the cache key includes all of it (and recipe() adds
# the calibration file's SHA-256, so an edited text rebuilds too).
RECIPE = {"version": "2", "preset": "mixed", "model_type": "transformer",
          "calibration": {"text": CALIBRATION_FILE.name, "chunks": 300, "batch_tokens": 2048}}
# The previous recipe (version 1): 300 chunks of the shared Brown corpus. Benchmarks only.
BROWN_RECIPE = {"version": "1", "preset": "mixed", "model_type": "transformer",
                "calibration": {"corpus": "brown", "chunks": 300, "per_document": 5, "seed": 1,
                                "batch_tokens": 2048}}
MAX_COMPILED_BLOBS = 2  # compiled models kept per int8 model (~59 MB each); see prune_blobs
_log = get_logger("embedding.openvino")  # mycelial.*: `mycelial -v` formats and shows its info lines
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


def _runtime():
    """openvino for running a built model, without its model converter.

    ``import openvino`` also imports ``openvino.tools.ovc`` (``convert_model``, and with it a
    telemetry module that reads the caller's stack from the source files): ~0.07 s of CPU,
    0.15-0.25 s of a command-line query on a loaded machine, for a function nothing here calls.
    openvino skips it when it cannot be imported; the block is lifted at once, so a later
    ``import openvino.tools.ovc`` works as usual."""
    if "openvino" in sys.modules:
        return _require("openvino")
    sys.modules.setdefault("openvino.tools.ovc", None)  # None: "not importable", which openvino tolerates
    try:
        return _require("openvino")
    finally:
        if sys.modules.get("openvino.tools.ovc", 0) is None:
            del sys.modules["openvino.tools.ovc"]


def shipped_calibration_texts() -> list[str]:
    """The shipped calibration chunks: the paragraphs (blank-line separated) of ``CALIBRATION_FILE``."""
    try:
        text = CALIBRATION_FILE.read_text(encoding="utf-8")
    except OSError as exc:
        raise FileNotFoundError(f"the openvino-int8 calibration text {CALIBRATION_FILE} is missing "
                                f"(a broken install? reinstall mycelial)") from exc
    return [c.strip("\n") for c in text.split("\n\n") if c.strip()]


def _file_sha256(path: Path) -> str:
    st = path.stat()
    return _sha256_of(path, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=4)
def _sha256_of(path: Path, mtime_ns: int, size: int) -> str:  # once per file version, not per query
    return hashlib.sha256(path.read_bytes()).hexdigest()


def calibration_texts(n: int | None = None, rec: dict | None = None) -> list[str]:
    """``n`` calibration chunks of recipe ``rec`` (default: ``recipe()``, the shipped text).

    A ``{"corpus": "brown"}`` recipe takes real chunks (the memory's chunker) of randomly picked
    Brown documents, a few from each; only the picked documents are chunked.
    """
    cal = (rec or recipe())["calibration"]
    n = cal["chunks"] if n is None else int(n)
    if cal.get("corpus") != "brown":
        texts = shipped_calibration_texts()
        if len(texts) < n:
            raise ValueError(f"{CALIBRATION_FILE} has {len(texts)} chunks; the recipe wants {n}")
        return [texts[i] for i in (np.arange(n) * len(texts)) // n]  # evenly spread: every register
    from core.datasets import brown_documents
    from core.memory.chunking import chunk_text

    docs = brown_documents()
    rng = np.random.default_rng(cal["seed"])
    out: list[str] = []
    for d in rng.permutation(len(docs)):
        chunks = chunk_text(docs[d].text)
        pick = rng.choice(len(chunks), size=min(cal["per_document"], len(chunks)), replace=False)
        out += [chunks[j] for j in sorted(pick)]
        if len(out) >= n:
            break
    return out[:n]


def recipe(calibration_chunks: int | None = None, base: dict | None = None) -> dict:
    """The build recipe (``base``, default ``RECIPE``), with another number of calibration chunks if
    given (tests calibrate on a few); the shipped text's recipe carries the file's SHA-256."""
    rec = RECIPE if base is None else base
    cal = dict(rec["calibration"])
    if "text" in cal:
        cal["sha256"] = _file_sha256(CALIBRATION_FILE)
    if calibration_chunks is not None:
        if int(calibration_chunks) < 1:
            raise ValueError(f"calibration_chunks must be >= 1, got {calibration_chunks!r}")
        cal["chunks"] = int(calibration_chunks)
    return {**rec, "calibration": cal}


def model_folder(model_dir, root: Path | None = None, calibration_chunks: int | None = None,
                 base: dict | None = None) -> Path:
    key = cache_key(Path(model_dir), {"openvino": recipe(calibration_chunks, base)})
    return (Path(root) if root else cache_dir() / "openvino") / key


def _quantize(model_dir: Path, onnx_fp32: Path, xml: Path, rec: dict) -> None:
    ov, nncf = _require("openvino"), _require("nncf")

    batcher = PooledEncoder(model_dir, max_batch_tokens=rec["calibration"]["batch_tokens"])
    data = [feed for _, feed in batcher.feeds(calibration_texts(rec=rec))]
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


def is_built(model_dir, root: Path | None = None, calibration_chunks: int | None = None,
             base: dict | None = None) -> bool:
    """True when the int8 OpenVINO model for ``model_dir`` is cached and intact (nothing is built)."""
    try:
        xml = model_folder(model_dir, root, calibration_chunks, base) / "model.int8.xml"
    except (ValueError, OSError):
        return False
    return is_valid(xml.with_suffix(".bin")) and is_valid(xml)


def quantized_model(model_dir, root: Path | None = None, onnx_root: Path | None = None,
                    calibration_chunks: int | None = None, base: dict | None = None) -> Path:
    """Path of the cached int8 OpenVINO model (.xml, .bin beside it); built if missing or corrupt."""
    model_dir = Path(model_dir)
    rec = recipe(calibration_chunks, base)
    xml = model_folder(model_dir, root, calibration_chunks, base) / "model.int8.xml"
    with _build_lock:
        hold(xml.parent)  # in use by this process: another version's prune_stale leaves it
        sweep_dead_temporaries(xml.parent)  # of a build killed halfway (a scan of a few files)
        if not (is_valid(xml.with_suffix(".bin")) and is_valid(xml)):
            t0 = time.perf_counter()
            onnx_fp32 = exported_model(model_dir, quantized=False, root=onnx_root)
            _quantize(model_dir, onnx_fp32, xml, rec)
            _log.info("built %s in %.1f s", xml, time.perf_counter() - t0)
        prune_stale(xml.parent)  # the folders of earlier recipes or weights of this model, unused for a week
    return xml


def _compile(ov, xml: Path, config: dict):
    """The compiled model, through OpenVINO's compiled-model cache beside the model files.

    Compiling the int8 graph costs ~1.5 s of CPU (5-6 s at load 10), loading the cached
    compiled blob a fifth of that: every process that embeds (a command-line query, a server
    start) pays it. The cache folder is named by the model's SHA-256, so a rebuilt model never
    loads another's blob; a cache that cannot be written or read falls back to compiling.
    """
    import json

    def core_with(cache: Path | None):
        core = ov.Core()
        # read the weights into memory: a memory-mapped file truncated or rewritten in place
        # (a full disk, a user's cleanup) would crash this process with SIGBUS on the next batch
        core.set_property({"ENABLE_MMAP": False} | ({"CACHE_DIR": str(cache)} if cache else {}))
        return core

    # OpenVINO names a blob by the model file's path as given: reached through a symlink (a linked
    # cache folder, as the test suite's), every new path wrote another 59 MB blob (440 of them, 26 GB)
    xml = xml.resolve()
    try:
        sha = json.loads(xml.with_suffix(".bin.json").read_text())["sha256"][:16]
        folder = xml.parent / f"compiled-{sha}"
        compiled = core_with(folder).compile_model(str(xml), "CPU", config)
        prune_blobs(folder)
        _drop_other_builds(folder)
        return compiled
    except Exception as exc:  # noqa: BLE001 - a read-only or damaged cache: compile without it
        _log.debug("compiled-model cache unusable (%s); compiling", exc)
    return core_with(None).compile_model(str(xml), "CPU", config)


def prune_blobs(folder: Path, keep: int = MAX_COMPILED_BLOBS, days: float = STALE_DAYS) -> int:
    """Delete the compiled blobs of ``folder`` beyond the ``keep`` most recently used, and any but the
    most recent unused for ``days``; returns how many went.

    OpenVINO names a blob by the model's path and the compile options that change the compiled code
    (not the streams or threads, nor the batch shapes: one blob serves every ingest and query), and
    never deletes one. What piled up was blobs no run will load again: of paths no longer used (a
    symlinked cache folder, before the path was resolved: 8 kept, 453 MB) or of other options or
    OpenVINO versions. Last use is max(mtime, atime); a blob in use whose atime was not updated
    (noatime) is compiled and written again at worst. A blob being read by another process stays
    readable (its open file)."""
    blobs = []
    for path in folder.glob("*.blob"):
        try:
            st = path.stat()
        except FileNotFoundError:  # another process pruned it
            continue
        blobs.append((max(st.st_mtime, st.st_atime), path))
    blobs.sort(reverse=True)
    old = time.time() - days * 86_400
    gone = 0
    for i, (used, path) in enumerate(blobs):
        if i == 0 or (i < keep and used > old):
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            gone += 1
    return gone


def _drop_other_builds(folder: Path) -> None:
    """Remove the ``compiled-<sha>`` folders beside ``folder`` of earlier builds of the model file: their
    blobs are keyed to weights that are no longer there (a rebuild with another NNCF), never loaded again."""
    for other in folder.parent.glob("compiled-*"):
        if other.name != folder.name and other.is_dir() and not other.is_symlink():
            shutil.rmtree(other, ignore_errors=True)


def _drain_at_exit() -> None:
    """Wait for every live encoder's encode in flight before the interpreter finalises (``atexit``).

    OpenVINO's threads never run Python (``encode`` sets no callback), so once an encode returns
    nothing of OpenVINO needs the GIL; what is left is an encode of another thread (a daemon
    thread's batch) still waiting for its requests: it finishes before the interpreter goes."""
    for enc in list(_live):
        enc.drain()


_live: "weakref.WeakSet[OpenVinoEncoder]" = weakref.WeakSet()
_exit_hook = False


class OpenVinoEncoder(PooledEncoder):
    """The int8 model in OpenVINO's CPU plugin: ``threads`` streams of one thread each.

    Batches go to the streams asynchronously, each stream running one batch on one core:
    1.2x the chunks/s of one stream with two threads on 2 shared cores (threads of one stream
    wait for each other at every operator). ``threads=1`` (one query) is one stream.

    Batches hold at most 2,048 padded tokens (ONNX Runtime's 8,192 suit one session of two
    threads): an ingest batch of 256 chunks is ~7,500 tokens, one or two 8,192-token batches,
    which left a stream idle most of the call; in ingests of 256 / 1,024-chunk batches the model
    ran 1.45x / 1.08x faster with 2,048 (a loaded run; the README's embedding section).

    An encode of one batch (a query) runs on a request of its own, so a server's query never waits
    for an ingest's whole call (README: p50 1,378 -> 103 ms beside an ingest).
    """

    def __init__(self, model_dir, max_seq_length: int | None = None, max_batch_tokens: int = 2048,
                 threads: int | None = None, root: Path | None = None, onnx_root: Path | None = None,
                 calibration_chunks: int | None = None, base_recipe: dict | None = None):
        ov = _runtime()
        super().__init__(model_dir, max_seq_length, max_batch_tokens)
        self.recipe = recipe(calibration_chunks, base_recipe)
        self.path = quantized_model(model_dir, root, onnx_root, calibration_chunks, base_recipe)
        self.streams = max(1, int(threads or os.cpu_count() or 1))
        config = {"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": self.streams, "INFERENCE_NUM_THREADS": self.streams}
        self.compiled = _compile(ov, self.path, config)
        self._queue = ov.AsyncInferQueue(self.compiled, self.streams)
        self._lock = threading.Lock()  # one encode at a time drives the queue
        self._solo = self.compiled.create_infer_request()  # one-batch encodes (queries) skip the queue
        self._solo_lock = threading.Lock()
        global _exit_hook
        if not _exit_hook:  # once a process
            import atexit

            atexit.register(_drain_at_exit)
            _exit_hook = True
        _live.add(self)

    def drain(self) -> None:
        """Wait for the encodes in flight: each holds its lock until its requests are done and read.
        Nothing is freed."""
        with self._lock, self._solo_lock:
            pass

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        feeds = iter(self.feeds(texts))
        first = next(feeds, None)
        second = next(feeds, None)
        if first is not None and second is None:
            # one batch (a query) runs on its own request: it waits for a stream's batch at
            # most, not for the lock an ingest holds through its whole call
            idx, feed = first
            with self._solo_lock:
                self._solo.infer(feed)
                out[idx] = self.pool(self._solo.get_output_tensor(0).data, feed["attention_mask"])
            return out
        # No Python callback (``set_callback``): OpenVINO's threads then never take the GIL, so none
        # can be caught by the interpreter's finalisation ("terminate called without an active
        # exception", exit 134). Each batch's request is read here once it is the next one idle.
        queue = self._queue
        pending: list = [None] * len(queue)  # per request: (idx, mask) of the batch it runs

        def collect(i: int) -> None:
            idx, mask = pending[i]
            pending[i] = None
            out[idx] = self.pool(queue[i].get_output_tensor(0).data, mask)

        with self._lock:
            try:
                for idx, feed in itertools.chain((b for b in (first, second) if b is not None), feeds):
                    i = queue.get_idle_request_id()  # the request start_async takes next (it waits)
                    if pending[i] is not None:
                        collect(i)
                    tag = (idx, feed["attention_mask"])
                    queue.start_async(feed, tag)
                    if queue.userdata[i] is not tag:  # never seen: the queue took another request
                        raise RuntimeError("openvino's AsyncInferQueue started a batch on an unexpected request")
                    pending[i] = tag
            finally:
                queue.wait_all()
            for i in range(len(queue)):
                if pending[i] is not None:
                    collect(i)
        return out
