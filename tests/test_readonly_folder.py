"""A memory in a folder the reader cannot write, read by real `mycelial` processes.

Each reader runs in every unwritable view this machine has (see tests/_unwritable.py): without write
permission (as root: without the capabilities that bypass it) and, where mounting works, through a
read-only bind mount. SQLite, FAISS, the model and the server are real.
"""
from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import contextmanager

import httpx
import pytest
from _server_helpers import LiveServer
from _two_at_once import two_at_once
from _unwritable import NO_DAC, View, owner_writes, unwritable_views

from core.memory import SemanticMemory
from core.reasoning.mycelial import MycelialVQVAE

DOCS = [{"id": "vask", "title": "Vask", "text": "Zebulon Quartz kept the lighthouse of Vask and counted storm petrels."},
        {"id": "tessary", "title": "Tessary", "text": "Orla Finch designed the copper aqueduct of Tessary in 1821."}]
LATE = {"id": "brindle", "title": "Brindle",
        "text": "Ansel Morrow bred silver carp in the flooded quarry of Brindle until the winter of 1903."}
ASK = "who bred silver carp in the flooded quarry"


@pytest.fixture(scope="module")
def codec():
    return MycelialVQVAE.load_default()


def _memory(folder, embedder, codec, docs=DOCS):
    with SemanticMemory(folder, embedder=embedder, codec=codec) as mem:
        mem.ingest(docs)


@contextmanager
def _checkpoint_held(folder):
    """Another reader of the owner's holding its snapshot: the commits made meanwhile stay in the WAL."""
    holder = sqlite3.connect(folder / "memory.sqlite", isolation_level=None)
    holder.execute("BEGIN")
    holder.execute("SELECT count(*) FROM chunks").fetchone()
    try:
        yield
    finally:
        holder.close()


def _crashed(tmp_path, embedder, codec):
    """A memory whose last ingest is still in its WAL, as a writer killed before its checkpoint leaves
    it: the folder copied (with its -wal and -shm) while a reader's snapshot held the checkpoint back."""
    live = tmp_path / "live"
    _memory(live, embedder, codec)
    with _checkpoint_held(live):
        _memory(live, embedder, codec, [LATE])
        crashed = tmp_path / "crashed"
        shutil.copytree(live, crashed)
    assert (crashed / "memory.sqlite-wal").stat().st_size > 0 and (crashed / "memory.sqlite-shm").exists()
    return crashed


def _files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_an_unwritable_folder_reads_the_commits_still_in_its_wal(tmp_path, embedder, codec):
    # the store opened `immutable=1` whenever its folder could not be written: SQLite then ignored the
    # WAL, and recall and stats answered from before the last ingest (10 documents of 11) without a word
    crashed = _crashed(tmp_path, embedder, codec)
    before = _files(crashed)
    with unwritable_views(crashed, tmp_path) as views:
        runs = two_at_once(lambda run: run[0].mycelial(*run[1:]),
                           [(view, *args) for view in views for args in (
                               ("stats", "--memory", str(view.path)),
                               ("recall", ASK, "--memory", str(view.path), "-k", "1", "--json"))])
        for view, stats, hits in zip(views, runs[::2], runs[1::2]):
            assert stats.returncode == 0, (view.label, stats.stderr)
            assert json.loads(stats.stdout)["documents"] == 3, (view.label, stats.stdout)
            assert hits.returncode == 0, (view.label, hits.stderr)
            assert json.loads(hits.stdout)[0]["doc_id"] == "brindle", (view.label, hits.stdout[:300])
    assert _files(crashed) == before


def test_a_wal_without_its_index_is_refused_in_one_line(tmp_path, embedder, codec):
    # the same WAL without its -shm cannot be read from an unwritable folder: the old open ignored it
    # and answered from the older state; now one line says why and what to do
    crashed = _crashed(tmp_path, embedder, codec)
    (crashed / "memory.sqlite-shm").unlink()
    with unwritable_views(crashed, tmp_path) as views:
        for view, r in zip(views, two_at_once(lambda view: view.mycelial("stats", "--memory", str(view.path)), views)):
            assert r.returncode == 1, (view.label, r.stdout, r.stderr)
            assert "memory.sqlite-wal holds changes not yet in memory.sqlite" in r.stderr, (view.label, r.stderr)
            assert "Traceback" not in r.stderr and "damaged" not in r.stderr, (view.label, r.stderr)
    assert (crashed / "memory.sqlite-wal").stat().st_size > 0  # nothing lost: the owner's open replays it


def test_a_server_on_an_unwritable_folder_sees_what_its_owner_writes_later(tmp_path, embedder, codec):
    # served from a clean folder (no -wal: opened immutable), the server never saw a later ingest by the
    # folder's owner while its commit was in the WAL; now a connection reopens once the file has a writer
    folder = tmp_path / "shared"
    _memory(folder, embedder, codec)
    with unwritable_views(folder, tmp_path) as views:
        servers = two_at_once(lambda view: LiveServer([f"shared={view.path}"], prefix=view.prefix), views)
        try:
            for server in servers:
                assert httpx.get(f"{server.url}/v1/memories/shared/stats").json()["documents"] == 2
            with owner_writes(folder), _checkpoint_held(folder):
                _memory(folder, embedder, codec, [LATE])  # its commit is in the WAL until the holder lets go
                _served_late(servers, views)
            _served_late(servers, views)  # and after the owner's checkpoint
        finally:
            for server in servers:
                server.stop()


def _served_late(servers, views):
    """Each server answers with the late document (and still refuses writes)."""
    for server, view in zip(servers, views):
        stats = httpx.get(f"{server.url}/v1/memories/shared/stats").json()
        assert stats["documents"] == 3, (view.label, stats)
        hits = httpx.get(f"{server.url}/v1/memories/shared/recall", params={"q": ASK, "k": 1}).json()
        assert hits["hits"][0]["doc_id"] == "brindle", (view.label, hits)
        r = httpx.post(f"{server.url}/v1/memories/shared/documents", json=[{"id": "x", "text": "A note."}])
        assert r.status_code == 403 and "not writable" in r.json()["error"], (view.label, r.text)


def test_a_reader_whose_home_cannot_hold_the_cache_is_told_what_to_set(tmp_path, embedder, codec):
    # a service user with an unwritable home got "Permission denied: '.../.cache'" and nothing else
    folder = tmp_path / "shared"
    _memory(folder, embedder, codec)
    home = tmp_path / "home"
    home.mkdir()
    with unwritable_views(home, tmp_path) as views:
        runs = two_at_once(lambda view: view.mycelial("recall", ASK, "--memory", str(folder), "-k", "1",
                                                      env={"HOME": str(view.path), "MYCELIAL_CACHE_DIR": ""}), views)
        for view, r in zip(views, runs):
            assert r.returncode == 1 and "Traceback" not in r.stderr, (view.label, r.stderr)
            assert "set MYCELIAL_CACHE_DIR to a folder this user can write" in r.stderr, (view.label, r.stderr)
            assert f"{view.path}/.cache/mycelial" in r.stderr, (view.label, r.stderr)


def test_a_store_file_without_write_permission_in_a_writable_folder_is_named_by_every_write(tmp_path, embedder,
                                                                                            codec):
    # SQLite's bare "attempt to write a readonly database" from ingest, forget and reinforce (no file, no
    # fix), and repair said "rebuilt" with exit 0; reads answer as before
    folder = tmp_path / "m"
    _memory(folder, embedder, codec)
    (tmp_path / "late.txt").write_text(LATE["text"])
    store = folder / "memory.sqlite"
    before = store.read_bytes()
    store.chmod(0o444)
    view = View("memory.sqlite without write permission", folder, NO_DAC)
    writes = [("ingest", str(tmp_path / "late.txt"), "-q"), ("forget", "vask"), ("reinforce", "lighthouse", "1"),
              ("repair",)]
    for args, r in zip(writes, two_at_once(lambda a: view.mycelial(*a, "--memory", str(folder)), writes)):
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        assert f"memory {folder} cannot be changed: {store} is not writable" in r.stderr, (args, r.stderr)
        assert "chmod u+w" in r.stderr and "readonly database" not in r.stderr, (args, r.stderr)
    r = view.mycelial("recall", "who counted storm petrels", "--memory", str(folder), "-k", "1", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)[0]["doc_id"] == "vask", (r.stdout, r.stderr)
    assert store.read_bytes() == before
