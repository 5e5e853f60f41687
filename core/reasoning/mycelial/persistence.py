"""Save and load a ``MycelialReasoning`` as ``.npz`` arrays plus a JSON header, never pickle.

The file is a zip (``np.savez``) holding the arrays ``keys``, ``counts``, ``group_counts``,
``node_counts`` and ``header``: the UTF-8 JSON header as uint8 bytes, with the format
name and version, the config, the counters, the concept id space (the owning memory's
store uuid; absent in older files) and a SHA-256 of every array. Loading uses
``np.load(allow_pickle=False)``, checks all of it and builds the network only at the end,
so a truncated, corrupt or wrong-version file raises ``ValueError`` and never half-loads.
Writes go to a temporary file in the same directory, are fsynced and renamed into place.
"""
from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np

from core._io import atomic_open, check_npz

FORMAT = "mycelial-network"
FORMAT_VERSION = 1
_ARRAYS = {"keys": np.int64, "counts": np.float64, "group_counts": np.float64, "node_counts": np.int64}
# the concept nodes' edges and counts (optional: a file written before concept nodes has none)
_CONCEPT_ARRAYS = {"cx_keys": np.int64, "cx_counts": np.float64, "cx_group_counts": np.float64,
                   "concept_counts": np.int64}


def _user_path(path) -> Path:
    """``~`` is the home folder (save made a folder named ``~``); an empty path is an error, not ``.``."""
    if not isinstance(path, (str, Path)) and not hasattr(path, "__fspath__"):
        raise TypeError(f"path must be a str or Path, got {type(path).__name__}")
    if str(path) == "":
        raise ValueError("path is empty; give a file name such as network.npz")
    return Path(path).expanduser()


def _digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def save_network(net, path) -> Path:
    """Write ``net`` to ``path`` atomically (temp file, fsync, rename). Returns the path."""
    path = _user_path(path)
    if path.is_dir():  # the rename said "[Errno 21] Is a directory: '/tmp/.x.tmp' -> '/tmp/x'"
        raise IsADirectoryError(f"{path} is a folder; give a file name such as {path / 'network.npz'}")
    arrays = {
        "keys": net.keys_, "counts": net.counts_,
        "group_counts": net.group_counts_, "node_counts": net.node_counts_,
        "cx_keys": net.cx_keys_, "cx_counts": net.cx_counts_, "cx_group_counts": net.cx_group_counts_,
        "concept_counts": net.concept_counts_,
    }
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": net.config.to_dict(),
        "n_events": int(net.n_events_),
        "n_decays": int(net.n_decays_),
        "concept_space": net.concept_space_,
        "arrays": {k: {"shape": list(v.shape), "dtype": str(v.dtype), "sha256": _digest(v)}
                   for k, v in arrays.items()},
    }
    blob = np.frombuffer(json.dumps(header, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    with atomic_open(path) as fh:
        np.savez(fh, header=blob, **arrays)
    return path


def _read(path: Path) -> tuple[dict, dict]:
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != b"PK\x03\x04":  # np.load would otherwise try to unpickle other files
        raise ValueError(f"{path} is truncated or corrupt: not an .npz (zip) archive")
    check_npz(path, "network file")  # sizes from the zip directory and .npy headers, before allocating
    try:
        with np.load(path, allow_pickle=False) as z:
            names = set(z.files)
            missing = ({"header"} | set(_ARRAYS)) - names
            if missing:
                raise ValueError(f"{path} is not a mycelial network file: missing {sorted(missing)}")
            header_bytes = z["header"]
            arrays = {k: z[k] for k in list(_ARRAYS) + [c for c in _CONCEPT_ARRAYS if c in names]}
    except FileNotFoundError:
        raise
    except ValueError as exc:
        if "mycelial" in str(exc):
            raise
        raise ValueError(f"{path} is not a readable network file ({exc})") from exc
    except (zipfile.BadZipFile, OSError, EOFError, KeyError) as exc:
        raise ValueError(f"{path} is truncated or corrupt ({type(exc).__name__}: {exc})") from exc
    if header_bytes.dtype != np.uint8 or header_bytes.ndim != 1:
        raise ValueError(f"{path}: header is not a byte array")
    try:
        header = json.loads(header_bytes.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: header is not valid JSON ({exc})") from exc
    return header, arrays


def load_network(path):
    """Read a network written by ``save_network``; raises ``ValueError`` on any inconsistency."""
    from core.reasoning.mycelial.network import MycelialConfig, MycelialReasoning

    path = _user_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no network file at {path}")
    header, arrays = _read(path)
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{path} is not a mycelial network file (format={header.get('format') if isinstance(header, dict) else None!r})")
    version = header.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{path} has network format version {version!r}; this code reads version {FORMAT_VERSION}"
        )
    try:
        config = MycelialConfig.from_dict(header["config"])
        n_events, n_decays = header["n_events"], header["n_decays"]
        meta = header["arrays"]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path}: header lacks {exc}") from exc
    except ValueError as exc:  # a config that is no MycelialConfig
        raise ValueError(f"{path}: header's config: {exc}") from None
    # the checksums cover the arrays, not the header: "abc" raised from int() without the file, -5 was taken
    for name, v in (("n_events", n_events), ("n_decays", n_decays)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"{path}: header's {name} is {v!r}, expected a whole number >= 0")
    if not isinstance(meta, dict) or not all(isinstance(m, dict) for m in meta.values()):
        raise ValueError(f"{path}: header's arrays entry is not a JSON object of objects")
    space = header.get("concept_space")  # absent in files written before it: unknown
    if space is not None and not isinstance(space, str):
        raise ValueError(f"{path}: header's concept_space is {type(space).__name__}, expected a string or null")
    for name, dtype in {**_ARRAYS, **_CONCEPT_ARRAYS}.items():
        if name not in arrays:
            continue
        a = arrays[name]
        m = meta.get(name, {})
        if a.dtype != dtype or a.ndim != 1 or list(a.shape) != m.get("shape"):
            raise ValueError(f"{path}: array {name!r} has dtype {a.dtype} shape {a.shape}, "
                             f"header says {m.get('dtype')} {m.get('shape')}")
        if _digest(a) != m.get("sha256"):
            raise ValueError(f"{path}: array {name!r} fails its checksum (corrupt file)")
    keys = arrays["keys"]
    m = keys.shape[0]
    n_nodes = config.num_nodes
    if arrays["counts"].shape[0] != m or arrays["group_counts"].shape[0] != m:
        raise ValueError(f"{path}: edge arrays have different lengths")
    if arrays["node_counts"].shape[0] != n_nodes:
        raise ValueError(f"{path}: node_counts has {arrays['node_counts'].shape[0]} entries, "
                         f"config says {n_nodes} nodes")
    if m and (np.any(np.diff(keys) <= 0) or keys[0] < 0 or keys[-1] >= n_nodes * n_nodes
              or np.any(keys // n_nodes >= keys % n_nodes)):
        raise ValueError(f"{path}: edge keys are not sorted unique upper-triangle keys")
    for name in ("counts", "group_counts", "node_counts"):
        a = arrays[name]
        if a.size and (not np.isfinite(a).all() or a.min() < 0):
            raise ValueError(f"{path}: array {name!r} holds negative or non-finite counts")
    net = MycelialReasoning(config)
    net.keys_ = np.ascontiguousarray(keys)
    net.counts_ = np.ascontiguousarray(arrays["counts"])
    net.group_counts_ = np.ascontiguousarray(arrays["group_counts"])
    net.node_counts_ = np.ascontiguousarray(arrays["node_counts"])
    net.n_events_, net.n_decays_ = n_events, n_decays
    net.concept_space_ = space
    if "cx_keys" in arrays:
        _set_concepts(net, arrays, path)
    net._dirty()
    return net


def _set_concepts(net, arrays: dict, path) -> None:
    """The concept part of a network file, checked like the code part."""
    from core.reasoning.mycelial._concepts import BASE

    if set(_CONCEPT_ARRAYS) - set(arrays):
        raise ValueError(f"{path}: concept arrays {sorted(set(_CONCEPT_ARRAYS) - set(arrays))} missing")
    k = arrays["cx_keys"]
    if arrays["cx_counts"].shape != k.shape or arrays["cx_group_counts"].shape != k.shape:
        raise ValueError(f"{path}: concept edge arrays have different lengths")
    if k.size and (np.any(np.diff(k) <= 0) or k[0] < 0 or np.any(k // BASE >= k % BASE)
                   or np.any(k % BASE < net.num_nodes)):
        raise ValueError(f"{path}: concept edge keys are not sorted unique keys with a concept end")
    for name in ("cx_counts", "cx_group_counts", "concept_counts"):
        a = arrays[name]
        if a.size and (not np.isfinite(a).all() or a.min() < 0):
            raise ValueError(f"{path}: array {name!r} holds negative or non-finite counts")
    net.cx_keys_ = np.ascontiguousarray(k)
    net.cx_counts_ = np.ascontiguousarray(arrays["cx_counts"])
    net.cx_group_counts_ = np.ascontiguousarray(arrays["cx_group_counts"])
    net.concept_counts_ = np.ascontiguousarray(arrays["concept_counts"])
    net._cx_csr = None
