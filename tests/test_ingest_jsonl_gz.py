"""A gzipped JSONL file (``records.jsonl.gz``) is read as the same ``.jsonl`` would be, everywhere: the reader,
``--sync``, a moved folder, parallel ingest, an HTTP upload. Before, it was refused ("unsupported file type
'.jsonl.gz'; ... `gunzip -k FILE` first"), though corpora usually come gzipped.

Real HotpotQA passages (its corpus, titles to sentences) made JSONL, real gzip, SQLite, FAISS and model.
"""
from __future__ import annotations

import gzip
import json
import shutil
import zlib

from _peak import traced_peak

from core.config import data_file
from core.memory.readers import ReadError, read_file, read_paths

CORPUS = data_file("multihop_dev/hotpotqa_train_corpus.json")


def _passages(n: int | None = None, start: int = 0) -> list[dict]:
    corpus = json.loads(CORPUS.read_text(encoding="utf-8"))
    recs = [{"id": title, "text": "".join(sentences).strip(), "title": title} for title, sentences in corpus.items()]
    return recs[start:start + n if n else None]


def _jsonl(recs: list[dict]) -> bytes:
    return ("\n".join(json.dumps(r, ensure_ascii=False) for r in recs) + "\n").encode("utf-8")


def _read(paths, **kw):
    errors: list[ReadError] = []
    recs = list(read_paths(paths, errors, **kw))
    return recs, errors


def _rows(recs) -> list[tuple]:
    return [(r.doc_id, r.title, r.text, r.meta) for r in recs]


def test_a_gzipped_jsonl_file_gives_the_records_of_the_plain_one(tmp_path):
    recs = _passages()
    assert len(recs) > 900
    (tmp_path / "plain").mkdir()
    (tmp_path / "gz").mkdir()
    (tmp_path / "plain" / "hotpot.jsonl").write_bytes(_jsonl(recs))
    (tmp_path / "gz" / "hotpot.jsonl.gz").write_bytes(gzip.compress(_jsonl(recs)))
    plain, errors = _read(tmp_path / "plain")
    assert not errors and len(plain) == len(recs)
    for kw in ({}, {"max_bytes": 64 * 1024}):  # read whole and checked, or streamed (over the small size)
        got, errors = _read(tmp_path / "gz", **kw)
        assert not errors, errors
        assert _rows(got) == _rows(plain)  # their own ids, titles, texts
        assert {r.source for r in got} == {str((tmp_path / "gz").resolve() / "hotpot.jsonl.gz")}  # --sync's
    got, errors = _read(tmp_path / "gz" / "hotpot.jsonl.gz")  # given by itself
    assert not errors and _rows(got) == _rows(plain)


def test_a_json_corpus_renamed_jsonl_gz_is_one_error_as_the_plain_one(tmp_path):
    # HotpotQA's corpus is one pretty-printed object: it was 6,129 errors, one a line, as plain .jsonl
    data = CORPUS.read_bytes()
    (tmp_path / "corpus.jsonl").write_bytes(data)
    (tmp_path / "corpus.jsonl.gz").write_bytes(gzip.compress(data))
    (tmp_path / "array.jsonl.gz").write_bytes(gzip.compress(json.dumps(_passages(3), indent=2).encode()))
    _, plain = _read(tmp_path / "corpus.jsonl")
    recs, errors = _read(tmp_path / "corpus.jsonl.gz")
    assert recs == [] and len(errors) == 1 and errors[0].message == plain[0].message
    assert "holds one JSON object over several lines" in errors[0].message
    recs, errors = _read(tmp_path / "array.jsonl.gz")
    assert recs == [] and len(errors) == 1 and errors[0].message.startswith("holds a JSON array, not JSON Lines")
    (tmp_path / "blank.jsonl.gz").write_bytes(gzip.compress(b"\n  \n"))
    recs, errors = _read(tmp_path / "blank.jsonl.gz")
    assert recs == [] and len(errors) == 1 and errors[0].skipped


def test_a_gzipped_pdf_is_still_named_with_how_to_read_it(tmp_path):
    (tmp_path / "paper.pdf.gz").write_bytes(gzip.compress(b"%PDF-1.4 not really"))
    (tmp_path / "r.jsonl.gz").write_bytes(gzip.compress(_jsonl(_passages(2))))
    recs, errors = _read(tmp_path)
    assert len(recs) == 2 and len(errors) == 1 and errors[0].skipped and "(.pdf.gz 1)" in errors[0].message
    assert errors[0].message.endswith("; .pdf.gz files are read only decompressed: `gunzip -k FILE` first")


def _bomb(path, size: int) -> None:
    """``size`` bytes of ``a`` and no newline, gzipped: one line (200 MB in 200 KB)."""
    co = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(path, "wb") as fh:
        for _ in range(size >> 20):
            fh.write(co.compress(b"a" * (1 << 20)))
        fh.write(co.flush())


def test_a_one_line_gzip_bomb_is_one_error_in_bounded_memory(tmp_path):
    (tmp_path / "docs").mkdir()
    _bomb(tmp_path / "docs" / "bomb.jsonl.gz", 200 << 20)
    (tmp_path / "docs" / "a.jsonl.gz").write_bytes(gzip.compress(_jsonl(_passages(3))))
    (recs, errors), peak = traced_peak(lambda: _read(tmp_path / "docs", max_bytes=1 << 20))
    assert [r.doc_id for r in recs] == [p["id"] for p in _passages(3)]
    assert len(errors) == 1 and errors[0].source.endswith("bomb.jsonl.gz") and errors[0].line == 1
    assert errors[0].message.startswith("line is longer than 1,048,576 bytes, the limit for one file (a gzip bomb?)")
    assert peak < 16 << 20, peak  # the limit, not the 200 MB


def test_a_truncated_jsonl_gz_keeps_the_records_before_the_damage(tmp_path):
    recs = _passages(200)
    data = gzip.compress(_jsonl(recs))
    (tmp_path / "cut.jsonl.gz").write_bytes(data[:len(data) // 2])
    errors: list = []
    got = list(read_file(tmp_path / "cut.jsonl.gz", errors))
    assert 20 < len(got) < 200 and _rows(got) == _rows(read_file_plain(tmp_path, recs[:len(got)]))
    assert len(errors) == 1 and errors[0].line == len(got) + 1
    assert errors[0].message.startswith("damaged gzip file (") and "`gzip -t`" in errors[0].message


def read_file_plain(tmp_path, recs) -> list:
    (tmp_path / "plain.jsonl").write_bytes(_jsonl(recs))
    return list(read_file(tmp_path / "plain.jsonl", []))


# -- a memory: --sync, a moved folder, parallel ingest, an upload ------------------------------------------------


def _codec():
    from core.reasoning.mycelial import MycelialVQVAE

    return MycelialVQVAE.load_default()


def test_sync_forgets_a_record_gone_from_a_jsonl_gz_and_the_records_of_a_deleted_one(tmp_path, embedder):
    from core.memory import SemanticMemory
    from core.memory.documents import list_documents, sync_folder

    notes = tmp_path / "notes"
    (notes / "sub").mkdir(parents=True)
    a, b = _passages(4), _passages(2, start=4)
    (notes / "a.jsonl.gz").write_bytes(gzip.compress(_jsonl(a)))
    (notes / "sub" / "b.jsonl.gz").write_bytes(gzip.compress(_jsonl(b)))
    (notes / "n.txt").write_text("The tide mill of Pellow grinds corn.", encoding="utf-8")
    with SemanticMemory(tmp_path / "mem", embedder=embedder, codec=_codec()) as mem:
        rep = mem.ingest(str(notes))
        assert rep.documents == 7 and not rep.errors, rep.to_dict()
        (notes / "a.jsonl.gz").write_bytes(gzip.compress(_jsonl(a[:1] + a[2:])))  # a[1] removed
        (notes / "sub" / "b.jsonl.gz").unlink()
        assert sorted(sync_folder(mem, notes)) == sorted([a[1]["id"]] + [r["id"] for r in b])
        assert {d["id"] for d in list_documents(mem)} == {"n.txt"} | {r["id"] for r in a[:1] + a[2:]}
        data = gzip.compress(_jsonl(a[:1]))  # damaged: the records it may still hold are kept
        (notes / "a.jsonl.gz").write_bytes(data[:len(data) - 12])
        assert sync_folder(mem, notes) == []


def test_a_moved_folder_s_jsonl_gz_records_follow_it(tmp_path, embedder):
    from core.memory import SemanticMemory
    from core.memory.documents import list_documents, sync_folder

    notes = tmp_path / "notes"
    (notes / "sub").mkdir(parents=True)
    r, gone = _passages(2), _passages(1, start=2)
    (notes / "sub" / "r.jsonl.gz").write_bytes(gzip.compress(_jsonl(r)))
    (notes / "gone.jsonl.gz").write_bytes(gzip.compress(_jsonl(gone)))
    with SemanticMemory(tmp_path / "mem", embedder=embedder, codec=_codec()) as mem:
        assert mem.ingest(str(notes)).documents == 3
        assert mem.store_.document(r[0]["id"])["source"] == str(notes.resolve() / "sub" / "r.jsonl.gz")
        moved = tmp_path / "notes2"
        shutil.move(str(notes), str(moved))
        (moved / "gone.jsonl.gz").unlink()  # deleted after the move: its record follows the folder (the store's SQL)
        rep = mem.ingest(str(moved))
        assert (rep.documents, rep.unchanged, rep.moved) == (0, 2, 3), rep.to_dict()
        assert mem.store_.document(gone[0]["id"])["source"] == str(moved.resolve() / "gone.jsonl.gz")
        (moved / "sub" / "r.jsonl.gz").write_bytes(gzip.compress(_jsonl(r[:1])))
        assert sorted(sync_folder(mem, moved)) == sorted([r[1]["id"], gone[0]["id"]])
        assert {d["id"] for d in list_documents(mem)} == {r[0]["id"]}


def test_parallel_reads_a_jsonl_gz_in_the_driver_as_serially(tmp_path, monkeypatch):
    # a gzip stream cannot be cut at byte offsets: it is read here, whole, with the serial reader, in parts
    import core.memory.parallel as par
    from core.memory.parallel import _Parts, _path_items, _read_part, _split

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(par, "PART_CHARS", 20_000)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("Orla lies west of Pellow.", encoding="utf-8")
    lines = _jsonl(_passages(60)).split(b"\n")
    lines[7] = b"{not json"
    (tmp_path / "notes" / "h.jsonl.gz").write_bytes(gzip.compress(b"\n".join(lines)))
    args = ["notes", "notes/h.jsonl.gz"]
    errors: list = []
    serial = [(r.doc_id, r.source, r.meta, r.text) for r in read_paths(args, errors)]
    items = [it for a in args for it in _path_items(a)]
    assert [it[0] for it in items] == ["file", "jsonl", "jsonl"]
    parts = list(_split([items]))
    events = [ev for part in parts for ev in _read_part(_Parts(None, None, {}, 256), part)[0]]
    assert [(e[1].doc_id, e[1].source, e[1].meta, e[1].text) for e in events if e[0] == "rec"] == serial
    assert [str(e[1]) for e in events if e[0] == "err"] == [str(e) for e in errors] and len(errors) == 2
    assert len(parts) >= 3


def test_the_progress_bar_has_no_total_for_a_jsonl_gz(tmp_path):
    # it counted the lines of the plain file: of a gzipped one, the newlines of its compressed bytes
    from core.memory._ingest_progress import _expected_documents

    (tmp_path / "h.jsonl").write_bytes(_jsonl(_passages(30)))
    assert _expected_documents([str(tmp_path / "h.jsonl")]) == 30
    (tmp_path / "h.jsonl.gz").write_bytes(gzip.compress(_jsonl(_passages(30))))
    assert _expected_documents([str(tmp_path)]) is None  # not a wrong total: its lines are known only inflated


def test_parallel_ingest_of_a_jsonl_gz_equals_serial(tmp_path, dask_client):
    from core.embedding import TextEmbedder
    from core.memory import SemanticMemory

    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "h.jsonl.gz").write_bytes(gzip.compress(_jsonl(_passages(24))))
    (tmp_path / "notes" / "a.txt").write_text("The tide mill of Pellow grinds corn.", encoding="utf-8")

    def rows(mem):
        c = mem.store_._conn
        docs = c.execute("SELECT doc_key, title, source, meta, content_hash FROM documents ORDER BY doc_key")
        return docs.fetchall(), c.execute("SELECT hash, text, codes, embedding FROM chunks ORDER BY hash").fetchall()

    with SemanticMemory(tmp_path / "serial", embedder=TextEmbedder(cache=False), chunks_per_commit=8) as mem:
        rep = mem.ingest(str(tmp_path / "notes"))
        assert rep.documents == 25 and not rep.errors, rep.to_dict()
        serial = rows(mem)
    with SemanticMemory(tmp_path / "par", embedder=TextEmbedder(cache=False), chunks_per_commit=8) as mem:
        rep = mem.ingest(str(tmp_path / "notes"), client=dask_client)  # 2 workers, 1 thread each
        assert rep.documents == 25 and not rep.errors, rep.to_dict()
        assert rows(mem) == serial


def test_an_uploaded_jsonl_gz_gives_its_records(tmp_path, embedder):
    # the app in this process (FastAPI's TestClient: the same routes and multipart parsing): a `mycelial serve`
    # process started, loaded the model and answered in ~5-25 s for this one upload
    from fastapi.testclient import TestClient

    from core.server import create_app

    recs = _passages(3)
    with TestClient(create_app({"up": tmp_path / "up"}, embedder=embedder, codec=_codec())) as client:
        r = client.post("/v1/memories/up/documents",
                        files=[("file", ("hotpot.jsonl.gz", gzip.compress(_jsonl(recs)), "application/gzip"))])
        assert r.status_code == 201 and r.json()["documents"] == 3, r.text
        doc = client.get("/v1/memories/up/document", params={"id": recs[0]["id"]}).json()
        assert doc["kind"] == "jsonl" and doc["title"] == recs[0]["title"]
        assert " ".join(c["text"] for c in doc["chunks"]).split() == recs[0]["text"].split()
