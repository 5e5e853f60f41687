"""Embedding the next batch while one commits stores what one batch after another stores: the same
chunks embedded in the same calls, the same rows, the same network, even when the store changes
under a plan (a replaced document deletes a chunk the next batch counted on) or a batch names a
chunk the batch in flight adds."""
from __future__ import annotations

import locale
import sqlite3
import threading

import numpy as np
import pytest

from core.embedding import TextEmbedder
from core.memory import SemanticMemory


def _watched(calls: list) -> TextEmbedder:
    """The real model, no cache (a vector depends on its batch mates in the last bits); each call's texts kept."""
    emb = TextEmbedder(cache=False)
    embed = emb.embed

    def watched(texts, *a, **kw):
        calls.append((list(texts), threading.current_thread() is threading.main_thread()))
        return embed(texts, *a, **kw)

    emb.embed = watched
    return emb


def _content(folder) -> tuple:
    with sqlite3.connect(f"file:{folder / 'memory.sqlite'}?mode=ro", uri=True) as db:
        chunks = db.execute("SELECT id, hash, doc_id, position, refs, text, codes, embedding FROM chunks ORDER BY id").fetchall()
        docs = db.execute("SELECT id, doc_key, content_hash FROM documents ORDER BY id").fetchall()
        concepts = db.execute("SELECT id, text, df FROM concepts ORDER BY id").fetchall()
    return chunks, docs, concepts


def test_embedding_ahead_stores_what_one_batch_after_another_stores(tmp_path, wiki_docs):
    s = [d.sentences[1] for d in wiki_docs[:8]]
    before = [{"id": "A", "text": f"{s[0]}\n\n{s[1]}"}]
    # batches of 2 chunks: A's new version deletes s0 (only A held it), which B (the next batch,
    # planned before A commits) counted as stored; D names s5, which C (in flight) adds
    stream = [{"id": "A", "text": f"{s[2]}\n\n{s[1]}"}, {"id": "B", "text": f"{s[0]}\n\n{s[3]}"},
              {"id": "C", "text": f"{s[4]}\n\n{s[5]}"}, {"id": "D", "text": f"{s[5]}\n\n{s[6]}"}]
    runs = {}
    before_locale = locale.setlocale(locale.LC_CTYPE)
    for name, parts in (("ahead", [stream]), ("one_by_one", [[r] for r in stream])):
        calls: list = []
        with SemanticMemory(tmp_path / name, embedder=_watched(calls), chunks_per_commit=2) as mem:
            mem.ingest(before)
            calls.clear()
            reports = [mem.ingest(p) for p in parts]
            net = mem.network_
            runs[name] = (calls, _content(tmp_path / name), net.keys_.copy(), net.counts_.copy(),
                          net.cx_keys_.copy(), net.concept_counts_.copy(), mem.index_.ntotal,
                          sum(r.replaced for r in reports), sum(r.new_chunks for r in reports),
                          sum(r.kept_chunks for r in reports))
    # the model loads in this thread: loading it beside the commit raced on the C locale, left "C"
    # (Python's default text encoding then ASCII for the rest of the process)
    assert locale.setlocale(locale.LC_CTYPE) == before_locale
    (calls_a, *rest_a), (calls_1, *rest_1) = runs["ahead"], runs["one_by_one"]
    assert any(not main for _, main in calls_a)  # embedded ahead, in the background thread
    texts = lambda calls: [t for t, _ in calls]  # noqa: E731
    assert texts(calls_1) == [[s[2]], [s[0], s[3]], [s[4], s[5]], [s[6]]]
    # ahead: B's plan [s3] is embedded anew as [s0, s3] once A's commit deleted s0; D's omits s5
    assert texts(calls_a) == [[s[2]], [s[3]], [s[4], s[5]], [s[0], s[3]], [s[6]]]
    chunks_a, chunks_1 = rest_a[0][0], rest_1[0][0]
    assert len(chunks_a) == 7 and [c[5] for c in chunks_a] == [c[5] for c in chunks_1]
    assert rest_a[0] == rest_1[0]  # every row, byte for byte: vectors, codes, ids, refs, concepts
    for x, y in zip(rest_a[1:6], rest_1[1:6]):
        assert np.array_equal(x, y)
    # A replaced (s2 new, s1 its old version's, stored again: kept), then s0 again and s3, s4 and s5, s6
    assert rest_a[6:] == rest_1[6:] == [1, 6, 1]


def test_ctrl_c_while_a_commit_waits_leaves_no_embedding_running(tmp_path, wiki_sample):
    # Ctrl-C in the wait for the last batch's vectors (flush) dropped that flight before close() looked for it,
    # and an interrupted Thread.join marks a running thread as stopped: its thread went on in the model while
    # the interpreter shut down, and `mycelial ingest` died of "FATAL: exception not rethrown" (SIGABRT, exit
    # 134) right after saying what it kept. In a process of its own, which must then exit cleanly: a SIGINT
    # sent inside the test process crashed it once, after other tests.
    import json
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "s.json").write_text(json.dumps(wiki_sample[0][:900]))  # one batch: push starts it, flush waits
    code = """
import json, signal, sys, threading, time
from core.embedding import TextEmbedder
from core.memory import SemanticMemory
signal.signal(signal.SIGINT, signal.default_int_handler)  # a process started under nohup ignores SIGINT
folder = sys.argv[1]
sentences = json.load(open(folder + "/s.json"))
mem = SemanticMemory(folder + "/m", embedder=TextEmbedder(cache=False))
embedding = []
def interrupt_once_embedding():
    deadline = time.time() + 120
    while time.time() < deadline:
        embedding.extend(t.ident for t in threading.enumerate() if t.name == "mycelial-embed" and t.is_alive())
        if embedding:
            time.sleep(0.05)  # the main thread waits for it now; a terminal's Ctrl-C wakes that wait
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
            return
        time.sleep(0.002)
watcher = threading.Thread(target=interrupt_once_embedding, daemon=True)
watcher.start()
try:
    mem.ingest([{"id": f"s{i}", "text": t} for i, t in enumerate(sentences)])
    print("the ingest ended before the interrupt")
except KeyboardInterrupt:
    running = set(embedding) & set(sys._current_frames())  # the OS thread, whatever threading believes
    print("interrupted", bool(embedding), bool(running))
watcher.join()
mem.close()
with SemanticMemory(folder + "/m", read_only=True) as again:  # nothing half-stored
    print(again.stats()["documents"], again.stats()["chunks"])
"""
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, cwd=root,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]  # was 134 (SIGABRT) on the way out
    assert out.stdout.split("\n")[:2] == ["interrupted True False", "0 0"], out.stdout + out.stderr[-2000:]


def test_a_long_batch_shows_on_the_bar_how_far_its_embedding_is(tmp_path, wiki_docs, monkeypatch, capsys):
    # one document of many chunks is one batch: the bar stood at 0/1, nothing moving, while it embedded
    import uuid

    import core.embedding
    import core.memory._ahead

    monkeypatch.setattr(core.embedding, "_CACHE_CHUNK", 16)  # cache pieces of 16 chunks, not 2,048
    monkeypatch.setattr(core.memory._ahead, "WAIT_TICK", 0.002)
    tag = uuid.uuid4().hex[:8]  # texts no cache holds: the model embeds them all
    text = "\n\n".join(f"{s} ({tag})" for d in wiki_docs[:16] for s in d.sentences[:6])
    emb = TextEmbedder()
    said = []
    assert emb.embed([f"a ({tag})", f"b ({tag})"], on_progress=lambda *a: said.append(a)).shape == (2, 384)
    assert said == [(0, 2), (2, 2)]
    with SemanticMemory(tmp_path / "m", embedder=emb) as mem:
        rep = mem.ingest({"id": "long", "text": text}, progress=True)
    err = capsys.readouterr().err
    steps = sorted({int(part.split("/")[0].replace(",", "")) for part in err.split("embedding=")[1:]})
    assert rep.chunks > 48 and steps and steps[0] < rep.chunks, (rep.chunks, steps)  # seen before the end
    assert all(s % 16 == 0 or s == rep.chunks for s in steps), steps  # counted by the cache's pieces
    assert f"chunks={rep.chunks}" in err.rsplit("embedding=", 1)[1]  # the commit's update follows it


def _long_text(wiki_docs, tag: str) -> str:
    return "\n\n".join(f"{s} ({tag})" for d in wiki_docs[:16] for s in d.sentences[:6])


def test_a_progress_callable_hears_the_embedding_and_the_commits(tmp_path, wiki_docs, monkeypatch):
    # ingest(progress=) was a bar or nothing: a program (the server's jobs) could not follow a long batch
    import uuid

    import core.embedding
    import core.memory._ahead

    monkeypatch.setattr(core.embedding, "_CACHE_CHUNK", 16)
    monkeypatch.setattr(core.memory._ahead, "WAIT_TICK", 0.002)
    calls = []
    with SemanticMemory(tmp_path / "m", embedder=TextEmbedder()) as mem:
        rep = mem.ingest([{"id": "long", "text": _long_text(wiki_docs, uuid.uuid4().hex[:8])},
                          {"id": "short", "text": "The tide mill of Pellow grinds corn."}],
                         progress=lambda *a: calls.append(a))
        with pytest.raises(ValueError, match="progress must be True or False"):
            mem.ingest([{"id": "x", "text": "y"}], progress="yes")
    waits = [c[2] for c in calls if c[2] is not None]
    assert waits and all(0 <= d <= t for d, t in waits) and min(d for d, _ in waits) < rep.chunks, waits
    assert calls[-1] == (2, rep.chunks, None) and rep.documents == 2  # the last commit's


def test_a_background_job_shows_its_batch_embedding(tmp_path, wiki_docs, monkeypatch):
    # one large uploaded document is one batch of a job: it stood at done 0 of 1 until all was embedded
    import uuid

    from fastapi.testclient import TestClient

    import core.embedding
    import core.memory._ahead
    import core.server.jobs as jobs
    from _server_helpers import finished_job
    from core.server import create_app

    monkeypatch.setattr(core.embedding, "_CACHE_CHUNK", 16)
    monkeypatch.setattr(core.memory._ahead, "WAIT_TICK", 0.002)
    seen = []

    def spied(job, embedding):  # the real one, and what it left in the job
        real(job, embedding)
        seen.append(jobs.Jobs.view(job)["embedding"])

    real = jobs._embedding
    monkeypatch.setattr(jobs, "_embedding", spied)
    app = create_app({"m": tmp_path / "m"}, embedder=TextEmbedder())
    with TestClient(app) as client:
        r = client.post("/v1/memories/m/documents?background=true",
                        json=[{"id": "long", "text": _long_text(wiki_docs, uuid.uuid4().hex[:8])}])
        assert r.status_code == 202 and r.json()["embedding"] is None, r.text
        job = finished_job(client.get, r.headers["Location"])
    assert job["status"] == "done" and job["embedding"] is None and job["report"]["chunks"] > 48, job
    shown = [e for e in seen if e is not None]
    assert shown and all(set(e) == {"done", "total"} and e["done"] <= e["total"] for e in shown), seen
    assert min(e["done"] for e in shown) < job["report"]["chunks"]
