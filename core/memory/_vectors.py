"""Ingest of ready-made vectors (``SemanticMemory.ingest_vectors``) in large vectorised batches.

Each document is one chunk, so the per-document work of `ingest` (chunking, stacking one
row at a time, phrase extraction of an empty title) is skipped: a batch is encoded at
once, written to SQLite in one transaction (``Store.add_documents``, ``executemany``), then
added to the index, the passage graph and the network as whole arrays. The result is the
memory the general `ingest` path gives for the same documents (same chunk ids, codes, rows,
network events; tests/test_ingest_vectors_fast.py). Derived files are saved once, at the
end; a crash before that loses nothing committed (the derived state catches up on open).
Training an outgrown index runs beside the ingest (``core.memory._retrain``). A known id with a
moved vector is replaced (forget + store in one transaction, as `ingest` replaces an edited
document); the same vector again is left as it is.
"""
from __future__ import annotations

import hashlib
import time

import numpy as np

from core._validation import check_embeddings
from core.memory._checks import unicode_problem
from core.memory._names import nfc
from core.memory.chunking import chunk_hash
from core.memory._retrain import release_free_memory
from core.memory.phrases import document_phrases
from core.memory._vecfile import forgotten as zero_rows, keep_up
from core.log import get_logger
from core.text import count
from core.memory.types import IngestReport

log = get_logger("memory.vectors")

SOURCE = "<vectors>"
# A known id whose vector moved more than this in some component (unit length) is replaced: float16
# storage rounds a component by at most 2.4e-4, so a repeat of the same vector stays "unchanged".
VECTOR_ATOL = 1e-3


def prepare(ids, embeddings, texts) -> tuple[list[str], np.ndarray, np.ndarray, list | None]:
    """Validated (doc ids, float32 vectors, their norms (n, 1), texts or None); ``ValueError`` on bad input.

    The vectors are scaled to unit length batch by batch (a copy of a 1M x 384 input is 1.5 GB)."""
    X = check_embeddings(embeddings, 384, "embeddings")
    for name, seq in (("ids", ids), ("texts", texts)):  # "abc" was three documents 'a', 'b', 'c'; a dict its keys
        if (seq is not None or name == "ids") and (isinstance(seq, (str, bytes, dict)) or not hasattr(seq, "__iter__")):
            raise TypeError(f"{name} must be a list (one per embedding row), got {type(seq).__name__} {seq!r:.80}")
    ids = list(ids)
    for j, i in enumerate(ids):  # None was stored as the document "None", 1.5 as "1.5"
        if isinstance(i, bool) or not isinstance(i, (str, int, np.integer)) or (isinstance(i, str) and not i.strip()):
            raise ValueError(f"ids must be non-empty strings or integers (as a record's id), got {i!r} at position {j}")
    ids = [str(i) for i in ids]
    for j, i in enumerate(ids):  # a NUL was stored (the record path refuses it: no command or URL can name it)
        if (why := unicode_problem(i)) is not None:
            raise ValueError(f"ids[{j}] {why}")
    ids = [nfc(i) for i in ids]  # one form of a name, as a record's (core.memory._names)
    if len(ids) != X.shape[0]:
        raise ValueError(f"got {count(len(ids), 'id')} for {count(X.shape[0], 'embedding')}")  # "1 ids"
    if len(set(ids)) != len(ids):  # named: "ids must be unique" left a search through 1M ids (1 and "1" are one id)
        first: dict[str, int] = {}
        j, i = next((j, i) for j, i in enumerate(ids) if first.setdefault(i, j) != j)
        raise ValueError(f"ids must be unique: {i!r} is at positions {first[i]} and {j}")
    if texts is not None:
        texts = list(texts)
        if len(texts) != len(ids):
            raise ValueError(f"got {count(len(texts), 'text')} for {count(len(ids), 'embedding')}")
        for j, t in enumerate(texts):  # an int failed in the chunker ("'int' object has no attribute 'split'")
            if t is not None and not isinstance(t, str):
                raise ValueError(f"texts must hold strings (or None for no text), got {type(t).__name__} "
                                 f"{t!r:.80} at position {j}")
            if t is not None and (why := unicode_problem(t)) is not None:  # a NUL was stored (the record path refuses it)
                raise ValueError(f"texts[{j}] {why}")
    with np.errstate(over="ignore", under="ignore"):
        norms = np.linalg.norm(X, axis=1, keepdims=True)
    if not np.isfinite(norms).all():  # finite values whose squares overflow float32: scaled, they became zeros
        raise ValueError(f"embeddings row {int(np.flatnonzero(~np.isfinite(norms.ravel()))[0])} is too large to "
                         f"scale to unit length in float32 (its norm overflows); divide it by its largest value")
    if (norms == 0).any():
        raise ValueError(f"embeddings row {int(np.flatnonzero(norms.ravel() == 0)[0])} is all zeros "
                         f"(or too small to scale to unit length in float32)")
    return ids, X, norms, texts


def _hashes(keys: list[str], X: np.ndarray, texts: list | None) -> list[bytes]:
    """Chunk hashes: of the text when given (identical texts share a chunk), else of id + vector."""
    if texts is None:
        return [hashlib.sha1(b"vec\x00" + k.encode() + x.tobytes()).digest() for k, x in zip(keys, X)]
    return [hashlib.sha1(b"vec\x00" + k.encode() + x.tobytes()).digest() if t is None else chunk_hash(t)
            for k, x, t in zip(keys, X, texts)]


def ingest_vectors(mem, ids, embeddings, texts=None, batch_size: int = 50_000) -> IngestReport:
    """See ``SemanticMemory.ingest_vectors``; ``mem`` holds the write lock."""
    t0 = time.perf_counter()
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number of at least 1, got {batch_size!r}")  # "5": a TypeError
    keys, X, norms, texts = prepare(ids, embeddings, texts)
    report = IngestReport()
    for s in range(0, len(keys), batch_size):
        tb = time.perf_counter()
        _batch(mem, keys[s:s + batch_size], X[s:s + batch_size] / norms[s:s + batch_size],
               None if texts is None else texts[s:s + batch_size], report)
        log.debug("ingest_vectors: %d-%d of %d in %.2fs", s, min(s + batch_size, len(keys)), len(keys),
                  time.perf_counter() - tb)
    mem.save()
    release_free_memory()  # the batches' transient rows and arrays
    report.seconds = time.perf_counter() - t0
    return report


def changed_rows(stored: dict, keys: list[str], X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows to store, rows that replace a stored document) of a batch: a known id is replaced when
    its vector moved more than ``VECTOR_ATOL`` in any component from the stored float16 copy (or the
    document holds several chunks, a text ingest's); within that it is a repeat, left as it is."""
    known = np.fromiter((k in stored for k in keys), dtype=bool, count=len(keys))
    replace = np.zeros(len(keys), dtype=bool)
    rows = np.flatnonzero(known)
    if len(rows):
        single = [j for j in rows.tolist() if stored[keys[j]] is not None]
        replace[rows] = True  # several chunks: replaced unless compared equal below
        if single:
            old = np.frombuffer(b"".join(stored[keys[j]] for j in single), dtype=np.float16)
            old = old.reshape(len(single), -1).astype(np.float32)
            replace[single] = np.abs(old - X[single]).max(axis=1) > VECTOR_ATOL
    return np.flatnonzero(~known | replace), replace


def _own_chunks(st, keys, X, texts, hashes, pick, replaced) -> None:
    """A replaced document whose text another document still holds would reference that chunk, and
    its old vector: it gets a chunk of its own (hashed by id + vector, as a vector without text)."""
    held = st.chunk_ids_by_hash([hashes[j] for j in replaced.tolist() if texts[j] is not None])
    for j in replaced.tolist():
        if texts[j] is not None and hashes[j] in held:
            hashes[j] = hashlib.sha1(b"vec\x00" + keys[j].encode() + X[j].tobytes()).digest()
            pick[j] = j


def _batch(mem, keys: list[str], X: np.ndarray, texts: list | None, report: IngestReport) -> None:
    st = mem.store_
    C = np.asarray(mem.codec.encode(X), dtype=np.uint8)
    hashes = _hashes(keys, X, texts)
    # a hash met twice in one batch (identical texts) is stored with the last vector given for it
    last = {h: j for j, h in enumerate(hashes)}
    pick = np.fromiter((last[h] for h in hashes), dtype=np.int64, count=len(hashes))
    X16 = X.astype(np.float16)
    rows, replace = changed_rows(st.document_vectors(keys), keys, X)
    report.unchanged += len(keys) - len(rows)
    if not len(rows):
        return
    phrases = [[] if texts is None or not texts[j] else document_phrases([texts[j]])[0] for j in rows]
    with mem._lock:
        # one transaction: a replaced document's forget (logged for exact replay) and its new row,
        # so a crash leaves the old version or the new one (text ingest's replace, `_commit`)
        with st.atomic():
            forgotten = [f for j in np.flatnonzero(replace).tolist() if (f := st.forget(keys[j], zero_vectors=False))]
            if forgotten:  # their rows of the re-rank's vector file, with one fsync (the log replays them too)
                zero_rows(st, np.concatenate([f["removed"] for f in forgotten]), None)
            mem._forget_reinforcements([c for f in forgotten for c in f["removed"]])
            if forgotten and texts is not None:
                _own_chunks(st, keys, X, texts, hashes, pick, np.flatnonzero(replace))
            out = st.add_documents([(keys[j], "", SOURCE, {}, hashlib.sha1(hashes[j]).hexdigest(), [hashes[j]],
                                     [None if texts is None else texts[j]], C[pick[j]:pick[j] + 1],
                                     X16[pick[j]:pick[j] + 1], [p]) for j, p in zip(rows.tolist(), phrases)])
        mem._apply_forgets(forgotten)  # committed: derived state replays the removals first
        report.replaced += len(forgotten)
        chunk_ids = np.fromiter((o[1][0] for o in out), dtype=np.int64, count=len(out))
        new = np.fromiter((bool(o[2][0]) for o in out), dtype=bool, count=len(out))
        report.documents += len(out)
        report.chunks += len(out)
        report.new_chunks += int(new.sum())
        report.duplicate_chunks += int((~new).sum())
        if new.any():
            src = pick[rows[new]]
            ids_new = chunk_ids[new]
            mem.index_.add(ids_new, X16[src].astype(np.float32))
            mem._index_mark["chunk"] = max(mem._index_mark["chunk"], int(ids_new.max()))
            mem.graph_.add(ids_new, C[src], [p for p, n in zip(phrases, new) if n],
                           [(o[0], 0) for o, n in zip(out, new) if n])
        mem._observe_docs([(o[0], o[1]) for o in out])
        mem._heal_network()  # a forget above found counts it could not take out: the graph is whole now
        keep_up(st)  # the re-rank's float16 vector file
        if mem.index_.needs_training(st.count_chunks()):
            mem._rebuild_index()
