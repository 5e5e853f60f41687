"""`NumpyVQVAE`: the shipped MonolithWiki codec's encode/decode in numpy, for processes without torch.

A command-line recall encodes one query vector; importing torch for it costs about a
second (more on a loaded machine). The model is two small MLPs and a product quantizer,
so numpy computes the same forward pass from the same safetensors weights: latents agree
with torch to ~1e-6 and the codes are the same (tests compare them on real embeddings and
on the probe vectors a memory fingerprints its codec with).

Only the MonolithWiki architecture is supported; :func:`load_default_numpy` returns None
for anything else (other weights, a damaged file) so the caller can fall back to the torch
``MycelialVQVAE`` with its own fallbacks and messages.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from core._numpy_nn import gelu, layer_norm, read_safetensors
from core._validation import check_codes, check_embeddings, codes_dtype

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "vqvae" / "weights"
DEFAULT_WEIGHTS = "monolith_wiki.safetensors"
_LN_EPS = 1e-5  # torch.nn.LayerNorm's default, as MonolithWiki builds it
_SMALL = 8  # rows up to this many skip BLAS (see _linear)


def _linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``x @ weight.T + bias``; a few rows go through numpy's own loop, not BLAS.

    On a shared 2-core machine OpenBLAS's second thread waits to be scheduled: one query
    vector took 6-15 ms through BLAS and 0.2 ms through einsum (load 7).
    """
    if x.shape[0] <= _SMALL:
        return np.einsum("ni,oi->no", x, weight) + bias
    return x @ weight.T + bias


def _mlp(x: np.ndarray, w: dict, prefix: str) -> np.ndarray:
    """Linear -> LayerNorm -> exact (erf) GELU -> (Dropout: eval, none) -> Linear, as nn.Sequential does."""
    h = _linear(x, w[f"{prefix}.0.weight"], w[f"{prefix}.0.bias"])
    h = gelu(layer_norm(h, w[f"{prefix}.1.weight"], w[f"{prefix}.1.bias"], _LN_EPS))
    return _linear(h, w[f"{prefix}.4.weight"], w[f"{prefix}.4.bias"]).astype(np.float32, copy=False)


class NumpyVQVAE:
    """Encode embeddings to codes and decode codes to vectors with MonolithWiki weights, in numpy.

    The interface is the part of ``MycelialVQVAE`` a memory uses to recall: ``encode``,
    ``decode``, ``num_heads``, ``codebook_size``, ``dim``.
    """

    def __init__(self, weights: dict[str, np.ndarray], config: dict):
        if config.get("quantizer", "heads") != "heads":
            raise ValueError(f"NumpyVQVAE encodes product-quantizer models only, not quantizer="
                             f"{config['quantizer']!r}; load it with MycelialVQVAE.load")
        if config.get("latent_norm"):
            raise ValueError("NumpyVQVAE has no BatchNorm: a latent_norm model encodes with MycelialVQVAE.load")
        self.weights = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()}
        for k, v in self.weights.items():  # a damaged file made every code 0 and every decoded vector NaN
            if not np.isfinite(v).all():
                raise ValueError(f"tensor {k} holds NaN or inf values (damaged weights)")
        self.config = dict(config)
        self.num_heads = int(config["num_heads"])
        self.codebook_size = int(config["codebook_size"])
        self.dim = int(config["input_dim"])
        books = self.weights["quantizer.codebooks"]  # (heads, K, head_dim)
        if config.get("normalize"):
            books = books / np.maximum(np.linalg.norm(books, axis=-1, keepdims=True), 1e-12)
        self.books = np.ascontiguousarray(books, dtype=np.float32)
        self.book_sq = (self.books ** 2).sum(-1)  # (heads, K)

    def latents(self, X) -> np.ndarray:
        """Per-head latents (n, heads, head_dim) as the quantizer sees them."""
        X = check_embeddings(X, self.dim, "embeddings")
        z = _mlp(X, self.weights, "encoder").reshape(X.shape[0], self.num_heads, -1)
        if self.config.get("normalize"):
            z = z / np.maximum(np.linalg.norm(z, axis=-1, keepdims=True), 1e-12)
        return z

    def encode(self, X, batch_size: int = 4096) -> np.ndarray:
        """Codes (n, num_heads) of embeddings ``X``: argmin over ``|c|^2 - 2 z.c`` per head, as torch.

        uint8 up to 256 codes a head, uint16 beyond, as ``MycelialVQVAE.encode`` (a 512-code model's code
        300 was stored as 44)."""
        X = check_embeddings(X, self.dim, "embeddings")
        if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
            # a negative size skipped the loop and returned the uninitialised output as codes
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        out = np.empty((X.shape[0], self.num_heads), dtype=codes_dtype(self.codebook_size))
        for s in range(0, X.shape[0], batch_size):
            z = self.latents(X[s:s + batch_size])  # (n, heads, d)
            dots = np.einsum("nhd,hkd->nhk", z, self.books, optimize=z.shape[0] > _SMALL)
            out[s:s + batch_size] = (self.book_sq[None] - 2.0 * dots).argmin(axis=-1)
        return out

    def decode(self, codes) -> np.ndarray:
        """Reconstructed embeddings (n, dim) float32 of ``codes`` (n, num_heads)."""
        codes = check_codes(codes, self.num_heads, self.codebook_size, "codes")
        z = self.books[np.arange(self.num_heads)[None, :], codes].reshape(codes.shape[0], -1)
        return _mlp(z, self.weights, "decoder")

    def __repr__(self) -> str:
        return f"NumpyVQVAE(heads={self.num_heads}, codebook_size={self.codebook_size})"


def _expected_shapes(c: dict) -> dict[str, tuple]:
    i, h, lat, heads, k = c["input_dim"], c["hidden_dim"], c["latent_dim"], c["num_heads"], c["codebook_size"]
    return {"encoder.0.weight": (h, i), "encoder.0.bias": (h,), "encoder.1.weight": (h,), "encoder.1.bias": (h,),
            "encoder.4.weight": (lat, h), "encoder.4.bias": (lat,), "decoder.0.weight": (h, lat),
            "decoder.0.bias": (h,), "decoder.1.weight": (h,), "decoder.1.bias": (h,),
            "decoder.4.weight": (i, h), "decoder.4.bias": (i,), "quantizer.codebooks": (heads, k, lat // heads)}


def load_numpy(path: str | Path) -> NumpyVQVAE:
    """The MonolithWiki weights in the safetensors file ``path`` as a :class:`NumpyVQVAE`.

    Every reason the file cannot serve (not safetensors, another model, missing or misshapen
    tensors, NaN or inf weights) is a ``ValueError`` naming the file; a missing file is a
    ``FileNotFoundError``.
    """
    path = Path(path)
    tensors, meta = read_safetensors(path)
    try:
        info = json.loads(meta["config"])
        config = info["model_config"]
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{path}: no MonolithWiki model config in its metadata") from None
    if not isinstance(info, dict) or info.get("model_class") != "MonolithWiki" or not isinstance(config, dict):
        raise ValueError(f"{path}: NumpyVQVAE reads MonolithWiki weights only")
    if config.get("quantizer", "heads") != "heads" or config.get("latent_norm"):  # the torch model encodes them
        raise ValueError(f"{path}: a residual or latent_norm model; load it with MycelialVQVAE.load")
    try:
        expected = _expected_shapes(config)
    except KeyError as exc:
        raise ValueError(f"{path}: model config lacks {exc}") from None
    for k, shape in expected.items():
        if k not in tensors or tensors[k].shape != shape:
            raise ValueError(f"{path}: tensor {k} should have shape {shape}, the file holds "
                             f"{tensors[k].shape if k in tensors else 'no such tensor'}")
    try:
        return NumpyVQVAE({k: tensors[k] for k in expected}, config)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path}: {exc}") from None


def load_default_numpy(weights_dir: str | Path | None = None) -> NumpyVQVAE | None:
    """The shipped 4-byte MonolithWiki weights as a :class:`NumpyVQVAE`, or None when they don't load here.

    None (never an exception) means: use ``MycelialVQVAE.load_default()``, which reports
    the reason and falls back to the legacy model when it must (:func:`load_numpy` raises it).
    """
    try:
        return load_numpy(Path(weights_dir or WEIGHTS_DIR) / DEFAULT_WEIGHTS)
    except Exception:  # missing, damaged or foreign file: the torch loader says why
        return None


def load_default_codec():
    """The shipped codec a memory uses when given none: the numpy one, else torch's ``MycelialVQVAE``.

    Both give the same codes (a memory's fingerprint checks it); numpy spares the import of torch, ~2 s
    of every command and server start. Encoding a batch takes ~1.7x torch's time (20k vectors: ~1 s),
    small beside embedding them (minutes)."""
    codec = load_default_numpy()
    if codec is None:
        from core.reasoning.mycelial import MycelialVQVAE

        codec = MycelialVQVAE.load_default()
    return codec
