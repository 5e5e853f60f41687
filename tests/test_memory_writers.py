"""Two real processes ingest into one memory while a third opens it read-only, over and over.

Before the write lock both writers exited 0 and the index held about half the chunks
(issue 11: 11,518 chunks, 6,522 vectors); readers opening mid-write failed ~2% with
KeyError in catch-up.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from _memory_helpers import wiki_records

from core.memory import SemanticMemory

WRITER = textwrap.dedent("""
    import json, sys
    from core.memory import SemanticMemory
    records = json.load(open(sys.argv[2]))
    with SemanticMemory(sys.argv[1], chunks_per_commit=4) as mem:
        rep = mem.ingest(records)
    print(rep.documents, flush=True)
""")


def test_two_writer_processes_and_a_reader(tmp_path, wiki_docs, embedder):
    records = wiki_records(wiki_docs, n_docs=10, n_sents=4)
    embedder.embed([s for r in records for s in r["text"].split("\n\n")])  # warm the shared cache
    folder = tmp_path / "mem"
    SemanticMemory(folder, embedder=embedder).close()
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent), OMP_NUM_THREADS="1",
               MYCELIAL_LOCK_TIMEOUT="240")
    procs = []
    for i, part in enumerate((records[0::2], records[1::2])):
        (tmp_path / f"r{i}.json").write_text(json.dumps(part))
        procs.append(subprocess.Popen([sys.executable, "-c", WRITER, str(folder), str(tmp_path / f"r{i}.json")],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    opened = 0
    while (any(p.poll() is None for p in procs) and opened < 8) or opened == 0:
        with SemanticMemory(folder, embedder=embedder, read_only=True) as m:  # never fails mid-write
            # what it holds matches the snapshot it was built from (writers commit on after it)
            sql = m.store_._reader.execute
            assert m.index_.ntotal == sql("SELECT count(*) FROM chunks WHERE id <= ?",
                                          (m._index_mark["chunk"],)).fetchone()[0]
            assert m.network_.n_events_ == sql("SELECT coalesce(sum(length(chunk_ids)), 0) / 8 FROM documents"
                                               " WHERE id <= ?", (m._net_mark["doc"],)).fetchone()[0]
            opened += 1
        time.sleep(0.5)
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err[-2000:]
        assert out.strip() == "5"
    with SemanticMemory(folder, embedder=embedder) as m:
        assert m.store_.count_documents() == 10
        assert m.index_.ntotal == m.store_.count_chunks()
        assert m.network_.n_events_ == m.store_.observed_chunks()
        state = json.loads((folder / "state.json").read_text())
        assert state["index"]["chunk"] == m.store_.last_ids()["chunk"]
        hit = m.recall(records[7]["text"].split("\n\n")[0], k=1, mode="similar")[0]
        assert hit.doc_id == records[7]["id"]
