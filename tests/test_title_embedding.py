"""Chunks are embedded with their document's title (new memories); older memories keep theirs."""
from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from core.memory import SemanticMemory
from core.memory.chunking import embedded_text
from core.reasoning.mycelial import MycelialVQVAE

TEXT = "He adopted Trajan, a young and popular general, as his successor."


@pytest.fixture(scope="module")
def codec():
    return MycelialVQVAE.load_default()


def _stored(mem, doc_id) -> np.ndarray:
    cid = mem.store_.document(doc_id)["chunk_ids"][0]
    return mem.store_.embeddings([cid])[1][0]


def _cos(a, b) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_embedded_text():
    assert embedded_text("Nerva", "He adopted Trajan.") == "Nerva: He adopted Trajan."
    assert embedded_text("  Marcus\n Aurelius ", "x") == "Marcus Aurelius: x"
    assert embedded_text("", "He adopted Trajan.") == "He adopted Trajan."
    assert embedded_text("Nerva", "He adopted Trajan.", title_prefix=False) == "He adopted Trajan."


def test_new_memory_embeds_titles_and_keeps_one_vector_per_title(tmp_path, embedder, codec):
    with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec) as mem:
        assert mem.title_prefix_ and mem.store_.get_setting("chunk_embedding") == {"title_prefix": True}
        mem.ingest([{"id": "a", "title": "Nerva", "text": TEXT}, {"id": "b", "title": "Hadrian", "text": TEXT},
                    {"id": "c", "text": TEXT}])
        with_title, without = embedder.embed([f"Nerva: {TEXT}", TEXT])
        assert _cos(_stored(mem, "a"), with_title) > .999 > _cos(_stored(mem, "a"), without)
        assert _cos(_stored(mem, "c"), without) > .999
        # the same text under another title is another chunk with its own vector
        assert len({mem.store_.document(d)["chunk_ids"][0] for d in "abc"}) == 3
        assert _cos(_stored(mem, "a"), _stored(mem, "b")) < .99
        # the title brings the passage to a query about it
        hits = mem.recall("Which emperor was Nerva?", k=1, mode="similar")
        assert hits[0].doc_id == "a"


def test_memory_without_the_record_keeps_title_less_vectors(tmp_path, embedder, codec):
    folder = tmp_path / "old"
    with SemanticMemory(folder, embedder=embedder, codec=codec) as mem:
        mem.ingest([{"id": "a", "title": "Nerva", "text": TEXT}])
    conn = sqlite3.connect(folder / "memory.sqlite")  # a memory from before the record existed
    with conn:
        conn.execute("DELETE FROM settings WHERE key = 'chunk_embedding'")
    conn.close()
    with SemanticMemory(folder, embedder=embedder, codec=codec) as mem:
        assert not mem.title_prefix_ and mem.store_.get_setting("chunk_embedding") == {"title_prefix": False}
        mem.ingest([{"id": "b", "title": "Hadrian", "text": "Hadrian built a wall across Britain."}])
        plain = embedder.embed(["Hadrian built a wall across Britain."])[0]
        assert _cos(_stored(mem, "b"), plain) > .999
    with SemanticMemory(folder, embedder=embedder, codec=codec, read_only=True) as mem:
        assert not mem.title_prefix_
