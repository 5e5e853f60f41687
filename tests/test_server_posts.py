"""A posted JSON list of documents is all or nothing, and the small input slips of the HTTP API.

Before: a record with a blank text, NaN metadata or a repeated id answered 201 storing the others (the bad one
only in ``errors``, numbered from 1), while ``"text": 5`` refused the whole POST (numbered from 0); a job
blocked by another process's lock said "running" until the lock timeout (30 s). A real ``mycelial serve`` on
127.0.0.1, a real lock held by a real second process.
"""
from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest
from _server_helpers import LiveServer

DOCS = "/v1/memories/up/documents"
GOOD = {"id": "weir", "text": "The weir of Ashby Staithe was rebuilt in oak."}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("posts") / "up"
    srv = LiveServer([f"up={folder}"])
    srv.folder = folder  # where another process takes the lock
    try:
        yield srv
    finally:
        srv.stop()


def _post(server, body, **kw):
    return httpx.post(server.url + DOCS, timeout=60, **({"json": body} if not isinstance(body, bytes) else
                                                          {"content": body, "headers": {"content-type": "application/json"}}), **kw)


def _ids(server) -> list[str]:
    return [d["id"] for d in httpx.get(server.url + DOCS, timeout=10).json()["documents"]]


def _fields(r) -> list[str]:
    assert r.status_code == 422, r.text
    return [f["field"] for f in r.json()["fields"]]


def test_one_bad_record_refuses_the_whole_post_naming_every_bad_one_from_0(server):
    body = (b'[{"id": "ok1", "text": "The ferry of Orla ran at dawn."}, {"id": "bad1", "text": "   "},'
            b' {"id": "bad2", "text": 5}, {"id": "bad3", "text": "Orla", "metadata": {"x": NaN}},'
            b' {"id": "ok1", "text": "The ferry again."}]')
    r = _post(server, body)
    assert _fields(r) == ["1.text", "2.text", "3.metadata", "4.id"], r.text  # was 201 storing ok1
    assert r.json()["error"].startswith("nothing was ingested: 4 of 5 documents are invalid (numbered from 0)")
    assert "first at 0" in r.json()["fields"][3]["message"]
    assert "ok1" not in _ids(server)


def test_a_background_post_with_a_bad_record_is_refused_before_the_job(server):
    r = _post(server, [GOOD, {"id": "blank", "text": "   "}], params={"background": "true"})
    assert _fields(r) == ["1.text"]  # was 202, then a job storing "weir"
    assert "weir" not in _ids(server)


def test_blank_id_empty_text_list_and_a_metadata_clash_are_named(server):
    r = _post(server, [{"id": "  ", "text": "Orla."}, {"id": "p", "text": []},
                       {"id": "y", "text": "Orla.", "metadata": {"year": 1}, "year": 2}])
    assert _fields(r) == ["0.id", "1.text", "2.year"], r.text
    words = [f["message"] for f in r.json()["fields"]]
    assert "blank" in words[0] and 'missing "id"' not in words[0]
    assert "non-empty string" in words[1] and "at least 1 character" not in words[1]
    assert "metadata" in words[2]  # year 2 was dropped without a word
    assert _ids(server) == []


def test_a_good_list_is_stored_and_a_key_given_twice_is_refused(server):
    r = _post(server, b'[{"id": "w2", "text": "The weir of Orla.", "text": "The mill of Orla."}]')
    assert _fields(r) == ["text"], r.text  # the last one won, quietly
    r = httpx.post(server.url + "/v1/memories/up/recall", content=b'{"queries": ["jury"], "queries": ["x"]}',
                   headers={"content-type": "application/json"}, timeout=60)
    assert _fields(r) == ["queries"], r.text
    r = _post(server, [GOOD])
    assert r.status_code == 201 and r.json()["documents"] == 1 and r.json()["errors"] == [], r.text


def test_a_path_that_is_not_utf8_is_a_422_not_a_404(server):
    r = httpx.get(server.url + DOCS + "/%FF", timeout=10)
    assert _fields(r) == ["doc_id"], r.text  # was 404 "no document '\ufffd'"


def test_middleware_errors_are_compact_as_the_others(tmp_path):
    srv = LiveServer([f"t={tmp_path / 't'}"], token="s3cret-token")
    try:
        r = httpx.get(srv.url + "/v1/memories", timeout=10)
        assert r.status_code == 401 and r.content.startswith(b'{"error":"') and b'"fields":[]}' in r.content, r.content
    finally:
        srv.stop()


HOLD = """
import sys, time
from core.memory.lock import WriteLock
lock = WriteLock(sys.argv[1])
lock.acquire()
print("held", flush=True)
time.sleep(60)
"""


def test_a_job_blocked_by_another_process_shows_waiting_at_once(server):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(server.folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        r = _post(server, [{"id": "bg", "text": "The lock keeper of Orla."}], params={"background": "true"})
        assert r.status_code == 202, r.text
        job, deadline = r.json(), time.monotonic() + 3
        while job["status"] != "waiting" and time.monotonic() < deadline:
            time.sleep(0.1)
            job = httpx.get(server.url + r.headers["location"], timeout=10).json()
        assert job["status"] == "waiting" and str(holder.pid) in job["waiting_for"], job  # was running, null
    finally:
        holder.kill()
        holder.wait()
    for _ in range(100):
        job = httpx.get(server.url + r.headers["location"], timeout=10).json()
        if job["status"] in ("done", "failed"):
            break
        time.sleep(0.1)
    assert job["status"] == "done" and job["done"] == 1 and job["waiting_for"] is None, job
