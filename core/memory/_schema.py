"""Connection, schema and migrations of the memory's SQLite store (the queries live in `store.py`).

Split from `store.py` so each file has one job: this one opens the database (WAL,
``synchronous=FULL``, ``secure_delete``), applies the named migrations and holds the
settings table; a damaged file becomes a `StoreError` naming it and the way out.
"""
from __future__ import annotations

import json
import shlex
import sqlite3
import threading
import time
import uuid
import warnings
from contextlib import contextmanager
from pathlib import Path

from core._sqlite_ro import UnreadableWal, cannot_open_message, read_only_uri, stamp, writer_appeared
from core.memory._names import rename_to_nfc
from core.memory._sqlite_health import damaged_message, disk_full, quick_check

SQLITE_MAX_VARS = 900


def truncate_wal(conn: sqlite3.Connection) -> bool:
    """Checkpoint the WAL and truncate it to 0 bytes, without waiting: a writer that finishes gives back
    the WAL its ingest grew (9.8 MB after 6.5k chunks stayed while the memory, or a reader elsewhere,
    was open). A reader's snapshot in the WAL makes it do what it can (False; the next one retries);
    readers are never blocked. Never inside a transaction (a checkpoint then does nothing)."""
    if conn.in_transaction:
        return False
    try:
        wait = conn.execute("PRAGMA busy_timeout").fetchone()[0]
        conn.execute("PRAGMA busy_timeout=0")
        try:
            return conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
        finally:
            conn.execute(f"PRAGMA busy_timeout={int(wait)}")
    except sqlite3.Error:  # busy, locked or damaged: the WAL stays for the next checkpoint
        return False


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
    # forget leaves no doc key behind: the log keeps only what replay needs (doc id, codes, removed ids)
    ("0002_forget_log_minimal", "UPDATE forget_log SET doc_key = ''"),
    # the concept vocabulary: node ids of the network's concept nodes, stable across reopen,
    # parallel ingest and forget (AUTOINCREMENT: an id is never reused). Existing memories get
    # their concepts numbered by first appearance (chunk id, then order within the chunk), as
    # an ingest of the same chunks would number them. The forget log keeps the concept ids of
    # the forgotten document's chunks (the network unobserves them exactly).
    ("0003_concepts", """
        CREATE TABLE concepts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            text TEXT NOT NULL UNIQUE,
            df INTEGER NOT NULL DEFAULT 0
        );
        INSERT INTO concepts (text, df)
            SELECT j.value, count(*) FROM chunks c,
                json_each(CASE WHEN json_valid(c.phrases) AND json_type(c.phrases) = 'array'
                          THEN c.phrases ELSE '[]' END) j
            WHERE j.type = 'text' AND length(j.value) > 0
            GROUP BY j.value ORDER BY min(c.id * 65536 + j.key);
        ALTER TABLE forget_log ADD COLUMN concepts BLOB NOT NULL DEFAULT x''
    """),
]



class _Connection(sqlite3.Connection):
    """A connection whose damage errors (a garbled page) become `StoreError` naming the file.

    Only the bare ``sqlite3.DatabaseError`` ("database disk image is malformed", "file is not
    a database") is translated; locked, integrity and operational errors pass unchanged.
    """

    store_path = None
    immutable = None  # opened `immutable=1`: the file's stamp then (see core._sqlite_ro)

    def execute(self, *args):
        try:
            return super().execute(*args)
        except sqlite3.DatabaseError as exc:
            if type(exc) is not sqlite3.DatabaseError:
                raise
            raise StoreError(damaged_message(self.store_path, exc)) from None

    def executemany(self, *args):
        try:
            return super().executemany(*args)
        except sqlite3.DatabaseError as exc:
            if type(exc) is not sqlite3.DatabaseError:
                raise
            raise StoreError(damaged_message(self.store_path, exc)) from None


class StoreBase:
    """Opens the SQLite file, migrates it, and owns the connections; see :class:`core.memory.store.Store`."""

    def __init__(self, path=None, *, memory: bool = False, rows_per_statement: int = 500, read_only: bool = False,
                 batch_size: int | None = None):
        if (path is None) == (not memory):
            raise ValueError("Either specify a path or pass memory=True")
        self.path = None if memory else Path(path)
        self.read_only = bool(read_only) and not memory
        if self.read_only and not self.path.is_file():
            raise FileNotFoundError(f"{self.path} not found (a read-only store is never created)")
        if batch_size is not None:
            from core.memory._checks import renamed

            rows_per_statement = renamed("batch_size", batch_size, "rows_per_statement", rows_per_statement, 500)
        self.rows_per_statement = max(1, min(int(rows_per_statement), SQLITE_MAX_VARS))
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._conn = self._connect()
        self._migrate()

    @property
    def batch_size(self) -> int:
        """Deprecated name of ``rows_per_statement``."""
        from core.memory._checks import deprecated

        deprecated("Store.batch_size", "rows_per_statement")
        return self.rows_per_statement

    # -- connection -------------------------------------------------------------------
    def _open_conn(self) -> sqlite3.Connection:
        kw = dict(timeout=60, isolation_level=None, check_same_thread=False, factory=_Connection)
        if self.path is None:
            return sqlite3.connect(":memory:", **kw)
        immutable = False
        if not self.read_only:
            conn = sqlite3.connect(str(self.path), **kw)
        else:  # see core._sqlite_ro: immutable only while no writer is open and nothing is in the WAL
            try:
                uri, immutable = read_only_uri(self.path)
            except UnreadableWal as exc:
                raise StoreError(str(exc)) from None
            conn = sqlite3.connect(uri, uri=True, **kw)
        conn.store_path = self.path
        conn.immutable = stamp(self.path) if immutable else None
        return conn

    def _connect(self) -> sqlite3.Connection:
        target = ":memory:" if self.path is None else str(self.path)
        conn = self._open_conn()
        try:
            if self.path is not None and not self.read_only:
                conn.execute("PRAGMA journal_mode=WAL")
                # FULL: the WAL is fsynced at every commit, so a committed ingest survives a power
                # cut (NORMAL may lose the last commits, leaving derived state ahead of SQLite).
                # One fsync per ingest batch of 1,024 chunks: ~9 ms more than NORMAL (README), ~0.1% of its embedding.
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute("PRAGMA secure_delete=ON")  # forgotten text is zeroed, not left in free pages
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except (sqlite3.DatabaseError, StoreError) as exc:
            conn.close()
            if self.read_only and "unable to open" in str(exc):  # the file is there: its -wal/-shm are not
                raise StoreError(cannot_open_message(self.path, exc)) from None
            if self.path is not None and disk_full(self.path):  # the -shm could not be made: it said "damaged"
                raise StoreError(f"cannot open {target}: the disk holding it is full ({exc}); nothing was changed: "
                                 f"free some space and run the command again") from None
            problem = quick_check(self.path) if self.path is not None and self.path.is_file() else None
            if problem:  # SQLite itself is damaged (or the file never was one): repair cannot rebuild it
                raise StoreError(f"{target} is not a SQLite database or is damaged ({' '.join(problem.split())[:160]}); "
                                 f"restore it from a backup (the sqlite3 shell's `.recover` can salvage rows "
                                 f"into a new file)") from None
            exc = str(exc).split(" is damaged (", 1)[-1].split("); run", 1)[0]
            raise StoreError(f"{target} is not a SQLite database ({exc}); if it was a memory, run "
                             f"`mycelial repair --memory "
                             f"{shlex.quote(str(self.path.parent if self.path else target))}`, "
                             f"which checks it (restore it from a backup if that reports damage)") from None
        return conn

    @property
    def _reader(self) -> sqlite3.Connection:
        """A per-thread read connection (the owner's for in-memory stores)."""
        if self.path is None:
            return self._conn
        conn = getattr(self._local, "conn", None)
        if conn is not None and conn.immutable and writer_appeared(self.path, conn.immutable):
            self._readers.remove(conn)  # a writer started: immutable reads would miss its commits
            conn.close()
            conn = None
        if conn is None:
            if self._conn is None:  # closed: a new connection here would never be closed
                raise ValueError(f"memory store {self.path} is closed; open the memory again")
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
            if self.path is not None and not self.read_only:
                truncate_wal(self._conn)  # SQLite deletes the WAL at close only when no other process reads
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
            except (sqlite3.DatabaseError, StoreError) as exc:
                folder = shlex.quote(str(self.path.parent))
                if self.path.stat().st_size == 0:  # repair was advised, and rebuilt an empty memory without a word
                    raise StoreError(f"{self.path} is empty (0 bytes): the documents it held are gone, and the index "
                                     f"and network files cannot give their text back; restore memory.sqlite from a "
                                     f"backup (`mycelial repair --start-empty --memory {folder}` starts the memory over empty)") \
                        from None
                raise StoreError(f"{self.path} is not a Mycelial store ({exc}); "
                                 f"run `mycelial repair --memory {folder}`") from None
            known = {name for name, _ in MIGRATIONS}
            if done - known:
                raise StoreError(f"{self.path} was written by a newer version of Mycelial (migrations "
                                 f"{sorted(done - known)}); upgrade Mycelial to read it")
            if done != known:
                raise StoreError(f"{self.path} was written by an older version of Mycelial and needs "
                                 f"migrations {sorted(known - done)}, which a read-only open cannot apply; "
                                 f"upgrade it once with "
                                 f"`mycelial repair --memory {shlex.quote(str(self.path.parent))}`")
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
        rename_to_nfc(self)  # names an older version stored decomposed (core.memory._names)

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
        """A setting's JSON value; an edited value that is not JSON is reported and treated as unset
        (every setting can be derived again: a new uuid rebuilds derived state, codec/embedder re-bind)."""
        row = self._reader.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        if row is None:
            return default
        try:
            return json.loads(row[0])
        except (TypeError, ValueError):
            warnings.warn(f"{self.path}: setting {key!r} is not valid JSON ({row[0]!r:.60}); treated as unset",
                          stacklevel=2)
            return default

    def set_setting(self, key: str, value) -> None:
        self._conn.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", (key, json.dumps(value)))

