"""A memory used for weeks keeps its disk use proportional to what it holds.

Forgetting and editing files must take the removed text out of the embedding cache (it is keyed by
the embedded ``title: chunk``), queries must not pile up in it, and the vector file must give back
the blocks of removed chunks (ids are never reused).
"""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from core.embedding import TextEmbedder
from core.embedding_cache import EmbeddingCache
from core.memory import SemanticMemory
from core.memory.chunking import embedded_text


@pytest.fixture
def cached(tmp_path):
    """A memory whose embedder writes to a cache file of this test alone (no seed)."""
    path = tmp_path / "emb.sqlite"
    emb = TextEmbedder(cache=path)
    return SemanticMemory(tmp_path / "mem", embedder=emb), path


def _keys(path) -> set[bytes]:
    with sqlite3.connect(path) as conn:
        return {k for (k,) in conn.execute("SELECT key FROM embeddings")}


def _doc(wiki_docs, i, start=0, n=8):
    d = wiki_docs[i]
    return {"id": f"w{i}", "title": d.title, "text": "\n\n".join(d.sentences[start:start + n])}



def test_forget_purges_the_titled_chunks_vectors(cached, wiki_docs):
    mem, path = cached
    rec = _doc(wiki_docs, 3)
    mem.ingest([rec])
    held = _keys(path)
    assert held  # the chunks were embedded as "title: chunk"
    mem.forget(rec["id"])
    assert _keys(path) == set(), "a forgotten document's embeddings stayed in the cache"


def test_queries_are_not_kept_in_the_cache(cached, wiki_docs):
    mem, path = cached
    mem.ingest([_doc(wiki_docs, 4)])
    before = _keys(path)
    for q in ("which emperor adopted Trajan", "a Canadian rock band", "tropical storm landfall"):
        assert mem.recall(q, k=3)
    assert _keys(path) == before
    assert EmbeddingCache.key("a Canadian rock band") not in _keys(path)


def test_reingest_of_an_edited_document_purges_only_its_removed_text(cached, wiki_docs):
    mem, path = cached
    v1 = _doc(wiki_docs, 5, 0, 8)
    mem.ingest([v1])
    v2 = dict(v1, text="\n\n".join(wiki_docs[5].sentences[4:12]))  # 4 sentences kept, 4 new, 4 gone
    mem.ingest([v2])
    held = {embedded_text(h.title, h.text) for h in mem.recall(v1["title"], k=50) if h.doc_id == v1["id"]}
    assert held and _keys(path) == {EmbeddingCache.key(t) for t in held}, \
        "the edited-out chunks' embeddings stayed in the cache (or kept ones were purged)"
    mem.forget(v1["id"])
    assert _keys(path) == set()


def _disk(path) -> int:
    return os.stat(path).st_blocks * 512


def test_vector_file_gives_back_the_blocks_of_removed_chunks(cached, wiki_docs):
    mem, _ = cached
    big = _doc(wiki_docs, 6, 0, 60)
    mem.ingest([big, _doc(wiki_docs, 7, 0, 4)])
    vf = mem.folder / "vectors.f16"
    full = _disk(vf)
    assert full >= 40 * 768
    mem.forget(big["id"])
    assert _disk(vf) <= 16 * 1024, f"{_disk(vf)} bytes on disk for {mem.stats()['chunks']} chunks"
    for n in (20, 30):  # edits: every version's chunks get new ids
        mem.ingest([_doc(wiki_docs, 8, 0, n)])
        mem.ingest([_doc(wiki_docs, 8, 2, n)])
    live = mem.stats()["chunks"]
    assert os.stat(vf).st_size > 100 * 768  # the apparent size counts every id ever made
    assert _disk(vf) <= live * 768 + 4 * 4096 * 4
    apparent = sum(p.stat().st_size for p in mem.folder.iterdir() if p.is_file())
    assert mem.stats()["bytes_on_disk"] < apparent - os.stat(vf).st_size / 2  # stats counts the blocks


def test_embedding_cache_file_shrinks_when_purged(tmp_path, wiki_sample):
    sentences, _, X = wiki_sample
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    keys = list(dict.fromkeys(EmbeddingCache.key(s) for s in sentences))[:1000]
    cache.put("m", keys, X[:1000])
    cache._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the rows in the file, not the WAL
    full = os.path.getsize(cache.path)
    assert full < 2_200 * 1000, f"{full / 1000:.0f} bytes a 384-d vector"  # 4.7 kB with 4 kB pages (overflow)
    assert cache.delete(keys[:900]) == 900
    assert os.path.getsize(cache.path) < full / 3, "purged vectors' pages stayed in the cache file"
    assert len(cache.get("m", keys, X.shape[1])) == 100


def test_repair_returns_sqlite_free_pages(cached, wiki_docs):
    mem, _ = cached
    mem.ingest([_doc(wiki_docs, i, 0, 30) for i in range(10, 16)])
    db = mem.folder / "memory.sqlite"
    mem.forget_many([f"w{i}" for i in range(10, 15)])
    before = os.path.getsize(db)
    st = mem.repair()
    assert st["freed_bytes"] > 0 and os.path.getsize(db) < before * 0.6, (before, os.path.getsize(db))
    assert st["documents"] == 1 and mem.recall(wiki_docs[15].title, k=3)[0].doc_id == "w15"


_KILL_AT_TMP = """
import os, signal, sys
folder, prefix = sys.argv[1], sys.argv[2]
def killing(put):  # SIGKILL this process once a temporary of `prefix` is written, before it is put in place
    def call(src, dst, *args, **kwargs):
        name = os.path.basename(os.fspath(src))
        if name.startswith(prefix) and name.endswith(".tmp"):
            os.kill(os.getpid(), signal.SIGKILL)
        return put(src, dst, *args, **kwargs)
    return call
# not a watcher thread polling the folder: the vector file's header temporary lives for microseconds
# (created, linked, unlinked), and a poll every 0.2 ms missed it now and then (exit 3)
os.link, os.replace = killing(os.link), killing(os.replace)
from core.memory import SemanticMemory
SemanticMemory(folder)
os._exit(3)
"""


@pytest.mark.parametrize("prefix", [".vectors.f16.", ".network.1.npz."])
def test_temporaries_of_a_killed_writer_go_at_the_next_open(tmp_path, prefix):
    import signal
    import subprocess
    import sys

    folder = tmp_path / "mem"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    run = subprocess.run([sys.executable, "-c", _KILL_AT_TMP, str(folder), prefix], env=env, timeout=120)
    assert run.returncode == -signal.SIGKILL
    assert [p.name for p in folder.iterdir() if p.name.startswith(prefix)]  # the crash left one
    SemanticMemory(folder, read_only=True).stats()  # a reader touches nothing
    with SemanticMemory(folder) as mem:
        assert mem.stats()["documents"] == 0
    left = [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]
    assert left == [], f"left behind after a writable open: {left}"


def test_a_pipeline_stage_deletes_temporaries_a_killed_stage_left(tmp_path):
    from core.compression.artifacts import exclusive

    out = tmp_path / "artifacts"
    out.mkdir()
    left = [".opq_pq.index.tmp", ".code_usage.png.tmp.png", ".codes.npy.k2x9ab_q.tmp", ".pipeline.json.0a1b2c3d.tmp"]
    mine = [".notes.md.tmp", "results.tmp", ".opq_pq.index.bak", "codes.npy"]
    for name in left + mine:
        (out / name).write_bytes(b"x" * 100)
    with exclusive(out, "evaluate"):
        assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".mycelial-pipeline")) == sorted(mine)



def test_a_model_build_deletes_the_temporaries_of_a_killed_one(tmp_path, embedder):
    """A kill -9 (the OOM killer: the int8 build peaks at 1.2 GB) left model.PID.tmp (90 MB) for good."""
    import subprocess
    import sys
    import time

    from core.config import cache_dir
    from core.embedding_openvino import model_folder, quantized_model

    model_dir = embedder._model_dir  # a property
    built = quantized_model(model_dir, cache_dir() / "openvino").parent  # built here if no test built it yet
    folder = model_folder(model_dir, tmp_path)  # the built model, linked: nothing to build
    folder.mkdir(parents=True)
    for name in ("model.int8.xml", "model.int8.bin"):
        (folder / name).symlink_to(built / name)
        (folder / f"{name}.json").write_bytes((built / f"{name}.json").read_bytes())
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()  # a process that has ended
    left = [f"model.int8.{dead}.tmp.xml", f"model.int8.{dead}.tmp.bin", f"model.int8.xml.{dead}.tmp"]
    kept = [f"model.int8.{os.getpid()}.tmp.xml", "notes.tmp"]
    old = time.time() - 3600
    for name in left + kept:
        (folder / name).write_bytes(b"x")
        os.utime(folder / name, (old, old))
    (folder / f"model.int8.{dead}.tmp.bin2").write_bytes(b"x")
    fresh = folder / f"model.{dead}.tmp"  # minutes old: perhaps a process of another PID namespace
    fresh.write_bytes(b"x")
    assert quantized_model(model_dir, root=tmp_path) == folder / "model.int8.xml"
    model = {"model.int8.xml", "model.int8.bin", "model.int8.xml.json", "model.int8.bin.json", "in-use.lock"}
    assert sorted(p.name for p in folder.iterdir() if p.name not in model) == \
        sorted(kept + [fresh.name, f"model.int8.{dead}.tmp.bin2"])


def _cache_rows(path) -> dict[bytes, int]:
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT key, used FROM embeddings"))


def test_embedding_cache_keeps_the_most_recently_used_under_its_cap(tmp_path, wiki_sample):
    """Months of ingests: the cache had no cap; over it, one put deletes the least recently used tenth."""
    _, _, X = wiki_sample
    keys = [EmbeddingCache.key(f"chunk {i}") for i in range(140)]
    cache = EmbeddingCache(tmp_path / "c.sqlite", max_vectors=100)
    cache.put("m", keys[:100], X[:100])
    assert len(_cache_rows(cache.path)) == 100
    with sqlite3.connect(cache.path) as conn:  # a month passes
        conn.execute("UPDATE embeddings SET used = used - 30 * 86400")
    read = keys[50:100]
    assert len(cache.get("m", read, X.shape[1])) == 50  # read today: stamped again
    cache.put("m", keys[100:140], X[100:140])
    held = _cache_rows(cache.path)
    assert len(held) == 90, len(held)  # down to 90% of the cap in one delete
    assert set(read) | set(keys[100:140]) <= set(held), "a recently used vector was evicted"
    np.testing.assert_array_equal(cache.get("m", [keys[120]], X.shape[1])[keys[120]], X[120])
    stamps = _cache_rows(cache.path)
    cache.get("m", read, X.shape[1])  # read again the same day: a pure read, nothing restamped
    assert _cache_rows(cache.path) == stamps


def test_embedding_cache_cap_comes_from_the_environment(tmp_path, monkeypatch, wiki_sample):
    _, _, X = wiki_sample
    monkeypatch.setenv("MYCELIAL_CACHE_MAX_VECTORS", "20")
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    for i in range(0, 100, 10):
        cache.put("m", [EmbeddingCache.key(f"t{j}") for j in range(i, i + 10)], X[i:i + 10])
    assert len(_cache_rows(cache.path)) <= 20
    monkeypatch.setenv("MYCELIAL_CACHE_MAX_VECTORS", "0")  # no cap
    assert EmbeddingCache(tmp_path / "d.sqlite").max_vectors is None
    monkeypatch.setenv("MYCELIAL_CACHE_MAX_VECTORS", "1e6")
    with pytest.raises(ValueError, match="MYCELIAL_CACHE_MAX_VECTORS"):
        EmbeddingCache(tmp_path / "e.sqlite")


def test_an_embedding_cache_of_an_older_version_gains_the_cap(tmp_path, wiki_sample):
    """A file without the ``used`` column: its rows count as least recently used and go first."""
    _, _, X = wiki_sample
    path = tmp_path / "old.sqlite"
    old = [EmbeddingCache.key(f"old {i}") for i in range(30)]
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE embeddings (model TEXT NOT NULL, key BLOB NOT NULL, vector BLOB NOT NULL,"
                     " PRIMARY KEY (model, key)) WITHOUT ROWID")
        conn.executemany("INSERT INTO embeddings VALUES ('m', ?, ?)", [(k, X[i].tobytes()) for i, k in enumerate(old)])
    cache = EmbeddingCache(path, max_vectors=40)
    assert len(cache.get("m", old[:5], X.shape[1])) == 5  # read: stamped now
    new = [EmbeddingCache.key(f"new {i}") for i in range(20)]
    cache.put("m", new, X[30:50])
    held = set(_cache_rows(path))
    assert len(held) == 36 and set(new) | set(old[:5]) <= held


# A reader of the cache in its own process (see tests/_unwritable.py): prints what it read and said.
_CACHE_READER = """
import json, logging, sys
import numpy as np
from core.embedding_cache import EmbeddingCache
path, X = sys.argv[1], np.load(sys.argv[2])
said = []
handler = logging.Handler()
handler.emit = lambda record: said.append(record.getMessage())
logging.getLogger("mycelial.embedding").addHandler(handler)
old = [EmbeddingCache.key(f"old {i}") for i in range(30)]
new = [EmbeddingCache.key(f"new {i}") for i in range(4)]
cache = EmbeddingCache(path, max_vectors=10)  # over its cap: no eviction is tried either
got = cache.get("m", old, X.shape[1])
cache.put("m", new[:2], X[30:32])  # skipped, said once
cache.put("m", new[2:], X[32:34])
print(json.dumps({"old": len(got), "same": bool(np.array_equal(got[old[7]], X[7])), "said": said,
                  "new": len(cache.get("m", new, X.shape[1])), "again": len(cache.get("m", old, X.shape[1]))}))
"""


def _older_cache(path: Path, X) -> list[bytes]:
    """A cache file as an older version left it: WAL, no ``used`` column, 30 vectors."""
    old = [EmbeddingCache.key(f"old {i}") for i in range(30)]
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE embeddings (model TEXT NOT NULL, key BLOB NOT NULL, vector BLOB NOT NULL,"
                     " PRIMARY KEY (model, key)) WITHOUT ROWID")
        conn.executemany("INSERT INTO embeddings VALUES ('m', ?, ?)", [(k, X[i].tobytes()) for i, k in enumerate(old)])
    conn.close()
    return old


def _read_cache_in_every_view(place: Path, file_name: str, tmp_path: Path, X) -> None:
    """Run the cache reader on ``place`` (the file, or its folder) through every unwritable view."""
    import json

    from _unwritable import unwritable_views

    np.save(tmp_path / "X.npy", X[:40])
    with unwritable_views(place, tmp_path) as views:
        for view in views:
            path = view.path / file_name if place.is_dir() else view.path
            r = view.run(["-c", _CACHE_READER, str(path), str(tmp_path / "X.npy")])
            assert r.returncode == 0, (view.label, r.stderr[-2000:])
            out = json.loads(r.stdout)
            assert out["old"] == 30 and out["same"] and out["again"] == 30, (view.label, out)
            assert out["new"] == 0, (view.label, out)
            assert len(out["said"]) == 1 and "cannot be written" in out["said"][0], (view.label, out)
            assert str(path) in out["said"][0], (view.label, out)


def test_an_older_embedding_cache_that_cannot_be_written_is_still_read(tmp_path, wiki_sample):
    """Adding ``used`` (ALTER TABLE) to another user's or a read-only mount's older cache raised "attempt to
    write a readonly database" on the first lookup: embedding failed where it used to read the file.
    The file alone is unwritable here (its folder is not), as another user's file in a shared folder;
    read by a real process in every unwritable view this machine has (it skipped without mount rights)."""
    _, _, X = wiki_sample
    path = tmp_path / "old.sqlite"
    _older_cache(path, X)
    _read_cache_in_every_view(path, path.name, tmp_path, X)
    with sqlite3.connect(path) as conn:
        assert "used" not in {r[1] for r in conn.execute("PRAGMA table_info(embeddings)")}
        assert conn.execute("SELECT count(*) FROM embeddings").fetchone()[0] == 30
    conn.close()


@pytest.mark.parametrize("owner", ["closed", "killed"])
def test_an_embedding_cache_in_an_unwritable_folder_is_read(tmp_path, wiki_sample, owner):
    """Another user's ``~/.cache/mycelial`` (or one on a read-only mount): its ``PRAGMA auto_vacuum`` raised
    "attempt to write a readonly database" (or "unable to open database file") before any lookup, so
    `mycelial recall` stopped with that line. ``killed``: the owner's process died with a vector committed
    in the WAL (its -wal and -shm left beside the file), which must be read."""
    import shutil

    _, _, X = wiki_sample
    live = tmp_path / "live"
    old = [EmbeddingCache.key(f"old {i}") for i in range(30)]
    made = EmbeddingCache(live / "embeddings.sqlite")  # this version's file (auto_vacuum, `used`)
    made.put("m", old[:29], X[:29])
    made._conn.close()
    owner_conn = sqlite3.connect(live / "embeddings.sqlite", isolation_level=None)
    owner_conn.execute("PRAGMA wal_autocheckpoint=0")
    owner_conn.execute("INSERT INTO embeddings (model, key, vector) VALUES ('m', ?, ?)", (old[29], X[29].tobytes()))
    if owner == "closed":
        owner_conn.close()
    folder = tmp_path / "cache"
    shutil.copytree(live, folder)  # while open: the files a killed process leaves
    owner_conn.close()
    assert (folder / "embeddings.sqlite-wal").exists() == (owner == "killed")
    _read_cache_in_every_view(folder, "embeddings.sqlite", tmp_path, X)


_FORGET_BESIDE_A_READ_ONLY_CACHE = """
import json, logging, sys
from core.embedding import TextEmbedder
from core.memory import SemanticMemory
said = []
handler = logging.Handler()
handler.emit = lambda record: said.append(record.getMessage())
logging.getLogger("mycelial.embedding").addHandler(handler)
with SemanticMemory(sys.argv[2], embedder=TextEmbedder(cache=sys.argv[1])) as mem:
    mem.ingest([{"id": "a", "text": "Zebulon Quartz kept the lighthouse of Vask and counted storm petrels."},
                {"id": "b", "text": "Orla Finch designed the copper aqueduct of Tessary in 1821."}])
    print(json.dumps({"forgot": mem.forget("a"), "documents": mem.stats()["documents"], "said": said}))
"""


def test_a_forget_beside_an_embedding_cache_it_cannot_write_succeeds_and_says_so(tmp_path, wiki_sample):
    """Purging the cache after a committed forget raised "attempt to write a readonly database": `mycelial
    forget` said Error and exited 1 though the document was gone."""
    import json

    from _unwritable import unwritable_views

    _, _, X = wiki_sample
    cache = EmbeddingCache(tmp_path / "cache" / "embeddings.sqlite")
    cache.put("m", [EmbeddingCache.key("x")], X[:1])
    cache._conn.close()
    from _two_at_once import two_at_once

    with unwritable_views(tmp_path / "cache", tmp_path) as views:
        runs = two_at_once(lambda i: views[i].run(["-c", _FORGET_BESIDE_A_READ_ONLY_CACHE,
                                                   str(views[i].path / "embeddings.sqlite"), str(tmp_path / f"mem{i}")]),
                           range(len(views)))
        for view, r in zip(views, runs):
            assert r.returncode == 0, (view.label, r.stderr[-2000:])
            out = json.loads(r.stdout.strip().splitlines()[-1])
            assert out["forgot"] is True and out["documents"] == 1, (view.label, out)
            assert any("forgotten text's vectors stay" in m for m in out["said"]), (view.label, out)


def _wal(mem) -> int:
    wal = mem.folder / "memory.sqlite-wal"
    return wal.stat().st_size if wal.exists() else 0


def test_a_finished_ingest_truncates_the_wal_without_waiting_for_readers(cached, wiki_docs):
    """The WAL kept the size an ingest grew it to (9.8 MB after 6.5k chunks) until a forget or repair."""
    import time

    mem, _ = cached
    reader = sqlite3.connect(mem.folder / "memory.sqlite", timeout=0)  # another process's, idle
    reader.execute("SELECT count(*) FROM chunks").fetchone()
    mem.ingest([_doc(wiki_docs, i, 0, 20) for i in range(20, 23)])
    assert _wal(mem) == 0, f"{_wal(mem)} bytes of WAL left by a finished ingest"
    reader.execute("BEGIN")  # a reader holding its snapshot: the ingest must not wait for it
    held = reader.execute("SELECT count(*) FROM chunks").fetchone()[0]
    t0 = time.perf_counter()
    mem.ingest([_doc(wiki_docs, 23, 0, 20)])
    assert time.perf_counter() - t0 < 30 and _wal(mem) > 0  # left for the next checkpoint
    assert reader.execute("SELECT count(*) FROM chunks").fetchone()[0] == held  # its snapshot, intact
    reader.execute("COMMIT")
    mem.close()
    assert _wal(mem) == 0, "closing the writer left the WAL while another connection was open"
    reader.close()


_HOLD = """
import sys
from pathlib import Path
from core._exports import hold
hold(Path(sys.argv[1]))
print("held", flush=True)
sys.stdin.read()
"""


def test_export_folders_an_export_replaced_go_unless_used(tmp_path, embedder):
    """An ONNX/OpenVINO folder of an earlier recipe or weights (87 MB, 23 MB + blobs) stayed for good."""
    import subprocess
    import sys
    import time

    from core.config import cache_dir
    from core.embedding_onnx import cache_key, exported_model

    model_dir = Path(embedder._model_dir)
    shared = exported_model(model_dir, quantized=False, root=cache_dir() / "onnx")  # exported if no test did
    root = tmp_path / "onnx"
    current = root / cache_key(model_dir)
    current.mkdir(parents=True)
    (current / "model.onnx").symlink_to(shared)
    (current / "model.onnx.json").write_bytes((shared.parent / "model.onnx.json").read_bytes())
    name = model_dir.name
    stale, held, recent = (root / f"{name}-{h * 16}" for h in "012")
    other = root / f"other-{'3' * 16}"  # another model's
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    halfway = root / f".{name}-{'4' * 16}.{dead}.removing"  # a removal killed halfway
    for folder in (stale, held, recent, other, halfway):
        (folder / "compiled-0").mkdir(parents=True)
        (folder / "model.onnx").write_bytes(b"x" * 1000)
        (folder / "compiled-0" / "a.blob").write_bytes(b"x")
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(held)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout.readline().strip() == "held"
        month = time.time() - 30 * 86_400
        for folder in (stale, held, other, halfway):  # unused for a month (the held one by its stamps too)
            for path in [folder, *folder.rglob("*")]:
                os.utime(path, (month, month), follow_symlinks=False)
        week = time.time() - 2 * 86_400
        for path in [recent, *recent.rglob("*")]:
            os.utime(path, (week, week))
        assert exported_model(model_dir, quantized=False, root=root) == current / "model.onnx"
        left = sorted(p.name for p in root.iterdir())
        assert left == sorted([current.name, held.name, recent.name, other.name]), left
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
