"""A memory whose memory.sqlite is missing or 0 bytes while its derived files remain: every writable open
refuses (the Python API, ingest, forget, reinforce, repair) and deletes nothing; `repair --start-empty` is the
explicit way to start over. Real SQLite, FAISS and model."""
from __future__ import annotations

import shutil

import pytest
from _memory_helpers import wiki_records
from click.testing import CliRunner

from core.cli import cli
from core.memory import SemanticMemory
from core.memory.store import StoreError
from core.reasoning.mycelial import MycelialVQVAE


@pytest.fixture(scope="module")
def codec():
    return MycelialVQVAE.load_default()


@pytest.fixture(scope="module")
def records(wiki_docs):
    return wiki_records(wiki_docs, n_docs=3, n_sents=6)


@pytest.fixture(scope="module")
def built(tmp_path_factory, embedder, codec, records):
    """A memory of two documents, closed: (folder, chunks)."""
    folder = tmp_path_factory.mktemp("built") / "m"
    with SemanticMemory(folder, embedder=embedder, codec=codec) as m:
        m.ingest(records[:2])
        chunks = m.store_.count_chunks()
    return folder, chunks


def _lose(built, tmp_path, how):
    """A copy of the built memory whose memory.sqlite (and its journals) is deleted or emptied."""
    folder = tmp_path / "m"
    shutil.copytree(built[0], folder)
    for name in ("memory.sqlite-wal", "memory.sqlite-shm"):
        (folder / name).unlink(missing_ok=True)
    if how == "missing":
        (folder / "memory.sqlite").unlink()
    else:
        (folder / "memory.sqlite").write_bytes(b"")
    return folder


def _files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.name != "write.lock"}


@pytest.mark.parametrize("how", ["missing", "empty"])
def test_every_write_refuses_a_lost_store_and_deletes_nothing(tmp_path, built, embedder, codec, records, how):
    # ingest/forget/repair made a new empty store without a word, and its save deleted the old index files
    folder = _lose(built, tmp_path, how)
    before = _files(folder)
    state = "is missing" if how == "missing" else "is empty (0 bytes)"
    with pytest.raises(StoreError) as exc:
        SemanticMemory(folder, embedder=embedder, codec=codec)
    msg = str(exc.value)
    assert f"memory.sqlite {state}" in msg and f"record a memory of {built[1]} chunks of 2 documents" in msg, msg
    assert "restore memory.sqlite from a backup" in msg and "repair --start-empty" in msg and "\n" not in msg
    for cmd in (["ingest", str(tmp_path / "new.txt")], ["forget", records[0]["id"]],
                ["reinforce", "anything", "1"], ["repair"]):
        (tmp_path / "new.txt").write_text("An unrelated new note about ships.")
        r = CliRunner().invoke(cli, [*cmd, "--memory", str(folder)])
        assert r.exit_code == 1 and f"memory.sqlite {state}" in r.output, (cmd, r.output)
        assert "repair --start-empty" in r.output and "Traceback" not in r.output, r.output
    assert _files(folder) == before


def test_start_empty_starts_over_a_lost_store_only_and_new_memories_are_made_as_before(tmp_path, built, embedder,
                                                                                       codec, records):
    healthy = tmp_path / "healthy"
    shutil.copytree(built[0], healthy)
    before = _files(healthy)
    r = CliRunner().invoke(cli, ["repair", "--start-empty", "--memory", str(healthy)])
    assert r.exit_code == 1 and "only starts over a memory whose memory.sqlite is missing" in r.output, r.output
    assert _files(healthy) == before
    folder = _lose(built, tmp_path, "empty")
    r = CliRunner().invoke(cli, ["repair", "--start-empty", "--memory", str(folder)])
    assert r.exit_code == 0 and "0 documents, 0 chunks" in r.output, r.output
    (tmp_path / "new.txt").write_text("An unrelated new note about ships.")
    r = CliRunner().invoke(cli, ["ingest", str(tmp_path / "new.txt"), "--memory", str(folder), "-q"])
    assert r.exit_code == 0 and "1 document ingested" in r.output, r.output

    marker_only = tmp_path / "marker"
    marker_only.mkdir()
    shutil.copy(built[0] / "mycelial.json", marker_only)
    empty = tmp_path / "empty"
    with SemanticMemory(empty, embedder=embedder, codec=codec):
        pass  # saved with no chunk: state.json, index.1.npz, ... record none
    (empty / "memory.sqlite").unlink()
    for new in (marker_only, empty):
        with SemanticMemory(new, embedder=embedder, codec=codec) as m:
            m.ingest(records[2:3])
            assert m.store_.count_documents() == 1 and m.index_.ntotal == m.store_.count_chunks()
