"""An index that grows: retrained beside the live one at 8x its training size, swapped under the lock."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import faiss
import numpy as np
import pytest

from core.memory import SemanticMemory
from core.memory._retrain import wait_for_retrain
from core.memory.index import GROWTH, VectorIndex, default_nprobe

faiss.omp_set_num_threads(1)
TRAIN_AT = 256  # trained at 256 vectors, retrained at 8 x 256 = 2048 (real WikiText sentence vectors)
NPROBE = 64  # of 64-256 IVF lists: the recall bounds test the swap, not the nprobe default
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def vectors(wiki_sample):
    _, _, X = wiki_sample
    assert len(X) >= 2048 + 200
    return X


def exact_top(X_index, Q, k=10):
    return np.argsort(-(Q @ X_index.T), axis=1)[:, :k]


def recall_at_10(mem, X_index, Q) -> float:
    exact = exact_top(X_index, Q)
    got = [[int(h.doc_id) for h in mem.recall_vector(q, 10, "similar", explain=False)] for q in Q]
    return float(np.mean([len(set(g) & set(e.tolist())) / 10 for g, e in zip(got, exact)]))


def test_needs_training_follows_growth_and_header_keeps_training_size(tmp_path, vectors):
    idx = VectorIndex(factory="IVF16,PQ8x4fs", train_at=300)  # 8-bit PQ: ~30 s of polysemous training
    assert not idx.needs_training(299) and idx.needs_training(300)
    idx.train(vectors[:300], n_total=400)
    assert idx.trained_on_ == 400 and idx.nprobe_ == default_nprobe("IVF16") == 8
    assert not idx.needs_training(int(GROWTH * 400) - 1) and idx.needs_training(int(GROWTH * 400))
    idx.add(np.arange(300), vectors[:300])
    idx.write(tmp_path / "i.npz", {"last_chunk": 300, "forget_seq": 0})
    back, header = VectorIndex.read(tmp_path / "i.npz")
    assert header["trained_on"] == 400 and back.trained_on_ == 400 and back.needs_training(3200)
    assert VectorIndex(growth=0).needs_retraining(10**9) is False
    assert default_nprobe("OPQ32,IVF4096,PQ32") == 256 and default_nprobe("IVF1024,PQ64x4fs") == 64


def test_a_given_8_bit_pq_factory_trains_without_polysemous_training(vectors):
    """index_factory turns polysemous training on for 8-bit PQ: 30-37 s of IVF16,PQ8 on 300 vectors, for a
    Hamming-search reordering the memory never runs."""
    import faiss

    idx = VectorIndex(factory="IVF16,PQ8", train_at=300).train(vectors[:300])
    ivf = faiss.downcast_index(faiss.extract_index_ivf(idx.index_))
    assert isinstance(ivf, faiss.IndexIVFPQ) and not ivf.do_polysemous_training and idx.index_.is_trained


def test_retrain_at_growth_factor_matches_exact_and_reopens(tmp_path, vectors):
    mem = SemanticMemory(tmp_path / "m", train_at=TRAIN_AT, nprobe=NPROBE)
    with mem._lock:  # the build swaps under this lock: a build of 256 rows could finish before the checks
        mem.ingest_vectors(range(0, TRAIN_AT), vectors[:TRAIN_AT])
        assert mem.index_.is_exact and mem._retrain_thread is not None  # trained beside the exact one
        assert recall_at_10(mem, vectors[:TRAIN_AT], vectors[2048:2058]) == 1.0  # which answers meanwhile
    assert wait_for_retrain(mem, timeout=120)
    first, first_thread = mem.index_, mem._retrain_thread
    assert not first.is_exact and first.trained_on_ == TRAIN_AT
    mem.ingest_vectors(range(TRAIN_AT, 2047), vectors[TRAIN_AT:2047])
    assert mem.index_ is first and mem._retrain_thread is first_thread  # 2047 < 8 x 256: no new build
    mem.ingest_vectors([2047], vectors[2047:2048])
    assert mem._retrain_thread is not first_thread  # 2048 = 8 x 256: rebuilt in the background
    assert wait_for_retrain(mem, timeout=120)
    assert mem.index_ is not first and mem.index_.trained_on_ == 2048 and mem.index_.ntotal == 2048
    assert "IVF256" in mem.index_.factory_ and "IVF64" in first.factory_  # IVF lists follow the size
    Q = vectors[2048:2248]
    assert recall_at_10(mem, vectors[:2048], Q) >= 0.9
    factory = mem.index_.factory_
    mem.close()
    again = SemanticMemory(tmp_path / "m", train_at=TRAIN_AT, nprobe=NPROBE)
    assert again.index_.trained_on_ == 2048 and again.index_.factory_ == factory
    assert getattr(again, "_retrain_thread", None) is None  # the saved index is current: no retrain on open
    assert recall_at_10(again, vectors[:2048], Q[:50]) >= 0.9
    again.close()


def test_recall_and_forget_during_retrain(tmp_path, vectors):
    """A thread recalls without pause while another ingest triggers the retrain; every answer is right."""
    mem = SemanticMemory(tmp_path / "m", train_at=TRAIN_AT, nprobe=NPROBE)
    mem.ingest_vectors(range(0, TRAIN_AT), vectors[:TRAIN_AT])  # trained at 256
    assert wait_for_retrain(mem, timeout=120)
    mem.ingest_vectors(range(TRAIN_AT, 2000), vectors[TRAIN_AT:2000])
    probes = list(range(0, 2000, 37))
    errors, answered, stop = [], [], threading.Event()

    def recall_loop():
        while not stop.is_set():
            for i in probes:
                hits = mem.recall_vector(vectors[i], 5, "similar", explain=False)
                # the query is a stored vector (duplicate sentences tie at cosine 1)
                if not hits or hits[0].score < 0.999 or len(hits) != 5:
                    errors.append((i, [(h.doc_id, h.score) for h in hits]))
                answered.append(i)

    t = threading.Thread(target=recall_loop)
    t.start()
    try:
        mem.ingest_vectors(range(2000, 2100), vectors[2000:2100])
        assert mem._retrain_thread.is_alive()
        n_before = len(answered)
        assert mem.forget("5")  # removed while the new index is being built: must not come back
        assert wait_for_retrain(mem, timeout=120)
        during = len(answered) - n_before
    finally:
        stop.set()
        t.join()
    assert not errors, errors[:3]
    assert during > 0  # recall answered while the retrain ran (it was not blocked)
    assert mem.index_.trained_on_ == 2100  # the size when the build was decided, before the forget
    ids = [int(h.doc_id) for h in mem.recall_vector(vectors[5], 20, "similar", explain=False)]
    assert 5 not in ids and mem.index_.ntotal == 2099
    mem.close()


def test_crash_before_swap_keeps_old_index_usable(tmp_path, vectors):
    """A process killed while its retrain is being built: the saved (old) index opens and answers."""
    folder = tmp_path / "m"
    np.save(tmp_path / "X.npy", vectors[:2048])
    code = (
        "import os, sys, numpy as np\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "import faiss; faiss.omp_set_num_threads(1)\n"
        "from core.memory import SemanticMemory\n"
        f"X = np.load({str(tmp_path / 'X.npy')!r})\n"
        f"mem = SemanticMemory({str(folder)!r}, train_at={TRAIN_AT}, nprobe={NPROBE})\n"
        f"mem.ingest_vectors(range({TRAIN_AT}), X[:{TRAIN_AT}])\n"
        "from core.memory._retrain import wait_for_retrain; wait_for_retrain(mem)\n"
        f"mem.ingest_vectors(range({TRAIN_AT}, 2000), X[{TRAIN_AT}:2000])\n"
        "mem.ingest_vectors(range(2000, 2048), X[2000:])\n"
        "print('alive', mem._retrain_thread.is_alive(), mem.index_.trained_on_, flush=True)\n"
        "os._exit(0)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"alive True {TRAIN_AT}" in out.stdout  # killed before the swap
    mem = SemanticMemory(folder, nprobe=NPROBE, train_at=TRAIN_AT, read_only=True)
    assert mem.index_.trained_on_ == TRAIN_AT and mem.index_.ntotal == 2048  # the old index, caught up
    assert recall_at_10(mem, vectors[:2048], vectors[2048:2148]) >= 0.8
    mem.close()
    mem = SemanticMemory(folder, nprobe=NPROBE, train_at=TRAIN_AT)  # writable: the retrain starts again and completes
    assert wait_for_retrain(mem, timeout=120) and mem.index_.trained_on_ == 2048
    mem.close()


def test_swap_does_not_wait_for_a_writer_of_this_process(tmp_path, vectors):
    """While an ingest holds the write lock, the builder swaps and ends (the writer's save persists it):
    a builder blocked on the lock until the ingest ended kept the next retrain from starting."""
    mem = SemanticMemory(tmp_path / "m", train_at=TRAIN_AT, nprobe=NPROBE)
    with mem._writing():  # as one long ingest_vectors call: the lock is held across its batches
        mem.ingest_vectors(range(TRAIN_AT), vectors[:TRAIN_AT])
        thread = mem._retrain_thread
        thread.join(timeout=120)
        assert not thread.is_alive() and not mem.index_.is_exact and mem.index_.trained_on_ == TRAIN_AT
        mem.ingest_vectors(range(TRAIN_AT, 2048), vectors[TRAIN_AT:2048])
        assert mem._retrain_thread is not thread  # the next one started within the same writer
        assert wait_for_retrain(mem, timeout=120) and mem.index_.trained_on_ == 2048
        mem.save()
    mem.close()
    again = SemanticMemory(tmp_path / "m", train_at=TRAIN_AT, nprobe=NPROBE, read_only=True)
    assert again.index_.trained_on_ == 2048 and again.index_.ntotal == 2048
    again.close()


def test_a_build_trains_on_its_snapshot_not_on_what_came_later(tmp_path, vectors):
    """The builder read its training sample while the ingest kept committing, so the index (and the
    100k benchmark's 10-recall, .933 or .934) depended on timing: it now trains on the chunks held
    when the build was decided."""
    from core.memory._retrain import build_index, snapshot

    a = SemanticMemory(tmp_path / "a", train_at=10**6)
    b = SemanticMemory(tmp_path / "b", train_at=10**6)
    a.ingest_vectors(range(0, 600), vectors[:600])  # 300 more arrived after the snapshot of b's size
    b.ingest_vectors(range(0, 300), vectors[:300])
    a.train_at = b.train_at = TRAIN_AT
    upto = snapshot(b.store_)
    assert upto[0] == 300
    built_a, _ = build_index(a, upto=upto)
    built_b, _ = build_index(b)
    Q = vectors[2048:2100]
    assert built_a.trained_on_ == built_b.trained_on_ == 300 and built_a.ntotal == 600  # trained on 300, holds all
    assert np.array_equal(built_a.index_.sa_encode(Q), built_b.index_.sa_encode(Q))  # the same quantizers
    assert not np.array_equal(build_index(a)[0].index_.sa_encode(Q), built_b.index_.sa_encode(Q))
    a.close()
    b.close()


def test_a_wait_for_a_retrain_that_ctrl_c_interrupts_cancels_it_and_still_waits():
    """Ctrl-C in close()'s `Thread.join` of the retrain marked the thread stopped (CPython 3.11, bpo-45274): the
    exit hook's join then returned at once and the process could exit inside FAISS (SIGABRT). The wait is on the
    thread's own event now, cancels the build and holds the interrupt until the build has stopped.
    Mechanics only: the thread stands for a build that stops at its next batch once cancelled. In a process of
    its own: a signal sent inside the test process crashed it once, after other tests (a signal wakeup fd?)."""
    code = """
import signal, threading, time
from core.memory._retrain import _wait_done, retrain_alive
signal.signal(signal.SIGINT, signal.default_int_handler)  # a process started under nohup ignores SIGINT
done, cancel = threading.Event(), threading.Event()
def build():
    cancel.wait(30)
    time.sleep(0.5)  # the batch it is in
    done.set()
thread = threading.Thread(target=build, daemon=True)
thread.done, thread.cancel = done, cancel
thread.start()
main = threading.main_thread().ident
threading.Timer(0.2, lambda: signal.pthread_kill(main, signal.SIGINT)).start()
try:
    _wait_done(thread)
    print("no interrupt")
except KeyboardInterrupt:
    print("interrupted", cancel.is_set(), done.is_set(), retrain_alive(thread))
other = threading.Thread(target=time.sleep, args=(0.05,))
print(retrain_alive(other), other.start() or retrain_alive(other), _wait_done(other))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    # cancelled, and the interrupt came only once the build had stopped
    assert out.stdout.split("\n")[:2] == ["interrupted True True False", "False True True"], out.stdout + out.stderr


CLOSE_CHILD = """
import atexit, os, signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # a process started under nohup ignores SIGINT
import faiss, numpy as np
faiss.omp_set_num_threads(1)
from core.memory import SemanticMemory
from core.reasoning.mycelial.numpy_codec import load_default_numpy  # no torch: a faster child

X = np.load(sys.argv[2])
builder = {}
def gone(end=time.monotonic):  # registered first, so it runs last: after the memory's own exit hook
    limit = end() + 0.5  # a build that has set its event is only leaving its thread
    while os.path.exists("/proc/self/task/%d" % builder["id"]) and end() < limit:
        time.sleep(0.005)
    print("builder running at exit:", os.path.exists("/proc/self/task/%d" % builder["id"]), flush=True)
atexit.register(gone)
mem = SemanticMemory(sys.argv[1], codec=load_default_numpy(), train_at=len(X))
mem.ingest_vectors(range(len(X)), X)  # the exact index is full: its training starts in the background
builder["id"] = mem._retrain_thread.native_id
while not (mem.retrain_events_ and mem.retrain_events_[0].get("n")):
    time.sleep(0.002)
print("closing", flush=True)
try:
    mem.close()  # waits for the build in flight
    print("closed", flush=True)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    raise
"""


def test_ctrl_c_twice_in_close_waits_for_the_build_and_the_memory_reopens(tmp_path, vectors):
    """A real memory closed while its index trains, Ctrl-C'd twice in that wait. Before the wait was on the
    build's event, the interrupted `Thread.join` returned and the exit hook's join returned at once: the
    process exited with the build still inside FAISS (exit -2, the builder's thread alive past every hook)."""
    import os
    import signal

    if not Path("/proc/self/task").is_dir():
        pytest.skip("needs /proc to see the builder's thread at exit")
    X = vectors[:2048]
    np.save(tmp_path / "x.npy", X)
    folder = tmp_path / "m"
    child = subprocess.Popen([sys.executable, "-c", CLOSE_CHILD, str(folder), str(tmp_path / "x.npy")], cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "closing", child.stderr.read()[-2000:]
        for _ in range(2):  # the second while the first is held until the build stops
            time.sleep(0.05)
            child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == -signal.SIGINT, err[-2000:]  # an uncaught KeyboardInterrupt; no SIGABRT (-6)
    assert out.split("\n")[:2] == ["interrupted", "builder running at exit: False"], out + err[-2000:]
    assert "FATAL" not in err and "Fatal Python error" not in err, err[-2000:]
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]  # every file written whole
    from core.reasoning.mycelial.numpy_codec import load_default_numpy

    codec = load_default_numpy()
    ro = SemanticMemory(folder, codec=codec, train_at=len(X), nprobe=NPROBE, read_only=True)
    assert ro.store_.count_chunks() == ro.index_.ntotal == len(X)  # the ingest's exact index, saved by it
    assert [ro.recall_vector(X[i], 1, "similar", explain=False)[0].doc_id for i in range(0, 2048, 256)] == \
        [str(i) for i in range(0, 2048, 256)]
    ro.close()
    rw = SemanticMemory(folder, codec=codec, train_at=len(X), nprobe=NPROBE)  # writable: the cancelled build runs again
    assert wait_for_retrain(rw, timeout=120) and rw.index_.trained_on_ == len(X) and rw.index_.ntotal == len(X)
    rw.close()


def test_the_retrain_warns_through_the_mycelial_logger_the_cli_formats(tmp_path, vectors, capsys):
    # its warnings went to `core.memory._retrain`, outside `mycelial`: the CLI showed them only through
    # Python's last-resort handler, as a bare message with no level or logger name
    import shutil

    from core.log import configure_cli
    from core.memory._retrain import _save_swapped

    mem = SemanticMemory(tmp_path / "m", train_at=TRAIN_AT, nprobe=NPROBE)
    mem.ingest_vectors(range(10), vectors[:10])
    mem.save()
    configure_cli()
    capsys.readouterr()
    shutil.rmtree(tmp_path / "m")  # the save of the swapped index fails: it is retried on the next save
    _save_swapped(mem)
    err = capsys.readouterr().err
    assert err.startswith(f"WARNING mycelial.memory.index: saving the retrained index of {tmp_path / 'm'} failed")
    try:
        mem.close()
    except OSError:
        pass


def test_a_small_train_at_trains_without_faiss_clustering_warnings(tmp_path, wiki_docs, embedder, capfd):
    # train_at=64 printed 65 lines of "WARNING clustering 96 points to 64 centroids: please provide at least 2496
    # training points" (one a PQ sub-quantizer) on stderr during the ingest, from FAISS's C++ (fd 2)
    docs = [{"id": f"d{i}", "title": d.title, "text": "\n\n".join(d.sentences[:12])} for i, d in enumerate(wiki_docs[:8])]
    mem = SemanticMemory(tmp_path / "m", embedder=embedder, train_at=64)
    assert mem.ingest(docs).chunks >= 64
    assert wait_for_retrain(mem, timeout=120)
    assert not mem.index_.is_exact and "IVF64" in mem.index_.factory_
    assert [h.doc_id for h in mem.recall(wiki_docs[3].sentences[2], k=1, mode="similar")] == ["d3"]
    mem.close()
    err = capfd.readouterr().err
    assert "WARNING clustering" not in err and "training points" not in err, err[:300]
