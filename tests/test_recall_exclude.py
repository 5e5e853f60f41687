"""``exclude`` wherever recall is offered: the Python API had it, the HTTP routes and `mycelial recall` did not
(GET answered 422 "unknown parameter", the batch body "extra inputs are not permitted", the CLI "no such option")."""
from __future__ import annotations

import json

import pytest
from _server_helpers import QUESTION, TOKEN, sample_client
from click.testing import CliRunner

from core.cli import cli

AUTH = {"Authorization": f"Bearer {TOKEN}"}
URL = "/v1/memories/sample/recall"


@pytest.fixture(scope="module")
def served(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("exclude")
    with sample_client(root, embedder) as (_, client):
        yield root / "sample", client


def _ids(hits):
    return [h["chunk_id"] for h in hits]


def test_get_recall_leaves_out_the_excluded_chunks_and_still_gives_k(served):
    _, client = served
    first = _ids(client.get(URL, params={"q": QUESTION, "k": 5, "mode": "similar"}, headers=AUTH).json()["hits"])
    for params in ({"exclude": f"{first[0]},{first[2]}"}, [("exclude", first[0]), ("exclude", first[2])]):
        base = [("q", QUESTION), ("k", 5), ("mode", "similar")]
        r = client.get(URL, params=base + (list(params.items()) if isinstance(params, dict) else params), headers=AUTH)
        assert r.status_code == 200, r.text
        got = _ids(r.json()["hits"])
        assert len(got) == 5 and first[0] not in got and first[2] not in got, (first, got)
        assert first[1] in got  # the others stay (an excluded chunk lends its neighbours nothing: scores may move)


@pytest.mark.parametrize("value", ["abc", "12,x", "1.5", "0x10", "1" * 40, "-5"])
def test_get_recall_refuses_an_exclude_that_is_no_chunk_id_naming_it(served, value):
    _, client = served
    r = client.get(URL, params={"q": QUESTION, "exclude": value}, headers=AUTH)
    assert r.status_code == 422, r.text
    body = r.json()
    assert set(body) == {"error", "fields"} and [f["field"] for f in body["fields"]] == ["exclude"]
    assert "is not a chunk id" in body["fields"][0]["message"]


def test_batch_recall_leaves_out_the_excluded_chunks_of_every_query(served):
    _, client = served
    queries = [QUESTION, "ironclad warships"]
    before = client.post(URL, json={"queries": queries, "k": 3, "mode": "similar"}, headers=AUTH).json()["results"]
    out = [_ids(r["hits"])[0] for r in before]
    r = client.post(URL, json={"queries": queries, "k": 3, "mode": "similar", "exclude": out}, headers=AUTH)
    assert r.status_code == 200, r.text
    for res in r.json()["results"]:
        assert len(res["hits"]) == 3 and not set(out) & set(_ids(res["hits"]))


@pytest.mark.parametrize("exclude, field", [(["12"], "exclude.0"), ([True], "exclude.0"), ([1.5], "exclude.0"),
                                            ("12,40", "exclude"), ({"a": 1}, "exclude"), ([3, -5], "exclude.1"),
                                            (list(range(10_001)), "exclude")])
def test_batch_recall_refuses_a_bad_exclude_naming_it(served, exclude, field):
    _, client = served
    r = client.post(URL, json={"queries": [QUESTION], "exclude": exclude}, headers=AUTH)
    assert r.status_code == 422, r.text
    assert set(r.json()) == {"error", "fields"} and field in [f["field"] for f in r.json()["fields"]]


def test_openapi_lists_exclude_on_both_recall_routes(served):
    _, client = served
    schema = client.get("/openapi.json").json()
    get = {p["name"]: p for p in schema["paths"][URL.replace("sample", "{name}")]["get"]["parameters"]}
    assert get["exclude"]["schema"]["type"] == "array" and "12,40" in get["exclude"]["description"]
    body = schema["components"]["schemas"]["RecallIn"]["properties"]["exclude"]
    assert body["items"]["type"] == "integer" and body["maxItems"] == 10_000


def _cli(*args):
    return CliRunner().invoke(cli, ["recall", *args, "-q"])


def test_cli_recall_and_its_queries_file_take_exclude(served, tmp_path):
    folder, _ = served
    r = _cli(QUESTION, "--memory", str(folder), "-k", "4", "--mode", "similar", "--json")
    assert r.exit_code == 0, r.output
    first = _ids(json.loads(r.stdout))
    r = _cli(QUESTION, "--memory", str(folder), "-k", "4", "--mode", "similar", "--json",
             "--exclude", f"{first[0]}, {first[1]}", "--exclude", str(first[3]))
    assert r.exit_code == 0, r.output
    got = _ids(json.loads(r.stdout))
    assert len(got) == 4 and not {first[0], first[1], first[3]} & set(got) and first[2] in got
    queries = tmp_path / "q.jsonl"
    queries.write_text(json.dumps({"id": "a", "query": QUESTION}) + "\n"
                       + json.dumps({"id": "b", "query": "ironclad warships"}) + "\n", encoding="utf-8")
    r = _cli("--queries", str(queries), "--memory", str(folder), "-k", "4", "--mode", "similar", "--json",
             "--exclude", str(first[0]))
    assert r.exit_code == 0, r.output
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["id"] for x in lines] == ["a", "b"] and all(first[0] not in _ids(x["hits"]) for x in lines)
    assert len(lines[0]["hits"]) == 4


@pytest.mark.parametrize("value", ["abc", "12,,x", "-", "-5", "3,-12"])  # -5 was taken, and left nothing out
def test_cli_refuses_an_exclude_that_is_no_chunk_id_as_a_usage_error(served, value):
    folder, _ = served
    r = _cli(QUESTION, "--memory", str(folder), "--exclude", value)
    assert r.exit_code == 2, r.output
    assert "Invalid value for --exclude: " in r.output and "is not a chunk id" in r.output, r.output
    assert "Traceback" not in r.output


def test_cli_says_why_no_hits_when_exclude_left_out_every_scored_chunk(served):
    folder, _ = served
    r = _cli(QUESTION, "--memory", str(folder), "-k", "10000", "--mode", "similar", "--json")
    every = _ids(json.loads(r.stdout))
    r = _cli(QUESTION, "--memory", str(folder), "-k", "10000", "--mode", "similar", "--exclude", ",".join(map(str, every)))
    assert r.exit_code == 0, r.output
    assert "no hits: nothing outside --exclude scored above zero" in r.output, r.output


def test_a_queries_line_leaves_out_its_own_exclude_beside_the_global_one(served, tmp_path):
    # a line's "exclude" was ignored (unknown keys were): an evaluation could not leave out each question's own passage
    folder, _ = served
    r = _cli(QUESTION, "--memory", str(folder), "-k", "4", "--mode", "similar", "--json")
    first = _ids(json.loads(r.stdout))
    queries = tmp_path / "q.jsonl"
    queries.write_text("\n".join(json.dumps(x) for x in (
        {"id": "own", "query": QUESTION, "exclude": [first[0], first[1]]},
        {"id": "none", "query": QUESTION},
        {"id": "text", "query": QUESTION, "exclude": f"{first[2]}"})) + "\n", encoding="utf-8")
    r = _cli("--queries", str(queries), "--memory", str(folder), "-k", "4", "--mode", "similar", "--json",
             "--exclude", str(first[3]))
    assert r.exit_code == 0, r.output
    got = {x["id"]: _ids(x["hits"]) for x in map(json.loads, r.stdout.splitlines())}
    assert list(got) == ["own", "none", "text"] and all(len(h) == 4 for h in got.values())
    assert not {first[0], first[1], first[3]} & set(got["own"]) and first[2] in got["own"]
    assert got["none"][:3] == first[:3] and first[3] not in got["none"]
    assert not {first[2], first[3]} & set(got["text"]) and first[0] in got["text"]


@pytest.mark.parametrize("value", [["abc"], [True], {"a": 1}, 1.5, [[1]]])
def test_a_queries_line_with_a_bad_exclude_is_named_and_skipped(served, tmp_path, value):
    folder, _ = served
    queries = tmp_path / "q.jsonl"
    queries.write_text(json.dumps({"id": "bad", "query": QUESTION, "exclude": value}) + "\n"
                       + json.dumps({"id": "good", "query": QUESTION}) + "\n", encoding="utf-8")
    r = _cli("--queries", str(queries), "--memory", str(folder), "-k", "2", "--mode", "similar", "--json")
    assert r.exit_code == 0, r.output
    assert f'{queries}:1: "exclude": ' in r.stderr and "Traceback" not in r.output
    assert [json.loads(x)["id"] for x in r.stdout.splitlines()] == ["good"]
