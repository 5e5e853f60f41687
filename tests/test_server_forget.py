"""POST /v1/memories/{name}/forget {"ids": [...]}: many documents forgotten in one request and one
transaction (over HTTP a client sent one DELETE per document). Real model, store and app (TestClient)."""
from __future__ import annotations

import pytest
from _server_helpers import TOKEN
from fastapi.testclient import TestClient

from core.memory import SemanticMemory
from core.memory.documents import list_documents
from core.reasoning.mycelial import MycelialVQVAE
from core.server import create_app

AUTH = {"Authorization": f"Bearer {TOKEN}"}
DOCS = [{"id": "vask", "title": "Vask",
         "text": "Zebulon Quartz kept the lighthouse of Vask and counted storm petrels."},
        {"id": "tessary", "title": "Tessary", "text": "Orla Finch designed the copper aqueduct of Tessary in 1821."},
        {"id": "man/kill.txt", "title": "kill", "text": "kill sends a signal to a process; SIGTERM asks it to stop."},
        {"id": "pellow", "title": "Pellow",
         "text": "Marta Ilsen rebuilt the tide mill of Pellow in the spring of 1902."},
        {"id": "5", "title": "Wrens", "text": "Wrens nest in the ivy of the old granary at Dunmore."}]
ALL = sorted(d["id"] for d in DOCS)


@pytest.fixture(scope="module")
def codec():
    return MycelialVQVAE.load_default()


@pytest.fixture
def served(tmp_path, embedder, codec, monkeypatch):
    """A client over a fresh memory of DOCS, served with a token; yields (client, folder)."""
    monkeypatch.setenv("MYCELIAL_LOCK_TIMEOUT", "0.2")  # read when the memory opens: a busy memory answers soon
    folder = tmp_path / "m"
    with SemanticMemory(folder, embedder=embedder, codec=codec) as mem:
        assert not mem.ingest(DOCS).errors
    with TestClient(create_app({"m": folder}, token=TOKEN, embedder=embedder, codec=codec)) as client:
        yield client, folder


def _ids(client) -> list[str]:
    r = client.get("/v1/memories/m/documents", headers=AUTH)
    assert r.status_code == 200, r.text
    return [d["id"] for d in r.json()["documents"]]


def _recalled(client, q: str) -> set[str]:
    r = client.get("/v1/memories/m/recall", params={"q": q, "k": 10, "mode": "hybrid"}, headers=AUTH)
    assert r.status_code == 200, r.text
    return {h["doc_id"] for h in r.json()["hits"]}


def test_forgets_several_documents_in_one_request(served, embedder, codec):
    client, folder = served
    assert "vask" in _recalled(client, "who kept the lighthouse of Vask")
    r = client.post("/v1/memories/m/forget", json={"ids": ["vask", "man/kill.txt", 5]}, headers=AUTH)
    assert r.status_code == 200, r.text  # was 404: no such route
    assert r.json() == {"forgotten": ["vask", "man/kill.txt", "5"], "missing": []}  # request order; 5 is "5"
    assert _ids(client) == ["pellow", "tessary"]
    for doc_id in ("vask", "man/kill.txt", "5"):
        assert client.get(f"/v1/memories/m/documents/{doc_id}", headers=AUTH).status_code == 404
    for q in ("who kept the lighthouse of Vask", "which signal stops a process", "where do wrens nest"):
        assert _recalled(client, q) <= {"pellow", "tessary"}, q
    assert "pellow" in _recalled(client, "who rebuilt the tide mill")
    assert client.get("/v1/memories/m/stats", headers=AUTH).json()["documents"] == 2
    with SemanticMemory(folder, embedder=embedder, codec=codec, read_only=True) as mem:  # on disk, for others too
        assert [d["id"] for d in list_documents(mem)] == ["pellow", "tessary"]
        assert {h.doc_id for h in mem.recall("who kept the lighthouse of Vask", k=10)} <= {"pellow", "tessary"}


def test_missing_ids_are_reported_and_the_found_ones_forgotten(served):
    client, _ = served
    body = {"ids": ["nope", "tessary", "vask", "tessary", "gone/too"]}  # an id twice is forgotten and listed once
    r = client.post("/v1/memories/m/forget", json=body, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json() == {"forgotten": ["tessary", "vask"], "missing": ["nope", "gone/too"]}
    assert _ids(client) == ["5", "man/kill.txt", "pellow"]
    again = client.post("/v1/memories/m/forget", json=body, headers=AUTH)  # a retried request: done already
    assert again.status_code == 200 and again.json() == {"forgotten": [], "missing": ["nope", "tessary", "vask",
                                                                                      "gone/too"]}
    assert _ids(client) == ["5", "man/kill.txt", "pellow"]


@pytest.mark.parametrize("body, words", [
    ({}, "ids: Field required"),
    ({"ids": []}, "ids: List should have at least 1 item"),
    ({"ids": "vask"}, "ids: Input should be a valid list"),
    (["vask", "tessary"], "body: Input should be a valid dictionary"),
    ({"ids": ["vask", ""]}, "ids.1: String should have at least 1 character"),
    ({"ids": ["vask", None]}, "ids.1: Value error, must be a string or integer document id, got NoneType"),
    ({"ids": ["vask", 1.5]}, "ids.1: Value error, must be a string or integer document id, got float"),
    ({"ids": ["vask", True]}, "ids.1: Value error, must be a string or integer document id, got bool"),
    ({"ids": ["vask", {"id": "tessary"}]}, "ids.1: Value error, must be a string or integer document id, got dict"),
    ({"ids": ["vask"] + [f"n{i}" for i in range(1000)]}, "ids: List should have at most 1000 items"),
    ({"ids": ["vask", "x" * 4097]}, "ids.1: String should have at most 4096 characters"),
    ({"ids": ["vask"], "strict": True}, "strict: Extra inputs are not permitted"),
    ({"doc_ids": ["vask"]}, "doc_ids: Extra inputs are not permitted"),
])
def test_bad_bodies_are_422_naming_the_problem_and_forget_nothing(served, body, words):
    client, _ = served
    r = client.post("/v1/memories/m/forget", json=body, headers=AUTH)
    assert r.status_code == 422, r.text
    assert words in r.json()["error"] and r.json()["fields"], r.text
    assert "Traceback" not in r.text
    assert _ids(client) == ALL


def test_not_json_is_422_and_forgets_nothing(served):
    client, _ = served
    r = client.post("/v1/memories/m/forget", content=b'{"ids": ["vask"',
                    headers={**AUTH, "content-type": "application/json"})
    assert r.status_code == 422 and "invalid JSON" in r.json()["error"], r.text
    assert _ids(client) == ALL


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}])
def test_a_token_is_required(served, headers):
    client, _ = served
    r = client.post("/v1/memories/m/forget", json={"ids": ["vask", "tessary"]}, headers=headers)
    assert r.status_code == 401 and "bearer token" in r.json()["error"], r.text
    assert r.headers["www-authenticate"] == "Bearer"
    assert _ids(client) == ALL


def test_unknown_memory_is_404_and_a_busy_memory_503(served, embedder, codec):
    client, folder = served
    r = client.post("/v1/memories/nope/forget", json={"ids": ["vask"]}, headers=AUTH)
    assert r.status_code == 404 and "no memory named 'nope'" in r.json()["error"], r.text
    # another process holds the write lock (a second SemanticMemory: flock conflicts across open files)
    with SemanticMemory(folder, embedder=embedder, codec=codec) as other, other._writing():
        busy = client.post("/v1/memories/m/forget", json={"ids": ["vask", "tessary"]}, headers=AUTH)
    assert busy.status_code == 503 and "'m' is being written" in busy.json()["error"], busy.text
    assert busy.headers["retry-after"] == "5" and str(folder) not in busy.text
    assert _ids(client) == ALL
    r = client.post("/v1/memories/m/forget", json={"ids": ["vask", "tessary"]}, headers=AUTH)  # free again
    assert r.status_code == 200 and r.json()["forgotten"] == ["vask", "tessary"], r.text
