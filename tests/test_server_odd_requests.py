"""Odd but valid requests: an id holding a newline by its path, a cancelled upload in the log, a body that is
not UTF-8 on the documents route. TestClient over a real memory (the shipped sample, real model and store)."""
from __future__ import annotations

import logging

import pytest
from _server_helpers import TOKEN, post_then_hang_up, sample_client

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def served(tmp_path_factory, embedder):
    with sample_client(tmp_path_factory.mktemp("odd"), embedder, others=("scratch",)) as (app, client):
        yield app, client


def test_an_id_holding_a_newline_is_read_and_forgotten_by_its_path(served):
    # stored, but GET and DELETE of .../documents/new%0Aline answered 404 "no route .../documents/newline"
    _, client = served
    r = client.post("/v1/memories/scratch/documents", headers=AUTH,
                    json=[{"id": "new\nline", "text": "A note whose id holds a newline, about the mill of Pellow."}])
    assert r.status_code == 201, r.text
    got = client.get("/v1/memories/scratch/documents/new%0Aline", headers=AUTH)
    assert got.status_code == 200 and got.json()["id"] == "new\nline", got.text
    gone = client.delete("/v1/memories/scratch/documents/new%0Aline", headers=AUTH)
    assert gone.status_code == 200 and gone.json() == {"deleted": "new\nline"}, gone.text
    again = client.get("/v1/memories/scratch/documents/new%0Aline", headers=AUTH)
    assert again.status_code == 404 and again.json()["error"].startswith("no document 'new\\nline'"), again.text


def test_a_route_404_names_the_path_as_it_came(served):
    _, client = served
    r = client.get("/v1/memories/scratch/nope%0Ahere", headers=AUTH)
    assert r.status_code == 404, r.text
    assert r.json()["error"].startswith("no route GET '/v1/memories/scratch/nope\\nhere'"), r.text  # was ".../nopehere"


def test_a_cancelled_upload_is_one_warning_of_the_log(served, caplog):
    # logged at INFO: `mycelial serve` shows warnings only, and the README said it is a line of its log
    app, client = served
    with caplog.at_level(logging.WARNING, logger="mycelial.server"):
        post_then_hang_up(app, "/v1/memories/scratch/documents", [b'[{"id": "cut", "text": "', b"x" * 5000])
    lines = [r.getMessage() for r in caplog.records if "closed the connection" in r.getMessage()]
    assert lines == ["POST /v1/memories/scratch/documents: the client closed the connection before sending its "
                     "whole body; nothing of it was stored"], lines
    assert client.get("/v1/memories/scratch/document", params={"id": "cut"}, headers=AUTH).status_code == 404


def test_a_documents_body_that_is_not_utf8_says_so_as_recall_does(served):
    # "invalid JSON: invalid unicode code point at line 1 column 24", while recall said what was wrong
    _, client = served
    json_ct = {**AUTH, "content-type": "application/json"}
    docs = client.post("/v1/memories/scratch/documents", content=b'[{"id":"u8","text":"caf\xe9"}]', headers=json_ct)
    recall = client.post("/v1/memories/scratch/recall", content=b'{"queries":["caf\xe9"]}', headers=json_ct)
    assert docs.status_code == recall.status_code == 422, (docs.text, recall.text)
    assert docs.json() == {"error": "invalid request: body: not valid utf-8 text (invalid continuation byte at "
                                    "byte 23)",
                           "fields": [{"field": "body", "message": "not valid utf-8 text (invalid continuation "
                                                                   "byte at byte 23)"}]}, docs.text
    assert recall.json()["error"] == "invalid request: body: not valid utf-8 text (invalid continuation byte at " \
                                     "byte 16)", recall.text
