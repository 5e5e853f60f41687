"""A memory kept open answers as a reopened one after another process forgets or ingests: each read catches
up first (it gave fewer than k hits, none at k=1, and other scores, until `refresh()`). While that process
still holds the write lock it cannot reload, and recall searches past the chunks that vanished instead."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

from test_forget_live_vocab import MODES, codec, recs  # noqa: F401  (pytest fixtures: the same memory's parts)

from core.memory import SemanticMemory
HOLD = """import json, sys
from core.memory import SemanticMemory
from core.memory.lock import WriteLock
folder, doc_id = sys.argv[1], sys.argv[2]
with SemanticMemory(folder) as other:
    other.forget(doc_id)
with WriteLock(folder):  # as a longer write of that process would: it still holds the memory
    print("held", flush=True)
    sys.stdin.read()
"""


def _other(folder, code: str, *args) -> None:
    """Run ``code`` with ``other``, the memory opened by another process."""
    subprocess.run([sys.executable, "-c", "import json, sys\nfrom core.memory import SemanticMemory\n"
                    "with SemanticMemory(sys.argv[1]) as other:\n    " + code, str(folder), *args], check=True)


def _answers(mem, queries, k: int) -> dict:
    return {(q, mode): [(h.chunk_id, h.score) for h in mem.recall(q, k=k, mode=mode)]
            for q in queries for mode in MODES}


def _assert_same(got: dict, want: dict) -> None:
    """The same chunks in the same order, scores to 1e-6."""
    assert got.keys() == want.keys()
    for key in want:
        assert [c for c, _ in got[key]] == [c for c, _ in want[key]], key
        assert all(abs(a - b) <= 1e-6 for (_, a), (_, b) in zip(got[key], want[key])), (key, got[key], want[key])


def _assert_as_reopened(live, folder, embedder, codec, queries, k: int) -> None:
    """Recall in every mode, associations, graph and stats: what a fresh open of the folder answers, k hits."""
    mine = _answers(live, queries, k)
    assert all(len(hits) == k for (q, mode), hits in mine.items() if mode != "associative"), mine
    concept = next(iter(live.graph_.vocab_))
    with SemanticMemory(folder, embedder=embedder, codec=codec, read_only=True) as again:
        _assert_same(mine, _answers(again, queries, k))
        assert live.associations(concept) == again.associations(concept)
        assert live.graph(concept, depth=2) == again.graph(concept, depth=2)
        assert live.stats()["index_vectors"] == again.stats()["index_vectors"] == again.stats()["chunks"]


def test_the_open_memory_answers_as_a_reopened_one_after_another_process_forgets_and_ingests(
        tmp_path, embedder, codec, recs):
    folder, gone, new = tmp_path / "m", recs[4], recs[5]
    queries = [gone["title"], new["title"], recs[0]["title"]]
    with SemanticMemory(folder, embedder=embedder, codec=codec) as live:
        live.ingest(recs[:5])
        assert [h.doc_id for h in live.recall(gone["title"], k=1, mode="similar")] == [gone["id"]]
        _other(folder, "other.forget(sys.argv[2])", gone["id"])
        assert live.recall(gone["title"], k=1, mode="similar")[0].doc_id != gone["id"]  # it gave []
        _assert_as_reopened(live, folder, embedder, codec, queries, k=3)
        _other(folder, "other.ingest([json.loads(sys.argv[2])])", json.dumps(new))
        assert live.recall(new["title"], k=1, mode="similar")[0].doc_id == new["id"]
        _assert_as_reopened(live, folder, embedder, codec, queries, k=3)


def test_while_another_process_still_writes_recall_has_k_hits_and_never_waits(
        tmp_path, embedder, codec, recs, monkeypatch):
    monkeypatch.setenv("MYCELIAL_LOCK_TIMEOUT", "20")  # the open memory's own write below waits at most this
    folder, gone = tmp_path / "m", recs[4]
    with SemanticMemory(folder, embedder=embedder, codec=codec) as live:
        live.ingest(recs[:5])
        other = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), gone["id"]], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
        try:
            assert other.stdout.readline() == "held\n"
            # this object's own write waits for that lock in another thread: reads neither wait for it nor reload
            writer = threading.Thread(target=live.ingest, args=([recs[5]],))
            writer.start()
            while live._wlock._thread_lock.acquire(blocking=False):  # until the writer thread is in the lock
                live._wlock._thread_lock.release()
                time.sleep(0.01)
            start = time.monotonic()
            mine = {(mode, per_document): live.recall(gone["title"], k=3, mode=mode, per_document=per_document)
                    for mode in MODES for per_document in (False, True)}
            assert time.monotonic() - start < 10  # it waited for the writer's lock: 20 s
            with SemanticMemory(folder, embedder=embedder, codec=codec, read_only=True) as again:
                want = {key: again.recall(gone["title"], k=3, mode=key[0], per_document=key[1]) for key in mine}
            for key, hits in mine.items():  # association reaches only linked chunks (here through the old network)
                assert hits and gone["id"] not in {h.doc_id for h in hits}, (key, hits)
                assert len(hits) == 3 or key[0] == "associative", (key, hits)
            _assert_same({0: [(h.chunk_id, h.score) for h in mine["similar", False]]},  # no network in similar
                         {0: [(h.chunk_id, h.score) for h in want["similar", False]]})
        finally:
            other.stdin.close()
            other.wait(60)
        writer.join(60)
        assert not writer.is_alive()
        _assert_as_reopened(live, folder, embedder, codec, [gone["title"], recs[5]["title"]], k=3)
