"""Every error answer in one shape, {"error", "fields"}, and an OpenAPI schema that says so.

Before: 422s raised inside routes (uploads, "nothing was ingested", the engine's value errors) had no
``fields``; 401, 404, 405 and 413 were a bare ``{"error"}``; the router's 404/405 said "Not Found" /
"Method Not Allowed" alone; the schema described FastAPI's ``{"detail"}`` 422, which is never sent, and no
other error. TestClient over a real memory (the shipped sample, real model and store).
"""
from __future__ import annotations

import json
import logging

import pytest
from _server_helpers import QUESTION, TOKEN, sample_client

AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = {**AUTH, "content-type": "application/json"}


@pytest.fixture(scope="module")
def client(tmp_path_factory, embedder):
    with sample_client(tmp_path_factory.mktemp("errors"), embedder, others=("scratch",)) as (_, c):
        yield c


def _shape(r, status: int) -> list[str]:
    """Assert ``r`` is an error of ``status`` in the one shape; its fields' names."""
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "fields"} and isinstance(body["error"], str) and body["error"], body
    assert all(set(f) == {"field", "message"} for f in body["fields"]), body
    if status == 422:
        assert body["fields"], body  # a 422 always names what was wrong
    else:
        assert body["fields"] == [], body
    return [f["field"] for f in body["fields"]]


def _count(client) -> int:
    return client.get("/v1/memories/scratch/stats", headers=AUTH).json()["documents"]


def test_every_kind_of_error_answer_has_error_and_fields(client):
    _shape(client.get("/v1/memories/sample/stats"), 401)  # the token middleware
    _shape(client.get("/v1/memories/nope/stats", headers=AUTH), 404)
    _shape(client.get("/v1/memories/sample/documents/no-such-doc", headers=AUTH), 404)
    _shape(client.get("/v1/nothing", headers=AUTH), 404)
    _shape(client.put("/v1/memories/sample/recall", headers=AUTH), 405)
    _shape(client.post("/v1/memories/sample/recall", content=b"x" * (300 * 1024), headers=JSON), 413)
    _shape(client.post("/v1/memories/sample/forget", content=b'{"ids": ["a"]}', headers=AUTH), 415)
    assert _shape(client.get("/v1/memories/sample/recall", params={"k": 0, "q": QUESTION}, headers=AUTH), 422) == ["k"]


def test_an_upload_refused_names_every_bad_file_in_fields_and_ingests_none(client):
    before = _count(client)
    files = [("file", ("good.txt", b"The weir of Ashby Staithe was rebuilt in oak.", "text/plain")),
             ("file", ("blob.txt", bytes(range(256)) * 4, "text/plain")),
             ("file", ("latin.txt", "caf\xe9 au lait".encode("latin-1"), "text/plain")),
             ("file", ("tool.exe", b"MZ", "application/octet-stream"))]
    r = client.post("/v1/memories/scratch/documents", files=files, headers=AUTH)
    assert _shape(r, 422) == ["file", "file", "file"]  # was one file named, and no fields
    messages = [f["message"] for f in r.json()["fields"]]
    assert messages[0].startswith("blob.txt: binary file") and messages[1].startswith("latin.txt: not valid UTF-8")
    assert messages[2].startswith("tool.exe: unsupported type '.exe'")
    assert "none of the 4 files was ingested" in r.json()["error"]
    assert _count(client) == before
    r = client.post("/v1/memories/scratch/documents", files=[files[1]], headers=AUTH)  # one file: its words kept
    assert _shape(r, 422) == ["file"] and r.json()["error"].startswith("invalid request: file blob.txt: binary")
    r = client.post("/v1/memories/scratch/documents", params={"background": "true"}, files=[files[3]], headers=AUTH)
    assert _shape(r, 422) == ["file"]
    assert _count(client) == before


def test_a_file_of_many_bad_records_is_refused_in_a_message_of_five(client):
    # 300 Brown lines without --fields: a 51 KB message of 300 "missing text", which the page showed whole
    lines = b"".join(json.dumps({"doc_id": f"d{i}", "paragraphs": [["A sentence."]]}).encode() + b"\n"
                     for i in range(300))
    r = client.post("/v1/memories/scratch/documents", files=[("file", ("brown.jsonl", lines, "text/plain"))],
                    headers=AUTH)
    assert _shape(r, 422) == ["file"] * 100
    said = r.json()["error"]
    assert len(said) < 2000 and said.count('missing "text"') == 5 and said.endswith("; and 295 more"), said


def test_nothing_ingested_names_each_documents_field_by_its_place_in_the_list(client):
    before = _count(client)
    docs = [{"id": "nul\x00id", "text": "The lighthouse of Orla burned whale oil."},
            {"id": "blank", "text": "   "},
            {"id": "t", "title": "a\x00b", "text": "The ferry of Orla ran at dawn."}]
    r = client.post("/v1/memories/scratch/documents", json=docs, headers=AUTH)
    assert _shape(r, 422) == ["0.id", "1.text", "2.title"], r.text  # had no fields
    assert r.json()["error"].startswith("nothing was ingested: 3 of 3 documents are invalid (numbered from 0): "
                                        "0.id: \"id\" contains a NUL byte")  # was "<records>:1", numbered from 1
    assert _count(client) == before


@pytest.mark.parametrize("path, params, field", [
    ("associations", {"concept": "\x00"}, "concept"),
    ("graph", {"concept": "\x00"}, "concept"),
    ("bridges", {"a": "nerva", "b": "\x00"}, "b"),
    ("bridges", {"a": "\x00", "b": "nerva"}, "a"),
])
def test_the_engines_refusal_of_a_value_names_the_parameter(client, path, params, field):
    r = client.get(f"/v1/memories/sample/{path}", params=params, headers=AUTH)
    assert _shape(r, 422) == [field]  # "invalid request: concept '\x00' has no words left ..." without fields
    assert "no words left" in r.json()["fields"][0]["message"]


def test_unknown_routes_and_methods_are_answered_in_words(client):
    r = client.get("/v1/memories/sample/recal", params={"q": "x"}, headers=AUTH)
    assert r.json()["error"] == "no route GET /v1/memories/sample/recal; the routes are listed at /openapi.json"
    r = client.put("/v1/memories/sample/documents", headers=AUTH)  # was "Method Not Allowed" alone
    assert r.json()["error"] == "PUT is not allowed on /v1/memories/sample/documents; it takes GET, HEAD, POST"
    assert r.headers["allow"] == "GET, HEAD, POST"  # it named the first route's POST alone (GET lists them)
    for path, allow in (("recall", "GET, HEAD, POST"), ("documents/ca01", "DELETE, GET, HEAD"), ("forget", "POST")):
        r = client.patch(f"/v1/memories/sample/{path}", headers=AUTH)
        assert r.status_code == 405 and r.headers["allow"] == allow, (path, r.headers)


def test_a_lone_surrogate_escape_in_a_posted_document_is_named_as_such(client):
    # the JSON parser said "unexpected end of hex escape", which is not what is wrong
    r = client.post("/v1/memories/scratch/documents", content=rb'[{"id": "s", "text": "Orla \ud800 mill"}]',
                    headers=JSON)
    assert _shape(r, 422) == ["body"]
    assert "unpaired surrogate" in r.json()["error"] and "(at line 1 column" in r.json()["error"], r.text


def test_openapi_describes_every_route_and_the_errors_it_answers(client):
    from fastapi.routing import APIRoute

    schema = client.get("/openapi.json").json()
    text = json.dumps(schema)
    assert "HTTPValidationError" not in text and '"detail"' not in text  # a shape the server never sends
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["error", "fields"]
    import re

    refs = set(re.findall(r"#/components/schemas/(\w+)", text))
    assert refs <= set(schema["components"]["schemas"]), refs  # no $ref left dangling by the removed schemas
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    routes = [(m.lower(), r.path_format) for r in client.app.routes
              if isinstance(r, APIRoute) and r.include_in_schema for m in r.methods]
    assert len(routes) >= 17
    for method, path in routes:
        op = schema["paths"][path][method]
        responses = op["responses"]
        if not path.startswith("/v1"):
            continue
        want = {"401", "422"} | ({"404", "503"} if "{name}" in path else set())  # 503: its folder went missing
        assert want <= set(responses), (method, path, sorted(responses))
        for code, resp in responses.items():
            if code[0] in "45":
                assert resp["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
        assert op["security"] == [{"bearer": []}]
    docs = schema["paths"]["/v1/memories/{name}/documents"]["post"]["responses"]
    assert {"201", "202", "403", "413", "503"} <= set(docs) and "Location" in docs["202"]["headers"]
    assert "415" in schema["paths"]["/v1/memories/{name}/recall"]["post"]["responses"]
    assert "503" in schema["paths"]["/v1/memories/{name}/forget"]["post"]["responses"]
    assert "403" not in schema["paths"]["/v1/memories/{name}/recall"]["post"]["responses"]  # a read
    # a write that cannot reach the disk (full, or a file in the way) is a 500 naming its cause
    writes = [("post", "documents"), ("post", "forget"), ("delete", "documents/{doc_id}"), ("post", "reinforce")]
    for method, path in writes:
        answers = schema["paths"]["/v1/memories/{name}/" + path][method]["responses"]
        assert "full disk" in answers["500"]["description"], (method, path)
    assert "500" not in schema["paths"]["/v1/memories/{name}/recall"]["get"]["responses"]


def test_real_error_answers_have_what_the_schemas_error_requires(client):
    error = client.get("/openapi.json").json()["components"]["schemas"]["Error"]
    item = error["properties"]["fields"]["items"]
    answers = [client.get("/v1/memories/sample/stats"),
               client.get("/v1/memories/nope/stats", headers=AUTH),
               client.post("/v1/memories/scratch/documents", json=[{"id": "x", "text": " "}], headers=AUTH),
               client.post("/v1/memories/sample/recall", content=b"{bad", headers=JSON)]
    for r in answers:
        assert r.status_code >= 400 and set(r.json()) == set(error["properties"]) == set(error["required"])
        assert all(set(f) == set(item["required"]) for f in r.json()["fields"])


def test_a_multipart_body_that_cannot_be_read_is_422_naming_the_body_or_the_file(client):
    # Starlette answered 400 "Missing boundary in multipart." (a status the API does not use, no fields), and a
    # body cut before its closing boundary was told "a file field is required" as if the field were missing
    before = _count(client)
    url = "/v1/memories/scratch/documents"
    r = client.post(url, content=b"abc", headers={**AUTH, "content-type": "multipart/form-data"})
    assert _shape(r, 422) == ["body"] and "Missing boundary" in r.json()["error"], r.text
    r = client.post(url, content=b"garbage", headers={**AUTH, "content-type": "multipart/form-data; boundary=XX"})
    assert _shape(r, 422) == ["body"] and "not a readable multipart/form-data body" in r.json()["error"], r.text
    cut = b'--XX\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nThe weir of Orla'
    r = client.post(url, content=cut, headers={**AUTH, "content-type": "multipart/form-data; boundary=XX"})
    assert _shape(r, 422) == ["file"] and "no complete field came" in r.json()["error"], r.text
    r = client.post(url, files={"upload": ("a.txt", b"The weir of Orla.", "text/plain")}, headers=AUTH)
    assert _shape(r, 422) == ["file"] and "got upload" in r.json()["error"], r.text
    star = (b"--XX\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''caf%C3%A9.txt\r\n\r\n"
            b"Orla.\r\n--XX--\r\n")
    r = client.post(url, content=star, headers={**AUTH, "content-type": "multipart/form-data; boundary=XX"})
    assert _shape(r, 422) == ["file"] and "came as text, not a file" in r.json()["error"], r.text
    assert _count(client) == before


def test_a_multipart_body_that_cannot_be_read_is_one_log_line_with_method_and_path(client, caplog):
    # python-multipart logged "Expected boundary character 45, got 103 at index 2" alone: no method, no path
    url = "/v1/memories/scratch/documents"
    with caplog.at_level(logging.INFO):
        r = client.post(url, content=b"garbage", headers={**AUTH, "content-type": "multipart/form-data; boundary=XX"})
    assert r.status_code == 422, r.text
    lines = [(rec.name, rec.levelname, rec.getMessage()) for rec in caplog.records]
    assert not [x for x in lines if "multipart" in x[0]], lines  # the parser's own line, kept for ours
    ours = [m for name, level, m in lines if name == "mycelial.server" and level == "WARNING"]
    assert len(ours) == 1 and ours[0].startswith(f"POST {url}: not a readable multipart/form-data body: "), lines
    assert "(Expected boundary character 45, got 103 at index 2)" in ours[0], lines  # the parser's reason


def test_a_reinforce_rate_of_nan_or_infinity_is_named_as_not_finite(client):
    # json.loads reads NaN and Infinity: both were told "Input should be less than 1"
    for rate in (b"NaN", b"Infinity"):
        r = client.post("/v1/memories/sample/reinforce", headers=JSON,
                        content=b'{"query": "Nerva", "chunk_ids": [1], "rate": ' + rate + b"}")
        assert _shape(r, 422) == ["rate"] and "finite" in r.json()["error"], r.text
    assert client.get("/v1/memories/sample/reinforcements", headers=AUTH).json()["events"] == []


def test_head_on_a_route_without_get_names_head(client):
    r = client.head("/v1/memories/sample/forget", headers=AUTH)  # it said "GET is not allowed"
    assert r.status_code == 405 and r.headers["allow"] == "POST" and r.content == b""
    r = client.request("HEAD", "/v1/memories/sample/forget", headers=AUTH)
    get = client.get("/v1/memories/sample/forget", headers=AUTH)
    assert get.json()["error"] == "GET is not allowed on /v1/memories/sample/forget; it takes POST"
    assert r.headers["content-length"] == str(len(get.content) + 1)  # "HEAD" is one letter longer


@pytest.mark.parametrize("ctype", ["application/x-www-form-urlencoded", "text/markdown", None])
def test_a_file_posted_as_the_documents_body_is_told_how_to_upload_it(client, ctype):
    # `curl -d @notes.md .../documents` (a form) was answered "invalid JSON: expected value at line 1 column 1"
    before = _count(client)
    headers = {**AUTH, **({"content-type": ctype} if ctype else {})}
    r = client.post("/v1/memories/scratch/documents", content=b"# Notes\n\nThe weir of Orla.", headers=headers)
    assert _shape(r, 422) == ["body"]
    error = r.json()["error"]
    assert "invalid JSON" in error and "curl -F file=@notes.md" in error, error
    assert (f"came as '{ctype}'" if ctype else "came without a Content-Type") in error, error
    r = client.post("/v1/memories/scratch/documents", content=b"# Notes", headers=JSON)  # sent as JSON: no hint
    assert _shape(r, 422) == ["body"] and "curl -F" not in r.json()["error"]
    assert _count(client) == before


@pytest.mark.parametrize("route", ["documents", "recall", "reinforce", "forget"])
def test_an_empty_body_is_called_empty(client, route):
    # it was "body: Field required" on three routes and "invalid JSON: EOF while parsing a value at line 1
    # column 0" on the documents route
    r = client.post(f"/v1/memories/scratch/{route}", content=b"", headers=JSON)
    assert _shape(r, 422) == ["body"] and r.json()["fields"][0]["message"] == "the body is empty", r.text


def test_nothing_ingested_from_an_upload_names_its_unreadable_lines_too(client):
    # the file's malformed line was left out of the 422: only the record refused at ingest was named
    data = b'{broken\n{"id": "s", "text": "<!-- the weir of Orla -->"}\n'  # no text after chunking: refused at ingest
    r = client.post("/v1/memories/scratch/documents", files={"file": ("weir.jsonl", data, "application/jsonl")},
                    headers=AUTH)
    assert _shape(r, 422) == ["file", "file"], r.text
    messages = [f["message"] for f in r.json()["fields"]]
    assert messages[0].startswith("weir.jsonl:1: malformed JSON") and "no text after chunking" in messages[1], messages
    assert r.json()["error"].startswith("nothing was ingested: weir.jsonl:1: malformed JSON")
    # a file none of whose lines is read: each line named with its number (they were joined without one)
    data = b'{broken\n{"id": "nul\\u0000", "text": "The weir of Orla."}\n'
    r = client.post("/v1/memories/scratch/documents", files={"file": ("weir.jsonl", data, "application/jsonl")},
                    headers=AUTH)
    assert _shape(r, 422) == ["file", "file"], r.text
    messages = [f["message"] for f in r.json()["fields"]]
    assert messages[0].startswith("weir.jsonl:1: malformed JSON") and messages[1].startswith("weir.jsonl:2: "), messages


def test_a_background_post_that_would_store_nothing_is_refused_as_the_synchronous_one(client):
    # the same documents answered 422 "nothing was ingested" synchronously, and "done" as a job: a client
    # polling for "done" took it for success (then a failed job; now the list is judged before the job)
    docs = [{"id": "blank-1", "text": "   "}, {"id": "blank-2", "text": "\n"}]
    assert _shape(client.post("/v1/memories/scratch/documents", json=docs, headers=AUTH), 422) == ["0.text", "1.text"]
    r = client.post("/v1/memories/scratch/documents", params={"background": "true"}, json=docs, headers=AUTH)
    assert _shape(r, 422) == ["0.text", "1.text"]


def test_path_traversal_in_names_ids_and_file_names_reaches_no_file(client, tmp_path):
    # names are looked up, never joined to a path: each answer is the memory's own or a 404 naming it
    r = client.get("/v1/memories/%2E%2E/stats", headers=AUTH)
    assert _shape(r, 404) == [] and "no memory named '..'" in r.json()["error"]
    assert _shape(client.get("/v1/memories/sample/jobs/..%2F..%2Fx", headers=AUTH), 404) == []
    doc = {"id": "../../etc/passwd", "text": "The lock keeper of Orla kept a ledger."}
    assert client.post("/v1/memories/scratch/documents", json=[doc], headers=AUTH).status_code == 201
    got = client.get("/v1/memories/scratch/documents/..%2F..%2Fetc%2Fpasswd", headers=AUTH).json()
    assert got["id"] == doc["id"] and [c["text"] for c in got["chunks"]] == [doc["text"]]
    assert client.delete("/v1/memories/scratch/documents/..%2F..%2Fetc%2Fpasswd", headers=AUTH).status_code == 200
    name = "../../" + str(tmp_path).lstrip("/") + "/evil.txt"  # an upload's file name is its last part only
    r = client.post("/v1/memories/scratch/documents", files={"file": (name, b"The evil weir of Orla.", "text/plain")},
                    headers=AUTH)
    assert r.status_code == 201 and not (tmp_path / "evil.txt").exists(), r.text
    listed = client.get("/v1/memories/scratch/documents", params={"prefix": "file:"}, headers=AUTH).json()
    assert [d["id"] for d in listed["documents"]] == ["file:evil.txt"]
    assert client.delete("/v1/memories/scratch/documents/file:evil.txt", headers=AUTH).status_code == 200


def test_a_batch_question_is_held_to_the_length_a_get_question_is(client):
    # GET's q and reinforce's query take 4,000 characters; a batch query took 1 MB (embedded, echoed back whole)
    long = "which emperor adopted Trajan? " * 140  # 4,200 characters
    r = client.post("/v1/memories/sample/recall", json={"queries": [QUESTION, long]}, headers=AUTH)
    assert _shape(r, 422) == ["queries.1"] and "at most 4000 characters" in r.json()["error"], r.text
    r = client.post("/v1/memories/sample/recall", json={"queries": [QUESTION, long[:4000]]}, headers=AUTH)
    assert r.status_code == 200 and len(r.json()["results"]) == 2


def test_a_long_name_or_id_in_a_404_is_cut(client):
    # a 5,000-character id came back whole in the error
    long = "x" * 5000
    for r in (client.get(f"/v1/memories/sample/documents/{long}", headers=AUTH),
              client.delete(f"/v1/memories/sample/documents/{long}", headers=AUTH),
              client.get(f"/v1/memories/sample/jobs/{long}", headers=AUTH),
              client.get(f"/v1/memories/{long}/stats", headers=AUTH)):
        assert _shape(r, 404) == [] and len(r.json()["error"]) < 400 and "(5,000 characters)" in r.json()["error"]
    r = client.get("/v1/memories/sample/documents/short-id", headers=AUTH)
    assert r.json()["error"] == "no document 'short-id' in memory 'sample'"


@pytest.mark.parametrize("path, body", [("recall", {"queries": []}), ("forget", {"ids": []}),
                                        ("reinforce", {"query": ""}), ("documents", [])])
def test_an_unknown_memory_is_404_before_its_body_is_judged(client, path, body):
    # a bad body sent to a memory that does not exist was a 422 about the body; fixed, it was then the 404
    r = client.post(f"/v1/memories/nope/{path}", json=body, headers=AUTH)
    assert _shape(r, 404) == [] and "no memory named 'nope'" in r.json()["error"], r.text
    r = client.get("/v1/memories/nope/recall", params={"k": 0}, headers=AUTH)
    assert _shape(r, 404) == [], r.text


def test_a_memory_whose_folder_vanished_is_503_naming_the_memory_not_its_folder(tmp_path, embedder):
    # deleted or unmounted under the server: stats and every write answered "internal server error"
    import shutil

    from fastapi.testclient import TestClient

    from core.reasoning.mycelial import MycelialVQVAE
    from core.server import create_app

    app = create_app({"gone": tmp_path / "gone"}, embedder=embedder, codec=MycelialVQVAE.load_default())
    client = TestClient(app)
    doc = {"id": "a", "text": "The weir of Orla was rebuilt in oak."}
    assert client.post("/v1/memories/gone/documents", json=[doc]).status_code == 201
    shutil.rmtree(tmp_path / "gone")
    for r in (client.get("/v1/memories/gone/stats"),
              client.post("/v1/memories/gone/documents", json=[{**doc, "id": "b"}]),
              client.delete("/v1/memories/gone/documents/a")):
        assert _shape(r, 503) == [] and "memory 'gone' is unavailable: its folder is missing" in r.json()["error"]
        assert str(tmp_path) not in r.text
    try:
        app.state.registry.close()
    except OSError:
        pass  # its derived state has nowhere to go


@pytest.mark.parametrize("blocked", ["write.lock", "state.json"])
def test_a_file_of_the_memory_that_cannot_be_written_is_named_by_its_cause(tmp_path, embedder, blocked):
    # as on the CLI (a full disk, or here a folder in the file's place): the answer was "internal server error"
    from fastapi.testclient import TestClient

    from core.reasoning.mycelial import MycelialVQVAE
    from core.server import create_app

    app = create_app({"m": tmp_path / "m"}, embedder=embedder, codec=MycelialVQVAE.load_default())
    client = TestClient(app)
    doc = {"id": "a", "text": "The weir of Orla was rebuilt in oak."}
    assert client.post("/v1/memories/m/documents", json=[doc]).status_code == 201
    (tmp_path / "m" / blocked).unlink()
    (tmp_path / "m" / blocked).mkdir()
    r = client.post("/v1/memories/m/documents", json=[{**doc, "id": "b", "text": "The mill of Orla ground rye."}])
    assert _shape(r, 500) == [] and str(tmp_path) not in r.text, r.text
    assert r.json()["error"].startswith("memory 'm' could not use one of its files: Is a directory; what was "
                                        "committed before it is kept"), r.text
    assert client.get("/v1/memories/m/documents/a").status_code == 200
    try:
        app.state.registry.close()
    except OSError:
        pass  # its state file is still a folder
