"""Ingest: read, chunk, embed, encode, commit to SQLite, then grow the derived state."""
from __future__ import annotations

import hashlib
import json
import os
import shlex
import time
from pathlib import Path
from typing import Iterable

import numpy as np

from core.memory._ahead import EmbedAhead
from core.memory._checks import check_record
from core.memory.chunking import TARGET_TOKENS, chunk_hash, chunk_text, embedded_text
from core.memory.phrases import document_phrases
from core.memory._purge import purge_cached
from core.memory._schema import truncate_wal
from core.memory._vecfile import forgotten as zero_rows, keep_up, vector_file
from core.log import get_logger
from core.memory.readers import SUFFIXES, ReadError, Record, folder_files, parse_record, read_paths
from core.memory.types import IngestReport

log = get_logger("memory.ingest")
WAL_PAGES = 4096  # SQLite pages (4 kB) between WAL checkpoints during an ingest (default 1,000)
KEEP_UP_ROWS = 4096  # new rows written to the vector file at a time (each write is fsynced: ~7 ms)


def _expected_documents(source) -> int | None:
    """How many documents ``source`` holds, when that is cheap to know without consuming it
    (the progress bar's total, hence its ETA): records in a list, files of folders, lines
    of JSONL files. ``None`` for iterators and stdin."""
    items = [source] if isinstance(source, (str, os.PathLike, dict, Record)) else source
    if not isinstance(items, (list, tuple)):
        return None
    n = 0
    for item in items:
        if isinstance(item, (dict, Record)):
            n += 1
            continue
        if not isinstance(item, (str, os.PathLike)) or str(item) == "-" or not str(item).strip():  # "": not the cwd
            return None
        path = Path(item)
        for f in folder_files(path)[0] if path.is_dir() else [path] if path.is_file() else []:
            if f.suffix.lower() == ".jsonl":
                try:  # an unreadable file is the reader's to report: it stopped the whole ingest here
                    with open(f, "rb") as fh:
                        n += sum(1 for line in fh if line.strip())
                except OSError:
                    pass
            elif f.suffix.lower() in SUFFIXES:
                n += 1
    return n


def _content_hash(rec: Record) -> str:
    h = hashlib.sha1(rec.text.encode("utf-8"))
    h.update(b"\x00" + rec.title.encode("utf-8"))
    return h.hexdigest()


def record_problem(rec: Record, seen: dict[str, str], store=None) -> ReadError | None:
    """Why ``rec`` must be skipped (not valid Unicode, its id already came in this ingest, or it names
    another file's document in ``store``), else None.

    Records ``rec``'s id in ``seen`` (id -> source) when it is admitted. A non-UTF-8 file name
    or an unpaired surrogate costs this record only, never the ingest.
    """
    where = rec.source or "<records>"
    try:
        (rec.doc_id + rec.title + rec.text).encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = rec.doc_id[exc.start:exc.end] if exc.start < len(rec.doc_id) else ""
        if rec.source and bad and all(0xDC80 <= ord(c) <= 0xDCFF for c in bad):  # os.fsdecode's escaped bytes
            return ReadError(where, f"file name is not valid UTF-8 (byte 0x{ord(bad[0]) - 0xDC00:02x}); "
                                    f"rename the file; skipped")
        return ReadError(where, f"not valid Unicode (unpaired surrogate at character "
                                f"{exc.start} of id+title+text); skipped")
    try:  # the folder's own name (a non-UTF-8 folder: every file's source and root) failed the whole batch
        (rec.source or "").encode("utf-8")
        json.dumps(rec.meta, ensure_ascii=False, default=str).encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(exc.object[exc.start])
        return ReadError(where, f"path is not valid UTF-8 (byte 0x{code - 0xDC00:02x}); rename it; skipped"
                         if 0xDC80 <= code <= 0xDCFF else "metadata is not valid Unicode (unpaired surrogate); skipped")
    for name, value in (("id", rec.doc_id), ("title", rec.title), ("text", rec.text)):
        if "\x00" in value:  # one NUL made the embedder refuse the whole batch
            return ReadError(where, f'"{name}" contains a NUL byte; skipped')
    if rec.doc_id in seen:
        return ReadError(where, f"duplicate id {rec.doc_id!r} in this ingest (first from {seen[rec.doc_id]}); skipped")
    if store is not None:
        from core.memory.documents import other_file

        if (place := other_file(store, rec, _content_hash)) is not None:
            return ReadError(where, f"id {rec.doc_id!r} already names the document of {place}, which is still "
                                    f"there; skipped (`mycelial forget {shlex.quote(rec.doc_id)}` first to "
                                    f"replace it by this file)")
    seen[rec.doc_id] = where
    return None


def bind_title_prefix(store, read_only: bool = False) -> bool:
    """Whether this memory embeds chunks as ``title: chunk`` (recorded once): a new memory does;
    one that holds chunks and no record was embedded without titles and keeps that, so its
    vectors never mix the two."""
    saved = store.get_setting("chunk_embedding")
    if saved is None:
        saved = {"title_prefix": store.count_chunks() == 0}
        if not read_only:
            with store.atomic():
                store.set_setting("chunk_embedding", saved)
    return bool(saved["title_prefix"])


def _retraining(mem) -> bool:
    """A background build is running and not ending: `rebuild_index` would only return it (after
    counting the chunks twice and a catch-up of the live index, which `_commit` keeps current)."""
    from core.memory._retrain import retrain_alive

    thread = getattr(mem, "_retrain_thread", None)
    return retrain_alive(thread) and not mem._retrain_state["ending"]


def _rows_of(rows: dict, zero: np.ndarray, dtype=None):
    """hashes -> the stacked rows of ``rows`` ({hash: row}), ``zero`` for a hash it lacks: one
    gather per document from one matrix per batch (was a np.stack of row views per document),
    converted to ``dtype`` once."""
    at = {h: i for i, h in enumerate(rows)}
    M = np.stack([*rows.values(), zero])
    if dtype is not None:
        M = M.astype(dtype)
    return lambda hs: M[[at.get(h, -1) for h in hs]]


def _progress(bar, documents: int, report: IngestReport) -> None:
    if bar is not None and documents:
        bar.update(documents)
        # as text: tqdm shortens numbers, so 10,009 chunks showed as "chunks=1e+4"
        bar.set_postfix(chunks=str(report.chunks), new=str(report.new_chunks), refresh=False)


class _WalWindow:
    """A larger WAL auto-checkpoint for one ingest: SQLite copies the WAL into the database (and
    fsyncs it) every ``WAL_PAGES`` pages instead of every 1,000 (its default). A batch rewrites
    many of the same pages (the hash and concept-text indices), so most are copied once per
    window, not once per batch: at 100k chunks the commits took half the time. Each commit is
    still fsynced (``synchronous=FULL``); the database and its content are the same."""

    def __init__(self, conn):
        self.conn = conn
        self.old = conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        conn.execute(f"PRAGMA wal_autocheckpoint={max(int(self.old), WAL_PAGES)}")

    def close(self) -> None:
        self.conn.execute(f"PRAGMA wal_autocheckpoint={int(self.old)}")
        truncate_wal(self.conn)  # what the window deferred, and the WAL file back to 0 bytes (never waits)


class IngestMixin:
    """Ingest of documents and of ready-made vectors; mixed into `SemanticMemory`."""

    def _embedder(self):
        if self.embedder is None:
            from core.embedding import TextEmbedder

            self.embedder = TextEmbedder()
        return self.embedder

    def _records(self, source, errors: list) -> Iterable[Record]:
        if isinstance(source, (str, os.PathLike)):
            yield from read_paths([source], errors)
            if isinstance(source, str) and len(source.split()) > 2 and errors and errors[-1].source == source \
                    and errors[-1].message == "no such file or folder":  # ingest("Rush were a band"): text, not a path
                errors[-1].message += "; to ingest text, pass records: ingest([{'id': 'note-1', 'text': ...}])"
            return
        if isinstance(source, (dict, Record)):
            source = [source]
        for i, item in enumerate(source):
            if isinstance(item, Record):
                try:
                    yield check_record(item)
                except ValueError as exc:
                    errors.append(ReadError(item.source or "<records>", str(exc), i + 1))
            elif isinstance(item, dict):
                try:
                    yield parse_record(item, "<records>", i + 1)
                except ValueError as exc:
                    errors.append(ReadError("<records>", str(exc), i + 1))
            elif isinstance(item, (str, os.PathLike)):
                yield from read_paths([item], errors)
            else:
                errors.append(ReadError("<records>", f"expected a path, dict or Record, got {type(item).__name__}", i + 1))

    def ingest(self, source, progress: bool = False, client=None, partitions: int | None = None) -> IngestReport:
        """Read, chunk, embed, encode and store documents; grow the index and the network.

        Parameters
        ----------
        source : path, list of paths, or iterable of records
            Files (``.txt .md .pdf .jsonl``), folders (recursive), ``"-"`` for standard
            input, or dicts ``{"id", "text", "title"?, ...metadata}``.
        progress : bool
            Show a tqdm bar of documents, with a total and an ETA when the number of documents
            is known beforehand (lists of records, files, folders, JSONL lines).
        client : dask.distributed.Client, optional
            Read, chunk, embed and encode on this Dask cluster's workers; this process
            commits in stream order. The memory ends up identical to a serial ingest
            (``core.memory.parallel``).
        partitions : int, optional
            With ``client``: parts the document stream is cut into for reading and chunking
            (default ~4 per worker).

        Returns
        -------
        IngestReport
            Counts and per-input errors; bad inputs never stop the rest.
        """
        if client is not None:
            from core.memory.parallel import ingest_parallel

            return ingest_parallel(self, source, client, partitions=partitions, progress=progress)
        if partitions is not None:
            raise ValueError("partitions needs client= (a dask.distributed.Client); leave it out for a serial ingest")
        t0 = time.perf_counter()
        report = IngestReport()
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=_expected_documents(source), unit="doc", desc="ingest")
        pending: list[tuple[Record, list[str]]] = []
        n_pending = 0
        seen: dict[str, str] = {}  # doc id -> source: one id twice in one ingest is an error wherever it falls
        wal = _WalWindow(self.store_._conn)
        self._embedder()  # loaded here, not in the thread that embeds ahead
        ahead = EmbedAhead(self, report)
        try:
            for rec in self._records(source, report.errors):
                problem = record_problem(rec, seen, self.store_)
                if problem is not None:
                    report.errors.append(problem)
                    continue
                chunks = chunk_text(rec.text, self.max_tokens, TARGET_TOKENS if rec.merge else None)
                if not chunks:
                    report.errors.append(ReadError(rec.source or rec.doc_id, "no text after chunking"))
                    continue
                pending.append((rec, chunks))
                n_pending += len(chunks)
                if n_pending >= self.batch_size:
                    _progress(bar, ahead.push(pending), report)
                    pending, n_pending = [], 0
            if pending:
                _progress(bar, ahead.push(pending), report)
            _progress(bar, ahead.flush(), report)
        finally:
            ahead.close()
            wal.close()
            if bar is not None:
                bar.close()
            if report.documents or report.replaced:
                self.save(only_if_changed=True)  # a record whose metadata alone changed leaves the files as they are
        report.seconds = time.perf_counter() - t0
        log.info("ingest: %d documents, %d chunks (%d new), %d unchanged, %d errors in %.1fs", report.documents,
                 report.chunks, report.new_chunks, report.unchanged, len(report.errors), report.seconds)
        return report

    def _batch_todo(self, batch) -> tuple[list, list, dict, int, dict]:
        """(changed documents, their chunk hashes, chunks to embed {hash: text}, unchanged count,
        stored chunk ids {hash: id} of those hashes) of a batch."""
        st = self.store_
        todo, unchanged = [], 0
        stored = st.content_hashes([rec.doc_id for rec, _ in batch])
        for rec, chunks in batch:
            chash = _content_hash(rec)
            if rec.doc_id in stored and stored[rec.doc_id] == chash:
                unchanged += 1
                continue
            todo.append((rec, chunks, chash, rec.doc_id in stored))
        if not todo:
            return todo, [], {}, unchanged, {}
        # embed only chunks the store does not hold yet; a chunk's identity is what it is embedded as
        prefix = getattr(self, "title_prefix_", False)
        texts = [[embedded_text(rec.title, c, prefix) for c in chunks] for rec, chunks, _, _ in todo]
        hashes = [[chunk_hash(t) for t in ts] for ts in texts]
        known = st.chunk_ids_by_hash([h for hs in hashes for h in hs])
        need: dict[bytes, str] = {}
        for ts, hs in zip(texts, hashes):
            for h, t in zip(hs, ts):
                if h not in known:
                    need.setdefault(h, t)
        return todo, hashes, need, unchanged, known

    def _relocate(self, batch, report) -> None:
        """Record the new place of the batch's unchanged files that moved (`mv notes notes2`): ``--sync``
        of the new folder then finds them (they kept the old root, so it refused)."""
        from core.memory.documents import changed_metadata, moved_files

        with self._lock:
            rows, roots, dirs = moved_files(self.store_, [(rec, _content_hash(rec)) for rec, _ in batch])
            if rows:
                report.moved += self.store_.relocate(rows, roots, dirs)
            if edited := changed_metadata(self.store_, [(rec, _content_hash(rec)) for rec, _ in batch]):
                n = self.store_.relocate(edited)  # a record's new metadata: an edit, counted as `ingest` counts one
                report.unchanged, report.documents, report.replaced = (report.unchanged - n, report.documents + n,
                                                                      report.replaced + n)

    def _commit(self, todo, hashes, vec, code, report, observe=None, known=None) -> None:
        """Store a batch in one transaction, then grow index, graph and network.

        ``observe(added_docs)`` grows the network (default: observe the stored codes);
        the parallel ingest passes one that merges its workers' deltas. ``known``: the stored
        chunk ids of ``hashes`` ({hash: id}, `_batch_todo` read them under the write lock),
        so the store need not look them up again; ignored when a document is replaced (its
        forget deletes chunks).
        """
        st = self.store_
        heads = self.network_.config.num_heads
        added_docs, new_rows, obs_codes, old_pos, n_obs = [], [], [], [], 0
        with self._lock:
            forgotten, batch, meta, before, moved = [], [], [], [], {}
            learned = any(t[3] for t in todo) and self._reinforce_table()
            with st.atomic():
                if any(t[3] for t in todo):  # a changed document: keep the stored vectors of the chunks
                    vec, code = self._kept_chunks(hashes, vec, code)  # it keeps (its forget deletes them)
                    known = None
                # float16 (as stored) once a batch: SQLite, the index and the vector file take these rows
                code_rows, vec_rows = _rows_of(code, np.zeros(heads, np.uint8)), _rows_of(vec, np.zeros(384, np.float32),
                                                                                          np.float16)
                for (rec, chunks, chash, replace), hs in zip(todo, hashes):
                    # a replaced document's kept chunks get new ids: its reinforcements follow them there
                    before.append(st.chunk_ids_by_hash(hs) if replace and learned else None)
                    if replace:
                        forgotten.append(st.forget(rec.doc_id, zero_vectors=False))  # zeroed below, at once
                        report.replaced += 1
                    codes, emb = code_rows(hs), vec_rows(hs)
                    phrases = document_phrases(chunks, rec.title)  # key terms need the whole document
                    batch.append((rec.doc_id, rec.title, rec.source, rec.meta, chash, hs, chunks, codes, emb, phrases))
                    meta.append((emb, codes, phrases))
                for (doc_id, ids, new), (emb, codes, phrases), hs, old in zip(st.add_documents(batch, known), meta,
                                                                               hashes, before):
                    if old:
                        moved.update((old[h], int(i)) for h, i in zip(hs, ids.tolist()) if h in old and old[h] != i)
                    added_docs.append((doc_id, ids))
                    # the network observes the stored codes: this batch's for the chunks it stored,
                    # SQLite's for the ones it only references (read below, after the commit)
                    old_pos.extend((np.flatnonzero(~new) + n_obs).tolist())
                    obs_codes.append(np.ascontiguousarray(codes, dtype=np.uint8))
                    n_obs += len(ids)
                    for j in np.flatnonzero(new):
                        new_rows.append((int(ids[j]), emb[j], codes[j], phrases[j], (doc_id, int(j))))
                    report.documents += 1
                    report.chunks += len(ids)
                    report.new_chunks += int(new.sum())
                    report.duplicate_chunks += int((~new).sum())
                if any(forgotten):  # their rows of the re-rank's vector file, one fsync (the log replays them too)
                    zero_rows(st, np.concatenate([f["removed"] for f in forgotten if f]), None)
                if learned:  # in this transaction: a crash after the commit left events naming gone chunks
                    self._forget_reinforcements([c for f in forgotten for c in f["removed"]], moved)
            # committed: now the derived state (replay removals first)
            self._apply_forgets(forgotten)  # at once: FAISS's remove_ids scans its whole id map per call
            purge_cached(self, forgotten, todo)  # an edited file's removed text leaves the embedding cache
            if new_rows:
                ids = np.asarray([r[0] for r in new_rows], dtype=np.int64)
                self.index_.add(ids, np.stack([r[1] for r in new_rows]).astype(np.float32))
                self._index_mark["chunk"] = max(self._index_mark["chunk"], int(ids.max()))
                self.graph_.add(ids, np.stack([r[2] for r in new_rows]), [r[3] for r in new_rows],
                                [r[4] for r in new_rows])
            if observe is not None:
                observe(added_docs)
            elif added_docs:
                codes = np.concatenate(obs_codes)
                if old_pos:
                    old_pos = np.asarray(old_pos, dtype=np.int64)
                    codes[old_pos] = st.codes(np.concatenate([ids for _, ids in added_docs])[old_pos])
                self._observe_docs(added_docs, codes=codes)
            self._heal_network()  # a forget above found counts it could not take out: the graph is whole now
            if new_rows:  # the re-rank's float16 vector file: a write + fsync per KEEP_UP_ROWS rows
                vf = vector_file(st)  # (the last rows when the ingest saves)
                if vf is not None and int(ids.max()) - vf.covered() >= KEEP_UP_ROWS:
                    keep_up(st)
            if not _retraining(self) and self.index_.needs_training(st.last_ids()["chunk"]) \
                    and self.index_.needs_training(st.count_chunks()):  # the highest id bounds the count
                self._rebuild_index()

    def _kept_chunks(self, hashes, vec, code) -> tuple[dict, dict]:
        """``vec``/``code`` plus the stored float16 vector and codes of every stored chunk the batch
        names but did not embed: forgetting a replaced document deletes the chunks only it held,
        and its new version must store them again as they were (not as zeros)."""
        known = self.store_.chunk_ids_by_hash([h for hs in hashes for h in hs if h not in code])
        if not known:
            return vec, code
        by_id = {cid: h for h, cid in known.items()}
        ids, X = self.store_.embeddings(list(by_id))
        C = self.store_.codes(ids)
        vec, code = dict(vec), dict(code)
        for cid, x, c in zip(ids.tolist(), X, C):
            vec[by_id[cid]], code[by_id[cid]] = x, c
        return vec, code

    # -- forget -----------------------------------------------------------------------
