"""The SQLite store: migrations, nested transactions, dedupe by reference, forget log, reopen."""
from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from core.memory.chunking import chunk_hash
from core.memory.store import MIGRATIONS, Store, StoreError


def _add(st, key, texts, seed=0):
    rng = np.random.default_rng(seed)
    n = len(texts)
    emb = rng.standard_normal((n, 384)).astype(np.float32)
    codes = rng.integers(0, 256, (n, 4)).astype(np.uint8)
    with st.atomic():
        return st.add_document(key, key.upper(), "test", {"k": key}, f"h-{key}", [chunk_hash(t) for t in texts],
                               texts, codes, emb, [["p"]] * n), emb, codes


def test_requires_exactly_one_target(tmp_path):
    with pytest.raises(ValueError, match="Either specify a path or pass memory=True"):
        Store()
    with pytest.raises(ValueError):
        Store(tmp_path / "x.sqlite", memory=True)


def test_migrations_are_recorded_once(tmp_path):
    path = tmp_path / "m.sqlite"
    Store(path).close()
    with Store(path) as st:
        names = [r[0] for r in st._conn.execute("SELECT name FROM _migrations")]
        assert names == [m[0] for m in MIGRATIONS]
        assert st._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_newer_store_and_foreign_file_are_refused(tmp_path):
    path = tmp_path / "m.sqlite"
    with Store(path) as st:
        st._conn.execute("INSERT INTO _migrations VALUES ('9999_future', 0)")
    with pytest.raises(StoreError, match="newer version"):
        Store(path)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="not a SQLite database"):
        Store(junk)


def test_truncated_store_names_one_way_out(tmp_path):
    # a truncated memory.sqlite is beyond repair: the message said "restore it from a backup" and then
    # "run `mycelial repair`" (which gives this same message again), with unbalanced parentheses
    path = tmp_path / "memory.sqlite"
    with Store(path) as st:
        _add(st, "a", ["one"])
    with open(path, "r+b") as f:
        f.truncate(100)
    with pytest.raises(StoreError) as err:
        Store(path)
    msg = str(err.value)
    assert "not a SQLite database" in msg and "restore it from a backup" in msg
    assert "mycelial repair" not in msg and msg.count("(") == msg.count(")")


def test_atomic_rolls_back_and_nests_as_savepoint():
    st = Store(memory=True)
    with pytest.raises(RuntimeError):
        with st.atomic():
            _add(st, "a", ["one"])
            raise RuntimeError("boom")
    assert st.count_documents() == 0
    with st.atomic():
        _add(st, "a", ["one"])
        with pytest.raises(KeyError):
            with st.atomic():
                _add(st, "b", ["two"])
                raise KeyError("inner")
    assert st.count_documents() == 1 and st.document("b") is None


def test_identical_chunks_stored_once_and_forget_keeps_shared_ones():
    st = Store(memory=True)
    (da, ids_a, new_a), emb_a, codes_a = _add(st, "a", ["shared", "only a", "shared"])
    (db, ids_b, new_b), _, _ = _add(st, "b", ["shared", "only b"], seed=1)
    assert new_a.tolist() == [True, True, False] and ids_a[0] == ids_a[2]
    assert new_b.tolist() == [False, True] and ids_b[0] == ids_a[0]
    assert st.count_chunks() == 3
    found, X = st.embeddings([ids_a[1]])
    np.testing.assert_allclose(X[0], emb_a[1].astype(np.float16).astype(np.float32))
    info = st.forget("a")
    assert sorted(info["removed"].tolist()) == [int(ids_a[1])]
    np.testing.assert_array_equal(info["codes"].reshape(-1, 4), codes_a[[0, 1, 0]])  # stored codes, in order
    assert st.count_chunks() == 2
    # the shared chunk now belongs to b
    assert st.chunk_rows([ids_a[0]])[int(ids_a[0])]["doc_key"] == "b"
    assert st.forget("a") is None
    assert [e["seq"] for e in st.forget_log()] == [info["seq"]]
    assert st.last_ids() == {"chunk": 3, "doc": 2, "forget": 1}


def test_reopen_keeps_everything_and_reads_from_other_threads(tmp_path):
    import threading

    path = tmp_path / "s.sqlite"
    with Store(path, rows_per_statement=2) as st:
        _add(st, "a", ["x", "y", "z"])
    with Store(path, rows_per_statement=2) as st:
        assert st.count_chunks() == 3 and st.document("a")["meta"] == {"k": "a"}
        rows = [r for batch in st.iter_chunks(0, "id, text", batch=2) for r in batch]
        assert [r[1] for r in rows] == ["x", "y", "z"]
        seen = []
        t = threading.Thread(target=lambda: seen.append(st.count_chunks()))
        t.start()
        t.join()
        assert seen == [3]


def test_rows_per_statement_is_clamped():
    assert Store(memory=True, rows_per_statement=10**9).rows_per_statement == 900
    assert Store(memory=True, rows_per_statement=0).rows_per_statement == 1


def test_unique_doc_key():
    st = Store(memory=True)
    _add(st, "a", ["one"])
    with pytest.raises(sqlite3.IntegrityError):
        _add(st, "a", ["two"])
    assert st.count_chunks() == 1


def test_embeddings_keep_the_order_given_with_repeats_and_missing_ids(tmp_path):
    with Store(tmp_path / "e.sqlite", rows_per_statement=2) as st:  # file-backed: mapped reads, several batches
        (_, ids, _), emb, _ = _add(st, "a", ["one", "two", "three"])
        st.forget("a")
        (_, ids_b, _), emb_b, _ = _add(st, "b", ["four", "five", "six"], seed=3)
        ask = [ids_b[2], ids[0], ids_b[0], ids_b[2], 10_000, ids_b[1]]
        found, X = st.embeddings(ask)
        assert found.tolist() == [int(ids_b[i]) for i in (2, 0, 2, 1)]
        want = emb_b[[2, 0, 2, 1]].astype(np.float16).astype(np.float32)
        np.testing.assert_array_equal(X, want)
        empty, X0 = st.embeddings([ids[1]])
        assert len(empty) == 0 and X0.shape == (0, 0)
