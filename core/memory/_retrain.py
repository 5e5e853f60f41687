"""Rebuilding a memory's vector index beside the live one: recall never waits for training.

The new index is trained and filled from the stored float16 vectors while recall keeps
searching the old one; the swap (and a catch-up with what was committed or removed in
the meantime) happens under the memory's lock, and ``save`` then persists it atomically
(``index.<gen>.npz`` + ``state.json``). A crash before the swap leaves the old index file,
which is still valid: it is caught up on open and the retrain starts again.

A live index that is due for training (an exact one holding ``train_at`` vectors, or a
trained one the memory has outgrown: ``VectorIndex.needs_training``) is rebuilt in a
background thread, so neither recall nor ingest waits for k-means (the exact index keeps
answering, exactly, meanwhile); an empty index or one that does not match the store is
rebuilt in the calling thread.

The build thread re-checks growth after each swap and trains again while the swapped index
is already outgrown (the first training of a 1M ingest started at 50k and swapped in after
the last batch: nothing retrained it until the next ingest). ``wait_for_retrain`` waits for
the whole chain; ``close`` lets the build in flight swap and save, and starts no other (an
index still outgrown is retrained the next time the memory is opened for writing).

A cancelled build (``stop_retrain``; a memory left by Ctrl-C, see ``SemanticMemory.__exit__``) stops
at once even inside k-means: a sample of ``CHILD_AT`` vectors or more trains in a child process
(``core.memory._train_child``), which is killed.
"""
from __future__ import annotations

import atexit
import threading
import time
import weakref

import numpy as np

from core.log import get_logger
from core.memory.index import VectorIndex

log = get_logger("memory.index")  # mycelial.*: the CLI formats and shows its warnings
SAMPLE = 100_000  # training vectors read from the store (OPQ + k-means cost grows with this)


def release_free_memory() -> bool:
    """Hand freed heap memory back to the OS (glibc ``malloc_trim``); False where unavailable.

    Building an index frees hundreds of MB in pieces (the exact index's id map, 768-byte
    float16 rows read from SQLite by the builder thread) that glibc keeps in its arenas:
    at 100k chunks 256 MB of resident memory, 2.6 kB a chunk, that nothing used any more.
    """
    import ctypes
    import ctypes.util

    global _TRIM
    if _TRIM is None:
        try:
            _TRIM = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _TRIM = False
    if not _TRIM:
        return False
    _TRIM(0)
    return True


_TRIM = None


def _add_rows(index: VectorIndex, rows) -> int:
    """Add (id, float16 blob) rows to ``index``; returns the highest id (0 if none)."""
    if not rows:
        return 0
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    X = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float16).reshape(len(rows), -1)
    index.add(ids, X.astype(np.float32))
    return int(ids[-1])


def snapshot(st) -> tuple[int, int]:
    """(chunks, highest chunk id) the store holds now: what a build trains on. Taken where the
    build is decided (under the memory's lock), not when its thread gets to it, so the index
    does not depend on how many more batches an ingest committed meanwhile."""
    return st.count_chunks(), st.last_ids()["chunk"]


def build_index(mem, cancel: threading.Event | None = None, event: dict | None = None,
                upto: tuple[int, int] | None = None) -> tuple[VectorIndex, dict] | None:
    """A new index for everything the store holds now, and its marks; None if cancelled.

    Trained on the chunks of ``upto`` (a `snapshot`; default: now), then filled with every
    stored chunk. ``event["n"]`` gets the size it is trained at before training starts.
    """
    st = mem.store_
    n_total, last = upto if upto is not None else snapshot(st)
    if event is not None:
        event["n"] = n_total
    forget = st.last_ids()["forget"]
    index = VectorIndex(384, None, mem.train_at, mem.nprobe)
    if index.needs_training(n_total):
        step, sample = max(1, n_total // SAMPLE), []
        for rows in st.iter_chunks(0, "id, embedding", batch=50_000):
            past = rows[-1][0] > last  # committed after the snapshot
            if past:
                rows = [r for r in rows if r[0] <= last]
            sample.extend(r[1] for r in rows[::step])
            if past or len(sample) >= SAMPLE or (cancel is not None and cancel.is_set()):
                break
        if cancel is not None and cancel.is_set():  # not trained on the part read so far
            return None
        X = np.frombuffer(b"".join(sample[:SAMPLE]), dtype=np.float16).reshape(-1, 384).astype(np.float32)
        del sample
        trained = index.train(X, n_total, cancel)
        del X
        if trained is None:  # cancelled: the child training it was killed
            return None
    mark = {"chunk": 0, "forget": forget}
    for rows in st.iter_chunks(0, "id, embedding", batch=50_000):
        if cancel is not None and cancel.is_set():
            return None
        mark["chunk"] = max(mark["chunk"], _add_rows(index, rows))
    return index, mark


def rebuild_index(mem) -> None:
    """Rebuild ``mem.index_`` from the store: in the background when the live index is due for
    training (it is caught up and keeps serving; read-only memories keep theirs), else here,
    swapping the new index in under the lock."""
    live, st = mem.index_, mem.store_
    if live.needs_training(st.count_chunks()) and live.ntotal:
        with mem._lock:
            _catch_up(mem, live)
        if live.ntotal == st.count_chunks():
            if not mem.read_only:
                start_retrain(mem)
            return
    stop_retrain(mem, wait=False)  # the caller may hold the lock a running retrain waits for
    index, mark = build_index(mem)
    with mem._lock:
        mem.index_, mem._index_mark = index, mark


def _catch_up(mem, live: VectorIndex) -> None:
    """Replay removals and add newer chunks to the live index (as ``StateMixin._catch_up``)."""
    st = mem.store_
    for entry in st.forget_log(mem._index_mark["forget"]):
        live.remove(entry["removed"])
        mem._index_mark["forget"] = entry["seq"]
    for rows in st.iter_chunks(mem._index_mark["chunk"], "id, embedding"):
        mem._index_mark["chunk"] = max(mem._index_mark["chunk"], _add_rows(live, rows))


def start_retrain(mem) -> threading.Thread:
    """Start (once) the background rebuild of ``mem``'s index; returns its thread.

    The thread keeps going while the memory has outgrown the index it just swapped in (a chain):
    an index outgrown during its own training is retrained at once, not on the next ingest.
    A thread that has decided to end (under the lock) is not reused: a new one starts.
    """
    with mem._lock:
        running = getattr(mem, "_retrain_thread", None)
        if retrain_alive(running) and not mem._retrain_state["ending"]:
            return running
        cancel, stop, state = threading.Event(), threading.Event(), {"ending": False}
        live = mem.index_
        live.record_removals()  # forgets from here on are replayed on the new index before the swap
        import faiss

        # OpenMP thread counts are per thread: the builder uses the caller's (1 for `mycelial`, tests)
        threads = faiss.omp_get_max_threads()
        # the live index goes in a box the builder empties: the thread's own args would keep the
        # replaced index (and its memory) alive until the thread ends
        thread = threading.Thread(target=_retrain_then_mark, args=(mem, [live], cancel, stop, state, threads,
                                                                   snapshot(mem.store_)),
                                  name="mycelial-retrain", daemon=True)
        thread.done = state["done"] = threading.Event()
        thread.cancel = cancel
        mem._retrain_thread, mem._retrain_cancel, mem._retrain_stop = thread, cancel, stop
        mem._retrain_state = state  # this thread's own: an ending one must not mark its successor
        if not hasattr(mem, "retrain_events_"):
            mem.retrain_events_ = []  # one dict per build: when, on what size, when swapped (benchmarks, tests)
        ref = weakref.ref(mem)
        atexit.register(lambda: (m := ref()) is not None and stop_retrain(m))  # never exit inside FAISS
        thread.start()
    return thread


def _retrain_then_mark(mem, box, cancel, stop, state: dict, threads: int, upto) -> None:
    try:
        _retrain(mem, box, cancel, stop, state, threads, upto)
    finally:
        state["done"].set()


def retrain_alive(thread: threading.Thread | None) -> bool:
    """Whether ``thread`` (a retrain's) still runs: ``is_alive()`` said no after a join Ctrl-C interrupted."""
    if thread is None:
        return False
    done = getattr(thread, "done", None)
    return not done.is_set() if done is not None else thread.is_alive()


def _wait_done(thread: threading.Thread, timeout: float | None = None) -> bool:
    """Wait for ``thread`` to end; True when it has. Not ``Thread.join``: a join that Ctrl-C interrupts marks
    a thread still running as stopped (CPython 3.11, bpo-45274), so every later join (``close``, the exit
    hook) returned at once and the process could exit inside FAISS. A second Ctrl-C here is held until the
    build stops at its next batch (it is cancelled first), then raised."""
    from core._waiting import wait_holding_interrupt

    done = getattr(thread, "done", None)
    if done is None:  # not a retrain thread of ours
        thread.join(timeout)
        return not thread.is_alive()

    def interrupted(first: bool) -> None:
        if first:
            log.warning("interrupted: waiting for the background index build to stop, so that the process "
                        "does not exit inside FAISS (what was committed is kept)")
        thread.cancel.set()

    return wait_holding_interrupt(done, timeout, interrupted)


def _retrain(mem, box: list, cancel: threading.Event, stop: threading.Event, state: dict, threads: int,
             upto: tuple[int, int]) -> None:
    """Build, swap and save; again while the swapped index is already outgrown (unless stopped)."""
    import faiss

    faiss.omp_set_num_threads(threads)
    live: VectorIndex = box.pop()
    # this thread's read connection scans every row once: through read(), not the memory map
    # recall uses, which would leave the whole file resident in this process (~950 B a chunk)
    mem.store_._reader.execute("PRAGMA mmap_size=0")
    try:
        while True:
            event = {"started": time.time(), "n": None, "trained_on": None, "swapped": None, "ntotal": None}
            mem.retrain_events_.append(event)
            log.info("training the index of %s on %d chunks in the background", mem.folder, upto[0])
            if not _build_and_swap(mem, live, cancel, event, upto):
                return
            live = None
            _save_swapped(mem)
            release_free_memory()  # the replaced index and the builder's reads
            with mem._lock:  # decided under the lock: an ingest that finds this thread alive relies on it
                upto = snapshot(mem.store_)
                n_total = upto[0]
                if cancel.is_set() or stop.is_set() or not mem.index_.needs_training(n_total):
                    state["ending"] = True
                    return
                live = mem.index_
                live.record_removals()
            log.info("the index of %s (trained at %d) was outgrown while it trained: %d chunks; training again",
                     mem.folder, event["trained_on"], n_total)
    finally:
        with mem._lock:
            state["ending"] = True
            if live is not None and live is mem.index_:
                live._removed = None  # not swapped out: stop recording its removals


def _build_and_swap(mem, live: VectorIndex, cancel: threading.Event, event: dict, upto: tuple[int, int]) -> bool:
    """One build beside ``live`` (trained on ``upto``), swapped in under the lock; False if cancelled,
    stale or failed."""
    try:
        t0 = time.perf_counter()
        built = build_index(mem, cancel, event, upto)
        if built is None:
            return False
        index, mark = built
        st = mem.store_
        for rows in st.iter_chunks(mark["chunk"], "id, embedding"):  # most of the catch-up, unlocked
            mark["chunk"] = max(mark["chunk"], _add_rows(index, rows))
        with mem._lock:
            if cancel.is_set() or mem.index_ is not live:
                return False  # closed, or the live index was replaced (rebuilt, reloaded): this one is stale
            index.remove(live.removed_since_record())
            for rows in st.iter_chunks(mark["chunk"], "id, embedding"):
                mark["chunk"] = max(mark["chunk"], _add_rows(index, rows))
            mark["forget"] = max(mark["forget"], mem._index_mark["forget"])
            live._removed = None
            mem.index_, mem._index_mark = index, mark
            event.update(swapped=time.time(), ntotal=index.ntotal, trained_on=index.trained_on_,
                         factory=index.factory_, seconds=time.perf_counter() - t0)
        log.info("swapped in the index of %s: %s trained at %d, holding %d (%.1f s)", mem.folder,
                 index.factory_, index.trained_on_, index.ntotal, event["seconds"])
        return True
    except Exception:  # a failed retrain leaves the old index serving; it is tried again on the next ingest
        log.exception("retraining the vector index of %s failed", mem.folder)
        return False


def _save_swapped(mem) -> None:
    """index.<gen>.npz + state.json, atomically (tmp + rename each); a crash before this keeps the old files.

    While a writer of this process holds the lock (an ingest), its own save persists the swapped
    index: waiting for it here would keep this thread from ending or chaining.
    """
    try:
        if not mem._wlock.held:
            mem.save()
    except Exception as exc:  # e.g. the write lock timed out: the swapped index is saved by the next save
        log.warning("saving the retrained index of %s failed (%s); it is saved on the next save", mem.folder, exc)


def stop_retrain(mem, wait: bool = True) -> None:
    """Cancel a running background retrain (it stops at its next batch, unswapped) and wait for it."""
    thread = getattr(mem, "_retrain_thread", None)
    if thread is None:
        return
    mem._retrain_cancel.set()
    if wait and thread is not threading.current_thread():
        _wait_done(thread)
    mem._retrain_thread = None


def cancel_retrain(mem) -> None:
    """Cancel the build in flight without waiting (Ctrl-C, a server's shutdown): ``close`` then waits only for it
    to stop (its training child is killed), not for the rest of the build; the memory keeps its current index,
    and the build starts again on the next writable open."""
    cancel = getattr(mem, "_retrain_cancel", None)
    if cancel is not None:
        cancel.set()


def finish_retrain(mem) -> None:
    """For ``close``: let the build in flight swap in and save, start no further one.

    An index still outgrown then is saved as it is (whole and valid) and retrained when the
    memory is next opened for writing.
    """
    while True:
        thread = getattr(mem, "_retrain_thread", None)
        if thread is None or thread is threading.current_thread():
            return
        mem._retrain_stop.set()
        _wait_done(thread)
        if getattr(mem, "_retrain_thread", None) is thread:
            return


def wait_for_retrain(mem, timeout: float | None = None) -> bool:
    """Block until the background retraining (the whole chain) is done; True if none is running."""
    end = None if timeout is None else time.monotonic() + timeout
    while True:
        thread = getattr(mem, "_retrain_thread", None)
        if thread is None or thread is threading.current_thread():
            return True
        if not _wait_done(thread, None if end is None else max(0.0, end - time.monotonic())):
            return False
        if getattr(mem, "_retrain_thread", None) is thread:
            return True
        # another retrain started meanwhile (an ingest found this one ending): wait for it too
