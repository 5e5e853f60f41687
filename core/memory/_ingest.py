"""Ingest: read, chunk, embed, encode, commit to SQLite, then grow the derived state."""
from __future__ import annotations

import os
import time
from typing import Iterable

from core.memory._admit import record_problem
from core.memory._ahead import EmbedAhead
from core.memory._checks import check_record
from core.memory._commit import CommitMixin
from core.memory._ingest_progress import _embedding_wait, _finished, _progress, progress_bar
from core.memory.chunking import TARGET_TOKENS, chunk_text
from core.memory._schema import truncate_wal
from core.log import get_logger
from core.memory._overlap import without_overlaps
from core.memory.readers import ReadError, Record, parse_record, read_paths
from core.memory.records import Fields
from core.memory.types import IngestReport

log = get_logger("memory.ingest")
WAL_PAGES = 4096  # SQLite pages (4 kB) between WAL checkpoints during an ingest (default 1,000)


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


class IngestMixin(CommitMixin):
    """Ingest of documents and of ready-made vectors; mixed into `SemanticMemory`."""

    def _embedder(self):
        if self.embedder is None:
            from core.embedding import TextEmbedder

            self.embedder = TextEmbedder()
        return self.embedder

    def _records(self, source, errors: list, fields: Fields | None = None) -> Iterable[Record]:
        if isinstance(source, (str, os.PathLike)):
            yield from read_paths([source], errors, fields=fields)
            if isinstance(source, str) and len(source.split()) > 2 and errors and errors[-1].source == source \
                    and errors[-1].message == "no such file or folder":  # ingest("Rush were a band"): text, not a path
                errors[-1].message += "; to ingest text, pass records: ingest([{'id': 'note-1', 'text': ...}])"
            return
        if isinstance(source, (dict, Record)):
            source = [source]
        if isinstance(source, (list, tuple)):
            source, notes = without_overlaps(source)
            errors.extend(notes)
        for i, item in enumerate(source):
            if isinstance(item, Record):
                try:
                    yield check_record(item)
                except ValueError as exc:
                    errors.append(ReadError(item.source or "<records>", str(exc), i + 1))
            elif isinstance(item, dict):
                try:
                    yield parse_record(item, "<records>", i + 1, fields)
                except ValueError as exc:
                    errors.append(ReadError("<records>", str(exc), i + 1))
            elif isinstance(item, (str, os.PathLike)):
                yield from read_paths([item], errors, fields=fields)
            else:
                errors.append(ReadError("<records>", f"expected a path, dict or Record, got {type(item).__name__}", i + 1))

    def ingest(self, source, progress: bool = False, client=None, partitions: int | None = None,
               fields=None) -> IngestReport:
        """Read, chunk, embed, encode and store documents; grow the index and the network.

        Parameters
        ----------
        source : path, list of paths, or iterable of records
            Files (``.txt .md .rst .html .pdf .docx .pptx .odt .odp .epub .eml .jsonl``, text without a suffix, gzipped
            too), folders (recursive), ``"-"`` for standard input, or dicts ``{"id", "text", "title"?, ...metadata}``.
        progress : bool or callable
            Show a tqdm bar of documents, with a total and an ETA when the number of documents
            is known beforehand (lists of records, files, folders, JSONL lines). A callable is called
            instead, ``fn(documents, chunks, embedding)``: the documents and chunks stored so far after
            each commit, and every half second while a long batch embeds, with ``embedding`` =
            (chunks embedded, chunks to embed) of that batch (None otherwise).
        client : dask.distributed.Client, optional
            Read, chunk, embed and encode on this Dask cluster's workers; this process
            commits in stream order. The memory ends up identical to a serial ingest
            (``core.memory.parallel``).
        partitions : int, optional
            With ``client``: parts the document stream is cut into for reading and chunking
            (default ~4 per worker).
        fields : dict, optional
            The keys of a record's roles when they are not ``text``, ``id`` and ``title``, e.g.
            ``{"text": "paragraphs", "id": "doc_id"}`` (every other key is metadata); for JSONL files,
            standard input and dicts. ValueError for an unknown role or two roles on one key.

        Returns
        -------
        IngestReport
            Counts and per-input errors; bad inputs never stop the rest.
        """
        fields = Fields.of(fields)
        if client is not None:
            from core.memory.parallel import ingest_parallel

            return ingest_parallel(self, source, client, partitions=partitions, progress=progress, fields=fields)
        if partitions is not None:
            raise ValueError("partitions needs client= (a dask.distributed.Client); leave it out for a serial ingest")
        t0 = time.perf_counter()
        report = IngestReport()
        bar = progress_bar(progress, source)
        pending: list[tuple[Record, list[str]]] = []
        n_pending = 0
        seen: dict[str, str] = {}  # doc id -> source: one id twice in one ingest is an error wherever it falls
        wal = _WalWindow(self.store_._conn)
        self._embedder()  # loaded here, not in the thread that embeds ahead
        ahead = EmbedAhead(self, report, on_wait=_embedding_wait(bar, report))
        interrupted = False
        try:
            for rec in self._records(source, report.errors, fields):
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
                if n_pending >= self.chunks_per_commit:
                    _progress(bar, ahead.push(pending), report)
                    pending, n_pending = [], 0
            if pending:
                _progress(bar, ahead.push(pending), report)
            _progress(bar, ahead.flush(), report)
            _finished(bar, report)
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            try:
                ahead.close(interrupted)  # a second Ctrl-C waits here (held until the embedding ends): then save
            finally:
                wal.close()
                if bar is not None:
                    bar.close()
                if report.documents or report.replaced:
                    self.save(only_if_changed=True)  # a record whose metadata alone changed leaves the files as they are
        report.seconds = time.perf_counter() - t0
        log.info("ingest: %s documents, %s chunks (%s new), %s unchanged, %s errors in %.1fs", *map("{:,}".format, (
                 report.documents, report.chunks, report.new_chunks, report.unchanged, len(report.errors))),
                 report.seconds)
        return report
