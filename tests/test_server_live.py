"""`mycelial serve` as a real uvicorn process on 127.0.0.1: HTTP, concurrency, shutdown, kill -9."""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from _server_helpers import QUESTION, TOKEN, LiveServer, build_sample_memory, cold_cache

from core.memory import SemanticMemory
from core.reasoning.mycelial import MycelialVQVAE

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def codec():
    return MycelialVQVAE.load_default()


def test_serve_refuses_public_host_without_token():
    out = subprocess.run([sys.executable, "-c", "from core.cli import main; main()", "serve", "--memory", "/tmp/x",
                          "--host", "0.0.0.0"], capture_output=True, text=True, env={"PATH": "/usr/bin"}, timeout=60)
    assert out.returncode == 1
    assert "--host 0.0.0.0" in out.stderr and "MYCELIAL_TOKEN" in out.stderr and "Traceback" not in out.stderr


def test_live_recall_concurrent_ingest_and_graceful_shutdown(tmp_path, embedder, codec):
    build_sample_memory(tmp_path / "sample", embedder, codec)
    srv = LiveServer([str(tmp_path / "sample"), f"scratch={tmp_path / 'new'}"], token=TOKEN)
    try:
        with httpx.Client(base_url=srv.url, headers=AUTH, timeout=60) as c:
            assert httpx.get(srv.url + "/v1/memories").status_code == 401
            names = {m["name"] for m in c.get("/v1/memories").json()["memories"]}
            assert names == {"sample", "scratch"}
            hits = c.get("/v1/memories/sample/recall", params={"q": QUESTION, "k": 3}).json()["hits"]
            assert "Nerva" in hits[0]["title"]
            # one client ingests 40 documents in 8 requests while 4 others recall
            docs = [{"id": f"n{i}", "title": f"Note {i}", "text": f"Note {i}: the beacon on hill {i} was lit at dusk "
                     f"by keeper number {i * 7}."} for i in range(40)]
            codes, stop = [], threading.Event()

            def reader():
                with httpx.Client(base_url=srv.url, headers=AUTH, timeout=60) as rc:
                    while not stop.is_set():
                        codes.append(rc.get("/v1/memories/sample/recall",
                                            params={"q": QUESTION, "k": 5, "mode": "hybrid"}).status_code)

            threads = [threading.Thread(target=reader) for _ in range(4)]
            for t in threads:
                t.start()
            try:
                writes = [c.post("/v1/memories/scratch/documents", json=docs[i:i + 5]).status_code
                          for i in range(0, 40, 5)]
            finally:
                stop.set()
                for t in threads:
                    t.join()
            assert writes == [201] * 8
            assert codes and set(codes) == {200}
            assert c.get("/v1/memories/scratch/stats").json()["documents"] == 40
    finally:
        # uvicorn re-raises the SIGTERM after its graceful shutdown, so -15 is a clean exit here
        assert srv.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    assert "saved and closed 2 memories" in srv.proc.stdout.read().decode()
    with SemanticMemory(tmp_path / "new", embedder=embedder, codec=codec) as mem:
        assert mem.stats()["documents"] == 40 and mem.stats()["index_vectors"] == mem.stats()["chunks"]


def test_kill_9_loses_no_committed_document(tmp_path, embedder, codec):
    srv = LiveServer([f"m={tmp_path / 'm'}"])  # no token: local only
    try:
        r = httpx.post(srv.url + "/v1/memories/m/documents", timeout=60,
                       json=[{"id": "k1", "text": "Before the crash the archive held the charter of Ulm."}])
        assert r.status_code == 201
    finally:
        assert srv.stop(signal.SIGKILL) == -signal.SIGKILL
    with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec) as mem:
        hits = mem.recall("charter of Ulm", k=1)
        assert hits and hits[0].doc_id == "k1"


def _brown_files(n: int, paragraphs: int | None = None) -> dict[str, bytes]:
    """``n`` Brown documents as text files (name -> bytes): ~33 chunks each, a job batch of 32 is ~1,000 chunks
    (their first ``paragraphs`` only: fewer)."""
    import json

    from core.config import data_file

    out = {}
    with open(data_file("brown/brown_docs.jsonl"), encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            out[f"{doc['doc_id']}.txt"] = "\n\n".join(" ".join(p) for p in doc["paragraphs"][:paragraphs]).encode()
            if len(out) == n:
                return out
    raise AssertionError("too few Brown documents")


def test_sigterm_stops_a_running_upload_job_at_its_next_commit_and_names_what_did_not_get_in(
        tmp_path, embedder, codec, monkeypatch):
    """SIGTERM waited for the whole background job (a 200-file upload: 80 s from the signal to the exit). The
    job now ends at its ingest's next commit: the server exits in seconds, every stored document is whole (sent
    again it is "unchanged"), and the log names the job and each file that did not get in."""
    import re

    from core.memory._sqlite_health import quick_check

    files = _brown_files(80, paragraphs=16)  # 3 job batches, ~1,300 chunks: the signal comes after the first commit
    cold_cache(tmp_path, monkeypatch)
    srv = LiveServer([f"m={tmp_path / 'm'}"])
    try:
        r = httpx.post(srv.url + "/v1/memories/m/documents", params={"background": "true"}, timeout=120,
                       files=[("file", (name, data, "text/plain")) for name, data in files.items()])
        assert r.status_code == 202, r.text
        job = _poll_job(srv, r.headers["location"], ("done", "failed"), tries=6000, moved=True)  # a commit landed
        assert job["status"] == "running" and 0 < job["done"] < len(files), job
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        srv.proc.wait(timeout=120)
        took = time.monotonic() - t0
    finally:
        srv.stop(signal.SIGKILL)
    out = srv.proc.stdout.read().decode()
    print(f"serve exited {took:.1f} s after SIGTERM")
    assert srv.proc.returncode == 0 and "Traceback" not in out, out[-3000:]
    assert took < 15, f"{took:.1f} s from SIGTERM to exit: {out[-3000:]}"  # it was the rest of the job
    line = next((x for x in out.splitlines() if f"ingest job {job['id']} interrupted" in x), None)
    assert line is not None and "saved and closed 1 memory" in out, out[-3000:]
    folder = tmp_path / "m"
    assert quick_check(folder / "memory.sqlite") is None
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]
    with SemanticMemory(folder, embedder=embedder, codec=codec, read_only=True) as mem:
        stored = {d[len("file:"):] for d in mem.store_.content_hashes([f"file:{n}" for n in files])}
        assert mem.index_.ntotal == mem.store_.count_chunks()
    assert 0 < len(stored) < len(files), (len(stored), out[-2000:])
    missing = [n for n in files if n not in stored]
    assert f"{len(missing)} file{'s' if len(missing) > 1 else ''} did not get in: {', '.join(missing)} (" in line, line
    assert re.search(rf"after {len(stored)} of {len(files)} documents", line), line
    srv = LiveServer([f"m={folder}"])  # sent again, the stored files are unchanged: whole; the others get in
    try:
        again = httpx.post(srv.url + "/v1/memories/m/documents", timeout=300,
                           files=[("file", (name, data, "text/plain")) for name, data in files.items()])
        assert again.status_code == 201, again.text
        rep = again.json()
        assert (rep["documents"], rep["unchanged"], rep["replaced"], rep["errors"]) == \
            (len(missing), len(stored), 0, []), rep
        assert httpx.get(srv.url + "/v1/memories/m/stats", timeout=60).json()["documents"] == len(files)
    finally:
        assert srv.stop(signal.SIGTERM) == 0
    with SemanticMemory(folder, embedder=embedder, codec=codec) as mem:  # the check `mycelial repair` runs
        assert mem.repair()["documents"] == len(files)


def _poll_job(srv, location, until, tries=600, moved=False):
    """The job once its status is in ``until`` (or, ``moved``, once it has committed a document)."""
    for _ in range(tries):  # 30 s at most by default
        job = httpx.get(srv.url + location, timeout=60).json()
        if job["status"] in until or moved and job["done"]:
            return job
        time.sleep(0.05)
    return job


def test_a_background_job_waits_for_another_writer_then_finishes(tmp_path, embedder, codec, monkeypatch):
    # a batch that found the folder locked by another process failed the whole job after the lock
    # timeout: documents accepted with 202 were lost while a `mycelial ingest` ran in a terminal
    monkeypatch.setenv("MYCELIAL_LOCK_TIMEOUT", "0.2")  # read when the memory opens: each try gives up soon
    srv = LiveServer([f"m={tmp_path / 'm'}"])
    try:
        with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec) as other:
            with other._writing():
                r = httpx.post(srv.url + "/v1/memories/m/documents", params={"background": "true"}, timeout=60,
                               json=[{"id": "b1", "text": "The bell of Orrin chapel was recast in 1702."}])
                assert r.status_code == 202, r.text
                job = _poll_job(srv, r.headers["location"], ("waiting", "failed", "done"))
                assert job["status"] == "waiting" and "pid" in job["waiting_for"], job
                time.sleep(0.6)  # several tries, all refused
                assert httpx.get(srv.url + r.headers["location"], timeout=60).json()["status"] == "waiting"
            job = _poll_job(srv, r.headers["location"], ("failed", "done"))
            assert job["status"] == "done" and job["report"]["documents"] == 1 and job["waiting_for"] is None, job
    finally:
        assert srv.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec) as mem:
        assert mem.stats()["documents"] == 1


def test_a_job_still_waiting_at_shutdown_fails_in_the_server_log(tmp_path, embedder, codec, monkeypatch):
    # the job's traceback went to the "mycelial" logger's NullHandler: the operator saw nothing; a job
    # waiting for another process's lock must not hold the shutdown forever, and says what it left
    monkeypatch.setenv("MYCELIAL_LOCK_TIMEOUT", "0.2")
    srv = LiveServer([f"m={tmp_path / 'm'}"])
    try:
        with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec) as other, other._writing():
            r = httpx.post(srv.url + "/v1/memories/m/documents", params={"background": "true"}, timeout=60,
                           json=[{"id": "b1", "text": "The bell of Orrin chapel was recast in 1702."}])
            assert r.status_code == 202, r.text
            job = _poll_job(srv, r.headers["location"], ("waiting", "failed", "done"))
            assert job["status"] == "waiting", job
            assert srv.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    finally:
        srv.stop(signal.SIGTERM)
    out = srv.proc.stdout.read().decode()
    assert f"ingest job {job['id']} failed" in out and "Traceback" in out, out
    assert "after 0 of 1 documents; send the rest again" in out, out


def test_ctrl_c_twice_stops_a_running_job_after_its_batch_and_saves_the_memory(tmp_path, embedder, codec):
    """Two Ctrl-C's in quick succession: uvicorn skipped the app's shutdown (no wait for the jobs, no close)
    and the process exited with a job's thread in the model: SIGABRT (-6, "terminate called without an active
    exception"). The job ends after the batch it is in now, and the memory is saved and closed."""
    import json
    import os

    from core.config import cache_dir, data_file
    from _server_helpers import free_port

    passages = json.loads(data_file("multihop_dev/2wikimultihopqa_corpus.json").read_text(encoding="utf-8"))
    docs = [{"id": f"p{i}", "title": p["title"], "text": p["text"]} for i, p in enumerate(passages[2000:2400])]
    cache = tmp_path / "cache"  # embedded for real (the model exports are shared): from a warm cache it ended first
    cache.mkdir()
    for export in ("openvino", "onnx"):
        (cache_dir() / export).mkdir(exist_ok=True)
        (cache / export).symlink_to(cache_dir() / export, target_is_directory=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", MYCELIAL_CACHE_DIR=str(cache))
    env.pop("MYCELIAL_CACHE_SEED", None)
    env.pop("MYCELIAL_TOKEN", None)
    port = free_port()
    # a process started under nohup (CI) ignores SIGINT: the child takes Ctrl-C back, as in a terminal
    boot = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); from core.cli import main; main()"
    proc = subprocess.Popen([sys.executable, "-c", boot, "serve", "--port", str(port), "--memory",
                             f"m={tmp_path / 'm'}"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, cwd=str(Path(__file__).resolve().parent.parent))
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        r = httpx.post(url + "/v1/memories/m/documents", params={"background": "true"}, json=docs, timeout=60)
        assert r.status_code == 202, r.text
        for _ in range(3000):  # a batch committed, the next one embedding
            if httpx.get(url + r.headers["location"], timeout=60).json()["done"]:
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode >= 0 and "terminate called" not in out and "FATAL" not in out, out[-3000:]
    assert "send the rest again" in out and "saved and closed 1 memory" in out, out[-3000:]
    assert not [p.name for p in (tmp_path / "m").iterdir() if p.name.endswith(".tmp")]
    with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec, read_only=True) as mem:
        n = mem.store_.count_documents()
        assert 0 < n < len(docs) and n % 32 == 0  # whole batches of the job
        assert mem.index_.ntotal == mem.store_.count_chunks()


def test_a_job_id_from_before_a_restart_names_no_job_of_the_new_server(tmp_path):
    # job ids counted from j1 in every server run: after a restart the old Location answered the new run's
    # first job, and a client read its "done" as its own job's (cut short by the stop)
    locations = []
    for run in range(2):
        srv = LiveServer([f"m={tmp_path / 'm'}"])
        try:
            r = httpx.post(srv.url + "/v1/memories/m/documents", params={"background": "true"},
                           json=[{"id": f"r{run}", "text": f"Run {run} lit the lamp of Ulm."}], timeout=60)
            assert r.status_code == 202, r.text
            locations.append(r.headers["location"])
            assert _poll_job(srv, locations[-1], ("done", "failed"))["status"] == "done"
            if run:
                assert locations[0] != locations[1]
                old = httpx.get(srv.url + locations[0], timeout=60)
                assert old.status_code == 404, old.text
        finally:
            srv.stop()
