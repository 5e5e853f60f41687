"""Reads of the document store: chunks, documents, concepts counts, the forget log, damage scans.

Split from :mod:`core.memory.store` (which keeps the writes) so each file has one job. Reads run
on the thread's reader connection (WAL: the last committed snapshot), never the writer's, except
where the writer's own uncommitted rows must be seen (``codes`` on a writable store,
``existing_documents``, ``document_vectors``).
"""
from __future__ import annotations

import json
from typing import Iterator

import numpy as np

from core.memory._vecfile import read_vectors


def _ids(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.int64)


def _concept_csr(blob: bytes):
    """(offsets, concept ids) of a forget-log entry (``[n, offsets (n+1), ids]``); None if written before concepts."""
    if not blob:
        return None
    a = _ids(blob)
    n = int(a[0])
    return a[1:n + 2], a[n + 2:]


class StoreReads:
    """The read verbs of :class:`~core.memory.store.Store` (a mixin: it needs ``_reader``, ``_conn``,
    ``read_only`` and ``rows_per_statement`` from :class:`~core.memory._schema.StoreBase`)."""

    def _in_batches(self, ids, sql: str, conn=None):
        conn = conn or self._reader
        ids = ids.tolist() if isinstance(ids, np.ndarray) else [int(i) for i in ids]
        for start in range(0, len(ids), self.rows_per_statement):
            part = ids[start:start + self.rows_per_statement]
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

    def vectors(self, chunk_ids) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`embeddings` for re-ranking: rows from the memory-mapped ``vectors.f16``
        (kept up to date from SQLite, see :mod:`core.memory._vecfile`), SQLite for the rest."""
        return read_vectors(self, chunk_ids)

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
            "SELECT seq, doc_id, codes, removed, concepts FROM forget_log WHERE seq > ? ORDER BY seq", (after_seq,))
        return [{"seq": s, "doc_id": d, "codes": np.frombuffer(c, dtype=np.uint8), "removed": _ids(r),
                 "concepts": _concept_csr(k)} for s, d, c, r, k in rows]

    def damaged_chunks(self, heads: int, dim: int = 384, limit: int = 1000) -> list[tuple]:
        """(id, codes ok, embedding ok, phrases ok) of chunks whose columns do not have their shape.

        One scan by blob length and ``json_valid``: an edited or damaged row becomes a clear
        error or a repair, never a reshape traceback deep in catch-up.
        """
        return self._reader.execute(
            "SELECT id, length(codes) = ?1, length(embedding) = ?2,"
            " CASE WHEN json_valid(phrases) THEN json_type(phrases) = 'array' ELSE 0 END FROM chunks"
            " WHERE typeof(codes) != 'blob' OR length(codes) != ?1 OR typeof(embedding) != 'blob'"
            " OR length(embedding) != ?2 OR NOT CASE WHEN json_valid(phrases) THEN json_type(phrases) = 'array' ELSE 0 END"
            " LIMIT ?3", (int(heads), 2 * int(dim), int(limit))).fetchall()

    def damaged_documents(self, limit: int = 1000) -> list[int]:
        """Ids of documents whose chunk-id list is not a whole number of int64 (edited or damaged)."""
        return [r[0] for r in self._reader.execute(
            "SELECT id FROM documents WHERE typeof(chunk_ids) != 'blob' OR length(chunk_ids) % 8 != 0 LIMIT ?",
            (int(limit),))]

    def last_ids(self) -> dict:
        """Highest chunk id, document id and forget-log sequence ever used (0 if none)."""
        conn = self._reader
        seqs = dict(conn.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
        return {"chunk": seqs.get("chunks", 0), "doc": seqs.get("documents", 0), "forget": seqs.get("forget_log", 0)}

    def existing_documents(self, doc_keys) -> set[str]:
        """The subset of ``doc_keys`` already stored."""
        keys = [str(k) for k in doc_keys]
        out: set[str] = set()
        for start in range(0, len(keys), self.rows_per_statement):
            part = keys[start:start + self.rows_per_statement]
            marks = ",".join("?" * len(part))
            out.update(r[0] for r in self._conn.execute(f"SELECT doc_key FROM documents WHERE doc_key IN ({marks})", part))
        return out

    def document_vectors(self, doc_keys) -> dict[str, bytes | None]:
        """doc_key -> float16 embedding bytes of the stored documents among ``doc_keys`` that hold one
        chunk (None for a document of several): `ingest_vectors` tells a changed vector from a repeat."""
        keys = [str(k) for k in doc_keys]
        out: dict[str, bytes | None] = {}
        for start in range(0, len(keys), self.rows_per_statement):
            part = keys[start:start + self.rows_per_statement]
            marks = ",".join("?" * len(part))
            for key, n, emb in self._conn.execute(
                    f"SELECT d.doc_key, length(d.chunk_ids), c.embedding FROM documents d"
                    f" LEFT JOIN doc_chunks dc ON dc.doc_id = d.id AND dc.position = 0"
                    f" LEFT JOIN chunks c ON c.id = dc.chunk_id WHERE d.doc_key IN ({marks})", part):
                out[key] = bytes(emb) if n == 8 and emb is not None else None
        return out

    def count_chunks(self) -> int:
        return self._reader.execute("SELECT count(*) FROM chunks").fetchone()[0]

    def count_concepts(self) -> int:
        """Live concepts (named by at least one stored chunk; forgotten ids leave holes)."""
        return self._reader.execute("SELECT count(*) FROM concepts").fetchone()[0]

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
