"""Bad requests a first afternoon with the HTTP API sent: each answered a 500, a misleading error or a
different shape. TestClient over a real memory (the shipped sample, real model and store)."""
from __future__ import annotations

import json

import pytest
from _server_helpers import QUESTION, TOKEN, finished_job, sample_client

from core.server import create_app

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def client(tmp_path_factory, embedder):
    with sample_client(tmp_path_factory.mktemp("audit"), embedder) as (_, c):
        yield c


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _upload(client, name: str, lines: list[str]):
    data = ("\n".join(lines) + "\n").encode()
    return client.post("/v1/memories/sample/documents", headers=AUTH,
                       files={"file": (name, data, "application/octet-stream")})


def test_deeply_nested_jsonl_metadata_is_refused_not_a_500_on_every_recall(client):
    # metadata 900 levels deep was stored; every recall that hit the record then answered 500 (RecursionError
    # copying the hit), until the document was forgotten
    deep = '{"id": "deep", "text": "The lock keeper of Ferrow Weir kept bees on the towpath.", "m": %s}' % _nested(900)
    good = '{"id": "good", "text": "The ferry of Ashby Staithe crossed the river at dawn."}'
    r = _upload(client, "deep.jsonl", [deep, good])
    assert r.status_code == 201, r.text
    assert r.json()["documents"] == 1 and "deep.jsonl:1: metadata nested more than 128" in r.json()["errors"][0]
    r = client.get("/v1/memories/sample/recall", params={"q": "the lock keeper of Ferrow Weir", "k": 5}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert "deep" not in [h["doc_id"] for h in r.json()["hits"]]
    # a line nested past json.loads' recursion limit: the upload itself answered 500
    r = _upload(client, "deeper.jsonl", ['{"id": "x", "text": "x", "m": %s}' % _nested(5000), good])
    assert r.status_code == 201, r.text
    assert r.json()["errors"] == ["deeper.jsonl:1: malformed JSON: nested too deeply"]
    assert client.delete("/v1/memories/sample/documents/good", headers=AUTH).status_code == 200


def test_a_token_that_is_not_printable_ascii_is_refused_at_start(tmp_path):
    # a header carries it: curl sent "pässwort" as UTF-8, the server compared Latin-1: 401 for the right token
    for bad in ("pässwort", "密码", "tab\there"):
        with pytest.raises(ValueError, match="printable ASCII"):
            create_app({"m": tmp_path / "m"}, token=bad)
    assert not (tmp_path / "m").exists()  # refused before opening (creating) a memory


@pytest.mark.parametrize("path, body", [
    ("recall", {"queries": [QUESTION]}),
    ("forget", {"ids": ["does-not-matter"]}),
    ("reinforce", {"query": QUESTION, "chunk_ids": [1]}),
])
def test_a_json_body_sent_as_a_form_is_415_naming_the_content_type(client, path, body):
    # `curl -d '{...}'` sends a form: answered 422 "body: Input should be a valid dictionary", though it is one
    before = client.get("/v1/memories/sample/documents", headers=AUTH).json()["total"]
    for ctype in ("application/x-www-form-urlencoded", "text/plain", None):
        r = client.post(f"/v1/memories/sample/{path}", content=json.dumps(body).encode(),
                        headers={**AUTH, **({"content-type": ctype} if ctype else {})})
        assert r.status_code == 415, r.text
        error = r.json()["error"]
        assert "Content-Type: application/json" in error and (ctype or "no Content-Type") in error
    assert client.get("/v1/memories/sample/documents", headers=AUTH).json()["total"] == before
    r = client.post(f"/v1/memories/sample/{path}", content=json.dumps(body).encode(),
                    headers={**AUTH, "content-type": "application/json; charset=utf-8"})
    assert r.status_code in (200, 201), r.text
    if path == "reinforce":
        assert client.delete(f"/v1/memories/sample/reinforce/{r.json()['event']}", headers=AUTH).status_code == 200


def test_a_question_with_a_nul_or_a_lone_surrogate_is_422_naming_the_field(client):
    # answered 422 without "fields", in the embedder's words: "texts[0] contains a NUL byte"
    cases = [
        (client.get("/v1/memories/sample/recall", params={"q": "Trajan\x00"}, headers=AUTH), "q"),
        (client.post("/v1/memories/sample/recall", content=json.dumps({"queries": ["Nerva", "Tra\ud800jan"]}),
                     headers={**AUTH, "content-type": "application/json"}), "queries.1"),
        (client.post("/v1/memories/sample/recall", json={"queries": ["Nerva", "a\x00"]}, headers=AUTH), "queries.1"),
        (client.post("/v1/memories/sample/reinforce", json={"query": "who\x00", "chunk_ids": [1]}, headers=AUTH),
         "query"),
    ]
    for r, field in cases:
        assert r.status_code == 422, r.text
        assert [f["field"] for f in r.json()["fields"]] == [field], r.text
    assert client.get("/v1/memories/sample/reinforcements", headers=AUTH).json()["events"] == []


def test_a_background_job_reports_every_count_of_an_ingest_report(client):
    # the job's report had no "moved": a client reading it as the synchronous report got a KeyError
    doc = {"id": "job-1", "text": "The signal box at Carrow Halt was built of tarred larch."}
    sync = client.post("/v1/memories/sample/documents", json=[doc], headers=AUTH)
    assert sync.status_code == 201, sync.text
    r = client.post("/v1/memories/sample/documents", params={"background": "true"}, json=[doc], headers=AUTH)
    assert r.status_code == 202, r.text
    job = finished_job(client.get, r.headers["location"], AUTH)
    assert job["status"] == "done" and job["report"]["unchanged"] == 1, job
    assert set(job["report"]) == set(sync.json()) - {"seconds"}
    assert client.delete("/v1/memories/sample/documents/job-1", headers=AUTH).status_code == 200


def test_a_lone_surrogate_in_jsonl_metadata_is_reported_and_the_other_records_stored(client):
    # json.loads reads "\ud800"; the store could not encode it: 500, and the batch's good records were lost too
    lines = [r'{"id": "sur-1", "text": "The clockmaker of Verrin Lane mended the abbey clock.", "note": "a \ud800"}',
             r'{"id": "sur-2", "text": "The glassblower of Verrin Lane made lamps.", "\udc00key": 1}',
             r'{"id": "sur-3", "text": "The cooper of Verrin Lane made barrels.", "note": "a\u0000b"}']
    r = _upload(client, "sur.jsonl", lines)
    assert r.status_code == 201, r.text
    assert r.json()["documents"] == 1 and len(r.json()["errors"]) == 2, r.text
    assert all("unpaired surrogate" in e for e in r.json()["errors"]), r.text
    doc = client.get("/v1/memories/sample/documents/sur-3", headers=AUTH)
    assert doc.status_code == 200 and doc.json()["metadata"] == {"note": "a\x00b"}, doc.text
    assert client.delete("/v1/memories/sample/documents/sur-3", headers=AUTH).status_code == 200


def test_an_upload_whose_file_name_holds_a_nul_is_422(client):
    # the name became the temporary file's: "embedded null byte", HTTP 500
    body = (b'--B\r\nContent-Disposition: form-data; name="file"; filename="a\x00b.txt"\r\nContent-Type: text/plain'
            b'\r\n\r\nThe ropewalk of Dunmore made cables.\r\n--B--\r\n')
    r = client.post("/v1/memories/sample/documents", content=body,
                    headers={**AUTH, "content-type": "multipart/form-data; boundary=B"})
    assert r.status_code == 422 and "NUL" in r.json()["error"], r.text


def test_a_token_file_with_a_byte_order_mark_gives_the_token_without_it(tmp_path):
    # Windows Notepad saves "UTF-8 with BOM": the BOM was part of the token, so every request was a 401
    from core.cli.serve import _token

    path = tmp_path / "token.txt"
    path.write_bytes("\ufeff".encode() + TOKEN.encode() + b"\r\n")
    assert _token(path) == TOKEN
    create_app({"m": tmp_path / "m"}, token=_token(path)).state.registry.close()


@pytest.mark.parametrize("path", ["recall", "forget", "reinforce", "documents"])
def test_a_chunked_body_over_the_limit_is_413_on_every_route(client, path):
    # without a Content-Length the limit trips while FastAPI reads a route's JSON body: it answered its
    # 400 "There was an error parsing the body" (the documents route, reading the body itself, said 413)
    def chunks():
        yield b'{"queries": ["' if path == "recall" else b'{"ids": ["' if path == "forget" else b'{"query": "'
        for _ in range(300):
            yield b"x" * 1024

    r = client.post(f"/v1/memories/sample/{path}", content=chunks(),
                    headers={**AUTH, "content-type": "application/json"})
    assert r.status_code == 413, r.text
    assert "--max-body-mb" in r.json()["error"] and "split a large file" in r.json()["error"]


@pytest.mark.parametrize("body, ctype, words", [
    (b'{"queries": ' + b"[" * 100000 + b"]" * 100000 + b"}", "application/json", "nested too deeply"),
    ('{"queries": ["café"]}'.encode("latin-1"), "application/json; charset=latin-1", "not valid utf-8"),
])
def test_a_json_body_too_deep_or_not_utf8_is_422_as_on_the_documents_route(client, body, ctype, words):
    # FastAPI answered 400 "There was an error parsing the body" without the reason, and without fields
    r = client.post("/v1/memories/sample/recall", content=body, headers={**AUTH, "content-type": ctype})
    assert r.status_code == 422, r.text
    assert words in r.json()["error"] and r.json()["fields"][0]["field"] == "body", r.text


def test_reinforce_answers_the_chunk_ids_it_stored(client):
    # [c, c] was echoed as given while the event stored [c]
    hit = client.get("/v1/memories/sample/recall", params={"q": QUESTION, "k": 1}, headers=AUTH).json()["hits"][0]
    c = hit["chunk_id"]
    r = client.post("/v1/memories/sample/reinforce", json={"query": QUESTION, "chunk_ids": [c, c]}, headers=AUTH)
    assert r.status_code == 201 and r.json()["chunk_ids"] == [c], r.text
    events = client.get("/v1/memories/sample/reinforcements", headers=AUTH).json()["events"]
    assert [e["chunk_ids"] for e in events if e["id"] == r.json()["event"]] == [[c]]
    assert client.delete(f"/v1/memories/sample/reinforce/{r.json()['event']}", headers=AUTH).status_code == 200


@pytest.mark.parametrize("path", ["recall", "forget", "reinforce", "documents"])
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
def test_without_the_token_a_bad_body_is_401_not_a_complaint_about_the_body(client, path, headers):
    # the token was a route dependency, checked after FastAPI parsed the JSON body: malformed JSON sent
    # without the token was answered 422 "invalid JSON" (and the body parsed for anyone)
    for body in (b"{bad", b"[" * 5000, b"x" * (300 * 1024)):
        r = client.post(f"/v1/memories/sample/{path}", content=body,
                        headers={**headers, "content-type": "application/json"})
        assert r.status_code == 401 and "bearer token" in r.json()["error"], r.text
        assert r.headers["www-authenticate"] == "Bearer"


def test_an_upload_with_a_capitalised_multipart_type_is_read_as_an_upload(client):
    # media types are case-insensitive: "Multipart/Form-Data" was read as a JSON body ("invalid JSON")
    body = (b'--B\r\nContent-Disposition: form-data; name="file"; filename="holm.txt"\r\nContent-Type: text/plain'
            b'\r\n\r\nThe tannery of Holm used oak bark.\r\n--B--\r\n')
    r = client.post("/v1/memories/sample/documents", content=body,
                    headers={**AUTH, "content-type": "Multipart/Form-Data; boundary=B"})
    assert r.status_code == 201 and r.json()["documents"] == 1, r.text
    assert client.delete("/v1/memories/sample/documents/file:holm.txt", headers=AUTH).status_code == 200
