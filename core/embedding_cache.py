"""The embedding cache: SQLite of (model, sha1(text)) -> float32 vector, shared between processes.

Its own module because it is storage, not embedding: :class:`~core.embedding.TextEmbedder` reads
and fills it, forgetting a document purges from it, and benchmarks read it directly.
"""
from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

_SQLITE_MAX_VARS = 900


def _lookup(conn, model: str, keys: list[bytes], dim: int, found: dict) -> None:
    for start in range(0, len(keys), _SQLITE_MAX_VARS):
        chunk = keys[start:start + _SQLITE_MAX_VARS]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(f"SELECT key, vector FROM embeddings WHERE model = ? AND key IN ({marks})", [model, *chunk])
        for key, blob in rows:
            vec = np.frombuffer(blob, dtype=np.float32)
            if vec.shape[0] == dim:  # a vector of another size is a stale entry: recompute
                found[key] = vec


class EmbeddingCache:
    """SQLite table of (model, sha1) -> float32 vector; safe to share between processes.

    ``seed``: another cache file read (``mode=ro``) for the vectors this one lacks; it is never
    written or purged, so forgetting removes a text's vectors from this file only.
    """

    def __init__(self, path: str | os.PathLike, seed: str | os.PathLike | None = None):
        self.path = Path(path)
        self.seed = None if seed is None or Path(seed).resolve() == self.path.resolve() else Path(seed)
        self._local = threading.local()

    @property
    def _seed_conn(self) -> sqlite3.Connection | None:
        if self.seed is None or not self.seed.is_file():
            return None
        conn = getattr(self._local, "seed", None)
        if conn is None:
            conn = self._local.seed = sqlite3.connect(f"{self.seed.resolve().as_uri()}?mode=ro", uri=True, timeout=60)
        return conn

    @property
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=60)
            # A new file: 16 kB pages hold a 384-d vector (1,536 B) in its b-tree cell; with SQLite's 4 kB
            # default it spilled to an overflow page of its own, 4.7 kB a vector on disk (now 1.9 kB).
            # It gives the pages a purge frees back (see `delete`). An older file keeps both as they were.
            conn.execute("PRAGMA page_size=16384")
            conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS embeddings ("
                " model TEXT NOT NULL, key BLOB NOT NULL, vector BLOB NOT NULL,"
                " PRIMARY KEY (model, key)) WITHOUT ROWID"
            )
            self._local.conn = conn
        return conn

    @staticmethod
    def key(text: str) -> bytes:
        return hashlib.sha1(text.encode("utf-8")).digest()

    def get(self, model: str, keys: Sequence[bytes], dim: int) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        _lookup(self._conn, model, unique, dim, found)
        missing = [k for k in unique if k not in found]
        if missing and self.seed is not None:
            try:
                seed = self._seed_conn
                if seed is not None:
                    _lookup(seed, model, missing, dim, found)
            except sqlite3.Error:  # an unreadable seed or not a cache: the vectors are computed instead
                pass
        return found

    def delete(self, keys: Sequence[bytes]) -> int:
        """Remove these texts' vectors under every model (forget), zeroed on disk; returns rows deleted."""
        unique, n = list(dict.fromkeys(keys)), 0
        if not unique or not self.path.is_file():
            return 0
        conn = self._conn
        conn.execute("PRAGMA secure_delete=ON")
        with conn:
            for model in self._models():  # by primary key (model, key): `key IN` alone scanned every vector
                for start in range(0, len(unique), _SQLITE_MAX_VARS):
                    chunk = unique[start:start + _SQLITE_MAX_VARS]
                    n += conn.execute(f"DELETE FROM embeddings WHERE model = ? AND key IN "
                                      f"({','.join('?' * len(chunk))})", [model, *chunk]).rowcount
        if n:
            conn.executescript("PRAGMA incremental_vacuum")  # run to the end (execute frees one page); a file made before keeps them
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the WAL's old page images held the vectors too
        return n

    def _models(self) -> list[str]:
        """The models with vectors here, one primary-key seek each (a cache holds a few; a forget by key
        alone read the whole table: 0.13 s a forget with a 1.7 GB cache in the page cache, more from disk)."""
        models: list[str] = []
        while row := self._conn.execute("SELECT model FROM embeddings WHERE model > ? ORDER BY model LIMIT 1",
                                        (models[-1] if models else "",)).fetchone():
            models.append(row[0])
        return models

    def put(self, model: str, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        rows = [(model, k, np.ascontiguousarray(v, dtype=np.float32).tobytes()) for k, v in zip(keys, vectors)]
        with self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO embeddings (model, key, vector) VALUES (?, ?, ?)", rows
            )
