"""A synchronous upload (``POST .../documents`` without ``background=true``) stopped by the server's shutdown.

It ran as one ingest the stop did not reach: SIGTERM or Ctrl-C waited for uvicorn's 10 s graceful timeout, which
cancelled the request (the client got uvicorn's plain-text 500, the log a CancelledError traceback), while the
ingest went on in its thread and the exit waited for the whole upload (25-54 s), every document of the "failed"
request stored. Now it ends at the ingest's next commit once the server stops, as a background job does
(`jobs.py`): the client gets a 503 naming what got in and what did not, the log one line.

It stays one ingest (its report, a duplicate id's refusal and an error's record number as before), committing
every ``COMMIT`` chunks instead of 1,024: the stop waits for the batch being embedded, and 1,024 chunks took
10-40 s on a loaded machine. 256 passages into a memory of 44k chunks (two rounds): one ingest 2.6 and 1.7 s, in
commits of 64 chunks 2.9 and 3.8 s, in slices of 32 records (a job's batches: each slice saves the derived
state, ~1-1.7 s) 9.1 and 8.6 s.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager

from fastapi import HTTPException

from core.server.interrupted import JobStopped, left_out, left_out_words, stored_hashes

log = logging.getLogger("mycelial.server")
COMMIT = 64  # chunks per commit of a synchronous upload: what the stop waits for (~1 s of embedding)


def ingest_stoppable(slot, records: list, stop):
    """``slot.memory.ingest(records)``, ending at its next commit once ``stop`` (an Event, set at the server's
    stop signal) is: then a 503 saying what got in (`stopped`). Called under the slot's write lock."""
    before = stored_hashes(slot, records)  # a record whose stored hash the ingest changed was committed by it
    if stop.is_set():
        raise stopped(slot, records, before)
    try:
        with _commits_of(slot.memory, COMMIT):
            return slot.memory.ingest(records, progress=_stop_after_commit(stop))
    except JobStopped:
        raise stopped(slot, records, before) from None


@contextmanager
def _commits_of(memory, chunks: int):
    """``memory`` commits every ``chunks`` chunks (at most) meanwhile; its writes are this request's alone (the
    slot's write lock), and recall does not read the setting."""
    was = memory.chunks_per_commit
    memory.chunks_per_commit = min(was, chunks)
    try:
        yield
    finally:
        memory.chunks_per_commit = was


def _stop_after_commit(stop):
    """ingest's progress callable: just after a commit, once the server stops, the rest is not stored."""
    def progress(docs, chunks, embedding):
        if embedding is None and stop.is_set():
            raise JobStopped
    return progress


def stopped(slot, records: list, before: dict) -> HTTPException:
    """The 503 of a request stopped by the server, and one log line naming what did not get in (read back from
    the store, as a job's: `interrupted.left_out`)."""
    missing = left_out(slot.memory.store_, records, before)
    got, words = len(records) - len(missing), left_out_words(records, missing)
    log.warning("upload to memory %r interrupted: the server was stopped after %s of %s documents of the request; "
                "%s", slot.name, f"{got:,}", f"{len(records):,}", words)
    return HTTPException(503, f"the server is stopping: {got:,} of {len(records):,} documents of this request were "
                              f"stored, each whole; {words}. Send the request again once the server is back: what "
                              f"got in is unchanged, the rest is ingested")
