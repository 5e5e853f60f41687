"""The document store: SQLite (WAL) is the source of truth of a memory.

It holds documents, their chunks (text, order, 4-byte codes, float16 embedding, the
phrases mentioned) and a log of forgotten documents, so derived state (the vector index,
the Hebbian network) can always be caught up or rebuilt from it. One :class:`Store`
owns the writing connection; reads from other threads use their own connections and see
the last committed snapshot (WAL), so recall never waits for an ingest transaction.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

SQLITE_MAX_VARS = 900


class StoreError(RuntimeError):
    """The store file is not a Mycelial memory or was written by a newer version."""


# Read connections map the database file (up to this size) instead of copying pages
# through read(): the re-ranking fetch of a recall at 1M chunks is ~2x faster.
READ_MMAP_BYTES = 1 << 32

# Named migrations, applied in order and recorded in `_migrations` (sqlite-utils' manner).
MIGRATIONS: list[tuple[str, str]] = [
    ("0001_initial", """
        CREATE TABLE documents (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            doc_key TEXT NOT NULL UNIQUE,
            title TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL DEFAULT '',
            meta TEXT NOT NULL DEFAULT '{}',
            content_hash TEXT NOT NULL DEFAULT '',
            chunk_ids BLOB NOT NULL,
            created REAL NOT NULL
        );
        CREATE TABLE chunks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            hash BLOB NOT NULL UNIQUE,
            doc_id INTEGER NOT NULL,
            position INTEGER NOT NULL,
            refs INTEGER NOT NULL DEFAULT 1,
            text TEXT,
            codes BLOB NOT NULL,
            embedding BLOB NOT NULL,
            phrases TEXT NOT NULL DEFAULT '[]'
        );
        CREATE TABLE doc_chunks (
            doc_id INTEGER NOT NULL,
            position INTEGER NOT NULL,
            chunk_id INTEGER NOT NULL,
            PRIMARY KEY (doc_id, position)
        ) WITHOUT ROWID;
        CREATE INDEX doc_chunks_chunk ON doc_chunks (chunk_id);
        CREATE TABLE forget_log (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            doc_id INTEGER NOT NULL,
            doc_key TEXT NOT NULL,
            codes BLOB NOT NULL,
            removed BLOB NOT NULL,
            created REAL NOT NULL
        );
        CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """),
]


def _ids_blob(ids) -> bytes:
    return np.asarray(ids, dtype=np.int64).tobytes()


def _ids(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.int64)


class Store:
    """SQLite store of documents and chunks.

    Parameters
    ----------
    path : str or Path, optional
        The database file (created if missing). Exactly one of ``path`` and ``memory``.
    memory : bool, default=False
        An in-memory database (tests).
    read_only : bool, default=False
        Open with ``mode=ro`` (never writes; on a folder that cannot be written, also
        ``immutable=1``, since SQLite could not create the WAL index there).
    batch_size : int, default=500
        Rows per statement for bulk reads; clamped to SQLite's variable limit.

    Examples
    --------
    >>> with Store(memory=True) as st:
    ...     st.count_chunks()
    0
    """

    def __init__(self, path=None, *, memory: bool = False, batch_size: int = 500, read_only: bool = False):
        if (path is None) == (not memory):
            raise ValueError("Either specify a path or pass memory=True")
        self.path = None if memory else Path(path)
        self.read_only = bool(read_only) and not memory
        if self.read_only and not self.path.is_file():
            raise FileNotFoundError(f"{self.path} not found (a read-only store is never created)")
        self.batch_size = max(1, min(int(batch_size), SQLITE_MAX_VARS))
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._conn = self._connect()
        self._migrate()

    # -- connection -------------------------------------------------------------------
    def _open_conn(self) -> sqlite3.Connection:
        if self.path is None:
            return sqlite3.connect(":memory:", timeout=60, isolation_level=None, check_same_thread=False)
        if not self.read_only:
            return sqlite3.connect(str(self.path), timeout=60, isolation_level=None, check_same_thread=False)
        immutable = "&immutable=1" if not os.access(self.path.parent, os.W_OK) else ""
        uri = f"{self.path.resolve().as_uri()}?mode=ro{immutable}"
        return sqlite3.connect(uri, uri=True, timeout=60, isolation_level=None, check_same_thread=False)

    def _connect(self) -> sqlite3.Connection:
        target = ":memory:" if self.path is None else str(self.path)
        conn = self._open_conn()
        try:
            if self.path is not None and not self.read_only:
                conn.execute("PRAGMA journal_mode=WAL")
                # FULL: the WAL is fsynced at every commit, so a committed ingest survives a power
                # cut (NORMAL may lose the last commits, leaving derived state ahead of SQLite).
                # One fsync per batch of 256 chunks: no measurable ingest cost.
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute("PRAGMA secure_delete=ON")  # forgotten text is zeroed, not left in free pages
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(f"{target} is not a SQLite database ({exc})") from None
        return conn

    @property
    def _reader(self) -> sqlite3.Connection:
        """A per-thread read connection (the owner's for in-memory stores)."""
        if self.path is None:
            return self._conn
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open_conn()
            conn.execute(f"PRAGMA mmap_size={READ_MMAP_BYTES}")
            self._local.conn = conn
            self._readers.append(conn)
        return conn

    def close(self) -> None:
        for conn in self._readers:
            conn.close()
        self._readers.clear()
        self._local = threading.local()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @contextmanager
    def atomic(self):
        """One transaction; nested calls become SAVEPOINTs. Rolls back on any exception."""
        conn = self._conn
        if conn.in_transaction:
            name = f"sp{id(object())}"
            conn.execute(f"SAVEPOINT {name}")
            try:
                yield
            except BaseException:
                conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                conn.execute(f"RELEASE SAVEPOINT {name}")
                raise
            else:
                conn.execute(f"RELEASE SAVEPOINT {name}")
        else:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")

    def _migrate(self) -> None:
        self._owner = threading.current_thread()
        conn = self._conn
        if self.read_only:
            try:
                done = {r[0] for r in conn.execute("SELECT name FROM _migrations")}
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{self.path} is not a Mycelial store ({exc})") from None
            if done != {name for name, _ in MIGRATIONS}:
                raise StoreError(f"{self.path} needs migrations {sorted({n for n, _ in MIGRATIONS} - done)} "
                                 f"or was written by a newer version; open it writable once")
            return
        conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied REAL NOT NULL)")
        done = {r[0] for r in conn.execute("SELECT name FROM _migrations")}
        known = {name for name, _ in MIGRATIONS}
        unknown = done - known
        if unknown:
            raise StoreError(f"store was written by a newer version (migrations {sorted(unknown)})")
        for name, sql in MIGRATIONS:
            if name in done:
                continue
            with self.atomic():
                for statement in sql.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute("INSERT INTO _migrations VALUES (?, ?)", (name, time.time()))
        if self.get_setting("store_uuid") is None:
            with self.atomic():
                self.set_setting("store_uuid", uuid.uuid4().hex)

    @property
    def uuid(self) -> str | None:
        """A random id made when the store was created: derived state built from another store is discarded."""
        return self.get_setting("store_uuid")

    def observed_chunks(self) -> int:
        """Chunk occurrences over all documents: what the network's event count must equal."""
        row = self._reader.execute("SELECT coalesce(sum(length(chunk_ids)), 0) FROM documents").fetchone()
        return int(row[0]) // 8

    @contextmanager
    def snapshot(self):
        """Reads of this thread inside the block see one committed state (a read transaction)."""
        conn = self._reader
        if conn.in_transaction or (self.path is None):
            yield
            return
        conn.execute("BEGIN")
        try:
            yield
        finally:
            conn.execute("COMMIT")

    # -- settings ---------------------------------------------------------------------
    def get_setting(self, key: str, default=None):
        row = self._reader.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def set_setting(self, key: str, value) -> None:
        self._conn.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", (key, json.dumps(value)))

    # -- writes -----------------------------------------------------------------------
    def chunk_ids_by_hash(self, hashes: list[bytes]) -> dict[bytes, int]:
        """Ids of chunks already stored, keyed by hash (dedupe before embedding)."""
        found: dict[bytes, int] = {}
        unique = list(dict.fromkeys(hashes))
        for start in range(0, len(unique), self.batch_size):
            part = unique[start:start + self.batch_size]
            marks = ",".join("?" * len(part))
            for h, cid in self._conn.execute(f"SELECT hash, id FROM chunks WHERE hash IN ({marks})", part):
                found[bytes(h)] = cid
        return found

    def document(self, doc_key: str) -> dict | None:
        row = self._reader.execute(
            "SELECT id, doc_key, title, source, meta, content_hash, chunk_ids FROM documents WHERE doc_key = ?",
            (doc_key,)).fetchone()
        if row is None:
            return None
        return {"id": row[0], "doc_key": row[1], "title": row[2], "source": row[3],
                "meta": json.loads(row[4]), "content_hash": row[5], "chunk_ids": _ids(row[6])}

    def add_document(self, doc_key: str, title: str, source: str, meta: dict, content_hash: str,
                     hashes: list[bytes], texts: list, codes: np.ndarray, embeddings: np.ndarray,
                     phrases: list[list[str]]) -> tuple[int, np.ndarray, np.ndarray]:
        """Insert one document and its chunks (call inside :meth:`atomic`); see :meth:`add_documents`."""
        return self.add_documents([(doc_key, title, source, meta, content_hash, hashes, texts, codes,
                                    embeddings, phrases)])[0]

    def add_documents(self, docs) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """Insert documents and their chunks in bulk (call inside :meth:`atomic`).

        Parameters
        ----------
        docs : list of tuples
            ``(doc_key, title, source, meta, content_hash, hashes, texts, codes uint8 (n, heads),
            embeddings (n, d), phrases)`` per document.

        Chunks whose hash is already stored (or appears earlier in ``docs``) are referenced,
        not stored again. Ids are assigned here, in order, after the highest id ever used.

        Returns
        -------
        list of (doc_id, chunk_ids int64 in order, new bool: stored by this call)
        """
        conn = self._conn
        seqs = dict(conn.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
        next_doc = seqs.get("documents", 0) + 1
        next_chunk = seqs.get("chunks", 0) + 1
        existing = self.chunk_ids_by_hash([h for d in docs for h in d[5]])
        doc_rows, chunk_rows, link_rows, refs, out = [], [], [], [], []
        now = time.time()
        for doc_key, title, source, meta, content_hash, hashes, texts, codes, embeddings, phrases in docs:
            doc_id, next_doc = next_doc, next_doc + 1
            codes = np.ascontiguousarray(codes, dtype=np.uint8)
            emb16 = np.ascontiguousarray(embeddings, dtype=np.float16)
            ids = np.empty(len(hashes), dtype=np.int64)
            new = np.zeros(len(hashes), dtype=bool)
            for pos, h in enumerate(hashes):
                cid = existing.get(h)
                if cid is None:
                    cid, next_chunk = next_chunk, next_chunk + 1
                    existing[h] = cid
                    new[pos] = True
                    chunk_rows.append((cid, h, doc_id, pos, texts[pos], codes[pos].tobytes(), emb16[pos].tobytes(),
                                       json.dumps(phrases[pos], ensure_ascii=False) if phrases else "[]"))
                else:
                    refs.append((cid,))
                ids[pos] = cid
                link_rows.append((doc_id, pos, cid))
            doc_rows.append((doc_id, doc_key, title, source, json.dumps(meta, ensure_ascii=False, default=str),
                             content_hash, _ids_blob(ids), now))
            out.append((doc_id, ids, new))
        conn.executemany("INSERT INTO documents (id, doc_key, title, source, meta, content_hash, chunk_ids, created)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", doc_rows)
        conn.executemany("INSERT INTO chunks (id, hash, doc_id, position, text, codes, embedding, phrases)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", chunk_rows)
        conn.executemany("INSERT INTO doc_chunks VALUES (?, ?, ?)", link_rows)
        conn.executemany("UPDATE chunks SET refs = refs + 1 WHERE id = ?", refs)
        return out

    def forget(self, doc_key: str) -> dict | None:
        """Delete a document; chunks no other document references are deleted too.

        Writes a forget-log entry (the document's codes in order and the removed chunk
        ids) in the same transaction, so derived state can replay it exactly.
        Returns ``None`` when no such document exists.
        """
        with self.atomic():
            doc = self._document_w(doc_key)
            if doc is None:
                return None
            ids = doc["chunk_ids"]
            codes = self.codes(ids)
            removed = []
            conn = self._conn
            for cid in ids:
                conn.execute("UPDATE chunks SET refs = refs - 1 WHERE id = ?", (int(cid),))
            conn.execute("DELETE FROM doc_chunks WHERE doc_id = ?", (doc["id"],))
            for cid in dict.fromkeys(int(c) for c in ids):
                row = conn.execute("SELECT refs, doc_id FROM chunks WHERE id = ?", (cid,)).fetchone()
                if row[0] <= 0:
                    conn.execute("DELETE FROM chunks WHERE id = ?", (cid,))
                    removed.append(cid)
                elif row[1] == doc["id"]:  # hand the chunk to a document that still holds it
                    other = conn.execute("SELECT doc_id, position FROM doc_chunks WHERE chunk_id = ? LIMIT 1",
                                         (cid,)).fetchone()
                    conn.execute("UPDATE chunks SET doc_id = ?, position = ? WHERE id = ?", (*other, cid))
            conn.execute("DELETE FROM documents WHERE id = ?", (doc["id"],))
            seq = conn.execute(
                "INSERT INTO forget_log (doc_id, doc_key, codes, removed, created) VALUES (?, ?, ?, ?, ?)",
                (doc["id"], doc_key, codes.tobytes(), _ids_blob(removed), time.time())).lastrowid
        return {"seq": seq, "doc_id": doc["id"], "codes": codes, "removed": np.asarray(removed, dtype=np.int64)}

    def _document_w(self, doc_key):
        row = self._conn.execute("SELECT id, chunk_ids FROM documents WHERE doc_key = ?", (doc_key,)).fetchone()
        return None if row is None else {"id": row[0], "chunk_ids": _ids(row[1])}

    # -- reads ------------------------------------------------------------------------
    def _in_batches(self, ids, sql: str, conn=None):
        conn = conn or self._reader
        ids = ids.tolist() if isinstance(ids, np.ndarray) else [int(i) for i in ids]
        for start in range(0, len(ids), self.batch_size):
            part = ids[start:start + self.batch_size]
            yield from conn.execute(sql.format(marks=",".join("?" * len(part))), part)

    def codes(self, chunk_ids) -> np.ndarray:
        """uint8 (n, heads) codes of the chunks, in the order given (repeats allowed)."""
        rows = {cid: blob for cid, blob in self._in_batches(
            set(int(c) for c in chunk_ids), "SELECT id, codes FROM chunks WHERE id IN ({marks})",
            self._reader if self.read_only else self._conn)}
        if not len(chunk_ids):
            return np.zeros((0, 0), dtype=np.uint8)
        return np.stack([np.frombuffer(rows[int(c)], dtype=np.uint8) for c in chunk_ids])

    def embeddings(self, chunk_ids) -> tuple[np.ndarray, np.ndarray]:
        """(found ids, float32 embeddings) of the chunks that still exist, in the order given.

        Ids are looked up in ascending order (neighbouring B-tree pages): on a 1M-chunk
        memory this is the hot read of every recall (re-ranking ~160 candidates).
        """
        ids = np.asarray(chunk_ids, dtype=np.int64).ravel()
        rows = dict(self._in_batches(np.unique(ids), "SELECT id, embedding FROM chunks WHERE id IN ({marks})"))
        if len(rows) < len(ids):
            ids = ids[np.fromiter((int(c) in rows for c in ids), dtype=bool, count=len(ids))]
        if not len(ids):
            return ids, np.zeros((0, 0), dtype=np.float32)
        X = np.frombuffer(b"".join([rows[c] for c in ids.tolist()]), dtype=np.float16)
        return ids, X.reshape(len(ids), -1).astype(np.float32)

    def chunk_rows(self, chunk_ids) -> dict[int, dict]:
        """id -> {text, doc_key, title, position, codes, phrases} for existing chunks."""
        out = {}
        sql = ("SELECT c.id, c.text, d.doc_key, d.title, c.position, c.codes, c.phrases"
               " FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.id IN ({marks})")
        for cid, text, key, title, pos, codes, phrases in self._in_batches(sorted(set(chunk_ids)), sql):
            out[cid] = {"text": text, "doc_key": key, "title": title, "position": pos,
                        "codes": np.frombuffer(codes, dtype=np.uint8),
                        "phrases": json.loads(phrases) if phrases != "[]" else []}
        return out

    def iter_chunks(self, after: int = 0, columns: str = "id, codes, embedding",
                    batch: int = 20_000) -> Iterator[list[tuple]]:
        """Batches of chunk rows with id > ``after``, in id order (for catching up derived state)."""
        conn = self._reader
        last = after
        while True:
            rows = conn.execute(f"SELECT {columns} FROM chunks WHERE id > ? ORDER BY id LIMIT ?",
                                (last, batch)).fetchall()
            if not rows:
                return
            yield rows
            last = rows[-1][0]

    def iter_documents(self, after: int = 0, batch: int = 2_000) -> Iterator[list[tuple[int, np.ndarray]]]:
        """Batches of (doc id, chunk ids in order) with doc id > ``after``."""
        conn = self._reader
        last = after
        while True:
            rows = conn.execute("SELECT id, chunk_ids FROM documents WHERE id > ? ORDER BY id LIMIT ?",
                                (last, batch)).fetchall()
            if not rows:
                return
            yield [(r[0], _ids(r[1])) for r in rows]
            last = rows[-1][0]

    def forget_log(self, after_seq: int = 0) -> list[dict]:
        rows = self._reader.execute(
            "SELECT seq, doc_id, codes, removed FROM forget_log WHERE seq > ? ORDER BY seq", (after_seq,))
        return [{"seq": s, "doc_id": d, "codes": np.frombuffer(c, dtype=np.uint8), "removed": _ids(r)}
                for s, d, c, r in rows]

    def last_ids(self) -> dict:
        """Highest chunk id, document id and forget-log sequence ever used (0 if none)."""
        conn = self._reader
        seqs = dict(conn.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
        return {"chunk": seqs.get("chunks", 0), "doc": seqs.get("documents", 0), "forget": seqs.get("forget_log", 0)}

    def existing_documents(self, doc_keys) -> set[str]:
        """The subset of ``doc_keys`` already stored."""
        keys = [str(k) for k in doc_keys]
        out: set[str] = set()
        for start in range(0, len(keys), self.batch_size):
            part = keys[start:start + self.batch_size]
            marks = ",".join("?" * len(part))
            out.update(r[0] for r in self._conn.execute(f"SELECT doc_key FROM documents WHERE doc_key IN ({marks})", part))
        return out

    def count_chunks(self) -> int:
        return self._reader.execute("SELECT count(*) FROM chunks").fetchone()[0]

    def count_documents(self) -> int:
        return self._reader.execute("SELECT count(*) FROM documents").fetchone()[0]

    def document_keys(self, chunk_ids) -> dict[int, list[str]]:
        """Every document key that holds each chunk (a deduplicated chunk may have several)."""
        out: dict[int, list[str]] = {}
        sql = ("SELECT dc.chunk_id, d.doc_key FROM doc_chunks dc JOIN documents d ON d.id = dc.doc_id"
               " WHERE dc.chunk_id IN ({marks})")
        for cid, key in self._in_batches(chunk_ids, sql):
            out.setdefault(cid, []).append(key)
        return out
