"""Where things live: shared data, caches, the default embedding model.

Every location can be overridden by an environment variable so that CI, tests and
users on other machines never need to edit code.
"""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_MODEL = "all-MiniLM-L6-v2"
EMBEDDING_DIM = 384


def data_dir() -> Path:
    """Folder of the shared real text (``MYCELIAL_DATA_DIR``, else ``../shared/data``)."""
    env = os.environ.get("MYCELIAL_DATA_DIR")
    return Path(env) if env else PROJECT_ROOT.parent / "shared" / "data"


def cache_dir() -> Path:
    """Folder for derived, re-computable state such as embeddings (``MYCELIAL_CACHE_DIR``)."""
    env = os.environ.get("MYCELIAL_CACHE_DIR")
    path = Path(env) if env else Path.home() / ".cache" / "mycelial"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a service user whose home is not writable: "Permission denied: '~/.cache'" alone
        raise type(exc)(exc.errno, f"{exc.strerror} (making the cache folder for embeddings and model exports; "
                                   f"set MYCELIAL_CACHE_DIR to a folder this user can write)", str(path)) from None
    return path


def cache_seed() -> Path | None:
    """A second embedding cache (``MYCELIAL_CACHE_SEED``, an ``embeddings.sqlite``) read on a miss and
    never written: a test suite or CI job borrows a warm cache without its forgets deleting from it."""
    env = os.environ.get("MYCELIAL_CACHE_SEED")
    return Path(env) if env else None


CONCEPT_MAX = 2000  # characters of a concept a query names: a URL is a concept and often longer than 200
DEFAULT_CACHE_MAX_VECTORS = 1_000_000  # ~1.9 GB of 384-d vectors (1.9 kB each on 16 kB pages)


def cache_max_vectors() -> int:
    """Vectors the embedding cache keeps (``MYCELIAL_CACHE_MAX_VECTORS``, 0 = no cap): the least recently
    used go beyond it. A bad value is an error naming the variable, never a silent default."""
    env = os.environ.get("MYCELIAL_CACHE_MAX_VECTORS", "").strip()
    if not env:
        return DEFAULT_CACHE_MAX_VECTORS
    if not env.isdigit():
        raise ValueError(f"MYCELIAL_CACHE_MAX_VECTORS must be a whole number of vectors (0: no cap), got {env!r}")
    return int(env)


class SharedDataMissing(FileNotFoundError):
    """A file of the shared data is not where ``MYCELIAL_DATA_DIR`` (or ../shared/data) says: the scripts print
    its message as one line (`core._script.run`), not a traceback."""


def data_file(relative: str) -> Path:
    """A file of the shared data, with an error that says how to point at it."""
    path = data_dir() / relative
    if not path.is_file():
        raise SharedDataMissing(
            f"shared data file {path} not found; set MYCELIAL_DATA_DIR to the folder "
            f"that holds {relative!r}"
        )
    return path
