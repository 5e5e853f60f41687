"""A seed cache is read without a byte written beside it: ``mode=ro`` alone made the developer's
~/.cache/mycelial/embeddings.sqlite-wal and -shm and wrote the -shm on every test session's first lookup."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import numpy as np

from core.embedding_cache import EmbeddingCache

KEY = EmbeddingCache.key


def _state(folder) -> dict:
    return {e.name: (e.stat().st_size, e.stat().st_mtime_ns) for e in os.scandir(folder)}


def _seed(folder, texts) -> str:
    """A WAL-mode cache holding a vector for each text (the i-th all i+1), closed cleanly."""
    path = folder / "embeddings.sqlite"
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    with db:
        db.execute("CREATE TABLE embeddings (model TEXT NOT NULL, key BLOB NOT NULL, vector BLOB NOT NULL,"
                   " used INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (model, key)) WITHOUT ROWID")
        db.executemany("INSERT INTO embeddings VALUES ('m', ?, ?, 0)",
                       [(KEY(t), np.full(4, i + 1, np.float32).tobytes()) for i, t in enumerate(texts)])
    db.close()  # the last connection: its -wal and -shm go
    return path


def _lookup(seed, own, texts) -> dict:
    cache = EmbeddingCache(own / "own.sqlite", seed=seed)
    return {k: float(v[0]) for k, v in cache.get("m", [KEY(t) for t in texts], 4).items()}


def test_a_closed_seed_is_read_and_nothing_is_made_beside_it(tmp_path):
    (tmp_path / "dev").mkdir()
    seed = _seed(tmp_path / "dev", ["a", "b"])
    before = _state(tmp_path / "dev")
    assert sorted(before) == ["embeddings.sqlite"]
    assert _lookup(seed, tmp_path, ["a", "b", "c"]) == {KEY("a"): 1.0, KEY("b"): 2.0}
    assert _state(tmp_path / "dev") == before  # no -wal, no -shm (mode=ro made both)


def test_a_seed_with_a_leftover_wal_and_shm_is_read_without_writing_them(tmp_path):
    (tmp_path / "dev").mkdir()
    seed = _seed(tmp_path / "dev", ["a"])
    sqlite3.connect(f"{seed.as_uri()}?mode=ro", uri=True).execute("SELECT 1 FROM embeddings").fetchall()
    before = _state(tmp_path / "dev")  # what an older version's read left: an empty -wal and a -shm
    assert sorted(before) == ["embeddings.sqlite", "embeddings.sqlite-shm", "embeddings.sqlite-wal"]
    assert _lookup(seed, tmp_path, ["a"]) == {KEY("a"): 1.0}
    assert _state(tmp_path / "dev") == before


def test_a_seed_being_written_is_read_with_the_writers_commits_and_left_alone(tmp_path):
    (tmp_path / "dev").mkdir()
    seed = _seed(tmp_path / "dev", ["a"])
    writer = sqlite3.connect(seed)  # the developer's ingest, its commits still in the WAL
    writer.execute("PRAGMA wal_autocheckpoint=0")
    with writer:
        writer.execute("INSERT INTO embeddings (model, key, vector, used) VALUES ('m', ?, ?, 0)",
                       (KEY("b"), np.full(4, 7, np.float32).tobytes()))
    before = _state(tmp_path / "dev")
    assert _lookup(seed, tmp_path, ["a", "b"]) == {KEY("a"): 1.0, KEY("b"): 7.0}
    assert _state(tmp_path / "dev") == before
    writer.close()


def test_a_writer_that_starts_after_the_seed_was_opened_is_seen(tmp_path):
    (tmp_path / "dev").mkdir()
    seed = _seed(tmp_path / "dev", ["a"])
    cache = EmbeddingCache(tmp_path / "own.sqlite", seed=seed)
    assert list(cache.get("m", [KEY("a"), KEY("b")], 4)) == [KEY("a")]  # opened immutable: no -wal there
    code = ("import sys, numpy as np; from core.embedding_cache import EmbeddingCache as C; "
            "C(sys.argv[1]).put('m', [C.key('b')], np.full((1, 4), 5, np.float32))")
    subprocess.run([sys.executable, "-c", code, str(seed)], check=True, timeout=60,
                   env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert {k: float(v[0]) for k, v in cache.get("m", [KEY("a"), KEY("b")], 4).items()} == {KEY("a"): 1.0,
                                                                                          KEY("b"): 5.0}


def test_the_private_cache_reaches_the_developers_exports_by_hard_links_only():
    """Symlinked exports made every session write there: in-use.lock stamped by each process, OpenVINO's
    59 MB blobs compiled in and pruned out of the developer's openvino/ folder."""
    from conftest import DEV_CACHE

    private = os.environ["MYCELIAL_CACHE_DIR"]
    dev = os.path.realpath(DEV_CACHE)
    for dirpath, dirs, files in os.walk(private):
        for name in dirs + files:
            path = os.path.join(dirpath, name)
            assert not os.path.realpath(path).startswith(dev + os.sep), path
    for export in ("onnx", "openvino"):
        for source in (DEV_CACHE / export).glob("*/*.json"):  # the models' sidecars: their twins share an inode
            twin = os.path.join(private, os.path.relpath(source, DEV_CACHE))
            assert os.path.samefile(source, twin) or os.stat(twin).st_mtime_ns == os.stat(source).st_mtime_ns
