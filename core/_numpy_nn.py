"""Small numpy pieces of torch layers (LayerNorm, exact GELU) and a zero-copy safetensors reader.

Shared by the numpy runtimes that let a command-line query skip importing torch
(``core.embedding_numpy``, ``core.reasoning.mycelial.numpy_codec``).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "BOOL": np.bool_}
_SCIPY_FROM = 1 << 18  # elements: below this, the numba loop beats importing scipy.special (~0.15-0.4 s)


def erf(x: np.ndarray) -> np.ndarray:
    """float32 erf, computed in double and rounded (what scipy's float32 loop returns, bit for bit).

    Small arrays (one query) go through the C library's erf in a numba loop (``core._numba_erf``:
    ``math.erf`` per element, same bits, ~10x faster than ``np.frompyfunc``); numba is loaded
    by every process that recalls (the network's kernels), scipy.special is not.
    """
    if x.size >= _SCIPY_FROM:
        from scipy.special import erf as scipy_erf

        return scipy_erf(x)
    x = np.asarray(x)
    _calls[0] += 1
    if _calls[0] == 1:  # a process's first: the codec's fingerprint at open (64 x 1,024), ~15 ms in Python
        # where loading the numba loop cost 0.6-1.5 s, and `stats`, `list`, `forget` never erf again
        flat = np.ascontiguousarray(x, dtype=np.float64).reshape(-1).tolist()
        return np.array([math.erf(v) for v in flat], dtype=np.float64).astype(np.float32).reshape(x.shape)
    from core._numba_erf import erf32

    if x.dtype != np.float32:  # widened to double as before (float32 and float64 compile once each)
        x = x.astype(np.float64)
    return erf32(np.ascontiguousarray(x).reshape(-1)).reshape(x.shape)


_calls = [0]  # erf calls below _SCIPY_FROM in this process


def gelu(x: np.ndarray) -> np.ndarray:
    """torch.nn.GELU() / Hugging Face "gelu": the exact erf form."""
    return 0.5 * x * (1.0 + erf(x * np.float32(1.0 / math.sqrt(2.0))))


def layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    """torch.nn.LayerNorm over the last axis (biased variance)."""
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + np.float32(eps)) * w + b


def read_safetensors(path) -> tuple[dict[str, np.ndarray], dict]:
    """(tensors, metadata) of a safetensors file; tensors are read-only views of a memory map.

    Offsets and shapes are checked against the file before any view is made, so a damaged
    or forged header is a ``ValueError`` naming the file, never a huge allocation.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        n = int.from_bytes(fh.read(8), "little")
        if not 0 < n <= min(size - 8, 100 << 20):
            raise ValueError(f"{path} is not a safetensors file (header length {n})")
        try:
            header = json.loads(fh.read(n))
        except ValueError as exc:
            raise ValueError(f"{path}: safetensors header is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: safetensors header is not a JSON object")
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n) if size > 8 + n else np.zeros(0, np.uint8)
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = np.dtype(_DTYPES[info["dtype"]])
            start, end = (int(v) for v in info["data_offsets"])
            shape = tuple(int(v) for v in info["shape"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{path}: tensor {name!r} has an unreadable header entry {info!r}") from None
        if min(shape, default=0) < 0 or not 0 <= start <= end <= data.shape[0] \
                or end - start != dtype.itemsize * math.prod(shape):
            raise ValueError(f"{path}: tensor {name} does not fit the file (damaged or truncated)")
        out[name] = data[start:end].view(dtype).reshape(shape)
    return out, header.get("__metadata__") or {}
