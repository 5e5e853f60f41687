"""Training a FAISS index in a child process, so that Ctrl-C or a cancelled build stops it at once.

FAISS's k-means keeps its thread in C++ for the whole training (8 s at 50k vectors on one thread,
longer at scale) and neither a signal handler nor a cancel flag runs until it returns: Ctrl-C during
an ingest that was training its index took effect only once the training had ended. A child process
is killed instead. It runs the same FAISS code on the same sample with the caller's thread count, so
the trained index is the same, byte for byte (tested).

The child ignores SIGINT (a terminal's Ctrl-C reaches the whole process group: the parent decides)
and exits as soon as its standard input closes, so it never outlives a parent that was killed.
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

    A KeyboardInterrupt while it waits (the main thread's) kills the child and is raised at once.
    """
    import core

    root = str(Path(core.__file__).resolve().parent.parent)  # the child imports the same `core`
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p))
    sweep(tempfile.gettempdir())
    with tempfile.TemporaryDirectory(prefix=f"mycelial-train-{os.getpid()}-") as tmp:
        np.save(os.path.join(tmp, "x.npy"), np.ascontiguousarray(X, dtype=np.float32))
        out = os.path.join(tmp, "index.faiss")
        proc = subprocess.Popen([sys.executable, "-m", "core.memory._train_child", tmp, factory, str(n_total),
                                 str(opq_iterations), str(threads)], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, env=env)
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
            proc.stdin.close()
        if proc.returncode != 0 or not os.path.isfile(out):
            raise RuntimeError(f"training the index ({factory} on {len(X)} vectors) in a child process failed "
                               f"(exit status {proc.returncode})")
        with open(out, "rb") as f:
            return f.read()


def sweep(folder) -> int:
    """Remove the training folders (their samples: 77 MB at 50k vectors) of processes that are gone (`kill -9`
    while they trained); returns how many."""
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


def _main(argv: list[str]) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    folder, factory, n_total, opq_iterations, threads = argv

    def orphaned() -> None:  # the parent closes our stdin when it kills us, and the OS when it dies
        sys.stdin.buffer.read()
        os._exit(1)

    threading.Thread(target=orphaned, daemon=True).start()
    import faiss

    from core.memory.index import VectorIndex

    faiss.omp_set_num_threads(int(threads))
    X = np.load(os.path.join(folder, "x.npy"))
    index = VectorIndex(X.shape[1], factory, opq_iterations=int(opq_iterations))
    index.train(X, int(n_total), in_child=False)
    blob = faiss.serialize_index(index.index_)
    tmp = os.path.join(folder, "index.faiss.tmp")
    with open(tmp, "wb") as f:
        f.write(blob.tobytes())
    os.replace(tmp, os.path.join(folder, "index.faiss"))
    os._exit(0)  # nothing to tear down; the stdin thread is still reading


if __name__ == "__main__":
    try:
        _main(sys.argv[1:])
    except BaseException:  # said on stderr; no interpreter exit beside the thread reading stdin
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
