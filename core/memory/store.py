"""The document store: SQLite (WAL) is the source of truth of a memory.

It holds documents, their chunks (text, order, 4-byte codes, float16 embedding, the
phrases mentioned) and a log of forgotten documents, so derived state (the vector index,
the Hebbian network) can always be caught up or rebuilt from it. One :class:`Store`
owns the writing connection; reads from other threads use their own connections and see
the last committed snapshot (WAL), so recall never waits for an ingest transaction.
"""
from __future__ import annotations

import json
import time

import numpy as np

from core.memory._schema import MIGRATIONS, READ_MMAP_BYTES, SQLITE_MAX_VARS, StoreBase, StoreError, truncate_wal
from core.memory._formats import JSONL
from core.memory._names import stored_key
from core.memory._store_reads import StoreReads, _ids
from core.memory._vecfile import forgotten

# the records of a JSONL file, plain or gzipped: _formats.is_jsonl in SQL
_JSONL_LIKE = " OR ".join(f"lower(source) LIKE '%{suffix}'" for suffix in JSONL)

__all__ = ["Store", "StoreError", "MIGRATIONS", "READ_MMAP_BYTES", "SQLITE_MAX_VARS"]


# json.dumps(x, ensure_ascii=False[, default=str]) without building an encoder per call (the same text)
_json = json.JSONEncoder(ensure_ascii=False).encode
_json_meta = json.JSONEncoder(ensure_ascii=False, default=str).encode
_encode_str = json.encoder.encode_basestring  # what the encoder above writes a str as (C)


def _phrases_json(phrases) -> str:
    """``_json(phrases)`` for a list of str, the same text ~2x faster (a chunk's phrase list: the
    encoder's two Python frames a call cost more than the strings)."""
    if type(phrases) is list and all(type(p) is str for p in phrases):
        return "[" + ", ".join(map(_encode_str, phrases)) + "]"
    return _json(phrases)


def _ids_blob(ids) -> bytes:
    return np.asarray(ids, dtype=np.int64).tobytes()


class Store(StoreReads, StoreBase):
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
    rows_per_statement : int, default=500
        Keys bound per ``IN (...)`` statement of bulk reads; clamped to SQLite's variable limit
        (formerly ``batch_size``, still accepted by keyword with a DeprecationWarning).

    Examples
    --------
    >>> with Store(memory=True) as st:
    ...     st.count_chunks()
    0
    """

    # -- writes -----------------------------------------------------------------------
    def chunk_ids_by_hash(self, hashes: list[bytes]) -> dict[bytes, int]:
        """Ids of chunks already stored, keyed by hash (dedupe before embedding)."""
        found: dict[bytes, int] = {}
        unique = list(dict.fromkeys(hashes))
        for start in range(0, len(unique), self.rows_per_statement):
            part = unique[start:start + self.rows_per_statement]
            marks = ",".join("?" * len(part))
            for h, cid in self._conn.execute(f"SELECT hash, id FROM chunks WHERE hash IN ({marks})", part):
                found[bytes(h)] = cid
        return found

    def document(self, doc_key: str) -> dict | None:
        """The document ``doc_key`` names, in any Unicode form (core.memory._names)."""
        doc_key = stored_key(self, doc_key, self._reader)
        row = self._reader.execute(
            "SELECT id, doc_key, title, source, meta, content_hash, chunk_ids, created FROM documents WHERE doc_key = ?",
            (doc_key,)).fetchone()
        if row is None:
            return None
        return {"id": row[0], "doc_key": row[1], "title": row[2], "source": row[3],
                "meta": json.loads(row[4]), "content_hash": row[5], "chunk_ids": _ids(row[6]), "created": row[7]}

    def content_hashes(self, doc_keys) -> dict[str, str]:
        """doc_key -> content hash of the stored documents among ``doc_keys`` (one query per
        ``rows_per_statement`` keys: ingest's unchanged-document test)."""
        keys, out = list(dict.fromkeys(doc_keys)), {}
        for start in range(0, len(keys), self.rows_per_statement):
            part = keys[start:start + self.rows_per_statement]
            out.update(self._reader.execute(f"SELECT doc_key, content_hash FROM documents WHERE doc_key IN "
                                            f"({','.join('?' * len(part))})", part).fetchall())
        return out

    def relocate(self, rows, roots: dict | None = None, dirs: dict | None = None) -> int:
        """Record the new place of moved files, in one transaction: ``(doc_key, source, meta)`` rows,
        then every other file document of each gone folder in ``roots`` ({old root: (new root, path
        prefix)}), then the source of every JSONL record under a gone folder in ``dirs`` ({old/: new/}).
        `mv notes notes2; ingest notes2` kept root=notes, so ``--sync`` of notes2 could not find its
        documents. Returns how many documents changed."""
        conn = self._conn
        with self.atomic():
            n = conn.executemany("UPDATE documents SET source = ?, meta = ? WHERE doc_key = ?",
                                 [(source, _json_meta(meta), key) for key, source, meta in rows]).rowcount
            for old, (new, prefix) in (roots or {}).items():
                n += conn.execute(
                    "UPDATE documents SET source = ?1 || doc_key, meta = json_set(meta, '$.root', ?2, '$.path', ?1 ||"
                    " doc_key) WHERE json_valid(meta) AND json_extract(meta, '$.root') = ?3"
                    " AND source = json_extract(meta, '$.path')", (prefix, new, old)).rowcount
            for old, new in (dirs or {}).items():  # records are no files: their meta has no path of its own
                n += conn.execute(
                    "UPDATE documents SET source = ?2 || substr(source, length(?1) + 1) WHERE substr(source, 1, "
                    f"length(?1)) = ?1 AND ({_JSONL_LIKE}) AND NOT (json_valid(meta) AND "
                    "json_extract(meta, '$.path') IS source)", (old, new)).rowcount
        return n

    def add_document(self, doc_key: str, title: str, source: str, meta: dict, content_hash: str,
                     hashes: list[bytes], texts: list, codes: np.ndarray, embeddings: np.ndarray,
                     phrases: list[list[str]]) -> tuple[int, np.ndarray, np.ndarray]:
        """Insert one document and its chunks (call inside :meth:`atomic`); see :meth:`add_documents`."""
        return self.add_documents([(doc_key, title, source, meta, content_hash, hashes, texts, codes,
                                    embeddings, phrases)])[0]

    def add_documents(self, docs, known: dict | None = None) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """Insert documents and their chunks in bulk (call inside :meth:`atomic`).

        Parameters
        ----------
        docs : list of tuples
            ``(doc_key, title, source, meta, content_hash, hashes, texts, codes uint8 (n, heads),
            embeddings (n, d), phrases)`` per document.

        Chunks whose hash is already stored (or appears earlier in ``docs``) are referenced,
        not stored again. Ids are assigned here, in order, after the highest id ever used.
        ``known``: {hash: id} of the stored chunks among the hashes, when the caller has just
        read them (ingest); else they are looked up.

        Returns
        -------
        list of (doc_id, chunk_ids int64 in order, new bool: stored by this call)
        """
        conn = self._conn
        seqs = dict(conn.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
        next_doc = seqs.get("documents", 0) + 1
        next_chunk = seqs.get("chunks", 0) + 1
        existing = dict(known) if known is not None else self.chunk_ids_by_hash([h for d in docs for h in d[5]])
        doc_rows, chunk_rows, link_rows, refs, out, new_phrases = [], [], [], [], [], []
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
                    new_phrases.append(phrases[pos] if phrases else [])
                    chunk_rows.append((cid, h, doc_id, pos, texts[pos], codes[pos].tobytes(), emb16[pos].tobytes(),
                                       _phrases_json(new_phrases[-1])))
                else:
                    refs.append((cid,))
                ids[pos] = cid
                link_rows.append((doc_id, pos, cid))
            doc_rows.append((doc_id, doc_key, title, source, _json_meta(meta),
                             content_hash, _ids_blob(ids), now))
            out.append((doc_id, ids, new))
        conn.executemany("INSERT INTO documents (id, doc_key, title, source, meta, content_hash, chunk_ids, created)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", doc_rows)
        conn.executemany("INSERT INTO chunks (id, hash, doc_id, position, text, codes, embedding, phrases)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", chunk_rows)
        conn.executemany("INSERT INTO doc_chunks VALUES (?, ?, ?)", link_rows)
        conn.executemany("UPDATE chunks SET refs = refs + 1 WHERE id = ?", refs)
        self._count_concepts(new_phrases, +1)
        return out

    # -- the concept vocabulary -------------------------------------------------------
    def _count_concepts(self, phrase_lists, sign: int, prune: bool = True) -> None:
        """Document frequency of concepts: +1 per new chunk naming one (new concepts numbered in
        order of first appearance), -1 per deleted chunk; a concept no chunk names any more is
        deleted (its id is never reused: AUTOINCREMENT), so forget leaves no concept text behind."""
        df: dict[str, int] = {}
        for plist in phrase_lists:
            for p in dict.fromkeys(plist):
                if isinstance(p, str) and p:
                    df[p] = df.get(p, 0) + 1
        if not df:
            return
        conn = self._conn
        if sign > 0:  # one upsert a concept, in order: new ones inserted with their count, known ones
            # counted up. A conflicting insert uses up an AUTOINCREMENT id as the INSERT OR IGNORE
            # did (then a look-up of the known ids and an UPDATE by id: 3 statements, now 1); the
            # same ids, counts and sqlite_sequence (tests/test_concepts_vocab.py)
            conn.executemany("INSERT INTO concepts (text, df) VALUES (?, ?)"
                             " ON CONFLICT(text) DO UPDATE SET df = df + excluded.df", list(df.items()))
            return
        conn.executemany("UPDATE concepts SET df = df + ? WHERE text = ?", [(sign * n, p) for p, n in df.items()])
        if prune:  # a scan of the table: a batch of forgets prunes once, at its end (``prune_concepts``)
            self.prune_concepts()

    def prune_concepts(self) -> None:
        """Delete the concepts no chunk names any more (call inside :meth:`atomic`)."""
        self._conn.execute("DELETE FROM concepts WHERE df <= 0")

    def recount_concepts(self) -> None:
        """df recomputed from every stored chunk's phrase list (after a repair rewrote phrases whose old
        list is lost): unseen concepts numbered by first appearance, unnamed ones deleted."""
        conn = self._conn
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS _df (t TEXT PRIMARY KEY, n INTEGER, first INTEGER)")
        conn.execute("DELETE FROM _df")
        conn.execute("INSERT INTO _df SELECT j.value, count(DISTINCT c.id), min(c.id * 65536 + j.key) FROM chunks c,"
                     " json_each(c.phrases) j WHERE json_valid(c.phrases) AND json_type(c.phrases) = 'array'"
                     " AND j.type = 'text' AND j.value != '' GROUP BY j.value")
        conn.execute("INSERT OR IGNORE INTO concepts (text, df) SELECT t, 0 FROM _df ORDER BY first")
        conn.execute("UPDATE concepts SET df = coalesce((SELECT n FROM _df WHERE t = concepts.text), 0)")
        conn.execute("DELETE FROM concepts WHERE df <= 0")

    def concept_ids(self, texts, conn=None) -> dict[str, int]:
        """text -> concept id of the known concepts among ``texts``."""
        conn = conn or self._reader
        texts = list(dict.fromkeys(texts))
        out: dict[str, int] = {}
        for start in range(0, len(texts), self.rows_per_statement):
            part = texts[start:start + self.rows_per_statement]
            out.update(conn.execute(f"SELECT text, id FROM concepts WHERE text IN ({','.join('?' * len(part))})",
                                    part).fetchall())
        return out

    def concepts(self, after: int = 0, conn=None) -> list[tuple[int, str, int]]:
        """(id, text, document frequency) of the concepts with id > ``after``, in id order
        (``conn``: e.g. the writing connection, to see its own uncommitted rows)."""
        return (conn or self._reader).execute("SELECT id, text, df FROM concepts WHERE id > ? ORDER BY id",
                                    (int(after),)).fetchall()

    def chunk_concepts(self, chunk_ids, conn=None) -> tuple[np.ndarray, np.ndarray]:
        """CSR (offsets int64 (n+1,), concept ids int64) of the chunks, in the order given (repeats allowed)."""
        conn = conn or (self._reader if self.read_only else self._conn)
        phr = dict(self._in_batches(set(int(c) for c in chunk_ids),
                                    "SELECT id, phrases FROM chunks WHERE id IN ({marks})", conn))
        lists = [json.loads(phr[int(c)]) if phr.get(int(c), "[]") != "[]" else [] for c in chunk_ids]
        ids = self.concept_ids([p for pl in lists for p in pl if isinstance(p, str)], conn)
        rows = [[ids[p] for p in dict.fromkeys(pl) if isinstance(p, str) and p in ids] for pl in lists]
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(r) for r in rows])
        flat = np.fromiter((c for r in rows for c in r), dtype=np.int64, count=int(offsets[-1]))
        return offsets, flat

    def forget(self, doc_key: str, zero_vectors: bool = True, prune_concepts: bool = True) -> dict | None:
        """Delete a document; chunks no other document references are deleted too.

        Writes a forget-log entry (the document's codes in order and the removed chunk
        ids; no key or text) in the same transaction, so derived state can replay it exactly;
        the entry is pruned once derived state is saved. The returned ``texts`` of removed
        chunks let the caller purge them from the embedding cache. ``zero_vectors=False``: the caller
        zeroes the removed rows of the vector file itself (once for many forgets: each is an fsync).
        ``prune_concepts=False``: the caller runs :meth:`prune_concepts` once, in the same transaction,
        after a batch that only forgets (a concept at df 0 is named by no chunk, so no later forget of
        the batch looks it up; an ingest in the transaction would revive its old id).
        Returns ``None`` when no such document exists.
        """
        with self.atomic():
            doc = self._document_w(doc_key)
            if doc is None:
                return None
            ids = doc["chunk_ids"]
            codes = self.codes(ids)
            offsets, concepts = self.chunk_concepts(ids, self._conn)
            removed, texts, removed_phrases = [], [], []
            conn = self._conn
            for cid in ids:
                conn.execute("UPDATE chunks SET refs = refs - 1 WHERE id = ?", (int(cid),))
            conn.execute("DELETE FROM doc_chunks WHERE doc_id = ?", (doc["id"],))
            for cid in dict.fromkeys(int(c) for c in ids):
                row = conn.execute("SELECT refs, doc_id FROM chunks WHERE id = ?", (cid,)).fetchone()
                if row[0] <= 0:
                    text, phrases = conn.execute("SELECT text, phrases FROM chunks WHERE id = ?", (cid,)).fetchone()
                    texts.append(text)
                    removed_phrases.append(json.loads(phrases) if phrases != "[]" else [])
                    conn.execute("DELETE FROM chunks WHERE id = ?", (cid,))
                    removed.append(cid)
                elif row[1] == doc["id"]:  # hand the chunk to a document that still holds it
                    other = conn.execute("SELECT doc_id, position FROM doc_chunks WHERE chunk_id = ? LIMIT 1",
                                         (cid,)).fetchone()
                    conn.execute("UPDATE chunks SET doc_id = ?, position = ? WHERE id = ?", (*other, cid))
            conn.execute("DELETE FROM documents WHERE id = ?", (doc["id"],))
            self._count_concepts(removed_phrases, -1, prune_concepts)
            seq = conn.execute(
                "INSERT INTO forget_log (doc_id, doc_key, codes, removed, created, concepts) VALUES (?, ?, ?, ?, ?, ?)",
                (doc["id"], "", codes.tobytes(), _ids_blob(removed), time.time(),
                 _ids_blob(np.concatenate([[len(ids)], offsets, concepts])))).lastrowid
        if zero_vectors:
            forgotten(self, removed, None if conn.in_transaction else seq)  # committed: the vector file may count it
        return {"seq": seq, "doc_id": doc["id"], "codes": codes, "removed": np.asarray(removed, dtype=np.int64),
                "texts": [t for t in texts if t], "title": doc["title"], "concepts": (offsets, concepts)}

    def prune_forget_log(self, upto_seq: int) -> int:
        """Drop forget-log entries derived state has saved (seq <= ``upto_seq``); returns how many.

        Forgetting must not leave the forgotten codes behind once nothing needs to replay them;
        the sequence numbers stay (AUTOINCREMENT), so marks remain comparable.
        """
        with self.atomic():
            n = self._conn.execute("DELETE FROM forget_log WHERE seq <= ?", (int(upto_seq),)).rowcount
        return n

    def checkpoint(self, patience: float = 1.0) -> bool:
        """Copy the WAL into the database and truncate it (old page images of forgotten rows go too).

        Retries for at most ``patience`` seconds: a recall in flight (a server's reader) holds its
        snapshot for milliseconds, and a forget's checkpoint should not leave the forgotten text in the
        WAL for it. Then gives up: returns False when a reader's snapshot kept SQLite from finishing
        (the next checkpoint, at the latest the writer's close, does it). Waiting out the 60 s busy
        timeout per checkpoint held a forget 122 s beside a reader in a read transaction (its lock, too).
        """
        give_up = time.monotonic() + patience
        while not truncate_wal(self._conn):
            if time.monotonic() >= give_up:
                return False
            time.sleep(0.02)
        return True

    def compact(self) -> int:
        """Give SQLite's free pages back to the file system (VACUUM, then a truncating checkpoint).

        Deleted rows leave free pages that later inserts reuse, so the file stays at its largest
        size: forgetting 36 of 40 articles left memory.sqlite at 8.1 MB with 82% of it free.
        Rewrites the live rows (ids are INTEGER PRIMARY KEYs: kept). Returns the bytes freed."""
        conn = self._conn
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        if not free or conn.in_transaction:
            return 0
        before = self.path.stat().st_size if self.path is not None else 0
        conn.execute("VACUUM")
        self.checkpoint()
        after = self.path.stat().st_size if self.path is not None else 0
        return max(0, before - after) if self.path is not None else free * page

    def _document_w(self, doc_key):
        doc_key = stored_key(self, doc_key, self._conn)
        row = self._conn.execute("SELECT id, chunk_ids, title FROM documents WHERE doc_key = ?", (doc_key,)).fetchone()
        return None if row is None else {"id": row[0], "chunk_ids": _ids(row[1]), "title": row[2] or ""}

    def close(self) -> None:
        vf, self._vecfile = getattr(self, "_vecfile", None), None
        if vf:
            vf.close()
        super().close()
