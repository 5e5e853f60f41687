"""`mycelial serve` stopped (SIGTERM) during a synchronous upload (no ``background=true``), as a real process.

The upload was one ingest the stop did not reach: uvicorn cancelled the request after its 10 s graceful timeout
(the client got its plain-text 500, the log a CancelledError traceback) and the exit waited for the whole
upload, every document of the "failed" request stored. It now ends at the ingest's next commit, as a job does.
"""
from __future__ import annotations

import json
import re
import signal
import threading
import time

import httpx

from _server_helpers import LiveServer, cold_cache
from core.config import data_file
from core.memory import SemanticMemory
from core.reasoning.mycelial.numpy_codec import load_default_numpy


def _passages(n: int) -> list[dict]:
    passages = json.loads(data_file("multihop_dev/2wikimultihopqa_corpus.json").read_text(encoding="utf-8"))
    return [{"id": f"p{i}", "title": p["title"], "text": p["text"]} for i, p in enumerate(passages[3000:3000 + n])]


def _stored_some(srv) -> None:
    """Wait until the upload has committed a document (its first slice)."""
    end = time.monotonic() + 60
    while time.monotonic() < end:
        if httpx.get(srv.url + "/v1/memories/m/documents", params={"limit": 1}, timeout=30).json()["total"]:
            return
        time.sleep(0.02)
    raise AssertionError("no document of the upload was committed in 60 s")


def test_sigterm_during_a_synchronous_upload_answers_503_naming_what_got_in(tmp_path, monkeypatch):
    docs = _passages(1500)  # ~2,000 chunks: more than one commit of 1,024 (the old code signalled mid-upload too)
    cold_cache(tmp_path, monkeypatch)
    srv = LiveServer([f"m={tmp_path / 'm'}"])
    answer: dict = {}

    def upload() -> None:
        answer["r"] = httpx.post(srv.url + "/v1/memories/m/documents", json=docs, timeout=120)

    client = threading.Thread(target=upload)
    try:
        client.start()
        _stored_some(srv)
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        srv.proc.wait(timeout=120)
        took = time.monotonic() - t0
        client.join(timeout=120)
    finally:
        srv.stop(signal.SIGKILL)
    out = srv.proc.stdout.read().decode()
    print(f"serve exited {took:.2f} s after SIGTERM")
    r = answer["r"]
    # it was uvicorn's text/plain 500 "Internal Server Error" after 10 s, and the exit waited for the whole upload
    assert r.status_code == 503 and r.headers["content-type"] == "application/json", (r.status_code, r.text)
    assert srv.proc.returncode == 0 and "Traceback" not in out and "CancelledError" not in out, out[-3000:]
    assert took < 8, f"{took:.1f} s from SIGTERM to exit: {out[-3000:]}"
    error = r.json()["error"]
    got = int(re.search(r"the server is stopping: ([\d,]+) of 1,500 documents of this request were stored", error)[1]
              .replace(",", ""))
    assert re.search(rf"{1500 - got:,} documents did not get in: p{got}, p{got + 1}, ", error), error
    lines = [x for x in out.splitlines() if "upload to memory 'm' interrupted" in x]
    assert len(lines) == 1 and f"after {got:,} of 1,500 documents" in lines[0], out[-3000:]
    with SemanticMemory(tmp_path / "m", codec=load_default_numpy(), read_only=True) as mem:
        stored = mem.store_.content_hashes([d["id"] for d in docs])
        assert mem.index_.ntotal == mem.store_.count_chunks()
    assert 0 < got < len(docs) and sorted(stored, key=lambda i: int(i[1:])) == [f"p{i}" for i in range(got)]
