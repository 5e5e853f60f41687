"""GET /v1/memories/{name}/documents[/{id}]: what a served memory holds (both were a 405; the CLI had
`mycelial list` and `mycelial get`). Against a real uvicorn on 127.0.0.1, real model and store."""
from __future__ import annotations

import os

import httpx
import pytest
from _server_helpers import LiveServer

from core.memory import SemanticMemory
from core.memory.documents import get_document
from core.reasoning.mycelial import MycelialVQVAE

LONG = "\n\n".join(f"# Mill {i}\n\n" + " ".join(f"The tide mill number {i} grinds corn at low water, beside "
                                                  f"pond {j} of the estuary." for j in range(12)) for i in range(4))


@pytest.fixture(scope="module")
def served(tmp_path_factory, embedder):
    tmp = tmp_path_factory.mktemp("served_docs")
    notes = tmp / "notes"
    (notes / "man").mkdir(parents=True)
    (notes / "man" / "kill.txt").write_text("kill sends a signal to a process.", encoding="utf-8")
    (notes / "mills.md").write_text(LONG, encoding="utf-8")
    (notes / "recs.jsonl").write_text('{"id": "j1", "text": "A lamp on Quarry Road.", "lamp": "gas"}\n',
                                      encoding="utf-8")
    lone = tmp / "lone.txt"
    lone.write_text("A lone note about the harbour of Pellow.", encoding="utf-8")
    folder = tmp / "mem"
    cwd = os.getcwd()
    os.chdir(tmp)  # `lone.txt` given by its absolute path is named relative to here (else its id is that path)
    with SemanticMemory(folder, embedder=embedder, codec=MycelialVQVAE.load_default()) as mem:
        rep = mem.ingest([str(notes), str(lone.resolve())]
                         + [{"id": f"r{i:02d}", "title": f"Record {i}", "text": f"Record {i} about wrens.",
                             "topic": "birds"} for i in range(12)])
        assert not rep.errors, rep.to_dict()
        mills = get_document(mem, "mills.md")
    os.chdir(cwd)
    server = LiveServer([f"m={folder}"])
    try:
        yield server.url, tmp, mills
    finally:
        server.stop()


def _get(url, path, **params):
    return httpx.get(url + path, params=params, timeout=60)


def test_list_pages_through_every_document_by_id(served):
    url, tmp, _ = served
    first = _get(url, "/v1/memories/m/documents")
    assert first.status_code == 200, first.text  # was 405
    body = first.json()
    assert body["total"] == 16 and body["offset"] == 0 and body["limit"] == 100
    ids = [d["id"] for d in body["documents"]]
    assert ids == sorted(ids) and len(ids) == 16
    by_id = {d["id"]: d for d in body["documents"]}
    assert by_id["man/kill.txt"] == {"id": "man/kill.txt", "title": "kill", "chunks": 1, "kind": "file"}
    assert by_id["mills.md"]["chunks"] > 1 and by_id["mills.md"]["title"] == "Mill 0"
    assert by_id["j1"]["kind"] == "jsonl" and by_id["r03"]["kind"] == "records"
    assert by_id["lone.txt"]["kind"] == "file"
    assert str(tmp) not in first.text
    pages = [_get(url, "/v1/memories/m/documents", limit=5, offset=o).json() for o in (0, 5, 10, 15, 20)]
    assert [d["id"] for p in pages for d in p["documents"]] == ids
    assert [len(p["documents"]) for p in pages] == [5, 5, 5, 1, 0] and {p["total"] for p in pages} == {16}
    man = _get(url, "/v1/memories/m/documents", prefix="man/").json()
    assert man["total"] == 1 and [d["id"] for d in man["documents"]] == ["man/kill.txt"]
    recs = _get(url, "/v1/memories/m/documents", prefix="r", limit=3, offset=9).json()
    assert recs["total"] == 12 and [d["id"] for d in recs["documents"]] == ["r09", "r10", "r11"]
    assert _get(url, "/v1/memories/m/documents", prefix="zz").json() == {
        "total": 0, "offset": 0, "limit": 100, "documents": []}
    slash = httpx.get(url + "/v1/memories/m/documents/", params={"prefix": "r", "limit": 3}, timeout=60)
    # was a 404 "no document ''"
    assert slash.status_code == 200, slash.text
    assert [d["id"] for d in slash.json()["documents"]] == ["r00", "r01", "r02"]


def test_get_shows_chunks_in_order_and_no_server_path(served):
    url, tmp, mills = served
    r = _get(url, "/v1/memories/m/documents/mills.md")
    assert r.status_code == 200, r.text  # was 405
    doc = r.json()
    assert doc["title"] == "Mill 0" and doc["kind"] == "file" and doc["metadata"] == {"path": "mills.md"}
    assert [c["text"] for c in doc["chunks"]] == [c["text"] for c in mills["chunks"]]
    assert [c["chunk_id"] for c in doc["chunks"]] == [c["chunk_id"] for c in mills["chunks"]]
    assert doc["chunks"][0]["text"].startswith("# Mill 0") and "pond 11" in doc["chunks"][-1]["text"]
    assert "tide mill number 3" in doc["chunks"][-1]["text"]
    kill = _get(url, "/v1/memories/m/documents/man/kill.txt").json()  # an id with a slash
    assert kill["metadata"] == {"path": "man/kill.txt"} and kill["chunks"][0]["text"].startswith("kill sends")
    assert _get(url, "/v1/memories/m/documents/lone.txt").json()["metadata"] == {"path": "lone.txt"}
    rec = _get(url, "/v1/memories/m/documents/r03").json()
    assert rec["metadata"] == {"topic": "birds"} and rec["kind"] == "records" and rec["title"] == "Record 3"
    assert _get(url, "/v1/memories/m/documents/j1").json()["metadata"] == {"lamp": "gas"}
    for path in ("mills.md", "man/kill.txt", "lone.txt", "j1"):
        assert str(tmp) not in _get(url, f"/v1/memories/m/documents/{path}").text


@pytest.mark.parametrize("path,params,status,words", [
    ("/v1/memories/nope/documents", {}, 404, "no memory named 'nope'"),
    ("/v1/memories/nope/documents/x", {}, 404, "no memory named 'nope'"),
    ("/v1/memories/m/documents/man/nothing.txt", {}, 404, "no document 'man/nothing.txt' in memory 'm'"),
    ("/v1/memories/m/documents", {"limit": 0}, 422, "limit: Input should be greater than or equal to 1"),
    ("/v1/memories/m/documents", {"limit": 1001}, 422, "limit: Input should be less than or equal to 1000"),
    ("/v1/memories/m/documents", {"offset": -1}, 422, "offset: Input should be greater than or equal to 0"),
    ("/v1/memories/m/documents", {"limit": "ten"}, 422, "limit: Input should be a valid integer"),
    ("/v1/memories/m/documents", {"start": 5}, 422, "start: unknown parameter; this route takes limit, offset, prefix"),
    ("/v1/memories/m/documents/r03", {"full": 1}, 422, "full: unknown parameter; this route takes none"),
])
def test_bad_requests_are_named(served, path, params, status, words):
    r = _get(served[0], path, **params)
    assert r.status_code == status and words in r.json()["error"], r.text


def test_a_name_that_is_no_id_is_a_404_naming_the_documents_meant(served):
    url, _, _ = served
    r = _get(url, "/v1/memories/m/documents/Record 3")  # a title, not the id
    assert r.status_code == 404 and "did you mean 'r03' (Record 3)?" in r.json()["error"], r.text
    r = httpx.delete(url + "/v1/memories/m/documents/kill", timeout=60)  # a file name without folder and suffix
    assert r.status_code == 404 and "did you mean 'man/kill.txt' (kill)?" in r.json()["error"], r.text
    assert _get(url, "/v1/memories/m/documents/man/kill.txt").status_code == 200  # nothing was guessed or deleted
