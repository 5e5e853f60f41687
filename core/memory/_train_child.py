"""Training a FAISS index in a child process, so that Ctrl-C or a cancelled build stops it at once.

FAISS's k-means keeps its thread in C++ for the whole training (8 s at 50k vectors on one thread,
longer at scale) and neither a signal handler nor a cancel flag runs until it returns: Ctrl-C during
an ingest that was training its index took effect only once the training had ended. A child process
is killed instead. It runs the same FAISS code on the same sample with the caller's thread count, so
the trained index is the same, byte for byte (tested).

The sample goes to the child through its standard input and the index comes back on its standard output:
nothing is written to /tmp. The child ignores SIGINT (a terminal's Ctrl-C reaches the whole process group: the
parent decides) and exits as soon as its standard input closes, so it never outlives a parent that was killed.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

CHILD_AT = 10_000  # training samples from which a child trains (~2 s of k-means on one thread; a child costs ~0.4 s)
_POLL_S = 0.05  # how often the waiting thread looks at its cancel event


def train_in_child(X: np.ndarray, factory: str, n_total: int, opq_iterations: int, threads: int,
                   cancel: threading.Event | None = None) -> bytes | None:
    """The serialized FAISS index ``factory`` trained on ``X`` in a child process; None if ``cancel`` was set.

    The sample goes to the child through its stdin and the index comes back on its stdout: no temporary
    file (the sample is 77 MB at 50k vectors, 154 MB at the 100k cap: a small /tmp failed the build).
    A KeyboardInterrupt while it waits (the main thread's) kills the child and is raised at once.
    """
    import core

    root = str(Path(core.__file__).resolve().parent.parent)  # the child imports the same `core`
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p))
    sweep(tempfile.gettempdir())  # samples an older version left in /tmp
    X = np.ascontiguousarray(X, dtype=np.float32)
    proc = subprocess.Popen([sys.executable, "-m", "core.memory._train_child", str(X.shape[0]), str(X.shape[1]),
                             factory, str(n_total), str(opq_iterations), str(threads)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0, env=env)
    out: list[bytes] = []

    def feed() -> None:  # the pipe takes 64 kB at a time: written by a thread, so cancel is seen meanwhile
        view = memoryview(X).cast("B")
        try:
            while view:  # a raw write may take part of it
                view = view[proc.stdin.write(view):]
        except OSError:  # the child died or was killed: its exit status says so
            pass

    def collect() -> None:
        out.append(proc.stdout.read())

    threads_ = [threading.Thread(target=f, daemon=True) for f in (feed, collect)]
    for t in threads_:
        t.start()
    try:
        while True:
            try:
                proc.wait(_POLL_S)
                break
            except subprocess.TimeoutExpired:
                if cancel is not None and cancel.is_set():
                    return None
    finally:  # cancelled, interrupted or failed: no training outlives its build
        if proc.returncode is None:
            proc.kill()
            proc.wait()
        for t in threads_:
            t.join()
        proc.stdin.close()
        proc.stdout.close()
    if proc.returncode != 0 or not out or not out[0]:
        raise RuntimeError(f"training the index ({factory} on {len(X)} vectors) in a child process failed "
                           f"(exit status {proc.returncode})")
    return out[0]


def sweep(folder) -> int:
    """Remove the training folders (their samples: 77 MB at 50k vectors) that versions before the sample went
    through a pipe left when killed (`kill -9`) while they trained; returns how many."""
    import re
    import shutil

    gone = 0
    for path in Path(folder).glob("mycelial-train-*-*"):
        m = re.fullmatch(r"mycelial-train-(\d+)-\w+", path.name)
        if m is None or int(m.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(m.group(1)), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
            gone += 1
        except (OSError, OverflowError):  # alive under another user, or no such number
            pass
    return gone


def _read_sample(stream, rows: int, dim: int) -> np.ndarray:
    """``rows`` x ``dim`` float32 from ``stream``; exits if it ends first (the parent died while sending)."""
    X = np.empty((rows, dim), dtype=np.float32)
    view, got = memoryview(X).cast("B"), 0
    while got < len(view):
        n = stream.readinto(view[got:])
        if not n:
            os._exit(1)
        got += n
    return X


def _main(argv: list[str]) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    rows, dim, factory, n_total, opq_iterations, threads = argv
    result = os.fdopen(os.dup(1), "wb")  # the index goes to the parent on our stdout; anything a library
    os.dup2(2, 1)  # prints goes to stderr instead of into it
    X = _read_sample(sys.stdin.buffer, int(rows), int(dim))

    def orphaned() -> None:  # the parent closes our stdin when it kills us, and the OS when it dies
        sys.stdin.buffer.read()
        os._exit(1)

    threading.Thread(target=orphaned, daemon=True).start()
    import faiss

    from core.memory.index import VectorIndex

    faiss.omp_set_num_threads(int(threads))
    index = VectorIndex(X.shape[1], factory, opq_iterations=int(opq_iterations))
    index.train(X, int(n_total), in_child=False)
    result.write(faiss.serialize_index(index.index_).tobytes())
    result.flush()
    os._exit(0)  # nothing to tear down; the stdin thread is still reading


if __name__ == "__main__":
    try:
        _main(sys.argv[1:])
    except BaseException:  # said on stderr; no interpreter exit beside the thread reading stdin
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
