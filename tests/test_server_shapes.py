"""Every success answer is described in /openapi.json, and a real server's answers have those shapes."""
from __future__ import annotations

import httpx
import pytest
from _server_helpers import QUESTION, LiveServer, build_sample_memory, finished_job

from core.reasoning.mycelial import MycelialVQVAE
from core.server.shapes import SHAPES


@pytest.fixture(scope="module")
def server(tmp_path_factory, embedder):
    folder = tmp_path_factory.mktemp("shapes") / "sample"
    build_sample_memory(folder, embedder, MycelialVQVAE.load_default())
    srv = LiveServer([str(folder), f"scratch={folder.parent / 'scratch'}"])
    yield srv
    srv.stop()


def test_openapi_describes_every_success_answer(server):
    # every 200/201 was "Successful Response" with the schema {} (any JSON): a generated client got untyped dicts
    schema = httpx.get(server.url + "/openapi.json", timeout=30).json()
    components = schema["components"]["schemas"]
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            ok = [c for c in op["responses"] if c.startswith("2")]
            assert ok, (method, path)
            for code in ok:
                ref = op["responses"][code]["content"]["application/json"]["schema"].get("$ref", "")
                assert ref.startswith("#/components/schemas/"), (method, path, code, op["responses"][code])
                assert ref.rsplit("/", 1)[1] in components, ref
    hit = components["Hit"]["properties"]
    assert {"doc_id", "chunk_id", "score", "text", "why_text", "metadata"} <= hit.keys()


def _check(r: httpx.Response, method: str, path: str) -> dict:
    model = SHAPES[(method, path, str(r.status_code))]
    model.model_validate(r.json())  # extra="forbid": a field the schema does not name fails
    return r.json()


def test_real_answers_have_the_documented_shapes(server):
    v1 = "/v1/memories/{name}"
    with httpx.Client(base_url=server.url, timeout=60) as c:
        _check(c.get("/healthz"), "get", "/healthz")
        _check(c.get("/v1/memories"), "get", "/v1/memories")
        _check(c.get("/v1/memories/sample/stats"), "get", f"{v1}/stats")
        docs = [{"id": "s1", "title": "Lamp", "text": "The lamp of Quarry Road was lit by Ida Wren."}]
        _check(c.post("/v1/memories/scratch/documents", json=docs), "post", f"{v1}/documents")
        r = c.post("/v1/memories/scratch/documents", params={"background": "true"},
                   json=[{"id": "s2", "text": "The weir of Orla opens at dawn."}])
        _check(r, "post", f"{v1}/documents")
        finished_job(c.get, r.headers["location"])
        _check(c.get(r.headers["location"]), "get", f"{v1}/jobs/{{job_id}}")
        _check(c.get("/v1/memories/sample/documents"), "get", f"{v1}/documents")
        _check(c.get("/v1/memories/scratch/documents/s1"), "get", f"{v1}/documents/{{doc_id}}")
        _check(c.get("/v1/memories/scratch/document", params={"id": "s2"}), "get", f"{v1}/document")
        hits = _check(c.get("/v1/memories/sample/recall", params={"q": QUESTION, "k": 3}), "get", f"{v1}/recall")
        assert hits["hits"]
        _check(c.post("/v1/memories/sample/recall", json={"queries": [QUESTION, "Ida Wren"], "k": 2}),
               "post", f"{v1}/recall")
        concept = hits["hits"][0]["why"]["phrases"][0][0]
        _check(c.get("/v1/memories/sample/associations", params={"concept": concept}), "get", f"{v1}/associations")
        graph = _check(c.get("/v1/memories/sample/graph", params={"concept": concept}), "get", f"{v1}/graph")
        assert graph["edges"]
        other = graph["nodes"][-1]["id"]
        paths = _check(c.get("/v1/memories/sample/bridges", params={"a": concept, "b": other}), "get", f"{v1}/bridges")
        assert paths["paths"]
        event = _check(c.post("/v1/memories/sample/reinforce", json={"query": QUESTION,
                                                                      "chunk_ids": [hits["hits"][0]["chunk_id"]]}),
                       "post", f"{v1}/reinforce")
        assert _check(c.get("/v1/memories/sample/reinforcements"), "get", f"{v1}/reinforcements")["events"]
        _check(c.delete(f"/v1/memories/sample/reinforce/{event['event']}"), "delete", f"{v1}/reinforce/{{event_id}}")
        _check(c.delete("/v1/memories/scratch/documents/s1"), "delete", f"{v1}/documents/{{doc_id}}")
        _check(c.post("/v1/memories/scratch/forget", json={"ids": ["s2", "gone"]}), "post", f"{v1}/forget")
