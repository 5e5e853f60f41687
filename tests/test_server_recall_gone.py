"""A batch recall whose client has hung up stops between queries; a connected client's answer is as before.

It ran every query to the end for nobody (~4 CPU-s for 64 queries at k=100, 54 s for 256 on 44k chunks),
and a client that retried on a timeout piled such batches up. The app is called as uvicorn calls it: the
request's body, then ``http.disconnect`` (what uvicorn's ``receive`` gives once the client is gone).
"""
from __future__ import annotations

import json
import logging

import pytest
from _server_helpers import QUESTION, TOKEN, post_then_hang_up, sample_client

from core.server.public import public_hits

AUTH = {"Authorization": f"Bearer {TOKEN}"}
QUERIES = [f"{QUESTION} ({i})" for i in range(20)]  # three slices of 8


@pytest.fixture(scope="module")
def served(tmp_path_factory, embedder):
    with sample_client(tmp_path_factory.mktemp("gone"), embedder) as (app, client):
        yield app, client


def test_a_batch_whose_client_hung_up_is_stopped_with_one_log_line(served, caplog):
    app, _ = served
    body = json.dumps({"queries": QUERIES, "k": 100}).encode()
    with caplog.at_level(logging.WARNING, logger="mycelial.server"):
        sent = post_then_hang_up(app, "/v1/memories/sample/recall", [body])
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] != 200, sent  # it ranked all 20 queries and answered them to nobody
    lines = [r.getMessage() for r in caplog.records if "closed the connection" in r.getMessage()]
    assert lines == ["POST /v1/memories/sample/recall: the client closed the connection; its batch recall of "
                     "memory 'sample' was stopped after 0 of 20 queries"], lines


def test_a_connected_clients_batch_answer_is_the_engines(served):
    app, client = served
    r = client.post("/v1/memories/sample/recall", json={"queries": QUERIES, "k": 7, "context": 1}, headers=AUTH)
    assert r.status_code == 200, r.text
    mem = app.state.registry.get("sample").memory
    direct = [json.loads(json.dumps(public_hits(mem.store_, hits, mem)))
              for hits in mem.recall_batch(QUERIES, k=7, context=1)]
    assert [a["query"] for a in r.json()["results"]] == QUERIES
    assert [a["hits"] for a in r.json()["results"]] == direct
