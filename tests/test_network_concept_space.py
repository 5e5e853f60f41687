"""Concept node ids are one memory's SQLite ids: a network records whose ids they are, and merging the
networks of two memories (which would silently add unrelated concepts that share a number) is refused."""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from core.memory import SemanticMemory
from core.reasoning.mycelial import MycelialConfig, MycelialReasoning, MycelialVQVAE


@pytest.fixture(scope="module")
def codec():
    return MycelialVQVAE.load_default()


def _memory_network(folder, embedder, codec, docs) -> tuple[MycelialReasoning, str]:
    with SemanticMemory(folder, embedder=embedder, codec=codec) as m:
        m.ingest(docs)
        return m.network_, m.store_.uuid


DOCS_A = [{"id": "vask", "text": "Zebulon Quartz kept the lighthouse of Vask for forty years."}]
DOCS_B = [{"id": "pellow", "text": "The harbour of Pellow freezes late in winter, said Marta Ilsen."}]


def test_networks_of_two_memories_do_not_merge(tmp_path, embedder, codec):
    net_a, uuid_a = _memory_network(tmp_path / "a", embedder, codec, DOCS_A)
    net_b, uuid_b = _memory_network(tmp_path / "b", embedder, codec, DOCS_B)
    assert net_a.concept_space_ == uuid_a and net_b.concept_space_ == uuid_b and uuid_a != uuid_b
    assert net_a._has_concepts() and net_b._has_concepts()
    # what a user merges: the saved files (the id space survives save/load)
    net_a.save(tmp_path / "a.npz")
    net_b.save(tmp_path / "b.npz")
    a, b = MycelialReasoning.load(tmp_path / "a.npz"), MycelialReasoning.load(tmp_path / "b.npz")
    assert a.concept_space_ == uuid_a and a == net_a
    before = copy.deepcopy(a)
    with pytest.raises(ValueError, match="different concept spaces.*two memories"):
        a.merge(b)
    assert a == before  # refused before anything was added

    # the same memory's networks merge (e.g. two halves of one store's stream)
    merged = MycelialReasoning.load(tmp_path / "a.npz").merge(a)
    assert merged.n_events_ == 2 * a.n_events_ and merged.concept_space_ == uuid_a
    # a network without concepts (codes only, as the parallel ingest's deltas) merges into any network
    codes_only = MycelialReasoning(copy.deepcopy(a.config)).observe(np.zeros((2, a.config.num_heads), np.int64))
    assert a.merge(codes_only).n_events_ == before.n_events_ + 2
    # a network that holds no concepts yet takes the merged network's id space
    empty = MycelialReasoning(copy.deepcopy(a.config))
    assert empty.merge(b).concept_space_ == uuid_b


def test_a_network_file_without_the_field_still_loads(tmp_path):
    net = MycelialReasoning(MycelialConfig(num_heads=4, codebook_size=16))
    net.observe([[1, 2, 3, 4], [1, 2, 3, 5]])
    net.concept_space_ = "abc"
    net.save(tmp_path / "n.npz")
    with np.load(tmp_path / "n.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(arrays["header"].tobytes())
    assert header["concept_space"] == "abc"
    del header["concept_space"]  # as written before the field existed
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    np.savez(tmp_path / "old.npz", **arrays)
    old = MycelialReasoning.load(tmp_path / "old.npz")
    assert old.concept_space_ is None and old == net
    header["concept_space"] = 5
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="concept_space"):
        MycelialReasoning.load(tmp_path / "bad.npz")


def test_a_memory_stamps_an_old_network_file_with_its_store(tmp_path, embedder, codec):
    net, uuid = _memory_network(tmp_path / "m", embedder, codec, DOCS_A)
    files = list((tmp_path / "m").glob("network*.npz"))
    assert len(files) == 1 and MycelialReasoning.load(files[0]).concept_space_ == uuid
    with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec, read_only=True) as m:
        assert m.network_ == net and m.network_.concept_space_ == uuid
