"""The memory's ``chunks_per_commit`` (chunks embedded and committed per ingest transaction) and the
store's ``rows_per_statement`` (keys bound per ``IN (...)`` read) were both called ``batch_size``
(1,024 and 500): the old names still work, with a DeprecationWarning. Real SQLite and model."""
from __future__ import annotations

import pytest

from core.memory import SemanticMemory
from core.memory.store import Store
from core.reasoning.mycelial import MycelialVQVAE

DOCS = [{"id": f"d{i}", "text": t} for i, t in enumerate([
    "The tide mill of Pellow grinds corn.", "Wrens nest in the ivy by the church.",
    "Lamps on Quarry Road burn gas.", "The harbour freezes late in the winter.", "A ferry crosses at dawn."])]


def _ingest_commits(mem) -> int:
    seen = []
    mem.store_._conn.set_trace_callback(lambda sql: seen.append(sql) if sql.strip().upper() == "COMMIT" else None)
    try:
        assert mem.ingest(DOCS, progress=False).documents == len(DOCS)
    finally:
        mem.store_._conn.set_trace_callback(None)
    return len(seen)


def test_chunks_per_commit_sets_the_ingest_transactions(tmp_path, embedder):
    codec = MycelialVQVAE.load_default()
    with SemanticMemory(tmp_path / "one", embedder=embedder, codec=codec, chunks_per_commit=1) as mem:
        assert mem.chunks_per_commit == 1
        per_chunk = _ingest_commits(mem)
    with SemanticMemory(tmp_path / "all", embedder=embedder, codec=codec, chunks_per_commit=1024) as mem:
        whole = _ingest_commits(mem)
    assert per_chunk - whole == len(DOCS) - 1, (per_chunk, whole)  # one transaction a chunk, against one in all


def test_the_old_memory_name_warns_and_still_works(tmp_path, embedder):
    codec = MycelialVQVAE.load_default()
    with pytest.warns(DeprecationWarning, match="batch_size is deprecated: use chunks_per_commit") as rec:
        mem = SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec, batch_size=3)
    assert rec[0].filename == __file__  # points at the caller's line
    with mem:
        assert mem.chunks_per_commit == 3
        with pytest.warns(DeprecationWarning, match="SemanticMemory.batch_size"):
            assert mem.batch_size == 3
    with pytest.raises(TypeError, match="former name of chunks_per_commit"):
        SemanticMemory(tmp_path / "x", embedder=embedder, codec=codec, batch_size=3, chunks_per_commit=5)
    assert not (tmp_path / "x").exists()
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="chunks_per_commit must be a whole number"):
        SemanticMemory(tmp_path / "y", embedder=embedder, codec=codec, batch_size=0)


def test_rows_per_statement_and_the_old_store_name(tmp_path):
    with Store(tmp_path / "s.sqlite", rows_per_statement=2) as st:
        assert st.rows_per_statement == 2
    with pytest.warns(DeprecationWarning, match="batch_size is deprecated: use rows_per_statement"):
        st = Store(tmp_path / "s.sqlite", batch_size=7)
    with st:
        assert st.rows_per_statement == 7
        with pytest.warns(DeprecationWarning, match="Store.batch_size"):
            assert st.batch_size == 7
