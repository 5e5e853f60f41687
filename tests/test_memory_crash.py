"""kill -9 in the middle of an ingest loses no committed document; the memory reopens and answers."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
from _memory_helpers import wiki_records

from core.memory import SemanticMemory

CHILD = textwrap.dedent("""
    import json, sys
    from core.memory import SemanticMemory
    records = json.load(open(sys.argv[2]))
    mem = SemanticMemory(sys.argv[1], chunks_per_commit=8)
    def stream():
        for r in records:
            print("committed", mem.store_.count_documents(), flush=True)
            yield r
    mem.ingest(stream())
    print("done", flush=True)
""")


def test_kill_9_mid_ingest_then_reopen(tmp_path, wiki_docs, embedder):
    import json

    records = wiki_records(wiki_docs, n_docs=40, n_sents=6)
    embedder.embed([s for r in records for s in r["text"].split("\n\n")])  # warm the shared cache
    (tmp_path / "records.json").write_text(json.dumps(records))
    folder = tmp_path / "mem"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(folder), str(tmp_path / "records.json")],
                            stdout=subprocess.PIPE, text=True, env=env)
    seen = 0
    deadline = time.time() + 240
    for line in proc.stdout:
        if line.startswith("committed"):
            seen = int(line.split()[1])
            if seen >= 12:  # several transactions are in; kill during the next ones
                break
        assert time.time() < deadline, "child made no progress"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    with SemanticMemory(folder, embedder=embedder) as mem:
        n_docs = mem.store_.count_documents()
        assert seen <= n_docs < len(records)  # nothing committed was lost, and the kill was mid-ingest
        assert mem.index_.ntotal == mem.store_.count_chunks()
        n_rows = sum(len(mem.store_.document(r["id"])["chunk_ids"]) for r in records[:n_docs])
        assert mem.network_.n_events_ == n_rows  # the network caught up with exactly the stored documents
        for r in records[:n_docs:5]:
            first = r["text"].split("\n\n")[0]
            assert mem.recall(first, k=1, mode="hybrid")[0].doc_id == r["id"]
        # and the ingest can simply be run again: committed documents are unchanged, the rest are added
        rep = mem.ingest(records)
        assert rep.unchanged == n_docs and rep.documents == len(records) - n_docs
        assert np.all([mem.store_.document(r["id"]) is not None for r in records])
