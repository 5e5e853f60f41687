"""Background ingest jobs: the client gets a job id at once and polls its progress.

A job ingests its records in batches, taking the memory's write lock per batch, so recall
and other writers interleave with a long ingest instead of waiting for all of it. A batch that
finds the folder locked by another process (a `mycelial ingest` in a terminal) waits and tries
again: the job's documents were accepted (202) and live only in this process.

The server's stop (SIGTERM, Ctrl-C) ends a running job at the ingest's next commit, not after the whole job (a
big upload held the exit for ~1 min): its committed documents stay, each whole, and the log names the job and the
files that did not get in (sent again, the ones that did are "unchanged").
"""
from __future__ import annotations

import itertools
import logging
import secrets
import threading
import time
from collections import OrderedDict

from core.memory.lock import MemoryBusyError
from core.server.interrupted import JobStopped, left_out, left_out_words, stored_hashes
from core.server.public import without_folder

log = logging.getLogger("mycelial.server")
_COUNTS = ("documents", "chunks", "new_chunks", "kept_chunks", "duplicate_chunks", "unchanged", "replaced", "moved",
           "moved_gone")  # as ingest's


def _embedding(job: dict, embedding) -> None:
    """A batch's embedding progress in the job: a large uploaded document is one batch, and its job stood at
    0 of 1 documents until all its chunks were embedded (2,719 chunks: 10 s without a sign)."""
    job["embedding"] = {"done": embedding[0], "total": embedding[1]} if embedding else None


class Jobs:
    """The last ``keep`` jobs of a server, by id."""

    def __init__(self, batch: int = 32, keep: int = 200):
        self.batch, self.keep = batch, keep
        self._jobs: OrderedDict[str, dict] = OrderedDict()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        # a restarted server counted from j1 again: a client polling the job it was given before the restart
        # read another client's job (its "done") as its own, whose documents the stop had cut short
        self._boot = secrets.token_hex(4)  # this server run
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._stop_now = threading.Event()  # the server stops: jobs end at their ingest's next commit

    def submit(self, slot, records: list, errors=(), skipped=(), replacing=()) -> dict:
        """Start ingesting ``records``; ``errors`` (an uploaded file's unreadable lines) open its report, ``skipped``
        names the empty files, ``replacing`` the (id, stored time) of the documents its files replace (replace=true)."""
        report = {k: 0 for k in _COUNTS} | {"errors": list(errors), "skipped": list(skipped), "replaced_files": [],
                                           "same_text": {}, "reinforcements_dropped": []}
        job = {"id": f"j{next(self._ids)}-{self._boot}", "memory": slot.name, "status": "queued", "total": len(records),
               "done": 0, "embedding": None, "waiting_for": None, "report": report, "error": None,
               "started": time.time(), "seconds": 0.0}
        with self._lock:
            self._jobs[job["id"]] = job
            while len(self._jobs) > self.keep:
                self._jobs.popitem(last=False)
        thread = threading.Thread(target=self._run, args=(slot, records, job, list(replacing)), daemon=True, name=f"ingest-{job['id']}")
        thread.done = threading.Event()  # waited on, not joined: see `wait`
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return self.view(job)

    def running(self) -> tuple[int, int]:
        """(jobs still running, documents they have left)."""
        with self._lock:
            jobs = [j for j in self._jobs.values() if j["status"] in ("queued", "running", "waiting")]
        return len(jobs), sum(j["total"] - j["done"] for j in jobs)

    @property
    def stop_signal(self) -> threading.Event:
        """Set at the server's stop signal: a synchronous upload ends at its next commit too (`stopping.py`)."""
        return self._stop_now

    def stop(self) -> None:
        """Running jobs end at their ingest's next commit: called at the server's stop signal, before uvicorn
        has closed its connections (it waits up to 10 s for a client's), so the jobs do not run on meanwhile."""
        self._stop_now.set()

    def wait(self, now: bool = False) -> None:
        """Wait for every running job to end. Before closing the memories at shutdown: a SIGTERM closed
        them under a running job, which failed without a word (a job's status lives only in this process).
        A job waiting for another process's lock stops waiting and fails, naming what it ingested: that
        process may hold the lock for hours.

        ``now`` (the server's stop, or Ctrl-C during the wait): jobs end at their ingest's next commit, and
        the log names what did not get in. Waited on each job's event with the interrupt held, not
        ``Thread.join``: uvicorn skips the app's shutdown on a second Ctrl-C, and the process exited with a
        job's thread in the model (SIGABRT, "terminate called without an active exception")."""
        from core._waiting import wait_holding_interrupt

        self._stopping.set()
        if now:
            self._stop_now.set()
        with self._lock:
            threads = list(self._threads)

        def stop_now(first: bool) -> None:
            if first and not self._stop_now.is_set():
                log.warning("interrupted: background ingest jobs stop at their next commit")
            self._stop_now.set()

        held = None
        for t in threads:
            try:
                wait_holding_interrupt(t.done, on_interrupt=stop_now)
            except KeyboardInterrupt as exc:  # raised once this job was done: wait for the others too
                held = held or exc
        if held is not None:
            raise held

    def _run(self, slot, records, job, replacing) -> None:
        try:
            self._run_batches(slot, records, job, replacing)
        finally:
            threading.current_thread().done.set()

    def _run_batches(self, slot, records, job, replacing=()) -> None:
        from core.server.replacing import replaced_now

        job["status"] = "running"
        try:
            for i in range(0, len(records), self.batch):
                part = records[i:i + self.batch]
                try:
                    if self._stop_now.is_set():
                        raise JobStopped
                    rep = self._ingest_waiting(slot, part, job)
                except JobStopped as stop:
                    return self._stopped(slot, job, records, i, stop.args[0] if stop.args else {})
                for k in _COUNTS:
                    job["report"][k] += getattr(rep, k)
                job["report"]["errors"] += [str(e) for e in rep.errors]
                job["report"]["same_text"].update(rep.same_text)
                job["report"]["reinforcements_dropped"] += rep.to_dict()["reinforcements_dropped"]
                job["done"] = i + len(part)  # the progress callback moved it along the batch
                job["seconds"] = round(time.time() - job["started"], 3)
            if replacing:  # set before "done": the page reads them with the report
                job["report"]["replaced_files"] = replaced_now(slot.memory.store_, replacing)
            rep = job["report"]
            if rep["errors"] and not (rep["documents"] or rep["unchanged"]):  # as the synchronous route's 422
                job["status"], job["error"] = "failed", "nothing was ingested: " + "; ".join(rep["errors"][:5])
            else:
                job["status"] = "done"
        except Exception as exc:  # noqa: BLE001 - reported through the job, logged here
            log.exception("ingest job %s failed", job["id"])
            job["status"], job["error"] = "failed", without_folder(f"{type(exc).__name__}: {exc}", slot)
        job["seconds"] = round(time.time() - job["started"], 3)

    def _stopped(self, slot, job, records, at: int, before: dict) -> None:
        """End ``job``, stopped by the server in its batch at ``at`` (``before``: that batch's stored hashes
        when it began): failed, and one log line naming the job and what did not get in."""
        missing = left_out(slot.memory.store_, records[at:], before)
        job["done"] = len(records) - len(missing)
        job["status"], job["error"] = "failed", (
            f"the server was stopped after {job['done']} of {job['total']} documents of this job; send the rest "
            f"again: {left_out_words(records, missing)} (what got in is whole, and unchanged when sent again)")
        job["seconds"] = round(time.time() - job["started"], 3)
        log.warning("ingest job %s interrupted: %s", job["id"], job["error"])

    def _ingest_waiting(self, slot, part: list, job: dict):
        """Ingest one batch, waiting while another process holds the folder's lock (status "waiting").

        The lock is tried first without waiting: ingest itself waits up to MYCELIAL_LOCK_TIMEOUT (30 s) before
        it says the lock is taken, and the job showed "running", ``waiting_for: null``, all that time."""
        base = job["done"]
        before: dict = {}

        def progress(docs, chunks, embedding):  # `done` moved only when a batch of 32 ended
            job["done"], job["seconds"] = base + docs, round(time.time() - job["started"], 3)
            _embedding(job, embedding)
            if embedding is None and self._stop_now.is_set():  # just after a commit: the next batch is not stored
                raise JobStopped(before)  # (not while one embeds: it is waited for all the same, so it is kept)

        while True:
            try:
                with slot.write_lock:
                    self._lock_free(slot)
                    before = stored_hashes(slot, part)
                    rep = slot.memory.ingest(part, progress=progress)
                job["status"], job["waiting_for"], job["embedding"] = "running", None, None
                return rep
            except MemoryBusyError as exc:
                if self._stopping.is_set():
                    raise MemoryBusyError(f"the server stopped while this job waited for the memory's lock, "
                                          f"after {job['done']} of {job['total']} documents; send the rest "
                                          f"again: {exc}") from None
                if job["status"] != "waiting":
                    log.info("ingest job %s waits: %s", job["id"], exc)
                job["status"], job["waiting_for"] = "waiting", without_folder(str(exc), slot)
                job["seconds"] = round(time.time() - job["started"], 3)
                self._stopping.wait(1.0)

    @staticmethod
    def _lock_free(slot) -> None:
        """MemoryBusyError at once when another process holds the folder's write lock (taken and let go: the
        ingest takes it as it always does, catching up with that process's writes first)."""
        lock = getattr(slot.memory, "_wlock", None)
        if lock is not None and not lock.held:
            lock.acquire(timeout=0)
            lock.release()

    def get(self, memory: str, job_id: str) -> dict | None:
        with self._lock:
            job = self._jobs.get(job_id)
        return self.view(job) if job is not None and job["memory"] == memory else None

    @staticmethod
    def view(job: dict) -> dict:
        out = {k: v for k, v in job.items() if k != "report"}
        rep = job["report"]
        out["report"] = dict(rep, errors=list(rep["errors"]), replaced_files=list(rep["replaced_files"]),
                             same_text=dict(rep["same_text"]),
                             reinforcements_dropped=list(rep["reinforcements_dropped"]))
        out["progress"] = round(job["done"] / job["total"], 4) if job["total"] else 1.0
        return out
