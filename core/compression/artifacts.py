"""Artifacts of the compression pipeline: arrays as ``.npy``, summaries as JSON, written atomically.

Nothing is pickled: arrays are read back with ``allow_pickle=False``. A missing file names
the stage that writes it.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from core._io import atomic_write_bytes


def save_npy(path, array: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())


def load_npy(path) -> np.ndarray:
    return np.load(existing(path), allow_pickle=False)


def save_json(path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))


def load_json(path):
    return json.loads(existing(path).read_text(encoding="utf-8"))


_DECODE_WRITES = ("decoded.json", "decoded_vectors.npy")


def existing(path) -> Path:
    path = Path(path)
    if not path.is_file():
        stage = "decode" if path.name in _DECODE_WRITES else "pipeline"
        then = "" if stage == "decode" else ", then `mycelial decode`"
        raise FileNotFoundError(f"{path} not found; run the earlier pipeline stage first: `mycelial {stage}`{then} "
                                f"with the same --config (it writes {path.name} to artifacts_dir {path.parent})")
    return path
