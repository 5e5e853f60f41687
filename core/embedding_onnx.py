"""ONNX Runtime backends ("onnx", "onnx-int8") for a BERT-style sentence-transformers model.

The ONNX graph is exported locally from the packaged weights at first use (no hub
download) and cached under ``<cache_dir>/onnx/<key>/``, where the key names the model
weights' hash and the export recipe, so a new recipe or new weights never reuse a stale
file. Each cached file has a JSON sidecar with its SHA-256: a truncated or corrupt file
fails the check and is exported again. Files are written to a temporary name and
renamed, so a crash never leaves a half-written file under the final name.

Pooling matches sentence-transformers (mean over the attention mask, then L2 norm);
batches are sorted by token length and sized by tokens, so little time goes on padding.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from pathlib import Path

import numpy as np

from core._exports import hold, prune_stale
from core._io import sweep_dead_temporaries
from core.config import cache_dir
from core.log import get_logger

# Bump when the export or quantization recipe changes: the cache key includes it.
EXPORTER_VERSION = "2"
OPSET = 17
# Per-channel int8 weights on the MatMuls and fused Attentions (embeddings and LayerNorms
# stay fp32): per-tensor int8 loses ~5 points of cosine to fp32 on this model (notes/embedder.md).
QUANT_CONFIG = {"per_channel": True, "reduce_range": True, "op_types_to_quantize": ["MatMul", "Attention"]}
# Before quantizing, ONNX Runtime's BERT optimizer fuses the graph (EmbedLayerNormalization,
# Attention, SkipLayerNormalization, BiasGelu) and the Attentions become int8 QAttention:
# 1.10-1.19x the unfused int8 graph's chunks/s at the same cosine; fusing with the Attentions
# left fp32 was slower (0.92x). Figures in notes/fused-5.md. Heads and width: config.json.
FUSION = {"model_type": "bert", "opt_level": 0}
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_log = get_logger("embedding.onnx")  # mycelial.*: `mycelial -v` formats and shows its info lines
_export_lock = threading.Lock()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _weights_file(model_dir: Path) -> Path:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (model_dir / name).is_file():
            return model_dir / name
    raise ValueError(f"no model.safetensors in {model_dir}: the ONNX backends need a local "
                     f"transformers model folder (use backend='torch' for other models)")


def cache_key(model_dir: Path, extra: dict | None = None) -> str:
    """Folder name of the exported files: model name, weights hash, recipe version.

    ``extra`` adds another backend's recipe (e.g. OpenVINO's) to the ONNX export's, so its
    files are rebuilt when either changes.
    """
    w = _weights_file(model_dir)
    st = w.stat()
    # size + first/last MiB: cheap, and changes with any re-trained or swapped weights file
    h = hashlib.sha1(f"{st.st_size}".encode())
    with open(w, "rb") as fh:
        h.update(fh.read(1 << 20))
        fh.seek(max(0, st.st_size - (1 << 20)))
        h.update(fh.read())
    recipe = {"exporter": EXPORTER_VERSION, "opset": OPSET, "quant": QUANT_CONFIG, "fusion": FUSION}
    recipe = json.dumps(recipe | ({"extra": extra} if extra else {}), sort_keys=True)
    h.update(recipe.encode())
    return f"{model_dir.name}-{h.hexdigest()[:16]}"


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def is_valid(path: Path, full: bool = False) -> bool:
    """True when ``path`` exists and matches the size and SHA-256 in its sidecar.

    The sidecar also records the file's mtime at commit; when size and mtime are still
    those, the file is taken as checked without hashing it again (hashing the fp32 model
    costs ~0.15 s, a tenth of a command-line query). A truncated, rewritten or replaced
    file changes them and is hashed; ``full=True`` always hashes.
    """
    side = _sidecar(path)
    if not path.is_file() or not side.is_file():
        return False
    try:
        meta = json.loads(side.read_text())
        st = path.stat()
        if meta["size"] != st.st_size:
            return False
        if not full and meta.get("mtime_ns") == st.st_mtime_ns:
            return True
        if meta["sha256"] != _sha256(path):
            return False
    except (ValueError, KeyError, TypeError, OSError):
        return False
    if meta.get("mtime_ns") != st.st_mtime_ns:  # hashed and good: stamp it so the next check is a stat
        try:
            _write_sidecar(path, {**meta, "mtime_ns": st.st_mtime_ns})
        except OSError:  # a read-only cache folder: hash again next time
            pass
    return True


def _write_sidecar(path: Path, meta: dict) -> None:
    tmp = _sidecar(path).with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, _sidecar(path))


def _commit(tmp: Path, final: Path, extra: dict) -> None:
    """Rename ``tmp`` to ``final``, then write the checksum sidecar (also atomically)."""
    meta = {"size": tmp.stat().st_size, "sha256": _sha256(tmp), **extra}
    os.replace(tmp, final)
    _write_sidecar(final, {**meta, "mtime_ns": final.stat().st_mtime_ns})


class _DropPreprocessHint(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


def _export_fp32(model_dir: Path, out: Path) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from transformers import AutoModel, AutoTokenizer

    # Eager attention: its graph is the pattern ONNX Runtime's attention fusion recognises
    # (the SDPA export is not fused); same arithmetic, so the fp32 graph is as exact.
    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()
    tok = AutoTokenizer.from_pretrained(str(model_dir))

    class _Hidden(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).last_hidden_state

    enc = tok(["a short one", "a longer example sentence for tracing"], padding=True, return_tensors="pt")
    axes = {k: {0: "batch", 1: "tokens"} for k in (*INPUTS, "last_hidden_state")}
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    import warnings

    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            # The legacy TorchScript exporter: no onnxscript needed, and exact to ~3e-6 here.
            torch.onnx.export(_Hidden(model), tuple(enc[k] for k in INPUTS), str(tmp), input_names=list(INPUTS),
                              output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=OPSET,
                              dynamo=False)
        _commit(tmp, out, {"torch": torch.__version__, "exporter": EXPORTER_VERSION})
    finally:
        tmp.unlink(missing_ok=True)  # an interrupted export left it in the cache


def _fuse(src: Path, out: Path, model_dir: Path) -> dict:
    """Write ONNX Runtime's fused BERT graph of ``src`` to ``out``; returns the fused-operator counts."""
    from onnxruntime.transformers.optimizer import optimize_model

    cfg = json.loads((model_dir / "config.json").read_text())
    model = optimize_model(str(src), model_type=FUSION["model_type"], opt_level=FUSION["opt_level"],
                           num_heads=int(cfg["num_attention_heads"]), hidden_size=int(cfg["hidden_size"]))
    model.save_model_to_file(str(out))
    return {k: v for k, v in model.get_fused_operator_statistics().items() if v}


def _quantize(src: Path, out: Path, model_dir: Path) -> None:
    import onnx
    import onnxruntime
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    fused = out.with_suffix(f".{os.getpid()}.fused.tmp")
    root = logging.getLogger()
    hint = _DropPreprocessHint()
    root.addFilter(hint)  # "consider pre-processing" on the root logger: not actionable for a user
    try:
        ops = _fuse(src, fused, model_dir)
        # fused ops are in the com.microsoft domain, where shape inference gives no type: float
        quantize_dynamic(str(fused), str(tmp), weight_type=QuantType.QInt8,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT}, **QUANT_CONFIG)
    except BaseException:
        tmp.unlink(missing_ok=True)  # an interrupted quantization left it in the cache
        raise
    finally:
        root.removeFilter(hint)
        fused.unlink(missing_ok=True)
    _log.info("fused operators before quantization: %s", ops)
    _commit(tmp, out, {"onnxruntime": onnxruntime.__version__, "exporter": EXPORTER_VERSION, "fused": ops})


def is_exported(model_dir, quantized: bool, root: Path | None = None) -> bool:
    """True when the ONNX file for ``model_dir`` is already cached and intact (no export would run)."""
    try:
        folder = (Path(root) if root else cache_dir() / "onnx") / cache_key(Path(model_dir))
    except (ValueError, OSError):
        return False
    return is_valid(folder / ("model.int8.onnx" if quantized else "model.onnx"))


def exported_model(model_dir, quantized: bool, root: Path | None = None) -> Path:
    """Path of the cached ONNX file for ``model_dir``; exported (and quantized) if missing or corrupt."""
    model_dir = Path(model_dir)
    folder = (Path(root) if root else cache_dir() / "onnx") / cache_key(model_dir)
    fp32, int8 = folder / "model.onnx", folder / "model.int8.onnx"
    want = int8 if quantized else fp32
    with _export_lock:
        hold(folder)  # in use by this process: another version's prune_stale leaves it
        sweep_dead_temporaries(folder)  # of an export killed halfway (90 MB each)
        if not is_valid(want):
            t0 = time.perf_counter()
            if not is_valid(fp32):
                _export_fp32(model_dir, fp32)
            if quantized:
                _quantize(fp32, int8, model_dir)
            _log.info("exported %s in %.1f s", want, time.perf_counter() - t0)
        prune_stale(folder)  # the folders of earlier recipes or weights of this model, unused for a week
    return want


def session_options(threads: int | None = None, spinning: bool = False):
    """ONNX Runtime options: full graph optimisation, ``threads`` intra-op threads, no spin-waiting by default.

    A spinning pool keeps its threads busy-waiting between operators; on a 2-core machine
    shared with other jobs they only take turns from the work (see scripts/bench_embed.py).
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1  # one sequential graph: no parallel branches to run
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return opts


class PooledEncoder:
    """Tokenize, run a BERT graph in token-sized batches (``_run``), mean-pool and normalise."""

    def __init__(self, model_dir, max_seq_length: int | None = None, max_batch_tokens: int = 8192):
        from tokenizers import Tokenizer

        model_dir = Path(model_dir)
        if max_seq_length is None:
            cfg = model_dir / "sentence_bert_config.json"
            max_seq_length = json.loads(cfg.read_text()).get("max_seq_length", 256) if cfg.is_file() else 256
        self.max_seq_length = int(max_seq_length)
        self.max_batch_tokens = int(max_batch_tokens)
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_seq_length)
        self.tokenizer.no_padding()
        self.dim = int(json.loads((model_dir / "config.json").read_text())["hidden_size"])

    def _run(self, feed: dict) -> np.ndarray:
        """Last hidden state (batch, tokens, dim) for one padded batch."""
        raise NotImplementedError

    def batches(self, lengths: np.ndarray):
        """Index arrays of texts sorted by length, each batch <= max_batch_tokens padded tokens."""
        order = np.argsort(lengths, kind="stable")
        start = 0
        while start < len(order):
            end = start + 1
            # sorted ascending: the batch's padded width is the length of its last item
            while end < len(order) and (end + 1 - start) * lengths[order[end]] <= self.max_batch_tokens:
                end += 1
            yield order[start:end]
            start = end

    def feeds(self, texts: list[str]):
        """(indices, padded int64 inputs) per batch, shortest texts first."""
        encs = self.tokenizer.encode_batch(list(texts))
        lengths = np.fromiter((len(e.ids) for e in encs), dtype=np.int64, count=len(encs))
        for idx in self.batches(lengths):
            width = int(lengths[idx].max())
            feed = {k: np.zeros((len(idx), width), dtype=np.int64) for k in INPUTS}
            for row, i in enumerate(idx):
                e, n = encs[i], lengths[i]
                feed["input_ids"][row, :n] = e.ids
                feed["attention_mask"][row, :n] = 1
                feed["token_type_ids"][row, :n] = e.type_ids
            yield idx, feed

    @staticmethod
    def pool(hidden: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Mean over the real tokens, L2-normalised (sentence-transformers' Pooling + Normalize)."""
        mask = attention_mask[:, :, None].astype(np.float32)
        pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return pooled

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for idx, feed in self.feeds(texts):
            out[idx] = self.pool(self._run(feed), feed["attention_mask"])
        return out


class OnnxEncoder(PooledEncoder):
    """The ONNX export (fp32 or int8) in ONNX Runtime."""

    def __init__(self, model_dir, quantized: bool, max_seq_length: int | None = None,
                 max_batch_tokens: int = 8192, threads: int | None = None, root: Path | None = None,
                 spinning: bool = False):
        import onnxruntime as ort

        super().__init__(model_dir, max_seq_length, max_batch_tokens)
        self.path = exported_model(Path(model_dir), quantized, root)
        self.session = ort.InferenceSession(str(self.path), session_options(threads, spinning),
                                            providers=["CPUExecutionProvider"])

    def _run(self, feed: dict) -> np.ndarray:
        return self.session.run(None, feed)[0]
