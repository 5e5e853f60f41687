"""The memory-mapped vector file re-ranking reads: same rows as SQLite, forgets, crashes, foreign stores."""
from __future__ import annotations

import os
import shutil

import numpy as np

from core.memory import _vecfile
from core.memory._vecfile import HEADER
from core.memory.chunking import chunk_hash
from core.memory.store import Store


def _add(st, key, n, seed):
    rng = np.random.default_rng(seed)
    emb = rng.standard_normal((n, 384)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    texts = [f"{key} sentence {i}" for i in range(n)]
    with st.atomic():
        st.add_document(key, key, "test", {}, f"h-{key}", [chunk_hash(t) for t in texts], texts,
                        rng.integers(0, 256, (n, 4)).astype(np.uint8), emb, [[]] * n)


def _same(st, ids):
    a_ids, a = st.vectors(ids)
    b_ids, b = st.embeddings(ids)
    np.testing.assert_array_equal(a_ids, b_ids)
    np.testing.assert_array_equal(a, b)  # bit for bit: the same float16 rows, converted exactly
    return a_ids


def test_rows_equal_sqlite_and_follow_ingest_and_forget(tmp_path, monkeypatch):
    monkeypatch.setattr(_vecfile, "STEP", 7)  # catch-up in several slices
    path = tmp_path / "memory.sqlite"
    with Store(path) as st:
        _add(st, "a", 30, 0)
        _add(st, "b", 20, 1)
        ids = np.asarray([45, 3, 3, 999, 0, 17, 50, -2], dtype=np.int64)  # repeats, unknown and bad ids
        assert _same(st, ids).tolist() == [45, 3, 3, 17, 50]
        assert (tmp_path / "vectors.f16").stat().st_size == HEADER + 51 * 768
        _add(st, "c", 10, 2)  # after the file was made: caught up on the next read
        assert _same(st, np.arange(1, 61)).tolist() == list(range(1, 61))
        b_rows = st.embeddings(np.arange(31, 51))[1]
        st.forget("b")
        assert _same(st, np.arange(1, 61)).tolist() == list(range(1, 31)) + list(range(51, 61))
    # the forgotten vectors are gone from the file, not only hidden
    raw = (tmp_path / "vectors.f16").read_bytes()
    assert b_rows.astype(np.float16).tobytes()[:768] not in raw
    assert raw[HEADER + 31 * 768: HEADER + 51 * 768] == bytes(20 * 768)


def test_a_crash_before_the_header_moved_and_a_missed_forget_are_repaired(tmp_path):
    path = tmp_path / "memory.sqlite"
    with Store(path) as st:
        _add(st, "a", 30, 0)
        _add(st, "b", 20, 1)
        _same(st, [1])
    # a crash after rows were appended but before the header counted them: garbage past `upto`
    vf_path = tmp_path / "vectors.f16"
    with open(vf_path, "r+b") as fh:
        fh.seek(HEADER + 40 * 768)
        fh.write(os.urandom(11 * 768))
        fh.seek(48)
        fh.write((39).to_bytes(8, "little"))
    with Store(path) as st:
        assert _same(st, np.arange(1, 51)).tolist() == list(range(1, 51))
    # a forget by a process that never opened the file, its log entry pruned before the file saw it
    os.rename(vf_path, tmp_path / "aside")
    with Store(path) as st:
        st.forget("a")
        st.prune_forget_log(10)
    os.rename(tmp_path / "aside", vf_path)
    with Store(path) as st:
        assert _same(st, np.arange(1, 51)).tolist() == list(range(31, 51))
    assert vf_path.read_bytes()[HEADER + 768: HEADER + 31 * 768] == bytes(30 * 768)


def test_a_file_of_another_store_or_an_older_copy_is_rebuilt(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    with Store(one / "memory.sqlite") as st:
        _add(st, "a", 20, 0)
        _same(st, [1])
    with Store(two / "memory.sqlite") as st:
        _add(st, "x", 25, 5)
    shutil.copy(one / "vectors.f16", two / "vectors.f16")  # another store's rows
    with Store(two / "memory.sqlite") as st:
        assert _same(st, np.arange(1, 26)).tolist() == list(range(1, 26))
    # the store restored from a backup older than the file: ids past it hold other vectors now
    shutil.copy(one / "memory.sqlite", tmp_path / "backup.sqlite")
    with Store(one / "memory.sqlite") as st:
        _add(st, "b", 10, 1)
        _same(st, np.arange(1, 31))
    shutil.copy(tmp_path / "backup.sqlite", one / "memory.sqlite")
    for side in ("-wal", "-shm"):
        (one / f"memory.sqlite{side}").unlink(missing_ok=True)
    with Store(one / "memory.sqlite") as st:
        _add(st, "c", 10, 9)  # ids 21-30 again, other vectors
        assert _same(st, np.arange(1, 31)).tolist() == list(range(1, 31))


def test_read_only_store_reads_its_file_and_never_creates_one(tmp_path):
    path = tmp_path / "memory.sqlite"
    with Store(path) as st:
        _add(st, "a", 20, 0)
    with Store(path, read_only=True) as st:
        _same(st, np.arange(1, 21))
        assert _vecfile.vector_file(st) is None
    assert not (tmp_path / "vectors.f16").exists()
    with Store(path) as st:
        _same(st, [1])
        _add(st, "b", 5, 1)  # not yet in the file: the read-only reader takes them from SQLite
    with Store(path, read_only=True) as st:
        assert _vecfile.vector_file(st) is not None
        assert _same(st, np.arange(1, 26)).tolist() == list(range(1, 26))


def test_ingest_writes_the_rows_so_no_recall_pays_for_them(tmp_path):
    from core.memory import SemanticMemory

    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 384)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    with SemanticMemory(tmp_path / "mem") as mem:
        mem.ingest_vectors(range(200), X[:200])
        mem.ingest_vectors(range(200, 300), X[200:])
        vf = _vecfile.vector_file(mem.store_, create=False)
        assert vf is not None and vf.covered() == mem.stats()["chunks"] == 300  # before any recall
        _same(mem.store_, np.arange(1, 301))


def test_repair_writes_every_row_again_from_sqlite(tmp_path, embedder):
    # repair left vectors.f16 as it was: flipped bytes in a counted row kept changing re-ranked scores (the
    # catch-up compares only the last row), and a 0-byte file stayed unused, a warning on every command
    from core.memory import SemanticMemory

    folder = tmp_path / "m"
    X = np.random.default_rng(3).standard_normal((40, 384)).astype(np.float32)
    with SemanticMemory(folder, embedder=embedder) as m:
        m.ingest_vectors([f"v{i}" for i in range(40)], X)
    path = folder / "vectors.f16"
    good = path.read_bytes()
    assert len(good) == HEADER + 41 * 768
    damaged = bytearray(good)
    for at in np.random.default_rng(7).choice(np.arange(HEADER + 768, HEADER + 39 * 768), 20, replace=False):
        damaged[at] ^= 0xFF
    for bad in (bytes(damaged), b""):
        path.write_bytes(bad)
        with SemanticMemory(folder, embedder=embedder) as m:
            m.repair()
            with Store(folder / "memory.sqlite", read_only=True) as st:
                _same(st, np.arange(1, 41))
        assert path.read_bytes() == good


def test_repair_check_names_damaged_rows_and_changes_nothing(tmp_path, embedder):
    # nothing found damaged rows of vectors.f16, and opening rebuilds a damaged index without a word
    from click.testing import CliRunner

    from core.cli import cli
    from core.memory import SemanticMemory

    folder = tmp_path / "m"
    with SemanticMemory(folder, embedder=embedder) as m:
        m.ingest_vectors([f"v{i}" for i in range(40)], np.random.default_rng(3).standard_normal((40, 384)))
    check = ["repair", "--check", "--memory", str(folder)]
    r = CliRunner().invoke(cli, check)
    assert r.exit_code == 0 and "40 chunks; memory.sqlite, the index, network, graph and vectors.f16 agree" in r.output
    path = folder / "vectors.f16"
    damaged = bytearray(path.read_bytes())
    for cid in (7, 21):
        damaged[HEADER + cid * 768 + 5] ^= 0xFF
    path.write_bytes(bytes(damaged))
    index = next(folder.glob("index.*.npz"))
    index.write_bytes(index.read_bytes()[:100])
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    r = CliRunner().invoke(cli, check)
    assert r.exit_code == 1, r.output
    assert "vectors.f16: 2 of 40 rows differ from memory.sqlite (chunk ids 7, 21)" in r.output, r.output
    assert f"{index.name} is unreadable" in r.output and "2 problems found; `mycelial repair" in r.output, r.output
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert CliRunner().invoke(cli, ["repair", "--memory", str(folder)]).exit_code == 0
    assert CliRunner().invoke(cli, check).exit_code == 0
