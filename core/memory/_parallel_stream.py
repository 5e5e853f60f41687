"""The driver's side of a parallel ingest's stream: waiting for tasks, batching, and the head read here.

The head: when the Dask cluster is started on demand (`mycelial ingest --workers N` gives a function that
starts a local one), this process reads the stream's items itself, one at a time, as long as each has
nothing to embed (every record unchanged since the last ingest, by the serial path's content-hash check,
or an error); the first item with something to embed starts the cluster, and the items after it go to the
workers as before. Re-running an ingest on an unchanged folder started the cluster (~4 s) to find that
nothing was to do; now it starts none. The events are the same, in the same order: so are the batches.
"""
from __future__ import annotations

from concurrent.futures import CancelledError
from dataclasses import dataclass, field

from core.memory._admit import _content_hash, kept_title, record_problem
from core.memory.readers import ReadError

WAIT_TICK = 0.5  # seconds between the progress bar's updates while this process waits for a task


class WorkerError(RuntimeError):
    """A task failed on a Dask worker after its retries; the batches committed before it are kept.

    Its message names the worker's exception (the original is ``__cause__``): the exception was
    raised in the worker's environment (its files, caches, model), not this process's.
    """


def _result(future, what: str, lost=None, on_wait=None):
    """The task's result; ``lost()`` instead when it was cancelled because a killed worker took the
    scattered parts it reads with it (no retry can run it then; seen once in CI). ``on_wait()`` is called
    before the wait and every WAIT_TICK seconds of it, while the task runs."""
    try:
        _wait(future, on_wait)
        return future.result()
    except CancelledError:
        if lost is None:
            raise
        return lost()
    except Exception as exc:  # re-raised here by distributed as if local: say where it happened
        raise WorkerError(f"a Dask worker failed while {what} (after 2 retries): {type(exc).__name__}: {exc}; "
                          f"it ran in the worker's environment (its files, cache folder, model), not "
                          f"this process's") from exc


def _wait(future, on_wait) -> None:
    """Wait for ``future``, calling ``on_wait()`` while it runs (`workers_wait`)."""
    if on_wait is None:
        return
    from distributed import wait

    while not future.done():
        on_wait()
        try:
            wait(future, timeout=WAIT_TICK)
        except TimeoutError:
            pass


@dataclass
class _Batch:
    items: list  # (Record, chunks) in stream order
    need: list = field(default_factory=list)  # chunk hashes the worker embeds, first appearance order
    todo: list = field(default_factory=list)  # doc ids of changed documents
    complete: list = field(default_factory=list)  # per changed document: all its chunks embedded in this batch
    future: object = None


def _batches(events, batch_size: int, report, store):
    """The serial ingest loop over worker-chunked records: filters in stream order, batches of chunks."""
    pending, n_pending, seen = [], 0, {}
    for ev in events:
        if ev[0] == "err":
            report.errors.append(ev[1])
            continue
        _, rec, chunks = ev
        problem = record_problem(rec, seen, store)
        if problem is not None:
            report.errors.append(problem)
            continue
        if not chunks:
            report.errors.append(ReadError(rec.source or rec.doc_id, "no text after chunking"))
            continue
        pending.append((rec, chunks))
        n_pending += len(chunks)
        if n_pending >= batch_size:
            yield pending
            pending, n_pending = [], 0
    if pending:
        yield pending


def to_embed(events, store) -> bool:
    """Whether any record of ``events`` may need embedding: chunked text whose content hash is not the
    stored one (the serial path's unchanged test, `_batch_todo`); errors and textless records need none."""
    recs = [ev[1] for ev in events if ev[0] == "rec" and ev[2]]
    stored = store.content_hashes([rec.doc_id for rec in recs]) if recs else {}
    for rec in recs:
        kept_title(rec, store)  # as `record_problem` will (it gives the same title again)
        if stored.get(rec.doc_id) != _content_hash(rec):
            return True
    return False


def read_here(items, read_part, split, store, start):
    """The events of the stream's head read in this process (see the module docstring), a generator whose
    value is the parts still to read on the workers (None: the whole stream was read here).

    ``read_part(part)`` reads and chunks a part here; ``split(items)`` cuts items into parts (a large JSONL
    file into several); ``start()`` starts the cluster, called before the first events with something to
    embed are yielded (the batch holding them is sent to the workers)."""
    for i, it in enumerate(items):
        parts = split([it])
        for part in parts:
            events = read_part(part)
            if to_embed(events, store):
                start()
                yield from events
                return parts, items[i + 1:]
            yield from events
    return None
