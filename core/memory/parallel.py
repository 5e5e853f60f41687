"""Parallel and distributed ingest on Dask: workers read, chunk, embed and encode; this process commits.

Why it equals a serial ingest bit for bit
-----------------------------------------
A transformer's float output depends (in the last bits) on which texts share its batch, so
workers embed exactly the batches the serial path would: in phase 1 workers read and chunk
partitions of the document stream; this process replays the serial loop over them (Unicode
check, duplicate ids, "no text", batches of ``chunks_per_commit`` chunks, unchanged documents,
chunks the store or an earlier batch already holds) and sends each batch's chunks to embed
(phase 2), in the serial order of first appearance. A worker returns float16 vectors, codes
and the network delta (co-activation counts) of the batch's documents whose chunks it encoded
itself; documents that reuse stored chunks are observed here from the stored codes, as the
serial path does. Counts are whole numbers, so merging deltas is exact in any order
(``MycelialReasoning.merge``). Commits run here only, in stream order, under the write lock:
a worker that dies loses a task that Dask runs again; nothing is committed twice. Before each
commit the batch is planned again against SQLite; if the plan changed (a replaced document
deleted a chunk a later batch counted on), that batch is embedded here, serially.

A cluster started on demand (`mycelial ingest --workers N`) starts only once a document needs
embedding: until then this process reads the stream itself (``_parallel_stream.read_here``).
This file is the driver; what the workers run (phases 1 and 2) is in ``_parallel_worker.py``.
"""
from __future__ import annotations

import itertools
import os
import sys
import time
import uuid
from collections import Counter, deque
from pathlib import Path

import numpy as np

from core.memory import _parallel_worker
from core.memory._ingest_progress import _finished, _progress, progress_bar, workers_wait
from core.memory._parallel_worker import _Parts, _capture, _embed_part, _read_part
from core.memory._parallel_stream import WorkerError, _Batch, _batches, _result, read_here
from core.memory._checks import empty_path
from core.memory._formats import is_gzip, is_jsonl
from core.memory._overlap import without_overlaps
from core.memory.records import Fields
from core.memory.readers import (MAX_BYTES, ReadError, Record, document_id, parse_record, path_problem, read_file,
                                  read_stream, scan_folder)
from core.memory.types import IngestReport
from core.log import get_logger

__all__ = ["WorkerError", "ingest_parallel"]

log = get_logger("memory.parallel")
_embedder_for = _parallel_worker._embedder_for  # scripts/bench_parallel_ingest.py imports it from here


# -- the driver side: the stream, as the serial path reads it ----------------------------

BIG_JSONL = MAX_BYTES  # a larger JSONL file is read here, line by line as serially, and sent on in parts
PART_CHARS = 4_000_000  # text in one part of such a file (a worker read it whole: 60 MB peaked at 246 MB)


def _file_item(f: Path, root: Path | None):
    """The item of one file: read on a worker, or ("jsonl", ...) for a JSONL file too large to read whole or
    gzipped (a gzip stream cannot be cut at byte offsets, nor its size known before it is read)."""
    try:
        big = is_jsonl(f) and (is_gzip(f) or f.stat().st_size > BIG_JSONL)
    except OSError:  # the worker reports it
        big = False
    if big:
        return ("jsonl", f, root)
    if root is None:
        return ("file", os.path.abspath(f), str(f), *document_id(f), str(f))
    # a JSONL file's records name it by its absolute path, as read_file does (--sync)
    source = str(root.resolve() / f.relative_to(root)) if is_jsonl(f) else str(f)
    return ("file", os.path.abspath(f), str(f), *document_id(f, root), source)


def _split(parts, fields=None):
    """The parts to read, in stream order; a part is cut at a large JSONL file, which is read here with the
    serial reader (its records, errors and line numbers as a serial ingest gives them) into parts of about
    PART_CHARS characters of text, made as they are sent: a file of any size, a bounded memory."""
    for part in parts:
        run: list = []
        for it in part:
            if it[0] != "jsonl":
                run.append(it)
                continue
            if run:
                yield run
                run = []
            errors: list = []
            size = 0
            limit = MAX_BYTES if is_gzip(it[1]) else BIG_JSONL  # a gzipped one: its line limit, as serially
            for ev in _capture(read_file(it[1], errors, limit, root=it[2], fields=fields), errors):
                run.append(ev)
                size += len(ev[1].text) if ev[0] == "rec" else 0
                if size >= PART_CHARS:
                    yield run
                    run, size = [], 0
        if run:
            yield run

def _path_items(raw, fields=None):
    """The items of one path argument, as ``readers.read_paths`` visits them (files are read on workers)."""
    if str(raw) == "-":
        errors: list = []
        yield from _capture(read_stream(sys.stdin, errors, fields=fields), errors)
        return
    if (problem := empty_path(raw)) is not None:
        yield ("err", problem)
        return
    path = Path(raw)
    if path.is_dir():
        files, notes = scan_folder(path)
        for note in notes:
            yield ("err", note)
        for f in files:
            yield _file_item(f, path)
        return
    problem = path_problem(path)
    if problem is not None:
        yield ("err", problem)
        return
    yield _file_item(path, None)


def _items(source, fields=None):
    """The stream as items ``("file", ...)``, ``("rec", Record)`` or ``("err", ReadError)``, like ``_records``."""
    if isinstance(source, (str, os.PathLike)):
        yield from _path_items(source, fields)
        return
    if isinstance(source, (dict, Record)):
        source = [source]
    if isinstance(source, (list, tuple)):
        source, notes = without_overlaps(source)
        yield from (("err", note) for note in notes)
    for i, item in enumerate(source):
        if isinstance(item, Record):
            yield ("rec", item)
        elif isinstance(item, dict):
            try:
                yield ("rec", parse_record(item, "<records>", i + 1, fields))
            except ValueError as exc:
                yield ("err", ReadError("<records>", str(exc), i + 1))
        elif isinstance(item, (str, os.PathLike)):
            yield from _path_items(item, fields)
        else:
            yield ("err", ReadError("<records>", f"expected a path, dict or Record, got {type(item).__name__}", i + 1))


def _check_args(client, partitions) -> None:
    if not (hasattr(client, "submit") and hasattr(client, "scatter")):
        raise ValueError(f"client must be a dask.distributed.Client, got {type(client).__name__}")
    if getattr(client, "status", None) in ("closing", "closed"):  # else: "'NoneType' object has no attribute 'scatter'"
        raise ValueError("the Dask client is closed; open a new one (distributed.Client(...)) or leave client out "
                         "for a serial ingest")
    if partitions is not None and (isinstance(partitions, bool) or not isinstance(partitions, (int, np.integer))
                                   or partitions < 1):
        raise ValueError(f"partitions must be a positive integer (or None for ~4 per worker), got {partitions!r}")


class _Started:
    """What `_check_args` sees of a function that starts a cluster: a client to be."""

    submit = scatter = None


def _partition(items: list, n: int) -> list:
    """``items`` cut into at most ``n`` runs of consecutive items, for the workers to read."""
    size = -(-len(items) // (min(len(items), n) or 1)) if items else 1
    return [items[i:i + size] for i in range(0, len(items), size)]


WAIT_FOR_WORKERS = 60.0  # seconds a cluster without workers is given to get one


def _n_workers(client) -> int:
    n = len(client.scheduler_info().get("workers", {}))
    if n == 0:  # a silent minute looked like a hang
        log.warning(f"the Dask cluster at {client.scheduler.address} has no workers yet; waiting up to "
                    f"{WAIT_FOR_WORKERS:g} s for one")
        try:
            client.wait_for_workers(1, timeout=WAIT_FOR_WORKERS)
        except TimeoutError:
            raise ValueError(f"the Dask cluster at {client.scheduler.address} has no workers after "
                             f"{WAIT_FOR_WORKERS:g} s; "
                             f"start some with `dask worker {client.scheduler.address}`") from None
        n = len(client.scheduler_info().get("workers", {}))
    return max(n, 1)


def ingest_parallel(mem, source, client, partitions: int | None = None, progress: bool = False,
                    stats: dict | None = None, fields=None) -> IngestReport:
    """Ingest ``source`` into ``mem`` with ``client``'s workers; see the module docstring.

    Called by ``SemanticMemory.ingest(source, client=...)`` (which holds the write lock). ``client`` may
    also be a function that starts a cluster and returns its Client: it is called only once a document
    needs embedding, the stream read here until then (`_parallel_stream.read_here`).
    ``stats``, when given, receives seconds per stage: workers' ``read``, ``chunk``, ``load`` (the
    model, once per worker process), ``embed``, ``encode``, ``delta`` (summed over tasks) and
    this process's ``wait``, ``plan``,
    ``commit`` (SQLite, index, graph, network), ``merge`` (inside commit), ``save``; and
    counts of ``partitions``, ``batches`` and ``fallback_batches``. A task that fails on its
    worker (after two retries) raises ``WorkerError``; the batches committed before it stay.
    ``fields``: the keys of JSONL and dict records (`records.Fields`), sent to the workers with the parts.
    """
    from core.embedding import TextEmbedder
    from core.reasoning.mycelial import MycelialReasoning

    start = client if callable(client) and not hasattr(client, "submit") else None  # a cluster started on demand
    _check_args(_Started if start is not None else client, partitions)
    t_start = time.perf_counter()
    report = IngestReport()
    st = stats if stats is not None else {}
    for k in ("read", "chunk", "load", "embed", "encode", "delta", "wait", "plan", "commit", "merge", "save"):
        st[k] = 0.0
    st.update(partitions=0, batches=0, fallback_batches=0)
    emb = mem._embedder()
    if isinstance(emb, TextEmbedder):  # a fresh copy: never ship a model the driver has loaded
        emb = TextEmbedder(model=emb.model, batch_size=emb.batch_size, cache=emb.cache, device=emb.device,
                           backend=emb.backend, threads=emb.threads)
    fields = Fields.of(fields)
    local_parts = _Parts(emb, mem.codec, mem.network_.config.to_dict(), mem.max_tokens, fields)
    shared: dict = {}
    n_workers = waiting = None

    def connect(c) -> None:
        """Use the cluster of ``c`` (a Client) from now on."""
        nonlocal client, n_workers, waiting
        client, n_workers = c, _n_workers(c)
        shared["parts"] = client.scatter(local_parts, broadcast=True, hash=False)
        waiting = workers_wait(bar, report, inflight, n_workers)

    def rescatter() -> None:
        """The scattered parts died with a worker: scatter them again for the tasks still to submit."""
        if shared["parts"].status != "finished":
            shared["parts"] = client.scatter(local_parts, broadcast=True, hash=False)

    items = list(_items(source, fields))
    tag = uuid.uuid4().hex[:8]
    reads: deque = deque()
    read_iter = iter(())
    inflight: deque = deque()
    counted: Counter = Counter()  # chunk hashes of planned, uncommitted batches
    bar = progress_bar(progress, source)  # a total and an ETA, as serially

    def submit_reads():
        for i, part in itertools.islice(read_iter, max(0, n_workers + 1 - len(reads))):
            st["partitions"] = i + 1
            reads.append((client.submit(_read_part, shared["parts"], part, key=f"mycelial-read-{tag}-{i}",
                                        retries=2), part))

    def events():
        nonlocal read_iter
        rest = [], items
        if start is not None:  # the head, read here while it has nothing to embed (`read_here`)
            rest = yield from read_here(items, lambda part: _read_part(local_parts, part)[0],
                                        lambda its: _split([its], fields), mem.store_, lambda: connect(start()))
            if rest is None:
                return
        read_iter = enumerate(itertools.chain(rest[0], _split(_partition(rest[1], partitions or 4 * n_workers),
                                                              fields)))
        submit_reads()
        while reads:
            t0 = time.perf_counter()
            future, part = reads.popleft()
            out, t = _result(future, "reading and chunking documents",  # lost: read here
                             lost=lambda: (rescatter(), _read_part(local_parts, part))[1], on_wait=waiting)
            st["wait"] += time.perf_counter() - t0
            st["read"] += t["read"]
            st["chunk"] += t["chunk"]
            submit_reads()
            yield from out

    def plan(items_):
        t0 = time.perf_counter()
        todo, hashes, need, _, _ = mem._batch_todo(items_)
        b = _Batch(items_, [h for h in need if not counted[h]], [t[0].doc_id for t in todo])
        counted.update(b.need)
        if todo and n_workers is not None:  # (none yet: `read_here` starts it first; else the serial fallback)
            wanted = set(b.need)
            b.complete = [all(h in wanted for h in hs) for hs in hashes]
            b.future = client.submit(_embed_part, shared["parts"], [need[h] for h in b.need], b.need, hashes, b.complete,
                                     key=f"mycelial-embed-{tag}-{st['batches']}", retries=2, priority=1)
        st["batches"] += 1
        st["plan"] += time.perf_counter() - t0
        return b

    def commit(b: _Batch):
        res = None
        if b.future is not None:
            t0 = time.perf_counter()
            res = _result(b.future, "embedding and encoding chunks", lost=rescatter,  # lost: the serial path below
                          on_wait=waiting and (lambda: waiting(b)))
            st["wait"] += time.perf_counter() - t0
            for k, v in (res["t"] if res is not None else {}).items():
                st[k] += v
            b.future = None
        t0 = time.perf_counter()
        counted.subtract(b.need)
        for h in b.need:
            if counted[h] <= 0:
                del counted[h]
        todo, hashes, need, unchanged, _ = mem._batch_todo(b.items)  # the serial plan, now
        report.unchanged += unchanged
        if unchanged:
            mem._relocate(b.items, report)
        if todo and res is not None and list(need) == b.need and [t[0].doc_id for t in todo] == b.todo:
            vec, code = dict(zip(b.need, res["X"])), dict(zip(b.need, res["C"]))

            def observe(added_docs):
                t1 = time.perf_counter()
                mem._observe_docs([d for d, full in zip(added_docs, b.complete) if not full])
                if res["delta"] is not None:
                    keys, n, g, nodes, events_ = res["delta"]
                    delta = MycelialReasoning(mem.network_.config)
                    delta.keys_, delta.counts_, delta.group_counts_ = keys, n, g
                    delta.node_counts_, delta.n_events_ = nodes, events_
                    mem.network_.merge(delta)
                    # the concept side of the same documents, from the ids SQLite just assigned
                    mem._observe_docs([d for d, full in zip(added_docs, b.complete) if full], codes_too=False)
                if added_docs:
                    mem._net_mark["doc"] = max(mem._net_mark["doc"], int(added_docs[-1][0]))
                st["merge"] += time.perf_counter() - t1

            mem._commit(todo, hashes, vec, code, report, observe=observe)
        elif todo:  # the plan went stale: this batch exactly as the serial path does it
            st["fallback_batches"] += 1
            X = mem._embedder().embed(list(need.values())) if need else np.zeros((0, 384), np.float32)
            C = mem.codec.encode(X) if need else None
            mem._commit(todo, hashes, dict(zip(need, X)), dict(zip(need, C)) if need else {}, report)
        st["commit"] += time.perf_counter() - t0
        _progress(bar, len(b.items), report)

    try:
        if start is None:
            connect(client)
        for items_ in _batches(events(), mem.chunks_per_commit, report, mem.store_):
            inflight.append(plan(items_))
            while len(inflight) > 2 * (n_workers or 0) + 1:
                commit(inflight.popleft())
        while inflight:
            commit(inflight.popleft())
        _finished(bar, report)
    finally:
        if n_workers is not None:
            client.cancel([f for f, _ in reads] + [b.future for b in inflight if b.future is not None])
        if bar is not None:
            bar.close()
        if report.documents or report.replaced:
            t0 = time.perf_counter()
            mem.save()
            st["save"] += time.perf_counter() - t0
    report.seconds = time.perf_counter() - t_start
    return report
