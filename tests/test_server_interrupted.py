"""What a background job stopped by the server's shutdown left out: read back from a real memory, in words.

The live test (`test_server_live.py`) stops a real server under a real upload of plain files; here the other
shapes of a job's records, on a real store: a records file half stored, a posted list, a replaced document.
"""
from __future__ import annotations

import pytest

from core.memory import SemanticMemory
from core.reasoning.mycelial.numpy_codec import load_default_numpy
from core.server.interrupted import left_out, left_out_words
from core.server.uploads import files_records

JSONL = b"\n".join(b'{"id": "r%d", "text": "The lock keeper of Ashby Staithe kept ledger number %d."}' % (i, i)
                   for i in range(3))


@pytest.fixture
def mem(tmp_path, embedder):
    with SemanticMemory(tmp_path / "m", embedder=embedder, codec=load_default_numpy()) as m:
        yield m


def test_a_records_file_stored_in_part_and_a_file_not_stored_are_named(mem):
    records = files_records([("a.txt", b"The weir of Orla was rebuilt in oak in 1802."),
                             ("b.txt", b"The ferry at Kessel crossed twice a day."), ("c.jsonl", JSONL)])[0]
    mem.ingest([records[0], records[2]])  # a.txt and c.jsonl's first record got in before the stop
    missing = left_out(mem.store_, records, {})
    assert [r.doc_id for r in missing] == ["file:b.txt", "r1", "r2"]
    assert left_out_words(records, missing) == ("1 file did not get in: b.txt; 1 file got in in part: c.jsonl "
                                                "(2 of its 3 records missing)")


def test_a_posted_list_is_named_by_ids_and_a_replacement_the_stop_cut_is_not_in(mem):
    posted = [{"id": "p1", "text": "The mill at Ashby ground oats."}, {"id": "p2", "text": "The mill burned."}]
    mem.ingest([{"id": "p2", "text": "The mill at Ashby stood until 1802."}])  # an older version of p2
    before = {"p1": None, "p2": mem.store_.content_hashes(["p2"])["p2"]}  # the batch's stored hashes at its start
    mem.ingest(posted[:1])  # the stop came after p1's commit: p2 keeps its older text
    missing = left_out(mem.store_, posted, before)
    assert [r.doc_id for r in missing] == ["p2"]
    assert left_out_words(posted, missing) == "1 document did not get in: p2"
    mem.ingest(posted[1:])  # committed by the job before the stop: in, whatever the hash `before` held
    assert left_out(mem.store_, posted, before) == []
