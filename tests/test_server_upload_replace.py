"""An uploaded file is named by its file name alone (`file:README`): against a real `mycelial serve` on 127.0.0.1,
with this machine's own READMEs (/usr/share/doc).

Before: avahi's README, then bc's README, answered 201 with "replaced": 1 and avahi's document was gone; two
READMEs in one request were a 201 storing one, the other listed only in `errors`.
"""
from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from _server_helpers import LiveServer, finished_job

DOC = Path("/usr/share/doc")
AVAHI, BC = (DOC / "avahi-daemon/README").read_bytes(), (DOC / "bc/README").read_bytes()


@pytest.fixture(scope="module")
def server(tmp_path_factory, embedder):
    srv = LiveServer([str(tmp_path_factory.mktemp("replace") / "up")])
    yield srv
    srv.stop()


def _post(server, files, query=""):
    return httpx.post(f"{server.url}/v1/memories/up/documents{query}", files=[("file", f) for f in files],
                      timeout=120)


def _text(server, doc_id):
    r = httpx.get(f"{server.url}/v1/memories/up/document", params={"id": doc_id}, timeout=30)
    return " ".join(c["text"] for c in r.json()["chunks"]) if r.status_code == 200 else None


def test_another_file_of_the_same_name_is_refused_until_replace_is_asked(server):
    assert _post(server, [("README", AVAHI)]).status_code == 201
    r = _post(server, [("README", BC)])
    assert r.status_code == 409, r.text
    body = r.json()
    assert "'file:README'" in body["error"] and "stored 20" in body["error"] and "?replace=true" in body["error"]
    assert body["fields"][0]["field"] == "file" and "'file:README'" in body["fields"][0]["message"]
    assert "Avahi" in _text(server, "file:README")  # avahi's README is still there
    again = _post(server, [("README", AVAHI)])  # the same text again: unchanged, as before
    assert again.status_code == 201 and again.json()["unchanged"] == 1, again.text
    # an identical file from another package is the same text: no clash either
    assert _post(server, [("README", (DOC / "avahi-utils/README").read_bytes())]).json()["unchanged"] == 1
    r = _post(server, [("README", BC)], "?replace=true")
    assert r.status_code == 201, r.text
    assert (r.json()["replaced"], r.json()["replaced_files"]) == (1, ["file:README"]), r.text
    assert "Avahi" not in _text(server, "file:README")
    r = _post(server, [("README", BC)], "?replace=true")  # nothing to replace: unchanged, none named
    assert (r.json()["unchanged"], r.json()["replaced_files"]) == (1, []), r.text


def test_a_background_upload_is_refused_before_its_job(server):
    assert _post(server, [("NEWS", b"Version 1 of the Orla cave survey.")]).status_code == 201
    r = _post(server, [("NEWS", b"Version 2 of the Orla cave survey, with the north passage.")], "?background=true")
    assert r.status_code == 409 and "'file:NEWS'" in r.json()["error"], r.text
    assert "Version 1" in _text(server, "file:NEWS")
    r = _post(server, [("NEWS", b"Version 2 of the Orla cave survey, with the north passage.")],
              "?background=true&replace=true")
    assert r.status_code == 202, r.text
    job = finished_job(httpx.get, server.url + r.headers["location"])
    assert job["status"] == "done" and job["report"]["replaced_files"] == ["file:NEWS"], job
    assert "Version 2" in _text(server, "file:NEWS")


def test_two_files_of_one_name_in_one_request_store_nothing(server):
    r = _post(server, [("TODO", AVAHI), ("notes.md", b"# Notes\n\nWrens nest in the ivy."), ("TODO", BC)])
    assert r.status_code == 422, r.text
    assert "TODO: 2 files of this request have this name" in r.json()["error"], r.text
    assert "none of the 3 files was ingested" in r.json()["error"]
    assert r.json()["fields"][0]["field"] == "file"
    assert _text(server, "file:TODO") is None and _text(server, "file:notes.md") is None
    # a posted list's id is its update key: replace=true would say something it does not do
    r = httpx.post(f"{server.url}/v1/memories/up/documents?replace=true", json=[{"id": "a", "text": "Wrens."}],
                   timeout=60)
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "replace", r.text
