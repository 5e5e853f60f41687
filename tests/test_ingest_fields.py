"""`ingest --fields` (``fields=``): JSONL and dict records of another schema, and a text given as a list.

Brown's records are {"doc_id", "category", "paragraphs": [[sentence, ...], ...]}: without a mapping each of its
500 lines was an error ('missing "text"'). Real Brown records (cut to their first paragraphs, to embed little),
real files, gzip, SQLite and model; the CLI in-process.
"""
from __future__ import annotations

import gzip
import io
import json

import pytest
from click.testing import CliRunner

from core.cli import cli
from core.config import data_dir
from core.memory.readers import read_paths, read_stream

BROWN = data_dir() / "brown" / "brown_docs.jsonl"
MAPPING = "text=paragraphs,id=doc_id"
LINES = (0, 100, 250, 400)  # four categories


def _brown(paragraphs: int = 3) -> list[dict]:
    with open(BROWN, encoding="utf-8") as fh:
        rows = [json.loads(line) for i, line in enumerate(fh) if i in LINES]
    return [{**r, "paragraphs": r["paragraphs"][:paragraphs]} for r in rows]


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def _joined(row: dict) -> str:
    return "\n\n".join(" ".join(p) for p in row["paragraphs"])


def _ingest(*args):
    return CliRunner().invoke(cli, ["ingest", *map(str, args), "-q"])


@pytest.fixture(scope="module")
def brown(tmp_path_factory):
    """A folder of two Brown records in a .jsonl and two in a .jsonl.gz, ingested by the CLI with the mapping."""
    rows = _brown()
    root = tmp_path_factory.mktemp("fields")
    (root / "docs").mkdir()
    (root / "docs" / "brown.jsonl").write_text(_jsonl(rows[:2]), encoding="utf-8")
    (root / "docs" / "more.jsonl.gz").write_bytes(gzip.compress(_jsonl(rows[2:]).encode("utf-8")))
    r = _ingest(root / "docs", "--fields", MAPPING, "--memory", root / "mem")
    assert r.exit_code == 0, r.output
    return rows, root, r


def test_brown_records_ingest_with_the_mapping(brown):
    from core.memory import SemanticMemory
    from core.memory.documents import get_document

    rows, root, r = brown
    assert "4 documents ingested" in r.output and not r.stderr.strip(), r.output + r.stderr
    with SemanticMemory(root / "mem", read_only=True) as mem:
        for row in rows:
            doc = get_document(mem, row["doc_id"])
            assert doc["title"] == "" and doc["meta"] == {"category": row["category"]}
            # sentences joined with one space, paragraphs apart (one over the chunk size is split)
            chunks = [c["text"] for c in doc["chunks"]]
            assert " ".join(chunks) == " ".join(_joined(row).split()) and len(chunks) >= len(row["paragraphs"])
            assert chunks[0] == " ".join(row["paragraphs"][0])


def test_readers_apply_the_mapping_to_every_kind_of_jsonl_input(brown, tmp_path):
    rows, root, _ = brown
    expected = [(r["doc_id"], _joined(r), {"category": r["category"]}) for r in rows]
    got = lambda recs: [(x.doc_id, x.text, x.meta) for x in recs]  # noqa: E731
    fields = {"text": "paragraphs", "id": "doc_id"}
    (tmp_path / "all.jsonl").write_text(_jsonl(rows), encoding="utf-8")
    (tmp_path / "all.jsonl.gz").write_bytes(gzip.compress(_jsonl(rows).encode("utf-8")))
    streamed = {"max_bytes": max(len(json.dumps(r)) for r in rows) + 10}  # a line fits, the file does not
    for path, kw in ((tmp_path / "all.jsonl", {}), (tmp_path / "all.jsonl", streamed),
                     (tmp_path / "all.jsonl.gz", {}), (tmp_path / "all.jsonl.gz", streamed),
                     (root / "docs", {})):
        errors: list = []
        assert sorted(got(read_paths(path, errors, fields=fields, **kw))) == sorted(expected), (path, kw)
        assert not errors, errors
    errors = []
    assert got(read_stream(io.StringIO(_jsonl(rows)), errors, fields=fields)) == expected and not errors
    # without the mapping: one error a line, each naming the keys and the option
    recs = list(read_paths(tmp_path / "all.jsonl", errors))
    assert recs == [] and len(errors) == 4
    assert errors[0].message == ('missing "text" (a string or a list of paragraphs); the object has "doc_id", '
                                 '"category", "paragraphs" (name the keys with --fields text=KEY,id=KEY)')
    errors = []
    list(read_paths(tmp_path / "all.jsonl", errors, fields={"text": "paragraphs", "id": "docid"}))
    assert [e.message for e in errors] == ['missing "docid"; the object has "doc_id", "category" (name the keys with '
                                           '--fields text=KEY,id=KEY)'] * 4  # the key actually used, and the typo


def test_dict_records_with_fields(brown, tmp_path):
    from core.memory import SemanticMemory
    from core.memory.documents import get_document

    rows, root, _ = brown
    row = {**rows[0], "doc_id": "py-1", "text": "a key named text is metadata here"}
    with SemanticMemory(tmp_path / "mem") as mem:
        rep = mem.ingest([row, {"doc_id": "py-2", "category": "x", "paragraphs": [["A", 3]]},
                          {"doc_id": "py-3", "category": "x", "paragraphs": [[" "], ""]}],
                         fields={"text": "paragraphs", "id": "doc_id", "title": "category"})
        assert rep.documents == 1
        assert [(e.line, e.message) for e in rep.errors] == [
            (2, '"paragraphs"[0][1] is a number; "paragraphs" must be a string, a list of paragraphs (strings) '
                'or a list of paragraphs of sentences (lists of strings)'),
            (3, '"paragraphs" is empty')]
        doc = get_document(mem, "py-1")
        assert doc["title"] == row["category"] and doc["meta"] == {"text": row["text"]}
        assert len(doc["chunks"]) == len(row["paragraphs"])
        # a list as text needs no mapping
        assert mem.ingest({"id": "py-4", "text": ["Graz is a city.", "Linz is one too."]}).documents == 1
        assert [c["text"] for c in get_document(mem, "py-4")["chunks"]] == ["Graz is a city.", "Linz is one too."]
        for bad in ({"body": "paragraphs"}, {"text": ""}, {"text": "doc_id", "id": "doc_id"}, {"id": "text"},
                    "text=paragraphs,=x", ["text"]):
            with pytest.raises(ValueError, match="fields"):
                mem.ingest(rows, fields=bad)
        assert mem.store_.count_documents() == 2
        # records titled but without ids ({"title", "text"}, as 2WikiMultihopQA's): the title is the id too
        rep = mem.ingest([{"title": "Graz", "text": "Graz is a city."}, {"title": "Graz", "text": "Again."}],
                         fields={"id": "title"})
        assert rep.documents == 1 and "duplicate id 'Graz'" in rep.errors[0].message, rep.to_dict()
        assert get_document(mem, "Graz")["title"] == "Graz"


@pytest.mark.parametrize("spec, said", [
    ("body=paragraphs", "unknown role 'body'; the roles are text, id, title"),
    ("text=", "text= names no key"),
    ("text", "'text' is not ROLE=KEY"),
    ("=x", "'=x' is not ROLE=KEY"),
    ("text=a,text=b", "text is given twice (text=a and text=b)"),
    ("text=a,id=a", 'text and id both name the key "a"'),
    ("id=text", 'text and id both name the key "text"'),
])
def test_a_bad_fields_spec_is_a_usage_error_and_makes_no_memory(brown, tmp_path, spec, said):
    _, root, _ = brown
    r = _ingest(root / "docs", "--fields", spec, "--memory", tmp_path / "m")
    assert r.exit_code == 2 and "Invalid value for '--fields'" in r.output and said in r.output, r.output
    assert not (tmp_path / "m").exists()


def test_sync_uses_the_mapping_and_without_it_keeps_every_record(tmp_path):
    from core.memory import SemanticMemory
    from core.memory.documents import list_documents

    rows = _brown(paragraphs=1)
    (tmp_path / "docs").mkdir()
    data = tmp_path / "docs" / "brown.jsonl"
    data.write_text(_jsonl(rows), encoding="utf-8")
    mem = tmp_path / "mem"
    assert _ingest(tmp_path / "docs", "--fields", MAPPING, "--memory", mem).exit_code == 0
    data.write_text(_jsonl(rows[1:]), encoding="utf-8")  # the first line deleted
    r = _ingest(tmp_path / "docs", "--sync", "--fields", MAPPING, "--memory", mem)
    assert r.exit_code == 0 and f"forgot {rows[0]['doc_id']}" in r.output and "1 document forgotten" in r.output, \
        r.output
    data.write_text(_jsonl(rows[2:]), encoding="utf-8")  # another line deleted, then a sync without the mapping:
    r = _ingest(tmp_path / "docs", "--sync", "--memory", mem)  # no line can be read, so the file keeps them all
    assert r.exit_code == 1 and "--sync forgot nothing" in r.output, r.output
    with SemanticMemory(mem, read_only=True) as m:
        assert sorted(d["id"] for d in list_documents(m)) == sorted(row["doc_id"] for row in rows[1:])
