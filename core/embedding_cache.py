"""The embedding cache: SQLite of (model, sha1(text)) -> float32 vector, shared between processes.

Its own module because it is storage, not embedding: :class:`~core.embedding.TextEmbedder` reads
and fills it, forgetting a document purges from it, and benchmarks read it directly.

It holds at most ``max_vectors`` (``MYCELIAL_CACHE_MAX_VECTORS``, default 1M, ~1.9 GB of 384-d
vectors): a put over the cap deletes the least recently used tenth in one statement. Each row
keeps when it was last put or read (``used``, seconds; a read restamps a row at most once a day,
so a warm lookup stays a pure read); without a cap the cache of a user who ingests for months only ever grew.

A file this process cannot write (a read-only mount, another user's file) is read all the same: an older
one without ``used`` gets no stamps, and puts are skipped with one warning (the vectors are still returned),
as a stamp that cannot be written is skipped.
"""
from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from core._sqlite_ro import folder_writable, read_only_uri, stamp as file_stamp, writer_appeared
from core.config import cache_max_vectors
from core.log import get_logger

log = get_logger("embedding")

_SQLITE_MAX_VARS = 900
_KEEP = 0.9  # an eviction leaves this share of the cap: one delete per tenth of the cap put, not per put
_RESTAMP_S = 86_400  # a read stamps a row again once its stamp is this old: LRU to the day
_SQLITE_READONLY = 8  # the primary result code of every "attempt to write a readonly database"


def _read_only(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+; the message before
    return code & 0xFF == _SQLITE_READONLY if code is not None else "readonly database" in str(exc)


def _lookup(conn, model: str, keys: list[bytes], dim: int, found: dict, stale: list | None = None) -> None:
    """Fill ``found``; ``stale`` (when given) gets the keys last stamped over a day ago."""
    old = time.time() - _RESTAMP_S
    used = ", used" if stale is not None else ", 0"
    for start in range(0, len(keys), _SQLITE_MAX_VARS):
        chunk = keys[start:start + _SQLITE_MAX_VARS]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(f"SELECT key, vector{used} FROM embeddings WHERE model = ? AND key IN ({marks})",
                            [model, *chunk])
        for key, blob, stamp in rows:
            vec = np.frombuffer(blob, dtype=np.float32)
            if vec.shape[0] == dim:  # a vector of another size is a stale entry: recompute
                found[key] = vec
                if stale is not None and stamp < old:
                    stale.append(key)


def cache_file(path: str | os.PathLike) -> Path:
    """``path`` as a cache file; a folder is refused by name (SQLite said only "unable to open database file",
    at the first embed)."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"embedding cache {path} is a folder; a cache is a file (SQLite), e.g. "
                         f"{path / 'embeddings.sqlite'}")
    return path


class EmbeddingCache:
    """SQLite table of (model, sha1) -> float32 vector; safe to share between processes.

    ``max_vectors``: the cap (default ``MYCELIAL_CACHE_MAX_VECTORS``; 0 = none).

    ``seed``: another cache file read (``mode=ro``) for the vectors this one lacks; it is never
    written or purged, so forgetting removes a text's vectors from this file only.
    """

    def __init__(self, path: str | os.PathLike, seed: str | os.PathLike | None = None,
                 max_vectors: int | None = None):
        self.path = cache_file(path)
        self.seed = None if seed is None or Path(seed).resolve() == self.path.resolve() else Path(seed)
        self.max_vectors = (cache_max_vectors() if max_vectors is None else max_vectors) or None  # 0: no cap
        self._local = threading.local()
        self._rows: int | None = None  # rows at the last count plus this process's puts since (an upper bound)
        self._lru = True  # False: an older file that could not be given its `used` column (not writable)
        self._warned = False  # a put to a file that cannot be written is skipped with one warning

    @property
    def _seed_conn(self) -> sqlite3.Connection | None:
        """The seed opened so that nothing beside it is made or written (see ``read_only_uri``): ``mode=ro``
        made its ``-wal``/``-shm``; reopened when a writer appears beside an ``immutable`` one."""
        if self.seed is None or not self.seed.is_file():
            return None
        conn = getattr(self._local, "seed", None)
        opened = getattr(self._local, "seed_immutable", None)
        if conn is not None and opened and writer_appeared(self.seed, opened):
            conn.close()
            conn = None
        if conn is None:
            uri, immutable = read_only_uri(self.seed, untouched=True)
            conn = self._local.seed = sqlite3.connect(uri, uri=True, timeout=60)
            self._local.seed_immutable = file_stamp(self.seed) if immutable else None
        return conn

    @property
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        opened = getattr(self._local, "immutable", None)
        if conn is not None and opened and writer_appeared(self.path, opened):
            conn.close()  # a writer started: immutable reads would miss its vectors (and see torn pages)
            conn = self._local.conn = None
        if conn is None and self.path.is_file() and not (os.access(self.path, os.W_OK)
                                                         and folder_writable(self.path)):
            conn = self._local.conn = self._read_only_conn()
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
            try:
                if "used" not in {r[1] for r in conn.execute("PRAGMA table_info(embeddings)")}:
                    try:  # a file of an older version: its rows count as least recently used
                        conn.execute("ALTER TABLE embeddings ADD COLUMN used INTEGER NOT NULL DEFAULT 0")
                    except sqlite3.OperationalError as exc:  # another process added it first
                        if "duplicate column" not in str(exc):
                            raise
                conn.execute("CREATE INDEX IF NOT EXISTS embeddings_used ON embeddings (used)")
            except sqlite3.OperationalError as exc:  # not writable: embedding failed where it used to read
                if not _read_only(exc):
                    raise
                self._lru = "used" in {r[1] for r in conn.execute("PRAGMA table_info(embeddings)")}
            self._local.conn = conn
        return conn

    def _read_only_conn(self) -> sqlite3.Connection:
        """A file this process cannot write, opened ``mode=ro`` (see core._sqlite_ro): ``PRAGMA
        auto_vacuum`` on it raised "attempt to write a readonly database" before any lookup. One it
        cannot read at all is replaced by an empty in-memory table, said once: it is only a cache."""
        self._local.immutable = None
        try:
            uri, immutable = read_only_uri(self.path)
            conn = sqlite3.connect(uri, uri=True, timeout=60)
            self._lru = "used" in {r[1] for r in conn.execute("PRAGMA table_info(embeddings)")}
            self._local.immutable = file_stamp(self.path) if immutable else None
            return conn
        except sqlite3.OperationalError as exc:
            if not self._warned:
                self._warned = True
                log.warning("the embedding cache %s cannot be read here (%s): vectors are computed and not kept",
                            self.path, exc)
            conn = sqlite3.connect(":memory:")
            conn.execute("CREATE TABLE embeddings (model TEXT NOT NULL, key BLOB NOT NULL, vector BLOB NOT NULL,"
                         " used INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (model, key)) WITHOUT ROWID")
            self._lru = False
            return conn

    @staticmethod
    def key(text: str) -> bytes:
        return hashlib.sha1(text.encode("utf-8")).digest()

    def get(self, model: str, keys: Sequence[bytes], dim: int) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        conn = self._conn
        unique, stale = list(dict.fromkeys(keys)), ([] if self._lru else None)
        _lookup(conn, model, unique, dim, found, stale)
        if stale:
            self._touch(model, stale)
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
        """Remove these texts' vectors under every model (forget), zeroed on disk; returns rows deleted.
        A file this process cannot write keeps them, said (a forget that had committed ended in "attempt
        to write a readonly database", exit 1)."""
        try:
            return self._delete(keys)
        except sqlite3.OperationalError as exc:
            if not _read_only(exc):
                raise
            log.warning("the embedding cache %s cannot be written (%s): the forgotten text's vectors stay in "
                        "it until its owner deletes the file", self.path, exc)
            return 0

    def _delete(self, keys: Sequence[bytes]) -> int:
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

    def _touch(self, model: str, keys: list[bytes]) -> None:
        """Stamp these rows used now (once a day a row: the next lookups are reads only)."""
        conn, now = self._conn, int(time.time())
        try:
            with conn:
                for start in range(0, len(keys), _SQLITE_MAX_VARS):
                    chunk = keys[start:start + _SQLITE_MAX_VARS]
                    conn.execute(f"UPDATE embeddings SET used = ? WHERE model = ? AND key IN "
                                 f"({','.join('?' * len(chunk))})", [now, model, *chunk])
        except sqlite3.OperationalError:  # a read-only or busy file: the vectors were read all the same
            pass

    def put(self, model: str, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        now = int(time.time())
        rows = [(model, k, np.ascontiguousarray(v, dtype=np.float32).tobytes(), now)
                for k, v in zip(keys, vectors)]
        conn = self._conn
        try:
            with conn:  # the rows and any eviction they cause commit together
                if self._lru:
                    conn.executemany(
                        "INSERT OR REPLACE INTO embeddings (model, key, vector, used) VALUES (?, ?, ?, ?)", rows)
                else:  # only a file that cannot be written lacks the column: this raises "readonly" below
                    conn.executemany("INSERT OR REPLACE INTO embeddings (model, key, vector) VALUES (?, ?, ?)",
                                     [r[:3] for r in rows])
                if rows:
                    self._evict(len(rows), len(rows[0][2]))
        except sqlite3.OperationalError as exc:
            if not _read_only(exc):  # a busy file past its timeout, a full disk: said, not hidden
                raise
            if not self._warned:
                self._warned = True
                log.warning("the embedding cache %s cannot be written (%s): its vectors are read, new ones "
                            "are computed and not kept", self.path, exc)

    def _evict(self, added: int, row_bytes: int) -> int:
        """Over the cap: delete the least recently used rows down to ``_KEEP`` of it; returns rows deleted.

        The count (a scan of the small ``used`` index) runs only when the file could hold more rows
        than the cap (each row takes at least its vector's bytes) and this process's tally is over it."""
        cap, conn = self.max_vectors, self._conn
        if cap is None or not self._lru:
            return 0
        if self._rows is not None:
            self._rows += added
            if self._rows <= cap:
                return 0
        pages = conn.execute("PRAGMA page_count").fetchone()[0] * conn.execute("PRAGMA page_size").fetchone()[0]
        if pages < cap * row_bytes:
            return 0
        self._rows = conn.execute("SELECT count(*) FROM embeddings").fetchone()[0]
        if self._rows <= cap:
            return 0
        n = self._rows - int(cap * _KEEP)
        gone = conn.execute("DELETE FROM embeddings WHERE (model, key) IN "
                            "(SELECT model, key FROM embeddings ORDER BY used LIMIT ?)", (n,)).rowcount
        self._rows -= gone
        return gone
