"""A .json file named to `ingest` (or uploaded) is read: a list of records, one record, or an object of records or
texts keyed by id. Before, every one was refused with a jq command to run first, the shared multi-hop corpora
(HotpotQA's ``{title: [sentences]}``, 2WikiMultihopQA's and MuSiQue's ``[{title, text}]``) included. A folder's
.json files stay unread (configuration), with a note saying how to read one.

Real corpora from ../shared/data, real model, SQLite, FAISS and HTTP server for the end-to-end parts.
"""
from __future__ import annotations

import gzip
import json
from collections import Counter

import pytest

from core.config import data_file
from core.memory.readers import ReadError, read_paths

HOTPOT = data_file("multihop_dev/hotpotqa_train_corpus.json")
WIKI2 = data_file("multihop_dev/2wikimultihopqa_corpus.json")
MUSIQUE = data_file("multihop_dev/musique_train_corpus.json")


def _read(paths, **kw):
    errors: list[ReadError] = []
    return list(read_paths(paths, errors, **kw)), errors


def test_the_shared_hotpotqa_corpus_is_read_by_name(tmp_path):
    corpus = json.loads(HOTPOT.read_text(encoding="utf-8"))
    recs, errors = _read(HOTPOT)
    assert errors == [] and len(recs) == len(corpus) > 900
    assert [(r.doc_id, r.title) for r in recs] == [(t, t) for t in corpus]  # the key is the id and the title
    for rec in recs[:50]:  # its sentences, in order, each kept whole
        assert rec.text.split() == " ".join(corpus[rec.doc_id]).split() and rec.merge  # small ones share a chunk


def test_the_shared_2wiki_and_musique_corpora_name_their_title_as_the_missing_id(tmp_path):
    corpus = json.loads(WIKI2.read_text(encoding="utf-8"))
    recs, errors = _read(WIKI2)
    assert recs == [] and len(errors) == len(corpus)
    assert errors[0].message == 'missing "id"; the object has "title" (name the keys with --fields text=KEY,id=KEY)'
    assert errors[0].line == 2 and errors[1].line == 6  # the line each item starts on (pretty-printed)
    recs, errors = _read(WIKI2, fields="id=title")
    assert errors == [] and [(r.doc_id, r.title, r.text) for r in recs] == [(c["title"],) * 2 + (c["text"],)
                                                                              for c in corpus]
    corpus = json.loads(MUSIQUE.read_text(encoding="utf-8"))  # one line, and a title may come several times
    recs, errors = _read(MUSIQUE, fields="id=title")
    titles = Counter(item["title"] for item in corpus)
    assert [r.doc_id for r in recs] == list(titles)  # the first of each title
    assert len(errors) == sum(n - 1 for n in titles.values()) > 0
    assert all(e.message.endswith(" (first on this line); skipped") for e in errors)


def test_every_shape_of_records_with_the_line_each_starts_on(tmp_path):
    (tmp_path / "list.json").write_text(json.dumps([{"id": "a", "text": "Graz lies on the Mur."},
                                                    {"id": "b", "text": "Wien.", "year": 1900},
                                                    {"text": "no id"}], indent=2), encoding="utf-8")
    (tmp_path / "one.json").write_text(json.dumps({"id": "x", "text": "One record.", "lang": "en"}, indent=1))
    keyed = {"d1": {"title": "Graz", "text": "Graz lies on the Mur."}, "d2": "Wien lies on the Danube.",
             "Bern": ["Bern is the capital.", "It lies on the Aare."], "d3": {"id": "own", "text": "Its own id."},
             "bad": 3}
    (tmp_path / "keyed.json").write_text(json.dumps(keyed, indent=2), encoding="utf-8")
    recs, errors = _read([tmp_path / "list.json", tmp_path / "one.json", tmp_path / "keyed.json"])
    got = [(r.doc_id, r.title, r.text, r.meta, r.merge) for r in recs]
    assert got == [("a", "", "Graz lies on the Mur.", {}, False), ("b", "", "Wien.", {"year": 1900}, False),
                   ("x", "", "One record.", {"lang": "en"}, False),
                   ("d1", "Graz", "Graz lies on the Mur.", {}, False), ("d2", "d2", "Wien lies on the Danube.", {}, False),
                   ("Bern", "Bern", "Bern is the capital.\n\nIt lies on the Aare.", {}, True),
                   ("own", "", "Its own id.", {}, False)]
    assert [(e.source.rsplit("/", 1)[1], e.line, e.message) for e in errors] == [
        ("list.json", 11, 'missing "id"'),
        ("keyed.json", 15, "expected a JSON object (a record with an id and a text), got a number")]
    assert all(r.source == str(tmp_path / "keyed.json") for r in recs[3:])


def test_a_malformed_json_file_stores_nothing_and_names_the_line(tmp_path):
    recs = [{"id": "a", "text": "A."}, {"id": "b", "text": "B."}]
    files = {"cut.json": json.dumps(recs, indent=2)[:-10], "extra.json": json.dumps(recs) + " trailing",
             "deep.json": "[" * 5000 + "]" * 5000, "number.json": "42", "empty.json": " [ ]\n",
             "dup.json": '{"k": "first",\n "k": "second"}', "same_line.json": '{"k": "first", "k": "second"}'}
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    got, errors = _read([tmp_path / n for n in files])
    assert [r.text for r in got] == ["first", "first"]  # one record of each object with a key twice
    msgs = [(e.source.rsplit("/", 1)[1], e.line, e.message, e.skipped) for e in errors]
    assert msgs == [
        ("cut.json", 8, "malformed JSON: Expecting value (column 13); no record of the file was read", False),
        ("extra.json", 1, "malformed JSON: Extra data (column 56); no record of the file was read", False),
        ("deep.json", None, "malformed JSON: nested too deeply", False),
        ("number.json", None, "holds a number, not records; expected a list of records, one record, or an object "
                              "of records or texts keyed by id", False),
        ("empty.json", None, "empty file (an empty JSON list); nothing to store", True),
        ("dup.json", 2, "duplicate id 'k' (first on line 1); skipped", False),
        ("same_line.json", 1, "duplicate id 'k' (first on this line); skipped", False)]


def test_piped_json_is_read_as_a_named_json_file(tmp_path):
    # `cat corpus.json | mycelial ingest -` was told to convert it with jq, or to name it .json: stdin has no name
    import io

    from core.memory.readers import read_stream

    corpus = {"d1": {"title": "Graz", "text": "Graz lies on the Mur."}, "d2": ["Wien lies", "on the Danube."]}
    for text, want in ((json.dumps(corpus, indent=2), [("d1", "Graz"), ("d2", "d2")]),
                       (json.dumps([{"id": "a", "text": "A.", "title": "T"}]), [("a", "T")]),
                       (json.dumps({"id": "x", "text": "One record."}, indent=1), [("x", "")]),
                       ('{"id": "j", "text": "JSONL"}\n{"id": "k", "text": "two"}\n', [("j", ""), ("k", "")])):
        errors: list = []
        recs = list(read_stream(io.StringIO(text), errors))
        assert errors == [] and [(r.doc_id, r.title) for r in recs] == want, (text, errors)
    errors = []
    assert [r.doc_id for r in read_stream(io.StringIO("[1, 2"), errors)][0].startswith("stdin-")  # text: not JSON
    recs = list(read_stream(io.StringIO(json.dumps([{"title": "Graz", "text": "x"}], indent=1)), errors))
    assert recs == [] and [(e.line, e.message) for e in errors] == [
        (2, 'missing "id"; the object has "title" (name the keys with --fields text=KEY,id=KEY)')]


def test_gzipped_bom_and_utf16_json_files(tmp_path):
    recs = [{"id": "z", "text": "Z\u00fcrich trams."}]
    (tmp_path / "a.json.gz").write_bytes(gzip.compress(json.dumps(recs).encode()))
    (tmp_path / "b.json").write_bytes(b"\xef\xbb\xbf" + json.dumps([recs[0] | {"id": "bom"}]).encode())
    (tmp_path / "c.JSON").write_bytes(json.dumps([recs[0] | {"id": "u16"}]).encode("utf-16"))
    got, errors = _read(sorted(tmp_path.iterdir()))
    assert errors == [] and [(r.doc_id, r.text) for r in got] == [(i, recs[0]["text"]) for i in ("z", "bom", "u16")]


def test_a_folder_s_json_files_are_skipped_saying_how_to_read_one(tmp_path):
    from core.memory._ingest_progress import _expected_documents

    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("The tide mill of Pellow grinds corn.", encoding="utf-8")
    (tmp_path / "notes" / "corpus.json").write_text('[{"id": "r1", "text": "Pellow."}]', encoding="utf-8")
    recs, errors = _read(tmp_path / "notes")
    assert [r.doc_id for r in recs] == ["a.txt"] and len(errors) == 1 and errors[0].skipped
    assert "(.json 1)" in errors[0].message and "; .json files are read when named (`mycelial ingest FILE.json`" \
        in errors[0].message
    recs, errors = _read(tmp_path / "notes" / "corpus.json")  # named: read
    assert errors == [] and [r.doc_id for r in recs] == ["r1"]
    assert _expected_documents([str(tmp_path / "notes")]) == 1  # the folder's .json is not read
    assert _expected_documents([str(tmp_path / "notes" / "corpus.json")]) is None  # known only parsed


def test_parallel_reads_a_json_file_as_serially(tmp_path, monkeypatch):
    from core.memory.parallel import _Parts, _path_items, _read_part, _split

    monkeypatch.chdir(tmp_path)
    corpus = dict(list(json.loads(HOTPOT.read_text(encoding="utf-8")).items())[:20])
    (tmp_path / "h.json").write_text(json.dumps(corpus), encoding="utf-8")
    (tmp_path / "a.txt").write_text("Orla lies west of Pellow.", encoding="utf-8")
    args = ["h.json", "a.txt"]
    serial = [(r.doc_id, r.source, r.meta, r.text, r.merge) for r in read_paths(args, [])]
    assert [s[0] for s in serial] == list(corpus) + ["a.txt"]
    items = [it for a in args for it in _path_items(a)]
    events = [ev for part in _split([items]) for ev in _read_part(_Parts(None, None, {}, 256), part)[0]]
    assert [(e[1].doc_id, e[1].source, e[1].meta, e[1].text, e[1].merge) for e in events if e[0] == "rec"] == serial


def test_a_json_corpus_ingested_and_uploaded_is_recalled(tmp_path, embedder):
    """The CLI reads a named .json into a real memory, and the server takes one as an upload (kind "json"): the app
    in this process (FastAPI's TestClient, the session's model; a `mycelial serve` process took ~6-16 s)."""
    from click.testing import CliRunner
    from fastapi.testclient import TestClient

    from core.cli import cli
    from core.reasoning.mycelial import MycelialVQVAE
    from core.server import create_app

    corpus = dict(list(json.loads(HOTPOT.read_text(encoding="utf-8")).items())[:6])
    (tmp_path / "hotpot.json").write_text(json.dumps(corpus, indent=1), encoding="utf-8")
    out = CliRunner().invoke(cli, ["ingest", str(tmp_path / "hotpot.json"), "-m", str(tmp_path / "cli"), "-q"])
    assert out.exit_code == 0 and "6 documents ingested" in out.output, out.output
    first = next(iter(corpus))
    app = create_app({"up": tmp_path / "up"}, embedder=embedder, codec=MycelialVQVAE.load_default())
    with TestClient(app) as client:
        r = client.post("/v1/memories/up/documents",
                        files=[("file", ("hotpot.json", (tmp_path / "hotpot.json").read_bytes(), "application/json"))])
        assert r.status_code == 201 and r.json()["documents"] == 6, r.text
        doc = client.get("/v1/memories/up/document", params={"id": first}).json()
        assert doc["kind"] == "json" and doc["title"] == first
        hits = client.get("/v1/memories/up/recall", params={"q": " ".join(corpus[first][:2]), "k": 1}).json()["hits"]
        assert hits[0]["doc_id"] == first, hits


@pytest.mark.parametrize("name", ["x.json", "x.json.gz"])
def test_an_uploaded_bad_json_is_a_422_naming_the_line(tmp_path, name):
    from core.server.errors import Invalid
    from core.server.uploads import files_records

    body = b'[{"id": "a", "text": "A."},\n {"id": "b" "text": "B."}]'
    with pytest.raises(Invalid) as exc:
        files_records([(name, gzip.compress(body) if name.endswith(".gz") else body)])
    assert exc.value.fields == [{"field": "file", "message": f"{name}:2: malformed JSON: Expecting ',' delimiter "
                                                             "(column 13); no record of the file was read"}]
