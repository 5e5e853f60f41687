"""The HTTP API through FastAPI's TestClient over real memories (the shipped sample, real model)."""
from __future__ import annotations

import re

import pytest
from _server_helpers import QUESTION, TOKEN, sample_client
from fastapi.testclient import TestClient

from core.reasoning.mycelial import MycelialVQVAE
from core.server import create_app

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def served(tmp_path_factory, embedder):
    with sample_client(tmp_path_factory.mktemp("served"), embedder, others=["other"]) as app_client:
        yield app_client


@pytest.fixture
def client(served):
    return served[1]


def test_healthz_needs_no_token(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok", "memories": 2}


def test_head_answers_as_get_without_a_body(client):
    # `curl -I /healthz`, as uptime monitors probe, was a 405: FastAPI routes answer only their declared methods
    get, head = client.get("/healthz"), client.head("/healthz")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"] != "0"
    assert head.headers["content-type"] == get.headers["content-type"] == "application/json"
    assert client.head("/v1/memories").status_code == 401  # the token is still checked
    ok = client.head("/v1/memories", headers=AUTH)
    assert ok.status_code == 200 and ok.content == b"" and int(ok.headers["content-length"]) > 0
    assert client.head("/v1/memories/nope/stats", headers=AUTH).status_code == 404
    assert client.head("/").status_code == 200  # the page
    assert client.head("/v1/memories/sample/forget", headers=AUTH).status_code == 405  # POST-only stays so


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}])
def test_missing_or_wrong_token_is_401(client, headers):
    r = client.get("/v1/memories", headers=headers)
    assert r.status_code == 401
    assert "bearer token" in r.json()["error"]
    assert r.headers["www-authenticate"] == "Bearer"


def test_list_memories_and_stats(client):
    r = client.get("/v1/memories", headers=AUTH)
    assert r.status_code == 200
    by_name = {m["name"]: m for m in r.json()["memories"]}
    assert set(by_name) == {"sample", "other"}
    assert by_name["sample"]["documents"] >= 10 and by_name["other"]["documents"] == 0
    st = client.get("/v1/memories/sample/stats", headers=AUTH).json()
    assert st["documents"] == by_name["sample"]["documents"] and st["chunks"] > st["documents"]
    assert "folder" not in st  # server paths are not exposed


def test_recall_finds_nerva_with_reasons(client):
    for mode in ("hybrid", "similar", "associative"):
        r = client.get("/v1/memories/sample/recall", params={"q": QUESTION, "k": 5, "mode": mode}, headers=AUTH)
        assert r.status_code == 200, r.text
        hits = r.json()["hits"]
        assert len(hits) == 5
        assert any("Nerva" in h["title"] for h in hits[:3]), (mode, [h["title"] for h in hits])
        assert set(hits[0]) >= {"doc_id", "chunk_id", "score", "text", "title", "why", "why_text"}
        assert hits[0]["why_text"]
        scores = [h["score"] for h in hits]
        assert scores == sorted(scores, reverse=True)
    assert "association" in hits[0]["why"]


def test_batch_recall(client):
    body = {"queries": [QUESTION, "ironclad warships"], "k": 3, "mode": "similar"}
    r = client.post("/v1/memories/sample/recall", json=body, headers=AUTH)
    assert r.status_code == 200
    res = r.json()["results"]
    assert [x["query"] for x in res] == body["queries"]
    assert "Nerva" in res[0]["hits"][0]["title"] and "ronclad" in res[1]["hits"][0]["title"]


def test_unknown_memory_is_404(client):
    r = client.get("/v1/memories/nope/recall", params={"q": "x"}, headers=AUTH)
    assert r.status_code == 404 and "nope" in r.json()["error"]


def test_unknown_route_wrong_method_and_bad_json_answer_in_the_error_format(client):
    # the router's own 404/405 answered {"detail": ...}, not the documented {"error": ...}
    r = client.get("/v1/memories/sample/nope", headers=AUTH)
    assert r.status_code == 404 and "error" in r.json()
    r = client.put("/v1/memories/sample/recall", headers=AUTH)
    assert r.status_code == 405 and "error" in r.json()
    # a body that is not JSON named field "1" with "JSON decode error"; it is the body, with the parser's reason
    r = client.post("/v1/memories/sample/recall", content=b"{bad", headers={**AUTH, "content-type": "application/json"})
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "body"
    assert "invalid JSON" in r.json()["error"] and "double quotes" in r.json()["error"]


@pytest.mark.parametrize("params, field", [({"q": QUESTION, "k": 0}, "k"), ({"q": QUESTION, "mode": "fuzzy"}, "mode"),
                                           ({"k": 3}, "q"), ({"q": "   "}, "q")])
def test_bad_recall_input_is_422_naming_the_field(client, params, field):
    r = client.get("/v1/memories/sample/recall", params=params, headers=AUTH)
    assert r.status_code == 422
    assert field in [f["field"] for f in r.json()["fields"]]
    assert "Traceback" not in r.text


def test_bad_documents_are_422_naming_the_field(client):
    r = client.post("/v1/memories/other/documents", json=[{"id": "a", "title": "t"}], headers=AUTH)
    assert r.status_code == 422 and "0.text" in r.json()["error"]
    r = client.post("/v1/memories/other/documents", content=b"{not json", headers=AUTH)
    assert r.status_code == 422 and "Traceback" not in r.text
    r = client.post("/v1/memories/other/documents", json=[], headers=AUTH)
    assert r.status_code == 422


def test_integer_ids_are_taken_as_the_cli_takes_them(client):
    # {"id": 5} was a 422 over HTTP while the same JSONL line ingests on the CLI (as id "5")
    doc = {"id": 5, "text": "Marta Ilsen rebuilt the tide mill of Pellow in the spring of 1902."}
    r = client.post("/v1/memories/other/documents", json=[doc], headers=AUTH)
    assert r.status_code == 201 and r.json()["documents"] == 1, r.text
    hits = client.get("/v1/memories/other/recall", params={"q": "who rebuilt the tide mill", "k": 1},
                      headers=AUTH).json()["hits"]
    assert hits[0]["doc_id"] == "5"
    assert client.delete("/v1/memories/other/documents/5", headers=AUTH).status_code == 200
    for bad in (True, 5.0, None, ["5"]):  # as the CLI: a bool, a float or a list is no id
        r = client.post("/v1/memories/other/documents", json=[{**doc, "id": bad}], headers=AUTH)
        assert r.status_code == 422 and "0.id" in r.json()["error"], (bad, r.text)
        assert bad is None or "string or integer" in r.text, r.text


def test_body_over_limit_is_413(client):
    big = [{"id": f"d{i}", "text": "word " * 2000} for i in range(30)]  # ~300 kB > 256 kB
    r = client.post("/v1/memories/other/documents", json=big, headers=AUTH)
    assert r.status_code == 413 and "limit" in r.json()["error"]
    assert client.get("/v1/memories/other/stats", headers=AUTH).json()["documents"] == 0
    # one uploaded file over the limit was told to "send fewer documents per request"
    r = client.post("/v1/memories/other/documents", files={"file": ("big.txt", b"word " * 60_000, "text/plain")},
                    headers=AUTH)
    assert r.status_code == 413 and "--max-body-mb" in r.json()["error"] and "split a large file" in r.json()["error"]


def test_ingest_recall_forget_and_isolation(client):
    doc = {"id": "zeb-1", "title": "Zebulon Quartz", "metadata": {"lang": "en"},
           "text": "Zebulon Quartz was a lighthouse keeper on the island of Vask who catalogued storm petrels."}
    r = client.post("/v1/memories/other/documents", json=[doc], headers=AUTH)
    assert r.status_code == 201 and r.json()["documents"] == 1
    q = {"q": "Who catalogued storm petrels on Vask?", "k": 3}
    hits = client.get("/v1/memories/other/recall", params=q, headers=AUTH).json()["hits"]
    assert hits[0]["doc_id"] == "zeb-1"
    # the other memory never sees it
    assert all(h["doc_id"] != "zeb-1" for h in client.get("/v1/memories/sample/recall", params=q,
                                                            headers=AUTH).json()["hits"])
    assert client.delete("/v1/memories/sample/documents/zeb-1", headers=AUTH).status_code == 404
    assert client.delete("/v1/memories/other/documents/zeb-1", headers=AUTH).status_code == 200
    assert client.delete("/v1/memories/other/documents/zeb-1", headers=AUTH).status_code == 404
    hits = client.get("/v1/memories/other/recall", params=q, headers=AUTH).json()["hits"]
    assert all(h["doc_id"] != "zeb-1" for h in hits)


def test_extra_keys_of_a_posted_document_are_its_metadata_as_in_jsonl(client):
    # POST [{"id", "text", "category": "news"}] stored no category (the key was dropped without a word)
    # while the same line uploaded as a .jsonl file, or given to mem.ingest(), kept it as metadata
    doc = {"id": "meta-1", "text": "Idris Vane rang the harbour bell of Tessary at noon.", "category": "news",
           "year": 1990, "metadata": {"lang": "en"}}
    r = client.post("/v1/memories/other/documents", json=[doc], headers=AUTH)
    assert r.status_code == 201, r.text
    hits = client.get("/v1/memories/other/recall", params={"q": "who rang the harbour bell", "k": 1, "mode": "similar"},
                      headers=AUTH).json()["hits"]
    assert hits[0]["doc_id"] == "meta-1" and hits[0]["metadata"] == {"category": "news", "year": 1990, "lang": "en"}
    assert client.delete("/v1/memories/other/documents/meta-1", headers=AUTH).status_code == 200


def test_a_posted_documents_text_may_be_paragraphs_as_in_jsonl(client):
    doc = {"id": "paras-1", "text": [["Idris Vane rang the bell.", "It was noon."], "The gulls rose over Tessary."]}
    r = client.post("/v1/memories/other/documents", json=[doc], headers=AUTH)
    assert r.status_code == 201, r.text
    got = client.get("/v1/memories/other/documents/paras-1", headers=AUTH).json()
    assert " ".join(c["text"] for c in got["chunks"]) == "Idris Vane rang the bell. It was noon. The gulls rose over Tessary."
    r = client.post("/v1/memories/other/documents", json=[{"id": "paras-2", "text": [["ok"], 5]}], headers=AUTH)
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "0.text", r.text
    assert '"text"[1] is a number' in r.json()["fields"][0]["message"]
    assert client.delete("/v1/memories/other/documents/paras-1", headers=AUTH).status_code == 200


def test_a_query_string_that_is_not_utf8_is_422_not_a_question_of_replacement_marks(client):
    r = client.get("/v1/memories/sample/recall?q=%FF%FE", headers=AUTH)  # was answered as the question "\ufffd\ufffd"
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "query_string", r.text
    assert "not valid UTF-8 (byte 0xff)" in r.json()["error"]
    r = client.get("/v1/memories/sample/recall?q=caf%C3%A9+%E2%82%AC&k=1", headers=AUTH)  # UTF-8: as before
    assert r.status_code == 200 and r.json()["query"] == "café €", r.text


def test_a_query_parameter_the_route_does_not_take_is_422(client):
    # recall?q=...&where=category=news answered 200 with unfiltered hits (where= is not an HTTP parameter),
    # and a typo such as mdoe=similar was ignored as quietly
    r = client.get("/v1/memories/sample/recall", params={"q": QUESTION, "filter": "category=news"}, headers=AUTH)
    assert r.status_code == 422, r.text
    assert r.json()["fields"] == [{"field": "filter", "message": "unknown parameter; this route takes context, "
                                                                   "exclude, k, min_score, mode, per_document, q, where"}]
    r = client.get("/v1/memories/sample/associations", params={"concept": "nerva", "mdoe": "x"}, headers=AUTH)
    assert r.status_code == 422 and "mdoe: unknown parameter" in r.json()["error"]
    assert client.get("/v1/memories", params={"x": 1}).status_code == 401  # the token is still asked first
    r = client.get("/v1/memories/sample/recall", params={"q": QUESTION, "k": 2, "mode": "similar",
                                                         "per_document": "true"}, headers=AUTH)
    assert r.status_code == 200 and len(r.json()["hits"]) == 2
    r = client.post("/v1/memories/sample/recall", json={"queries": [QUESTION], "filter": {"a": 1}}, headers=AUTH)
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "filter", r.text


def test_recall_filters_by_metadata_brings_context_and_drops_weak_hits(client):
    # where, context and min_score were the engine's and the CLI's, refused over HTTP as unknown parameters
    from core.datasets import brown_documents

    brown = brown_documents()
    docs = [d for cat in ("news", "religion") for d in brown if d.meta["category"] == cat][::3][:2] + \
        [d for d in brown if d.meta["category"] == "religion"][:2]
    posted = [{"id": f"brown-{d.doc_id}", "text": "\n\n".join(d.sentences[:9]), "category": d.meta["category"]}
              for d in docs]
    assert client.post("/v1/memories/other/documents", json=posted, headers=AUTH).status_code == 201
    try:
        url, q = "/v1/memories/other/recall", docs[0].sentences[4]
        for cat in ("news", "religion"):
            got = client.get(url, params={"q": q, "k": 5, "where": f"category={cat}"}, headers=AUTH).json()["hits"]
            assert got and all(h["metadata"]["category"] == cat for h in got), got
            body = {"queries": [q], "k": 5, "where": {"category": [cat]}, "context": 1}
            batch = client.post(url, json=body, headers=AUTH).json()["results"][0]["hits"]
            assert [h["chunk_id"] for h in batch] == [h["chunk_id"] for h in got]
            assert all(h["context"] and all(c["text"] for c in h["context"]) for h in batch)
        got = client.get(url, params={"q": q, "k": 5, "context": 2}, headers=AUTH).json()["hits"]
        assert all(0 < len(h["context"]) <= 4 for h in got)
        top = got[0]["score"]
        kept = client.get(url, params={"q": q, "k": 5, "min_score": top - 1e-6}, headers=AUTH).json()["hits"]
        assert [h["chunk_id"] for h in kept] == [h["chunk_id"] for h in got if h["score"] >= top - 1e-6]
        for params, field in (({"where": "category"}, "where"), ({"min_score": "nan"}, "min_score"),
                              ({"context": 11}, "context")):
            r = client.get(url, params={"q": q, **params}, headers=AUTH)
            assert r.status_code == 422 and r.json()["fields"][0]["field"] == field, r.text
        r = client.post(url, json={"queries": [q], "where": {"category": {"a": 1}}}, headers=AUTH)
        assert r.status_code == 422 and r.json()["fields"][0]["field"] == "where", r.text
        # a filter that matches nothing says why, as the CLI and the page do (it answered a bare {"hits": []})
        r = client.get(url, params={"q": q, "where": "Category=news"}, headers=AUTH).json()
        assert r["hits"] == [] and "the documents' metadata keys: category" in r["note"], r
        r = client.post(url, json={"queries": [q], "where": {"category": "sports"}}, headers=AUTH).json()
        assert "'category' holds news, religion" in r["results"][0]["note"], r
        assert "note" not in client.get(url, params={"q": q, "where": "category=news"}, headers=AUTH).json()
    finally:
        for d in posted:
            client.delete(f"/v1/memories/other/documents/{d['id']}", headers=AUTH)


@pytest.mark.parametrize("extra, field", [({"k": True}, "k"), ({"k": "5"}, "k"), ({"per_document": "yes"}, "per_document"),
                                          ({"per_document": 1}, "per_document")])
def test_batch_recall_takes_json_types_as_they_are(client, extra, field):
    # {"k": true} answered one hit per question and {"per_document": "yes"} was taken as true, without a word
    r = client.post("/v1/memories/sample/recall", json={"queries": [QUESTION], **extra}, headers=AUTH)
    assert r.status_code == 422 and [f["field"] for f in r.json()["fields"]] == [field], r.text


def test_a_query_parameter_given_twice_is_422(client):
    # recall?q=rivers&q=Graz answered for "Graz" alone (the last value won, quietly); so did k=3&k=50
    r = client.get("/v1/memories/sample/recall", params=[("q", "rivers"), ("q", QUESTION), ("k", "3")], headers=AUTH)
    assert r.status_code == 422, r.text
    assert r.json()["fields"] == [{"field": "q", "message": "given 2 times; give it once"}]
    r = client.get("/v1/memories/sample/documents", params=[("limit", "2"), ("limit", "5")], headers=AUTH)
    assert r.status_code == 422 and "limit: given 2 times" in r.json()["error"]
    assert client.get("/v1/memories/sample/recall", params={"q": QUESTION, "k": 3}, headers=AUTH).status_code == 200


def test_a_json_body_with_a_byte_order_mark_or_in_utf16_is_read(client):
    # a docs.json saved by PowerShell 5 (UTF-8 with a BOM, or UTF-16) and sent with curl --data-binary @docs.json:
    # POST .../recall took it (json.loads reads BOMs) but POST .../documents said "invalid JSON: expected
    # value at line 1 column 1"
    import json

    body = json.dumps([{"id": "bom-1", "text": "Pell Marrow tuned the organ of Quillan chapel."}])
    for enc, data in (("utf-8-sig", body.encode("utf-8-sig")), ("utf-16", body.encode("utf-16"))):
        r = client.post("/v1/memories/other/documents", content=data, headers={**AUTH, "content-type": "application/json"})
        assert r.status_code == 201 and r.json()["documents"] + r.json()["unchanged"] == 1, (enc, r.text)
    r = client.post("/v1/memories/other/documents", content=b"\xff\xfe[\x00\xd8", headers=AUTH)
    assert r.status_code == 422 and "not valid utf-16" in r.json()["error"], r.text
    assert client.delete("/v1/memories/other/documents/bom-1", headers=AUTH).status_code == 200


def test_a_url_concept_longer_than_200_characters_can_be_asked_for(client):
    # a URL is a concept (a term); the page's button for one past 200 characters answered 422
    # "concept: String should have at most 200 characters"
    url = "https://docs.example.org/guides/" + "tessary-harbour-" * 16 + "bell"
    doc = {"id": "url-1", "text": f"The harbour bell of Tessary is described at {url} in full. Vask rings it."}
    assert client.post("/v1/memories/other/documents", json=[doc], headers=AUTH).status_code == 201
    try:
        concept = url.split("//", 1)[1].lower()
        assert len(concept) > 200
        r = client.get("/v1/memories/other/graph", params={"concept": concept}, headers=AUTH)
        assert r.status_code == 200 and r.json()["nodes"][0]["label"] == concept, r.text
        r = client.get("/v1/memories/other/associations", params={"concept": concept}, headers=AUTH)
        assert r.status_code == 200, r.text
    finally:
        client.delete("/v1/memories/other/documents/url-1", headers=AUTH)


def test_file_upload(client):
    text = b"# Orla Finch\n\nOrla Finch designed the copper aqueduct of Tessary in 1821.\n"
    r = client.post("/v1/memories/other/documents", files={"file": ("orla.md", text, "text/markdown")}, headers=AUTH)
    assert r.status_code == 201, r.text
    hits = client.get("/v1/memories/other/recall", params={"q": "who designed the aqueduct of Tessary", "k": 1},
                      headers=AUTH).json()["hits"]
    assert hits[0]["doc_id"] == "file:orla.md" and hits[0]["title"] == "Orla Finch"
    r = client.post("/v1/memories/other/documents", files={"file": ("x.exe", b"MZ", "application/octet-stream")},
                    headers=AUTH)
    assert r.status_code == 422 and ".exe" in r.json()["error"]


def test_upload_of_several_files_ingests_each(client):
    # two `file` fields (curl -F file=@a -F file=@b): only the last was ingested, the others dropped silently
    files = [("file", ("wren.txt", b"Ida Wren mapped the salt caves of Oskar Fell in 1790.", "text/plain")),
             ("file", ("moss.md", b"# Moss Lane\n\nMoss Lane in Pellow holds the oldest tannery.", "text/markdown"))]
    r = client.post("/v1/memories/other/documents", files=files, headers=AUTH)
    assert r.status_code == 201 and r.json()["documents"] == 2, r.text
    for q, doc in (("who mapped the salt caves", "file:wren.txt"), ("the oldest tannery of Pellow", "file:moss.md")):
        hits = client.get("/v1/memories/other/recall", params={"q": q, "k": 1}, headers=AUTH).json()["hits"]
        assert hits[0]["doc_id"] == doc
    files.append(("file", ("bad.exe", b"MZ", "application/octet-stream")))  # one bad file refuses the request
    r = client.post("/v1/memories/other/documents", files=files, headers=AUTH)
    assert r.status_code == 422 and "bad.exe" in r.json()["error"]
    for d in ("file:wren.txt", "file:moss.md"):
        assert client.delete(f"/v1/memories/other/documents/{d}", headers=AUTH).status_code == 200


def test_upload_with_a_long_file_name(served):
    from core.memory.documents import list_documents

    # 120 Japanese characters are 360 bytes, past Linux's 255-byte file names: the upload was written to a
    # temporary file under its own name and answered 500 (OSError: File name too long)
    app, client = served
    name = "港" * 120 + ".md"
    r = client.post("/v1/memories/other/documents", headers=AUTH,
                    files={"file": (name, "# Harbour\n\nThe harbour of Pellow freezes late.".encode(), "text/markdown")})
    assert r.status_code == 201 and r.json()["documents"] == 1, r.text
    hits = client.get("/v1/memories/other/recall", params={"q": "harbour of Pellow", "k": 1}, headers=AUTH).json()
    doc_id = hits["hits"][0]["doc_id"]
    assert doc_id.startswith("file:港港") and doc_id.endswith(".md") and len(doc_id.encode()) <= 255, doc_id
    # a JSONL upload's records name the uploaded file as their source, not the server's temporary path
    r = client.post("/v1/memories/other/documents", headers=AUTH,
                    files={"file": ("lamps2.jsonl", b'{"id": "lamp-x", "text": "Lamp X of Quarry Road."}', "x")})
    assert r.status_code == 201, r.text
    sources = {d["id"]: d["source"] for d in list_documents(app.state.registry.slots["other"].memory)}
    assert sources["lamp-x"] == "lamps2.jsonl" and sources[doc_id] == doc_id[len("file:"):]
    for d in (doc_id, "lamp-x"):
        assert client.delete(f"/v1/memories/other/documents/{d}", headers=AUTH).status_code == 200


def test_associations_and_graph(client):
    r = client.get("/v1/memories/sample/associations", params={"concept": "Nerva", "k": 5}, headers=AUTH)
    assert r.status_code == 200, r.text
    assoc = r.json()["associations"]
    assert 0 < len(assoc) <= 5 and all(0 < a["weight"] <= 1 for a in assoc)
    g = client.get("/v1/memories/sample/graph", params={"concept": "Nerva", "depth": 2, "k": 4}, headers=AUTH).json()
    ids = {n["id"] for n in g["nodes"]}
    assert g["nodes"][0]["weight"] == 1.0 and len(ids) > 1
    assert g["edges"] and all(e["source"] in ids and e["target"] in ids for e in g["edges"])
    r = client.get("/v1/memories/sample/graph", params={"concept": "Nerva", "depth": 9}, headers=AUTH)
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "depth"


def test_concepts_are_answered_as_written_and_a_graph_can_be_capped(client):
    # the answers gave only the folded key ('domitian'); depth 3 with k=50 had no cap (3,398 nodes on 145 documents)
    assoc = client.get("/v1/memories/sample/associations", params={"concept": "Nerva", "k": 20}, headers=AUTH).json()
    written = {a["concept"]: a["written"] for a in assoc["associations"]}
    assert written.get("domitian") == "Domitian", written
    params = {"concept": "Nerva", "depth": 3, "k": 50}
    full = client.get("/v1/memories/sample/graph", params=params, headers=AUTH).json()
    top = client.get("/v1/memories/sample/graph", params={**params, "top": 5}, headers=AUTH).json()
    assert top["nodes"] == full["nodes"][:5] and top["nodes"][0] == {"id": "nerva", "label": "Nerva", "weight": 1.0}
    assert top["left_out"]["nodes"] == len(full["nodes"]) - 5 > 0 and full["left_out"] == {"nodes": 0, "edges": 0}
    path = client.get("/v1/memories/sample/bridges", params={"a": "nero", "b": "domitian"}, headers=AUTH).json()
    assert path["paths"][0]["path"][0] == "nero" and path["paths"][0]["written"][0] == "Nero"


def test_page_and_openapi_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and 'id="ask"' in page.text
    assert "http" not in page.text.replace("http://www.w3.org", "")  # no CDN
    scripts = re.findall(r'<script src="([^"]+)"', page.text)
    # every one the page loads is served; app.js, which wires the others' declarations, comes last
    assert scripts == ["/static/upload.js", "/static/network.js", "/static/documents.js", "/static/app.js"]
    for script in scripts:
        assert client.get(script).status_code == 200, script
    assert "/v1/memories/{name}/recall" in client.get("/openapi.json").json()["paths"]


def test_shutdown_saves_and_closes(tmp_path, embedder):
    codec = MycelialVQVAE.load_default()
    app = create_app({"m": tmp_path / "m"}, token=None, embedder=embedder, codec=codec)
    with TestClient(app) as c:
        r = c.post("/v1/memories/m/documents", json=[{"id": "a", "text": "Ada Lovelace wrote the first program."}])
        assert r.status_code == 201
    mem = app.state.registry.slots["m"].memory
    assert mem.store_._conn is None  # closed
    from core.memory import SemanticMemory

    with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec) as again:
        assert again.stats()["documents"] == 1 and again.stats()["index_vectors"] >= 1


def test_memory_specs_and_bad_names(tmp_path):
    from core.server.registry import parse_memory_spec

    assert parse_memory_spec("notes/") == ("notes", tmp_path.__class__("notes"))
    assert parse_memory_spec("papers=/data/p")[0] == "papers"
    for bad in ("=/x", "a b=/x", "x="):
        with pytest.raises(ValueError, match="--memory"):
            parse_memory_spec(bad)
    with pytest.raises(ValueError, match="same folder"):
        create_app({"a": tmp_path / "m", "b": tmp_path / "m/"})


def test_background_ingest_job_reports_progress(client):
    import time

    docs = [{"id": f"bg{i}", "title": f"Beacon {i}", "text": f"Beacon {i} on the ridge of Marrow was lit in {1800 + i}."}
            for i in range(40)]
    r = client.post("/v1/memories/other/documents", params={"background": "true"}, json=docs, headers=AUTH)
    assert r.status_code == 202 and r.json()["total"] == 40
    url = r.headers["location"]
    for _ in range(600):
        job = client.get(url, headers=AUTH).json()
        assert 0 <= job["done"] <= 40 and job["status"] in ("queued", "running", "done")
        if job["status"] == "done":
            break
        time.sleep(0.1)
    assert job["status"] == "done" and job["progress"] == 1.0 and job["report"]["documents"] == 40
    assert client.get(url.replace("/other/", "/sample/"), headers=AUTH).status_code == 404  # jobs are per memory
    hits = client.get("/v1/memories/other/recall", params={"q": "Which beacon was lit in 1837?", "k": 3, "mode": "similar"},
                      headers=AUTH).json()["hits"]
    assert "bg37" in [h["doc_id"] for h in hits]


def test_reinforce_lifts_a_hit_and_delete_undoes_it(client):
    def ranking():
        hits = client.get("/v1/memories/sample/recall", params={"q": QUESTION, "k": 10}, headers=AUTH).json()["hits"]
        return [(h["chunk_id"], h["score"]) for h in hits]

    before = ranking()
    target = before[6][0]
    r = client.post("/v1/memories/sample/reinforce", json={"query": QUESTION, "chunk_ids": [target], "rate": 0.5},
                    headers=AUTH)
    assert r.status_code == 201, r.text
    event = r.json()["event"]
    after = ranking()
    assert [c for c, _ in after].index(target) < 6
    listed = client.get("/v1/memories/sample/reinforcements", headers=AUTH).json()
    assert [e["id"] for e in listed["events"]] == [event] and listed["half_life_days"] == 30.0
    assert client.get("/v1/memories/other/reinforcements", headers=AUTH).json()["events"] == []  # per memory
    assert client.delete(f"/v1/memories/sample/reinforce/{event}", headers=AUTH).status_code == 200
    assert ranking() == before
    assert client.delete(f"/v1/memories/sample/reinforce/{event}", headers=AUTH).status_code == 404


@pytest.mark.parametrize("body, field", [
    ({"query": "", "chunk_ids": [1]}, "query"), ({"query": "   ", "chunk_ids": [1]}, "query"),
    ({"chunk_ids": [1]}, "query"), ({"query": "q", "chunk_ids": []}, "chunk_ids"),
    ({"query": "q"}, "chunk_ids"), ({"query": "q", "chunk_ids": ["1"]}, "chunk_ids.0"),
    ({"query": "q", "chunk_ids": [True]}, "chunk_ids.0"), ({"query": "q", "chunk_ids": [1], "rate": 1}, "rate"),
    ({"query": "q", "chunk_ids": [1], "rate": 0}, "rate"), ({"query": "q", "chunk_ids": [1], "rate": "x"}, "rate")])
def test_bad_reinforce_is_422_naming_the_field(client, body, field):
    r = client.post("/v1/memories/sample/reinforce", json=body, headers=AUTH)
    assert r.status_code == 422, r.text
    assert field in [f["field"] for f in r.json()["fields"]]


def test_reinforce_unknown_chunk_is_404_and_stores_nothing(client):
    r = client.post("/v1/memories/sample/reinforce", json={"query": QUESTION, "chunk_ids": [1, 987654]}, headers=AUTH)
    assert r.status_code == 404 and "987654" in r.json()["error"]
    assert r.json()["fields"] == [{"field": "chunk_ids", "message": r.json()["error"]}]  # was [], "no field at fault"
    assert client.get("/v1/memories/sample/reinforcements", headers=AUTH).json()["events"] == []
    r = client.post("/v1/memories/nope/reinforce", json={"query": QUESTION, "chunk_ids": [1]}, headers=AUTH)
    assert r.status_code == 404


def test_an_unknown_concept_is_named_with_the_concepts_like_it(client):
    # `emperorz` answered 200 with nothing, as a known concept without associations does: a typo looked like
    # a lonely concept. The CLI said "not a concept of this memory; like it: emperor, ..." (a plural, "Emperors",
    # is read as its singular concept now, as recall reads it)
    for route, params in (("associations", {"concept": "Emperorz"}), ("graph", {"concept": "Emperorz"})):
        r = client.get(f"/v1/memories/sample/{route}", params=params, headers=AUTH)
        assert r.status_code == 200, r.text
        like = r.json()["unknown"]["concept"]
        assert 1 <= len(like) <= 5 and "emperor" in like and all("emperor" in c for c in like), like
        known = client.get(f"/v1/memories/sample/{route}", params={"concept": like[0]}, headers=AUTH).json()
        assert known["unknown"] == {} and (known.get("associations") or known.get("nodes")), known
    r = client.get("/v1/memories/sample/bridges", params={"a": "nerva", "b": "zzqx"}, headers=AUTH).json()
    assert r["paths"] == [] and r["unknown"] == {"b": []}  # nothing like it: named, with no suggestion
    r = client.get("/v1/memories/sample/associations", params={"concept": "nerva"}, headers=AUTH).json()
    assert r["unknown"] == {} and r["associations"]


def test_bridges(client):
    r = client.get("/v1/memories/sample/bridges", params={"a": "Nero", "b": "Domitian", "k": 4}, headers=AUTH)
    assert r.status_code == 200, r.text
    paths = r.json()["paths"]
    assert 1 <= len(paths) <= 4 and all(p["path"][0] == "nero" and p["path"][-1] == "domitian" for p in paths)
    assert all(len(p["weights"]) == len(p["path"]) - 1 for p in paths)
    unknown = client.get("/v1/memories/sample/bridges", params={"a": "nero", "b": "zzqx"}, headers=AUTH)
    assert unknown.status_code == 200 and unknown.json()["paths"] == []
    for params, field in [({"a": "nero"}, "b"), ({"a": "nero", "b": "trajan", "k": 0}, "k")]:
        bad = client.get("/v1/memories/sample/bridges", params=params, headers=AUTH)
        assert bad.status_code == 422 and field in [f["field"] for f in bad.json()["fields"]]
    same = client.get("/v1/memories/sample/bridges", params={"a": "nero", "b": "Nero"}, headers=AUTH)
    assert same.status_code == 422 and "same concept" in same.json()["error"]
    # named by the engine's arguments ("concept_a and concept_b ..."), which the client never sent
    words = "a and b are the same concept ('nero'); give two concepts"
    assert same.json()["fields"] == [{"field": "a", "message": words}]


def test_background_file_upload_is_a_job(client):
    import time

    # ?background=true on an uploaded file was ignored: a big JSONL or PDF blocked the request to the end
    lines = "\n".join('{"id": "lamp%d", "text": "Lamp %d of the Quarry Road was mended in %d."}' % (i, i, 1900 + i)
                      for i in range(6)) + "\n{broken\n"
    r = client.post("/v1/memories/other/documents", params={"background": "true"}, headers=AUTH,
                    files={"file": ("lamps.jsonl", lines.encode(), "application/jsonl")})
    assert r.status_code == 202 and r.json()["total"] == 6, r.text
    for _ in range(600):
        job = client.get(r.headers["location"], headers=AUTH).json()
        if job["status"] != "queued" and job["status"] != "running":
            break
        time.sleep(0.1)
    assert job["status"] == "done" and job["report"]["documents"] == 6
    assert job["report"]["errors"] == ["lamps.jsonl:7: malformed JSON: Expecting property name enclosed in double quotes"]


def test_the_server_sees_what_another_process_wrote(served, embedder):
    from core.memory import SemanticMemory

    # another process (here: a second SemanticMemory with its own lock handle) forgets and ingests while the
    # server runs: the server's recall kept the stale index (k=3 gave 0 hits) until the server wrote itself
    app, client = served
    slot = app.state.registry.slots["other"]
    docs = [{"id": f"isle{i}", "text": f"The isle of Varn {i} has a lighthouse built in {1850 + i}."} for i in range(4)]
    assert client.post("/v1/memories/other/documents", json=docs, headers=AUTH).status_code == 201
    q = {"q": "the lighthouse of the isle of Varn", "k": 3, "mode": "similar"}
    assert {h["doc_id"] for h in client.get("/v1/memories/other/recall", params=q, headers=AUTH).json()["hits"]} \
        <= {d["id"] for d in docs}
    with SemanticMemory(slot.memory.folder, embedder=embedder, codec=app.state.registry.codec) as other:
        for d in docs[:3]:
            assert other.forget(d["id"])
        other.ingest([{"id": "isle9", "text": "The isle of Varn 9 has a lighthouse built in 1859."}])
    hits = client.get("/v1/memories/other/recall", params=q, headers=AUTH).json()["hits"]
    assert len(hits) == min(3, slot.memory.store_.count_chunks()) >= 2
    assert not {h["doc_id"] for h in hits} & {"isle0", "isle1", "isle2"}
    assert {"isle3", "isle9"} <= {h["doc_id"] for h in hits}
    n_docs = slot.memory.store_.count_documents()
    assert client.get("/v1/memories/other/stats", headers=AUTH).json()["documents"] == n_docs
    assert slot.memory.index_.ntotal == slot.memory.store_.count_chunks()


def test_a_batch_whose_answer_would_be_too_large_is_refused_before_any_work(client):
    # 256 queries x k=100 x context=10 were each allowed: a 193 MB answer after 33 s, 3 GB of server memory
    url = "/v1/memories/other/recall"
    r = client.post(url, json={"queries": ["jury"] * 256, "k": 100, "context": 10}, headers=AUTH)
    assert r.status_code == 422, r.text
    assert "537,600 chunk texts" in r.text and "at most 25,600" in r.text, r.text
    ok = client.post(url, json={"queries": ["jury"] * 12, "k": 100, "context": 10}, headers=AUTH)
    assert ok.status_code == 200, ok.text
