"""Embed the next batch while this one commits: the model's streams and the engine's thread overlap.

One batch after another, a core idled while the engine committed a batch (concepts, SQLite, the
network: one Python thread) and the model waited for it. Here a background thread embeds and
encodes batch k+1 while this thread commits batch k. Each batch still embeds exactly the chunks
the serial loop would, in its order: the plan is made against the store plus the chunks of the
batch in flight (which its commit will add), and made again at commit; a plan that changed (a
replaced document deleted a chunk this batch counted on) is embedded anew, here. A transformer's
last bits depend on its batch, so this is what keeps the memory identical to a serial ingest.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from core._waiting import interrupts_held, wait_holding_interrupt
from core.embedding import TextEmbedder
from core.log import get_logger

log = get_logger("memory.ingest")


def _say_why_it_waits() -> None:
    log.warning("interrupted: waiting for the batch being embedded (a few seconds), so that the process "
                "does not exit inside the model (what was committed is kept)")


class _Why:
    """What ``close`` says while it waits for a flight: why, once (at the first Ctrl-C, or at the one that
    comes in the wait), and that a further Ctrl-C was held. Before, the first Ctrl-C waited silently."""

    def __init__(self, said: bool = False):
        self.said, self.held = said, False

    def __call__(self, first: bool) -> None:
        if not self.said:
            self.said = True
            _say_why_it_waits()
        elif not self.held:
            self.held = True
            log.warning("interrupted again: still waiting for the batch being embedded; the process exits once "
                        "it is done")


@dataclass
class _Flight:
    batch: list
    keys: list  # chunk hashes sent to the model, in order
    thread: threading.Thread | None = None
    out: dict = field(default_factory=dict)  # "X", "C" or "error"
    # set when the thread is done; waited on instead of Thread.join: a join that Ctrl-C interrupts marks
    # a thread still running as stopped (CPython 3.11's bpo-45274 handling), so a second join returns at once
    done: threading.Event = field(default_factory=threading.Event)
    progress: tuple = (0, 0)  # (chunks embedded, chunks to embed) as the model thread last said


WAIT_TICK = 0.5  # seconds between the progress bar's updates while a long batch embeds


class EmbedAhead:
    """Commits batches in order, each one's embedding computed while the previous one committed.

    ``push(batch)`` starts the batch's embedding and commits the one before; ``flush()`` commits
    the last; ``close()`` (always, e.g. on Ctrl-C) waits for an embedding in flight without
    committing it, so no model call outlives the ingest.
    """

    def __init__(self, mem, report, on_wait=None):
        self.mem, self.report = mem, report
        self.on_wait = on_wait  # (embedded, to embed) every WAIT_TICK while a commit waits for its batch
        self.flight: _Flight | None = None
        self.loaded = False
        # every flight started: Ctrl-C in a commit's wait dropped that flight, and its thread went on in the
        # model while the interpreter shut down ("FATAL: exception not rethrown", SIGABRT, exit 134)
        self.started: list[_Flight] = []

    def push(self, batch) -> int:
        """Start ``batch``; commit the batch before it. Returns the documents committed (0 or its size)."""
        prev = self.flight
        self.flight = self._start(batch, set(prev.keys) if prev is not None else set())
        return self._commit(prev) if prev is not None else 0

    def flush(self) -> int:
        prev, self.flight = self.flight, None
        return self._commit(prev) if prev is not None else 0

    def close(self, interrupted: bool = False) -> None:
        """Wait for every flight started, also one whose commit was interrupted while it waited. A Ctrl-C
        here (the second of an ingest: the first stopped a commit) is held until they are done, then raised:
        raised at once, the process exited with a thread in the model (SIGABRT, exit 134). ``interrupted``
        (by a first Ctrl-C): say at once why the exit waits, when a flight is still running."""
        self.flight = None
        held = None
        why = _Why()
        with interrupts_held(why):  # also one that comes while the first message is being written
            if interrupted and not all(f.done.is_set() for f in self.started):
                why(True)
            for flight in self.started:
                try:
                    wait_holding_interrupt(flight.done, on_interrupt=why)
                except KeyboardInterrupt as exc:  # raised once this flight was done: wait for the others too
                    held = held or exc
            self.started.clear()
        if held is not None:
            raise held

    def _start(self, batch, in_flight: set) -> _Flight:
        todo, _, need, _, _ = self.mem._batch_todo(batch)
        keys = [h for h in need if h not in in_flight] if todo else []
        flight = _Flight(batch, keys)
        if keys:
            texts = [need[h] for h in keys]
            load = getattr(self.mem._embedder(), "load", None)
            if load is not None and not self.loaded:  # in this thread, before any embed beside it (`TextEmbedder.load`)
                load()
                self.loaded = True
            flight.thread = threading.Thread(target=self._embed, args=(texts, flight), name="mycelial-embed",
                                             daemon=True)
            self.started = [f for f in self.started if not f.done.is_set()]
            self.started.append(flight)
            flight.thread.start()
        return flight

    def _embed(self, texts: list, flight: _Flight) -> None:
        out = flight.out
        try:
            emb = self.mem._embedder()
            if isinstance(emb, TextEmbedder):  # a custom embedder's embed takes the texts alone
                out["X"] = emb.embed(texts, on_progress=lambda done, total: setattr(flight, "progress", (done, total)))
            else:
                out["X"] = emb.embed(texts)
            out["C"] = self.mem.codec.encode(out["X"])
        except BaseException as exc:  # re-raised in the ingesting thread
            out["error"] = exc
        finally:
            flight.done.set()

    def _result(self, flight: _Flight) -> dict:
        """The flight's vectors and codes, once its thread is done (the time the engine waits for the model)."""
        if flight.thread is not None:
            if not flight.done.is_set():  # -vv: where a Ctrl-C lands in a running embedding (tests wait for it)
                log.debug("waiting for the model to embed a batch of %d chunks", len(flight.keys))
            # one document of 20k chunks is one batch: the bar stood at 0/1 for a minute, saying nothing
            while not flight.done.wait(WAIT_TICK):
                if self.on_wait is not None and flight.progress[1]:
                    self.on_wait(*flight.progress)
        if "error" in flight.out:
            raise flight.out["error"]
        return flight.out

    def _commit(self, flight: _Flight) -> int:
        out = self._result(flight)
        mem = self.mem
        todo, hashes, need, unchanged, known = mem._batch_todo(flight.batch)  # the serial plan, now
        self.report.unchanged += unchanged
        if unchanged:
            mem._relocate(flight.batch, self.report)
        if not todo:
            return len(flight.batch)
        if list(need) == flight.keys:
            vec = dict(zip(flight.keys, out["X"])) if need else {}
            code = dict(zip(flight.keys, out["C"])) if need else {}
        else:  # the store changed under the plan: embed what the serial loop would, now
            X = mem._embedder().embed(list(need.values())) if need else None
            vec = dict(zip(need, X)) if need else {}
            code = dict(zip(need, mem.codec.encode(X))) if need else {}
        mem._commit(todo, hashes, vec, code, self.report, known=known)
        return len(flight.batch)
