"""What decode and evaluate check before trusting a pipeline run's files.

A hand-edited, foreign or other-config artifact must be named with the stage that writes it
anew, not surface as an ``IndexError`` or a numpy message deep in a stage (an out-of-range
``reference_index`` was a traceback, a 100-column reference matrix "matmul: Input operand 1
...", a config with other codebooks silently mislabelled the run's figures).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from core.compression.artifacts import damaged, require_keys

# keys that only steer decode/evaluate or say where things are: they may differ from the run's
# (compression_method only picks one of the two codecs every run builds: see chosen_method)
_STAGE_KEYS = ("decode_neighbours", "artifacts_dir", "device", "compression_method")
_CODEC_FILES = {"vqvae": ("codes.npy", "vqvae.safetensors"), "opq_pq": ("opq_codes.npy", "opq_pq.index")}


def same_run_config(path: Path, pipe: dict, config) -> None:
    """The config given to decode/evaluate must be the one ``pipeline.json`` (at ``path``) was made with."""
    require_keys(path, pipe, ("config",))
    run = pipe["config"]
    if not isinstance(run, dict):
        raise damaged(path, "its 'config' entry is not an object")
    mine = config.to_dict()
    differ = [k for k in mine if k not in _STAGE_KEYS and k in run and run[k] != mine[k]]
    if differ:
        shown = ", ".join(f"{k}={run[k]!r} there, {mine[k]!r} here" for k in differ[:4])
        more = f" (and {len(differ) - 4} more)" if len(differ) > 4 else ""
        raise ValueError(f"the run in {path.parent} was made with another config: {shown}{more}; run "
                         f"`mycelial pipeline` with this --config first, or give the config of that run")


def chosen_method(path: Path, pipe: dict, config) -> tuple[str, str]:
    """The codec decode/evaluate use, and why: the run's choice, or the one the config now names.

    Every pipeline run builds and measures both codecs, so a config whose ``compression_method`` differs
    from the run's (``vqvae`` after an ``auto`` run) need not re-run the pipeline: it was refused as
    "another config". Both codecs' files must be there; ``auto`` takes the higher cosine the run measured.
    """
    from core.compression.pipeline import choose_method

    run = pipe["config"].get("compression_method")  # same_run_config has checked pipe["config"]
    if run is None or run == config.compression_method:
        return pipe.get("method", "vqvae"), pipe.get("method_reason", "no reason recorded")
    per = pipe.get("methods")
    if not (isinstance(per, dict) and all(isinstance(per.get(m), dict) and isinstance(per[m].get("mean_cosine"),
                                                                                     (int, float)) and
                                          isinstance(per[m].get("n_items"), int) for m in _CODEC_FILES)):
        raise damaged(path, "its 'methods' entry lacks the 'mean_cosine' of 'vqvae' or 'opq_pq'")
    missing = [name for files in _CODEC_FILES.values() for name in files if not (path.parent / name).is_file()]
    if missing:
        raise ValueError(f"the run in {path.parent} was made with compression_method={run!r} and its "
                         f"{missing[0]} is missing, so compression_method={config.compression_method!r} cannot be "
                         f"used; run `mycelial pipeline` with this --config first")
    method, reason = choose_method(config.compression_method, per)
    return method, f"{reason}; the run itself took {pipe.get('method')!r} (compression_method={run!r} there)"


def vectors(path: Path, X: np.ndarray, dim: int, rows: int | None = None) -> np.ndarray:
    """A float (n, dim) array of finite numbers read from ``path``, with ``rows`` rows when given."""
    if X.ndim != 2 or X.shape[1] != dim or X.dtype.kind != "f":
        raise damaged(path, f"expected float vectors of shape (n, {dim}), got {X.dtype} {X.shape}")
    if rows is not None and X.shape[0] != rows:
        raise damaged(path, f"{X.shape[0]} rows where the run has {rows} items")
    if not np.isfinite(X).all():
        raise damaged(path, f"row {int(np.flatnonzero(~np.isfinite(X).all(axis=1))[0])} holds NaN or inf")
    return X


def strings(path: Path, obj: dict, key: str, n: int | None = None) -> list:
    """``obj[key]``: a list of ``n`` strings (any length when ``n`` is None)."""
    value = obj[key]
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise damaged(path, f"its {key!r} entry is not a list of strings")
    if n is not None and len(value) != n:
        raise damaged(path, f"{len(value)} {key!r} where the run has {n} items")
    return value


def indices(path: Path, obj: dict, key: str, n: int, size: int) -> np.ndarray:
    """``obj[key]``: ``n`` integers in ``[0, size)`` as int64."""
    value = obj[key]
    if not isinstance(value, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in value):
        raise damaged(path, f"its {key!r} entry is not a list of integers")
    if len(value) != n:
        raise damaged(path, f"{len(value)} {key!r} where the run has {n} items")
    bad = [i for i in value if not 0 <= i < size]
    if bad:
        raise damaged(path, f"{key!r} holds {bad[0]}, outside [0, {size - 1}]")
    return np.asarray(value, np.int64)


def flags(path: Path, obj: dict, key: str, n: int) -> np.ndarray:
    """``obj[key]``: ``n`` booleans."""
    value = obj[key]
    if not isinstance(value, list) or len(value) != n or not all(isinstance(b, bool) for b in value):
        raise damaged(path, f"its {key!r} entry is not {n} true/false values")
    return np.asarray(value, bool)


def decoded_records(path: Path, decoded: dict, n: int, size: int) -> list[dict]:
    """``decoded.json``'s summary and items: ``n`` records naming an original, a reference sentence
    (its row below ``size``) and an optional LLM text."""
    summary = decoded["summary"]
    if not (isinstance(summary, dict) and isinstance(summary.get("identification_rate"), (int, float))
            and isinstance(summary.get("llm"), dict) and isinstance(summary["llm"].get("note"), str)):
        raise damaged(path, "its 'summary' entry lacks 'identification_rate' or 'llm'")
    records = decoded["items"]
    if not isinstance(records, list) or len(records) != n:
        raise damaged(path, f"its 'items' entry is not a list of the run's {n} items")
    for i, r in enumerate(records):
        ok = (isinstance(r, dict) and isinstance(r.get("original"), str) and isinstance(r.get("similarity_text"), str)
              and isinstance(r.get("similarity_index"), int) and not isinstance(r.get("similarity_index"), bool)
              and 0 <= r["similarity_index"] < size and isinstance(r.get("llm_text"), (str, type(None))))
        if not ok:
            raise damaged(path, f"item {i} lacks a valid 'original', 'similarity_text', 'similarity_index' "
                                f"(a row below {size}) or 'llm_text'")
    return records


def same_rows(path: Path, rows: int, other: Path, other_rows: int) -> None:
    """Two files of one run hold one row per test item each; different counts mean different runs."""
    if rows != other_rows:
        raise ValueError(f"{path} holds {rows} items but {other} holds {other_rows}: they come from different "
                         f"runs or one was edited; run `mycelial pipeline` again with the same --config")
