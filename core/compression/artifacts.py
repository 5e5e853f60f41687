"""Artifacts of the compression pipeline: arrays as ``.npy``, summaries as JSON, written atomically.

Nothing is pickled: arrays are read back with ``allow_pickle=False``. A missing file names
the stage that writes it; a damaged one (truncated, overwritten) names the file and that stage.
"""
from __future__ import annotations

import io
import json
import math
import re
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from core._io import atomic_write_bytes


def save_npy(path, array: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())


def load_npy(path) -> np.ndarray:
    path = existing(path)
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        # numpy calls a damaged file "pickled (object) data" and suggests unpickling it
        detail = "not a .npy array of numbers" if "pickle" in str(exc) else str(exc)
        raise damaged(path, detail) from None


def save_json(path, obj) -> None:
    """Strict JSON: a NaN or infinite figure is written as null (bare ``NaN`` is no JSON; strict readers refuse it)."""
    text = json.dumps(_finite(obj), indent=1, ensure_ascii=False, allow_nan=False)
    atomic_write_bytes(path, (text + "\n").encode("utf-8"))


def _finite(obj):
    """``obj`` with every non-finite float (NaN, inf) replaced by None, in nested dicts, lists and tuples."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def load_json(path, keys: tuple[str, ...] = ()) -> dict:
    """A JSON object the pipeline wrote, holding ``keys``; valid JSON of another shape (``[1]``, an
    object without ``sentences``) is damaged too (it was an AttributeError/KeyError deep in a stage)."""
    path = existing(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise damaged(path, f"not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise damaged(path, f"a JSON {type(obj).__name__}, not the object the pipeline writes")
    return require_keys(path, obj, keys)


def require_keys(path, obj: dict, keys: tuple[str, ...]) -> dict:
    """``obj`` (read from ``path``) when it holds every key; else the damaged-artifact error."""
    missing = [k for k in keys if k not in obj]
    if missing:
        raise damaged(Path(path), f"no {', '.join(map(repr, missing))} {'entries' if len(missing) > 1 else 'entry'}")
    return obj


def read_index(path):
    """A FAISS index file of the run; a damaged one is a ``ValueError`` naming it (FAISS raises RuntimeError)."""
    import faiss

    path = existing(path)
    try:
        return faiss.read_index(str(path))
    except RuntimeError as exc:
        m = re.search(r"\.cpp:\d+: (?:Error: )?(.*)", str(exc))  # FAISS prefixes its C++ function and line
        raise damaged(path, (m.group(1) if m else str(exc)).strip()[:200]) from None


def stage_of(path: Path) -> str:
    """The CLI command that writes this artifact."""
    return "decode" if path.name in DECODE_WRITES else "pipeline"


def damaged(path: Path, detail: str) -> ValueError:
    """The error for an artifact that exists but cannot be read (truncated, overwritten, foreign)."""
    return ValueError(f"{path} is damaged ({detail}); run `mycelial {stage_of(path)}` again with the same "
                      f"--config to write it anew")


DECODE_WRITES = ("decoded.json", "decoded_vectors.npy")


def existing(path) -> Path:
    path = Path(path)
    if not path.is_file():
        stage = stage_of(path)
        then = "" if stage == "decode" else ", then `mycelial decode`"
        raise FileNotFoundError(f"{path} not found; run the earlier pipeline stage first: `mycelial {stage}`{then} "
                                f"with the same --config (it writes {path.name} to artifacts_dir {path.parent})")
    return path


# ---------------------------------------------------------------------------- whose folder
MARKER = ".mycelial-pipeline"
PIPELINE_WRITES = ("codes.npy", "opq_codes.npy", "opq_pq.index", "vqvae.safetensors", "vqvae_train_config.json",
                   "test_embeddings.npy", "items.json", "reference.json", "reference_embeddings.npy",
                   "pipeline.json")
EVALUATE_WRITES = ("metrics.json", "metrics.md", "code_usage.png", "cosine_hist.png")


def foreign_file(out: Path) -> Path | None:
    """A file in ``out`` when the folder is neither new, empty nor a run's: one a stage would replace
    (``artifacts/metrics.json`` of another project was overwritten without a word) first, else any
    (a user's ``notes.txt``: the run wrote beside it and marked the folder its own). None when the
    folder is a run's, empty or missing.

    A run's folder carries :data:`MARKER`; folders of runs made before it are known by their
    ``pipeline.json`` or ``vqvae_train_config.json``.
    """
    if (out / MARKER).is_file() or _earlier_run(out):
        return None
    for name in PIPELINE_WRITES + DECODE_WRITES + EVALUATE_WRITES:
        if (out / name).exists() or (out / name).is_symlink():
            return out / name
    if not out.is_dir():
        return None
    return next((p for p in sorted(out.iterdir()) if p.name != LOCK), None)


def mark(out: Path) -> None:
    """Mark ``out`` as a pipeline run's folder: its files are the stages' to replace."""
    if not (out / MARKER).is_file():
        atomic_write_bytes(out / MARKER, b'{"written_by": "mycelial pipeline"}\n')


def _earlier_run(out: Path) -> bool:
    for name, keys in (("pipeline.json", ("methods", "config")), ("vqvae_train_config.json", ("model", "codebook_size"))):
        try:
            obj = json.loads((out / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(obj, dict) and all(k in obj for k in keys):
            return True
    return False


@contextmanager
def exclusive(out: Path, stage: str):
    """Hold ``out`` for one stage: a second ``mycelial pipeline|decode|evaluate`` on the same folder is refused
    (two runs in two terminals with the default ``artifacts/`` interleaved their files). The lock is the
    kernel's (``flock``): it goes with the process, however it ends. A folder that does not exist is not
    locked (the stage reports its missing files)."""
    if not out.is_dir():
        yield
        return
    import fcntl

    fh = open(out / LOCK, "a+b")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(f"another pipeline stage is running in {out} (it holds {out / LOCK}); wait for it "
                             f"to end, or give this run another artifacts_dir; nothing was done by `{stage}`") from None
        sweep(out)  # held: no other stage is writing here
        yield
    finally:
        fh.close()


def sweep(out: Path) -> list[str]:
    """Delete the temporaries of a stage that was killed while writing (``.opq_pq.index.tmp``, a plot's
    ``.code_usage.png.tmp.png``, ``.codes.npy.XXXXXXXX.tmp``): they stayed beside the artifacts. Only
    temporaries of the files a stage writes, never another file; returns their names."""
    names = PIPELINE_WRITES + DECODE_WRITES + EVALUATE_WRITES + (MARKER,)
    gone = []
    for p in out.iterdir():
        if p.name.endswith((".tmp", ".tmp.png")) and any(p.name.startswith(f".{n}.") for n in names) and p.is_file():
            try:
                p.unlink()
                gone.append(p.name)
            except OSError:
                pass
    return gone


LOCK = ".mycelial-pipeline.lock"
