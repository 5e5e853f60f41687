"""The passage graph saved beside the index and the network (``graph.N.npz``): a reopen reads it instead of
rebuilding from every chunk row, with the same recall; a stale, damaged or half-written file is rebuilt."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
from _memory_helpers import wiki_records

from core.memory import SemanticMemory

ROOT = Path(__file__).resolve().parent.parent
QUERIES = ["the album was released", "a hurricane in the Atlantic", "the battle of the ship", "a game for the console"]
ARRAYS = ("_ids", "_codes", "_alive", "_place", "_ph_row", "_ph_col")


@pytest.fixture(scope="module")
def records(wiki_docs, embedder):
    recs = wiki_records(wiki_docs, n_docs=10, n_sents=6)
    # a document sharing the first one's text: forgetting the first hands its chunks to this one
    recs.append({"id": "copy0", "title": recs[0]["title"], "text": recs[0]["text"]})
    embedder.embed([s for r in recs for s in r["text"].split("\n\n")] + QUERIES)  # warm the shared cache
    return recs


@pytest.fixture(scope="module")
def built(tmp_path_factory, records, embedder):
    """``built(n, tmp_path)``: a copy at ``tmp_path / "m"`` of a closed memory of ``records[:n]`` (each base
    ingested once for the module; a test writes only its copy) and the answers the live memory gave."""
    import shutil

    bases = {}

    def copy(n, tmp_path):
        if n not in bases:
            folder = tmp_path_factory.mktemp(f"base{n}") / "m"
            with SemanticMemory(folder, embedder=embedder) as mem:
                mem.ingest(records[:n])
                bases[n] = folder, answers(mem)
        folder, ref = bases[n]
        return Path(shutil.copytree(folder, tmp_path / "m")), ref

    return copy


def answers(mem) -> list:
    """Ranked (doc id, chunk id, score) of every query and mode: what must not change."""
    out = []
    for mode in ("hybrid", "associative", "similar"):
        for q in QUERIES:
            out.append([(h.doc_id, h.chunk_id, h.score) for h in mem.recall(q, k=8, mode=mode)])
    return out


def graph_entry(folder) -> dict:
    return json.loads((Path(folder) / "state.json").read_text()).get("graph")


def assert_same_graph(a, b) -> None:
    for name in ARRAYS:
        x, y = getattr(a.graph_, name), getattr(b.graph_, name)
        assert (x is None) == (y is None) and (x is None or np.array_equal(x.values, y.values)), name
    assert a.graph_.phrases_ == b.graph_.phrases_ and a.graph_.vocab_ == b.graph_.vocab_


def rebuilt(folder, embedder):
    """The memory opened read-only with its graph rebuilt from SQLite (what every open did before)."""
    entry = graph_entry(folder)
    path = Path(folder) / entry["file"]
    saved = path.read_bytes()
    path.unlink()
    try:
        mem = SemanticMemory(folder, embedder=embedder, read_only=True)
    finally:
        path.write_bytes(saved)
    assert not mem._graph_file
    return mem


def test_reopen_reads_the_saved_graph_and_recalls_the_same(tmp_path, records, embedder):
    folder = tmp_path / "m"
    with SemanticMemory(folder, embedder=embedder) as mem:
        mem.ingest(records)
        live = answers(mem)
    entry = graph_entry(folder)
    assert entry and (folder / entry["file"]).is_file()
    with SemanticMemory(folder, embedder=embedder, read_only=True) as mem:
        assert mem._graph_file == entry  # read from the file, not rebuilt
        saved = answers(mem)
        with rebuilt(folder, embedder) as ref:
            assert_same_graph(mem, ref)
            assert answers(ref) == saved == live  # same ranked ids and the same float scores


def test_forget_then_reopen_equals_a_rebuild(tmp_path, records, embedder):
    """A forget leaves dead rows and a chunk handed to another document in the live graph; the file holds
    what a rebuild from SQLite gives."""
    folder = tmp_path / "m"
    with SemanticMemory(folder, embedder=embedder) as mem:
        mem.ingest(records)
        mem.forget(records[0]["id"])
        mem.forget(records[3]["id"])
        g = mem.graph_
        live = g._place.values[g._alive.values]
        sql = np.asarray([r[1:] for rows in mem.store_.iter_chunks(0, "id, doc_id, position") for r in rows])
        assert len(live) < len(g._place.values) and (live != sql).any()  # dead rows; chunks handed to copy0
    with SemanticMemory(folder, embedder=embedder, read_only=True) as mem:
        assert mem._graph_file and len(mem.graph_._ids.values) == mem.store_.count_chunks()
        with rebuilt(folder, embedder) as ref:
            assert_same_graph(mem, ref)
            assert answers(mem) == answers(ref)


CHILD = textwrap.dedent("""
    import json, os, sys
    from core.memory import SemanticMemory
    from core.embedding import TextEmbedder
    folder, what, arg = sys.argv[1], sys.argv[2], sys.argv[3]
    mem = SemanticMemory(folder, embedder=TextEmbedder())
    if what == "die-at-save":  # the store committed, the derived files not saved: a crash
        type(mem).save = lambda self, *a, **k: os._exit(70)
    elif what == "die-at-rename":  # die once the file named ARG's prefix is written, before its rename
        real = os.replace
        def replace(src, dst):
            if os.path.basename(dst).startswith(arg):
                os._exit(70)
            return real(src, dst)
        os.replace = replace
    op = sys.argv[4]
    if op == "forget":
        mem.forget(sys.argv[5])
    else:
        mem.ingest(json.loads(sys.argv[5]))
    mem.close()
""")


def child(folder, what, arg, op, payload) -> int:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-c", CHILD, str(folder), what, arg, op, payload], env=env,
                          timeout=300).returncode


@pytest.mark.parametrize("op", ["ingest", "forget"])
def test_a_write_by_another_process_that_did_not_save_is_rebuilt(tmp_path, records, embedder, built, op):
    folder, _ = built(6, tmp_path)
    old = graph_entry(folder)
    payload = json.dumps(records[6:8]) if op == "ingest" else records[2]["id"]
    assert child(folder, "die-at-save", "", op, payload) == 70
    assert graph_entry(folder) == old  # the file of the state before: its key no longer matches
    with SemanticMemory(folder, embedder=embedder, read_only=True) as mem:
        assert not mem._graph_file
        ids = [r[0] for rows in mem.store_.iter_chunks(0, "id") for r in rows]
        assert mem.graph_._ids.values.tolist() == ids  # the graph holds exactly what SQLite holds
        docs = {h.doc_id for q in QUERIES for h in mem.recall(q, k=20, mode="hybrid")}
        assert (records[2]["id"] not in docs) if op == "forget" else (docs & {records[6]["id"], records[7]["id"]})
    with SemanticMemory(folder, embedder=embedder) as mem:  # a writer's open saves the graph again
        pass
    with SemanticMemory(folder, embedder=embedder, read_only=True) as mem:
        assert mem._graph_file and mem._graph_file != old
        with rebuilt(folder, embedder) as ref:
            assert_same_graph(mem, ref)


def test_a_write_by_another_process_that_saved_is_read(tmp_path, records, embedder, built):
    folder, _ = built(6, tmp_path)
    old = graph_entry(folder)
    assert child(folder, "-", "", "forget", records[1]["id"]) == 0
    assert graph_entry(folder) != old
    with SemanticMemory(folder, embedder=embedder, read_only=True) as mem:
        assert mem._graph_file == graph_entry(folder)
        with rebuilt(folder, embedder) as ref:
            assert_same_graph(mem, ref)
            assert answers(mem) == answers(ref)


def _truncate(p):
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _garbage(p):
    p.write_bytes(b"not a zip at all" * 100)


def _flip_byte(p):
    """One byte of the codes array changed: the file still opens as a zip, its CRC no longer matches."""
    data = bytearray(p.read_bytes())
    with zipfile.ZipFile(p) as zf:
        off = zf.getinfo("codes.npy").header_offset
    name_len, extra_len = np.frombuffer(bytes(data[off + 26:off + 30]), dtype="<u2")
    at = off + 30 + int(name_len) + int(extra_len) + 128 + 3  # the local header, the .npy header, then data
    data[at] ^= 0x01
    p.write_bytes(bytes(data))


def _rewrite(p, **change):
    with np.load(p, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    for k, f in change.items():
        arrays[k] = f(arrays[k])
    with open(p, "wb") as fh:
        np.savez(fh, **arrays)


def _edit_header_key(p):
    def edit(h):
        head = json.loads(bytes(h).decode())
        head["key"]["chunks"] += 1
        return np.frombuffer(json.dumps(head).encode(), dtype=np.uint8)
    _rewrite(p, header=edit)


DAMAGE = {
    "truncated": _truncate,
    "garbage": _garbage,
    "flipped byte": _flip_byte,
    "concept id out of range": lambda p: _rewrite(p, ph_col=lambda c: c + 10**6),
    "rows out of order": lambda p: _rewrite(p, ph_row=lambda r: r[::-1].copy()),
    "a row dropped": lambda p: _rewrite(p, ids=lambda a: a[:-1], codes=lambda a: a[:-1], place=lambda a: a[:-1]),
    "codes as float": lambda p: _rewrite(p, codes=lambda a: a.astype(np.float32)),
    "header key edited": _edit_header_key,
    "missing": lambda p: p.unlink(),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_graph_file_is_rebuilt_not_a_crash(tmp_path, embedder, built, damage):
    folder, ref = built(5, tmp_path)  # ref: what the live memory answered
    entry = graph_entry(folder)
    DAMAGE[damage](folder / entry["file"])
    with SemanticMemory(folder, embedder=embedder, read_only=True) as mem:
        assert not mem._graph_file
        assert answers(mem) == ref
    with SemanticMemory(folder, embedder=embedder) as mem:  # a writer replaces the damaged file
        assert answers(mem) == ref
    assert graph_entry(folder)["file"] != entry["file"] and not (folder / entry["file"]).exists()
    with SemanticMemory(folder, embedder=embedder, read_only=True) as mem:
        assert mem._graph_file and answers(mem) == ref


@pytest.mark.parametrize("dies_at", ["graph.", "state.json"])
def test_a_crash_while_saving_keeps_a_consistent_memory(tmp_path, records, embedder, built, dies_at):
    """Killed with the new graph file written but not renamed (or renamed, but state.json not): the
    temporary is never read, the state before points at a file whose key is stale; all rebuilt."""
    folder, _ = built(5, tmp_path)
    old = graph_entry(folder)
    assert child(folder, "die-at-rename", dies_at, "ingest", json.dumps(records[5:7])) == 70
    assert graph_entry(folder) == old
    if dies_at == "graph.":
        assert [p for p in folder.iterdir() if p.name.startswith(".graph.") and p.name.endswith(".tmp")]
    with SemanticMemory(folder, embedder=embedder, read_only=True) as mem:
        assert not mem._graph_file
        assert mem.graph_._ids.values.tolist() == [r[0] for rows in mem.store_.iter_chunks(0, "id") for r in rows]
    with SemanticMemory(folder, embedder=embedder) as mem:
        pass
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]  # the next save sweeps the temporary
    with SemanticMemory(folder, embedder=embedder, read_only=True) as mem:
        assert mem._graph_file
        with rebuilt(folder, embedder) as ref:
            assert_same_graph(mem, ref)
            assert answers(mem) == answers(ref)


def test_repair_deletes_and_rewrites_the_graph_file(tmp_path, records, embedder):
    folder = tmp_path / "m"
    with SemanticMemory(folder, embedder=embedder) as mem:
        mem.ingest(records[:4])
        before = graph_entry(folder)["file"]
        mem.repair()
        after = graph_entry(folder)["file"]
    assert after != before and (folder / after).is_file() and not (folder / before).exists()


def test_a_graph_that_is_not_the_stores_is_never_saved(tmp_path, records, embedder):
    """The write checks the live rows against SQLite's chunk ids: a graph holding a row SQLite does not
    (here added by hand) leaves no graph file, and the next open rebuilds; other saves are not forced."""
    folder = tmp_path / "m"
    with SemanticMemory(folder, embedder=embedder) as mem:
        mem.ingest(records[:3])
        ref = answers(mem)
        g = mem.graph_
        g.add([int(g._ids.values[-1]) + 1000], g._codes.values[:1], [[]], [(-1, -1)])
        mem.save()
        assert graph_entry(folder) is None and mem._graph_file is None
        files = sorted(p.name for p in folder.glob("*.npz"))
        mem.save(only_if_changed=True)
        assert sorted(p.name for p in folder.glob("*.npz")) == files  # not rewritten again and again
    with SemanticMemory(folder, embedder=embedder, read_only=True) as mem:
        assert not mem._graph_file and answers(mem) == ref
