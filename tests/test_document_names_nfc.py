"""A document name in two Unicode forms is one name: macOS lists "café" decomposed (NFD: e + U+0301),
a keyboard types it composed (NFC). Real files, SQLite, the model and a server on 127.0.0.1."""
from __future__ import annotations

import sqlite3
import unicodedata

import httpx
import pytest
from _server_helpers import LiveServer
from click.testing import CliRunner

from core.cli import cli
from core.memory import SemanticMemory
from core.memory.documents import get_document, list_documents, sync_folder
from core.reasoning.mycelial import MycelialVQVAE

NFC = "notes/café déjà vu.txt"
NFD = unicodedata.normalize("NFD", NFC)
TEXT = "Ansel Morrow bred silver carp in the flooded quarry of Brindle until the winter of 1903."
OTHER = "Orla Finch designed the copper aqueduct of Tessary in 1821, and it still carries water."


@pytest.fixture(scope="module")
def codec():
    return MycelialVQVAE.load_default()


def _open(folder, embedder, codec, **kw):
    return SemanticMemory(folder, embedder=embedder, codec=codec, **kw)


def _ids(mem) -> list[str]:
    return [d["id"] for d in list_documents(mem)]


def test_a_file_named_in_either_form_is_one_document(tmp_path, embedder, codec):
    # a file listed decomposed (copied from a Mac) was stored under its NFD name: the same file saved
    # composed later became a second document, and `forget`/`get` typed composed found nothing
    src = tmp_path / "src"
    (src / "notes").mkdir(parents=True)
    (src / NFD).write_text(TEXT)
    with _open(tmp_path / "m", embedder, codec) as mem:
        rep = mem.ingest([str(src)])
        assert rep.documents == 1 and _ids(mem) == [NFC]
        assert get_document(mem, NFC)["id"] == NFC and get_document(mem, NFD)["id"] == NFC
        assert [d["id"] for d in list_documents(mem, prefix=NFD[:12])] == [NFC]  # `list --prefix` typed on a Mac
        (src / NFD).rename(src / NFC)  # the same file, its name composed now
        rep = mem.ingest([str(src)])
        assert rep.unchanged == 1 and rep.documents == 0, rep.to_dict()
        assert sync_folder(mem, src) == [] and _ids(mem) == [NFC]
    r = CliRunner().invoke(cli, ["forget", NFD, "--memory", str(tmp_path / "m")])
    assert r.exit_code == 0, r.output
    with _open(tmp_path / "m", embedder, codec) as mem:
        assert _ids(mem) == []


def test_uploads_and_deletes_over_http_take_either_form(tmp_path, embedder, codec):
    folder = tmp_path / "served"
    with _open(folder, embedder, codec) as mem:
        mem.ingest([{"id": "seed", "text": OTHER}])
    server = LiveServer([f"served={folder}"])
    try:
        url = f"{server.url}/v1/memories/served"
        answers = [httpx.post(f"{url}/documents", files={"file": (name, TEXT.encode(), "text/plain")}, timeout=120)
                   for name in ("café.txt", unicodedata.normalize("NFD", "café.txt"))]  # a Mac's browser sends NFD
        assert answers[0].status_code == 201 and answers[0].json()["documents"] == 1, answers[0].text
        assert answers[1].status_code < 300 and answers[1].json()["unchanged"] == 1, answers[1].text
        ids = [d["id"] for d in httpx.get(f"{url}/documents").json()["documents"]]
        assert sorted(ids) == ["file:café.txt", "seed"], ids  # one document, named composed
        for form in ("file:café.txt", unicodedata.normalize("NFD", "file:café.txt")):
            r = httpx.get(f"{url}/document", params={"id": form})
            assert r.status_code == 200 and r.json()["id"] == "file:café.txt", r.text
        r = httpx.delete(f"{url}/documents/{unicodedata.normalize('NFD', 'file:café.txt')}")
        assert r.status_code == 200, r.text
        assert [d["id"] for d in httpx.get(f"{url}/documents").json()["documents"]] == ["seed"]
    finally:
        server.stop()


def _as_older_version(folder, names: list[str]) -> None:
    """Store ``names`` as an older version did (as given, NFD included), not yet renamed."""
    with sqlite3.connect(folder / "memory.sqlite") as conn:
        for i, name in enumerate(names):
            conn.execute("UPDATE documents SET doc_key = ? WHERE doc_key = ?", (name, f"d{i}"))
        conn.execute("DELETE FROM settings WHERE key = 'doc_keys_nfc'")
    conn.close()


def test_a_memory_with_decomposed_names_loses_nothing(tmp_path, embedder, codec, caplog):
    folder = tmp_path / "old"
    with _open(folder, embedder, codec) as mem:
        mem.ingest([{"id": "d0", "text": TEXT}, {"id": "d1", "text": OTHER}])
    _as_older_version(folder, [NFD, "plain.txt"])
    before = (folder / "memory.sqlite").read_bytes()
    with _open(folder, embedder, codec, read_only=True) as mem:  # read-only: found, nothing renamed
        assert get_document(mem, NFC)["id"] == NFD and get_document(mem, NFD)["id"] == NFD
    assert (folder / "memory.sqlite").read_bytes() == before
    r = CliRunner().invoke(cli, ["get", NFC, "--memory", str(folder)])
    assert r.exit_code == 0 and "silver carp" in r.output, r.output
    with _open(folder, embedder, codec) as mem:  # writable: renamed once, every form finds it
        assert sorted(_ids(mem)) == sorted([NFC, "plain.txt"])
        assert get_document(mem, NFD)["id"] == NFC
        rep = mem.ingest([{"id": NFD, "text": TEXT}])
        assert rep.unchanged == 1 and mem.stats()["documents"] == 2
        assert mem.forget(NFD) and _ids(mem) == ["plain.txt"]


def test_two_documents_an_older_version_made_of_one_name_are_both_kept(tmp_path, embedder, codec, caplog):
    folder = tmp_path / "twins"
    with _open(folder, embedder, codec) as mem:
        mem.ingest([{"id": "d0", "text": TEXT}, {"id": "d1", "text": OTHER}])
    _as_older_version(folder, [NFD, NFC])
    with caplog.at_level("WARNING", logger="mycelial.memory"):
        with _open(folder, embedder, codec) as mem:
            assert sorted(_ids(mem)) == sorted([NFD, NFC])
            assert any("two Unicode forms" in r.getMessage() for r in caplog.records)
            assert get_document(mem, NFD)["chunks"][0]["text"] == TEXT  # each by its exact form
            assert get_document(mem, NFC)["chunks"][0]["text"] == OTHER
            assert mem.forget(NFD) and _ids(mem) == [NFC]


def test_vectors_ingested_under_either_form_are_one_document(tmp_path, embedder, codec):
    with _open(tmp_path / "v", embedder, codec) as mem:
        X = embedder.embed([TEXT, OTHER])
        mem.ingest_vectors([NFD], X[:1], texts=[TEXT])
        rep = mem.ingest_vectors([NFC], X[:1], texts=[TEXT])
        assert rep.unchanged == 1 and _ids(mem) == [NFC]
        with pytest.raises(ValueError, match="ids must be unique"):  # one name twice in one call
            mem.ingest_vectors([NFC, NFD], X, texts=[TEXT, OTHER])
