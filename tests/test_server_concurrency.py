"""Concurrent requests into one memory of a real `mycelial serve` process (uvicorn on 127.0.0.1).

test_server_live has one writer beside readers of another memory; here two clients ingest into the same
memory (one id sent by both), a background job runs, and readers recall, list and count that memory meanwhile:
every request answers its normal status, nothing is lost or doubled, and the folder reopens consistent.
"""
from __future__ import annotations

import signal
import threading
import time

import httpx
import pytest
from _server_helpers import LiveServer, build_sample_memory, finished_job

from core.memory import SemanticMemory


@pytest.fixture(scope="module")
def codec():
    from core.reasoning.mycelial import MycelialVQVAE

    return MycelialVQVAE.load_default()


def _docs(tag: str, n: int) -> list[dict]:
    return [{"id": f"{tag}-{i}", "title": f"{tag.title()} mill {i}",
             "text": f"The {tag} mill number {i} of Oxley ground barley for keeper {i * 3} of the weir."}
            for i in range(n)]


def test_two_ingests_a_job_and_readers_on_one_memory(tmp_path, embedder, codec):
    build_sample_memory(tmp_path / "sample", embedder, codec)
    srv = LiveServer([str(tmp_path / "sample")])
    url = srv.url + "/v1/memories/sample"
    shared = {"id": "shared", "text": "The shared mill of Oxley was rebuilt after the flood of 1802."}
    codes: dict[str, list[int]] = {"ingest": [], "recall": [], "list": [], "stats": []}
    problems: list[str] = []
    stop = threading.Event()
    try:
        before = httpx.get(url + "/stats", timeout=60).json()["documents"]

        def ingest(tag: str) -> None:
            with httpx.Client(timeout=300) as c:
                for part in range(3):
                    r = c.post(url + "/documents", json=_docs(f"{tag}{part}", 10) + [shared])
                    codes["ingest"].append(r.status_code)
                    if r.status_code != 201 or r.json()["errors"]:
                        problems.append(r.text)

        def read() -> None:
            with httpx.Client(timeout=300) as c:
                while not stop.is_set():
                    for kind, r in (("recall", c.get(url + "/recall", params={"q": "who ground barley at Oxley?"})),
                                    ("list", c.get(url + "/documents", params={"limit": 5, "prefix": "alpha"})),
                                    ("stats", c.get(url + "/stats"))):
                        codes[kind].append(r.status_code)
                        if r.status_code != 200:
                            problems.append(r.text)

        job = httpx.post(url + "/documents", params={"background": "true"}, json=_docs("gamma", 40), timeout=60)
        assert job.status_code == 202, job.text
        writers = [threading.Thread(target=ingest, args=(t,)) for t in ("alpha", "beta")]
        readers = [threading.Thread(target=read) for _ in range(2)]
        for t in writers + readers:
            t.start()
        for t in writers:
            t.join()
        state = finished_job(lambda loc, headers: httpx.get(srv.url + loc, headers=headers, timeout=60),
                             job.headers["location"], tries=2400, pause=0.05)  # 120 s, as before
        stop.set()
        for t in readers:
            t.join()
        assert not problems, problems[:3]
        assert codes["ingest"] == [201] * 6, codes
        assert all(codes[k] and set(codes[k]) == {200} for k in ("recall", "list", "stats")), codes
        assert state["status"] == "done" and state["report"]["documents"] == 40, state
        stats = httpx.get(url + "/stats", timeout=60).json()
        assert stats["documents"] == before + 60 + 1 + 40  # the id both sent is one document
        hits = httpx.get(url + "/recall", params={"q": "the beta2 mill number 7 of Oxley", "k": 3}, timeout=60)
        assert "beta2-7" in [h["doc_id"] for h in hits.json()["hits"]]
    finally:
        assert srv.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    with SemanticMemory(tmp_path / "sample", embedder=embedder, codec=codec) as mem:
        st = mem.stats()
        assert st["documents"] == before + 101 and st["index_vectors"] == st["chunks"], st


def test_a_client_hanging_up_mid_body_leaves_no_traceback_and_nothing_stored(tmp_path):
    # a cancelled upload (the body cut by the client) logged our "unhandled error" traceback and uvicorn's
    # "Exception in ASGI application" one, as if the server had failed
    import socket

    srv = LiveServer([f"m={tmp_path / 'm'}"])
    try:
        for ctype in ("application/json", "multipart/form-data; boundary=XX"):
            with socket.create_connection(("127.0.0.1", srv.port)) as s:
                s.sendall(f"POST /v1/memories/m/documents HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\n"
                          f"Content-Length: 100000\r\n\r\n".encode() + b'--XX\r\n[{"id": "a", "text": "The weir')
                time.sleep(0.5)
        time.sleep(0.5)
        assert httpx.get(srv.url + "/v1/memories/m/stats", timeout=60).json()["documents"] == 0
    finally:
        srv.stop()
    log = srv.proc.stdout.read().decode()
    assert "Traceback" not in log and "unhandled error" not in log, log
