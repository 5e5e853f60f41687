"""Parallel ingest on a real Dask LocalCluster (2 worker processes, 1 thread each) equals a serial ingest.

Real Brown and WikiText text, the real model (no embedding cache, so workers really embed),
real SQLite and FAISS. The cluster is started once for the session (conftest's ``dask_client``, shared
with the .jsonl.gz test): loading the model in the workers is the cost.
"""
from __future__ import annotations

import copy
import json
import os
import signal
import threading
import time

import numpy as np
import pytest
from click.testing import CliRunner

from core.config import data_dir
from core.embedding import TextEmbedder
from core.memory import SemanticMemory
from core.reasoning.mycelial import MycelialReasoning

BROWN = data_dir() / "brown" / "brown_docs.jsonl"
BATCH = 8  # chunks per serial batch: several batches, several embed tasks, from ~40 chunks


def _brown_paragraphs(n_docs: int = 2) -> list[str]:
    out = []
    with open(BROWN) as fh:
        for line in list(fh)[20:20 + n_docs]:
            doc = json.loads(line)
            out += [" ".join(p) for p in doc["paragraphs"] if len(" ".join(p)) > 200]
    return out


@pytest.fixture(scope="module")
def streams(tmp_path_factory, wiki_docs):
    """Two ingests of one stream: a folder read on workers, records, and every filter of the serial loop."""
    paras = _brown_paragraphs()
    root = tmp_path_factory.mktemp("docs")
    folder = root / "notes"
    folder.mkdir()
    for i, d in enumerate(wiki_docs[:3]):
        suffix = ".md" if i == 1 else ".txt"
        (folder / f"w{i}{suffix}").write_text(f"# {d.title}\n\n" + "\n\n".join(d.sentences[:6]))
    (folder / "skip.csv").write_text("a,b\n")
    (folder / "recs.jsonl").write_text(
        json.dumps({"id": "j1", "text": paras[0], "title": "jsonl one"}) + "\n{not json\n"
        + json.dumps({"id": "b15", "text": paras[1]}) + "\n")  # b15 again later: a duplicate id across partitions
    recs = [{"id": f"b{i}", "text": p, "title": "brown", "n": i} for i, p in enumerate(paras[2:24])]
    recs[3]["text"] = paras[5] + "\n\n" + paras[6]  # two chunks; edited in round two
    recs.insert(14, {"id": "again", "text": paras[9]})  # the chunk of b7 again, batches later
    recs.insert(5, {"id": "empty", "text": "  "})
    recs.append({"id": "comment", "text": "<!-- only markup -->"})
    first = [str(folder), *recs, str(root / "missing.txt"), 5]
    edited = [dict(r) for r in recs]
    edited[3]["text"] = paras[5] + "\n\n" + "An edited paragraph that replaces the second one of this record."
    second = [*edited[:10], {"id": "new1", "text": paras[24 % len(paras)] + " (new)"}]
    return first, second


def _memory(folder) -> SemanticMemory:
    return SemanticMemory(folder, embedder=TextEmbedder(cache=False), chunks_per_commit=BATCH)


def _snapshot(mem: SemanticMemory, report) -> dict:
    """Everything a memory holds and saved: SQLite rows, network (live and saved), FAISS bytes, the report."""
    import faiss

    c = mem.store_._conn
    state = json.loads((mem.folder / "state.json").read_text())
    return {
        "documents": c.execute("SELECT id, doc_key, title, source, meta, content_hash, chunk_ids FROM documents"
                               " ORDER BY id").fetchall(),
        "chunks": c.execute("SELECT id, hash, doc_id, position, refs, text, codes, embedding, phrases FROM chunks"
                            " ORDER BY id").fetchall(),
        "links": c.execute("SELECT * FROM doc_chunks ORDER BY doc_id, position").fetchall(),
        "concepts": c.execute("SELECT id, text, df FROM concepts ORDER BY id").fetchall(),
        "network": copy.deepcopy(mem.network_),  # a copy: the live one goes on learning
        "saved_network": MycelialReasoning.load(mem.folder / state["network"]["file"]),
        "index": bytes(faiss.serialize_index(mem.index_.index_)),
        "report": {k: v for k, v in vars(report).items() if k not in ("seconds", "errors")},
        "errors": [(str(e), e.skipped) for e in report.errors],
    }


def _assert_same(a: dict, b: dict) -> None:
    for key in ("documents", "chunks", "links", "concepts", "index", "report", "errors"):
        assert a[key] == b[key], key
    assert a["concepts"] and len(a["network"].cx_keys_)  # concept ids and concept edges, identical
    assert a["network"] == b["network"] and a["saved_network"] == b["saved_network"]


@pytest.fixture(scope="module")
def serial(streams, tmp_path_factory):
    mem = _memory(tmp_path_factory.mktemp("serial") / "m")
    first = _snapshot(mem, mem.ingest(streams[0]))
    second = _snapshot(mem, mem.ingest(streams[1]))
    mem.close()
    return first, second


@pytest.fixture(scope="module")
def client(dask_client):
    return dask_client


def test_parallel_ingest_equals_serial(client, streams, serial, tmp_path):
    first, second = serial
    assert first["report"]["documents"] >= 25 and first["report"]["duplicate_chunks"] >= 1
    assert len(first["errors"]) == 7  # skipped .csv, bad JSONL line, empty text, dup id, no text, missing, 5
    mem = _memory(tmp_path / "m")
    stats: dict = {}
    from core.memory.parallel import ingest_parallel

    with mem._writing():
        rep = ingest_parallel(mem, streams[0], client, partitions=5, stats=stats)
    assert stats["partitions"] == 5 and stats["batches"] >= 4 and stats["embed"] > 0
    _assert_same(_snapshot(mem, rep), first)
    # round two: unchanged, replaced (an edited record keeps one chunk) and new documents
    rep = mem.ingest(streams[1], client=client, partitions=3)
    assert rep.unchanged == 8 and rep.replaced == 1
    _assert_same(_snapshot(mem, rep), second)
    # the chunk the edited record kept was stored again with its vector and codes, not zeros
    doc = next(d[0] for d in second["documents"] if d[1] == "b3")
    rows, before = {r[0]: r for r in second["chunks"]}, {r[1]: r for r in first["chunks"]}
    kept = [rows[cid] for d, _, cid in second["links"] if d == doc and rows[cid][1] in before]
    assert len(kept) == 1 and np.abs(np.frombuffer(kept[0][7], np.float16)).sum() > 1
    assert kept[0][6:8] == before[kept[0][1]][6:8]  # codes and float16 embedding
    mem.close()


def _ingest_killing_a_worker(client, streams, tmp_path) -> tuple:
    """Ingest ``streams[0]`` while a thread SIGKILLs the first worker seen running an embed task
    (0.3 s into it, inside the embedding); returns (memory, report, killed workers)."""
    pids = client.run(os.getpid)
    killed: list = []
    done = threading.Event()

    def killer():
        while not done.is_set() and not killed:
            for worker, keys in client.processing().items():
                if any(str(k).startswith("mycelial-embed") for k in keys) and worker in pids:
                    time.sleep(0.3)
                    os.kill(pids[worker], signal.SIGKILL)
                    killed.append(worker)
                    return
            time.sleep(0.05)

    thread = threading.Thread(target=killer, daemon=True)
    mem = _memory(tmp_path / "m")
    thread.start()
    try:
        rep = mem.ingest(streams[0], client=client, partitions=4)
    finally:
        done.set()
        thread.join(5)
    return mem, rep, killed


def test_a_killed_worker_loses_nothing(client, streams, serial, tmp_path):
    mem, rep, killed = _ingest_killing_a_worker(client, streams, tmp_path)
    assert killed, "no worker was killed during the ingest"
    _assert_same(_snapshot(mem, rep), serial[0])
    mem.close()
    client.wait_for_workers(2, timeout=120)


def test_the_only_worker_killed_takes_the_scattered_parts_and_loses_nothing(streams, serial, tmp_path):
    # with one worker, killing it lost the scattered parts the tasks read ("cancelled for reason: already
    # forgotten", a WorkerError once in CI): the ingest now reads/embeds those batches here and scatters again
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0") as cluster, \
            Client(cluster) as c:
        mem, rep, killed = _ingest_killing_a_worker(c, streams, tmp_path)
        assert killed, "the worker was not killed during the ingest"
        _assert_same(_snapshot(mem, rep), serial[0])
        mem.close()


def test_cli_ingest_on_a_scheduler(client, streams, tmp_path):
    from core.cli import cli as main

    folder = streams[0][0]
    res = CliRunner().invoke(main, ["ingest", folder, "--memory", str(tmp_path / "m"), "-q",
                                    "--scheduler", client.scheduler.address])
    assert res.exit_code == 0, res.output
    assert "5 documents ingested" in res.output and "1 error" in res.output  # w0-w2, j1, b15; a bad line


def test_bad_parallel_arguments(client, tmp_path):
    from core.cli import cli as main

    mem = _memory(tmp_path / "m")
    with pytest.raises(ValueError, match="partitions needs client"):
        mem.ingest([{"id": "a", "text": "x y"}], partitions=2)
    with pytest.raises(ValueError, match="partitions must be a positive integer"):
        mem.ingest([{"id": "a", "text": "x y"}], client=client, partitions=0)
    with pytest.raises(ValueError, match="client must be a dask.distributed.Client"):
        mem.ingest([{"id": "a", "text": "x y"}], client="tcp://127.0.0.1:8786")
    from distributed import Client

    closed = Client(client.scheduler.address)
    closed.close()  # was AttributeError: 'NoneType' object has no attribute 'scatter'
    with pytest.raises(ValueError, match="the Dask client is closed"):
        mem.ingest([{"id": "a", "text": "x y"}], client=closed)
    mem.close()
    run = CliRunner().invoke
    res = run(main, ["ingest", "x.txt", "--memory", str(tmp_path / "m"), "--workers", "0"])
    assert res.exit_code == 2 and "--workers" in res.output
    res = run(main, ["ingest", "x.txt", "--memory", str(tmp_path / "m"), "--workers", "2",
                     "--scheduler", "tcp://127.0.0.1:1"])
    assert res.exit_code != 0 and "either --workers or --scheduler" in res.output
    doc = tmp_path / "x.txt"  # a real file: a missing path stops before any scheduler is tried
    doc.write_text("A sentence to ingest.", encoding="utf-8")
    res = run(main, ["ingest", str(doc), "--memory", str(tmp_path / "m"), "--scheduler", "tcp://127.0.0.1:1"])
    assert res.exit_code == 1 and "cannot reach the Dask scheduler at tcp://127.0.0.1:1" in res.output
    # the scheduler is reached before the memory opens: a typo left a new, empty memory folder behind
    res = run(main, ["ingest", str(doc), "--memory", str(tmp_path / "new"), "--scheduler", "garbage"])
    assert res.exit_code == 1 and "cannot reach the Dask scheduler at garbage" in res.output
    assert not (tmp_path / "new").exists()


def test_a_cluster_started_on_demand_starts_once_a_document_needs_embedding(client, streams, serial, tmp_path):
    # `ingest --workers N` started its local cluster (~4 s) before finding every file unchanged: now it passes a
    # function that starts it, called once a record needs embedding; the head of the stream is read here
    first, second = serial
    mem = _memory(tmp_path / "m")
    calls: list = []

    def start():
        calls.append(1)
        return client

    _assert_same(_snapshot(mem, mem.ingest(streams[0], client=start)), first)
    # round two: three unchanged records read here, then the edited one starts the cluster
    _assert_same(_snapshot(mem, mem.ingest(streams[1], client=start, partitions=3)), second)
    assert len(calls) == 2
    rep = mem.ingest(streams[1], client=start)  # all unchanged: no cluster
    assert len(calls) == 2 and (rep.documents, rep.unchanged, rep.replaced) == (0, 10, 0), rep
    mem.close()


def test_driver_reports_a_folder_as_the_serial_reader_does(tmp_path):
    """Special entries, unsupported files and bad paths give the same report lines on both paths."""
    from core.memory.parallel import _path_items
    from core.memory.readers import read_paths

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("A real line of text.", encoding="utf-8")
    (folder / "b.csv").write_text("x,y", encoding="utf-8")  # skipped in the folder (read when named)
    (folder / "c.ods").write_bytes(b"PK\x03\x04")  # refused, named too
    os.mkfifo(folder / "pipe")
    (folder / "gone").symlink_to(tmp_path / "missing")
    args = [folder, tmp_path / "nothing-here", folder / "c.ods"]
    serial_errors: list = []
    serial_ids = [r.doc_id for r in read_paths(args, serial_errors)]
    items = [it for a in args for it in _path_items(a)]
    driver_errors = [it[1] for it in items if it[0] == "err"]
    assert [str(e) for e in driver_errors] == [str(e) for e in serial_errors]
    assert any("not regular files" in str(e) and "pipe" in str(e) and "gone" in str(e) for e in driver_errors)
    assert serial_ids == ["a.txt"] and [it[3] for it in items if it[0] == "file"] == ["a.txt"]


def test_a_task_failing_on_its_worker_names_the_worker(tmp_path):
    # a worker whose environment cannot load the model (here: its cache folder is a file) made the CLI print
    # "Error: Not a directory: '/dev/null/x'", as if the path were on this machine
    import uuid

    from distributed import Client, LocalCluster

    from core.cli import cli as main
    from core.memory.parallel import WorkerError

    (tmp_path / "afile").write_text("")
    bad_cache = str(tmp_path / "afile" / "cache")
    tag = uuid.uuid4().hex  # texts no embedding cache holds: the worker must load its model
    recs = [{"id": f"r{i}", "text": f"Record {i} of run {tag} about the tide mill of Pellow."} for i in range(3)]
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0",
                      env={"MYCELIAL_CACHE_DIR": bad_cache}) as cluster, Client(cluster) as c:
        mem = _memory(tmp_path / "m")
        with pytest.raises(WorkerError, match=r"a Dask worker failed while embedding .* Not a directory") as info:
            mem.ingest(recs, client=c)
        assert isinstance(info.value.__cause__, OSError)
        assert mem.store_.count_documents() == 0
        mem.close()
        (tmp_path / "recs.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
        res = CliRunner().invoke(main, ["ingest", str(tmp_path / "recs.jsonl"), "--memory", str(tmp_path / "m"),
                                        "-q", "--scheduler", cluster.scheduler_address])
        new = CliRunner().invoke(main, ["ingest", str(tmp_path / "recs.jsonl"), "--memory", str(tmp_path / "new"),
                                        "-q", "--scheduler", cluster.scheduler_address])
    assert res.exit_code == 1 and "a Dask worker failed while embedding" in res.output, res.output
    assert "in the worker's environment" in res.output and "run the same command again" in res.output
    assert "0 documents are in" in res.output and (tmp_path / "m").is_dir()  # made before this command: kept
    # a new memory that the failure left empty is removed (it stayed behind)
    assert new.exit_code == 1 and "a Dask worker failed while embedding" in new.output, new.output
    assert f"no memory was made at {tmp_path / 'new'}" in new.output and not (tmp_path / "new").exists()


def test_cli_workers_takes_no_fixed_port(tmp_path):
    # `ingest --workers N` while another ingest (or anything) held port 8787 printed distributed's
    # "Port 8787 is already in use. Perhaps you already have a cluster running? Hosting the HTTP server ..."
    import socket

    from core.cli import cli as main

    (tmp_path / "r.jsonl").write_text(json.dumps({"id": "w1", "text": "Ida Wren mapped the caves of Orla."}) + "\n")
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", 8787))
        holder.listen()
    except OSError:
        pass  # already taken by someone else: the same situation
    try:
        res = CliRunner().invoke(main, ["ingest", str(tmp_path / "r.jsonl"), "--memory", str(tmp_path / "m"),
                                        "-q", "--workers", "1"])
    finally:
        holder.close()
    assert res.exit_code == 0 and "1 document ingested" in res.output, res.output
    assert "8787" not in res.output and "already in use" not in res.output, res.output


def test_a_file_the_worker_does_not_see_is_named_as_such(tmp_path):
    # a worker on another machine (no shared file system) reported "[Errno 2] No such file or directory:
    # '/home/me/notes/a.txt'" for a file that is right there on the user's machine
    from core.memory.parallel import _Parts, _read_part

    parts = _Parts(None, None, {}, 256)
    events, _ = _read_part(parts, [("file", str(tmp_path / "gone" / "a.txt"), "notes/a.txt", "a.txt", {},
                                     "notes/a.txt")])
    assert len(events) == 1 and events[0][0] == "err"
    err = str(events[0][1])
    assert err.startswith("notes/a.txt: not found on the Dask worker") and "shared file system" in err, err


def test_workers_read_a_folder_as_the_serial_reader_does(tmp_path, monkeypatch):
    # a folder given by a relative path: the records of its JSONL file named their file relatively on the
    # parallel path ("notes/r.jsonl", the serial path its absolute path), so --sync never forgot them
    from core.memory.parallel import _Parts, _path_items, _read_part
    from core.memory.readers import read_paths

    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "notes"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("Ida Wren mapped the caves of Orla.", encoding="utf-8")
    (folder / "sub" / "r.jsonl").write_text(json.dumps({"id": "r1", "text": "The tide mill of Pellow."}) + "\n{bad\n",
                                            encoding="utf-8")
    (tmp_path / "top.jsonl").write_text(json.dumps({"id": "t1", "text": "Orla lies west."}) + "\n", encoding="utf-8")
    args = ["notes", "top.jsonl"]
    errors: list = []
    serial = [(r.doc_id, r.source, r.meta) for r in read_paths(args, errors)]
    events, _ = _read_part(_Parts(None, None, {}, 256), [it for a in args for it in _path_items(a)])
    parallel = [(e[1].doc_id, e[1].source, e[1].meta) for e in events if e[0] == "rec"]
    assert parallel == serial and serial[1][1] == str(folder / "sub" / "r.jsonl"), parallel
    assert [str(e[1]) for e in events if e[0] == "err"] == [str(e) for e in errors] and len(errors) == 1


def test_the_progress_bar_has_a_total(client, tmp_path, capsys):
    # the parallel bar counted documents without a total (no ETA), where the serial one has both
    mem = _memory(tmp_path / "m")
    recs = [{"id": f"p{i}", "text": f"Ida Wren mapped cave {i} of the Orla coast."} for i in range(3)]
    mem.ingest([*recs, {"id": "blank", "text": "<!-- only markup -->"}], client=client, progress=True)
    mem.close()
    err = capsys.readouterr().err
    # a record that fails advances the bar too: it ended at "75%| 3/4"
    assert "100%" in err and "4/4" in err and "chunks=3" in err, err
    # it said nothing while the workers read and embedded (0/200 for 39-90 s); now what they do, as serially
    assert "workers=2 reading and chunking" in err and "embedding=0/3" in err, err


def _jsonl_lines(n: int) -> list[str]:
    lines = [json.dumps({"id": f"r{i}", "text": f"Record {i}: Ida Wren mapped the tide mill of Pellow. " * 3})
             for i in range(n)]
    lines[5] = "{not json"
    lines[9] = json.dumps({"id": "r3", "text": "An id the file already gave."})
    return lines


def test_a_large_jsonl_file_is_read_here_in_parts_as_serially(tmp_path, monkeypatch):
    # a JSONL file was one task: a worker read it whole and sent all its records back at once (60 MB peaked
    # at 246 MB there, twice the serial reader's, and the driver held them all too); now a file over
    # BIG_JSONL is read here, line by line with the serial reader, and sent in parts of ~PART_CHARS
    import core.memory.parallel as par
    from core.memory.parallel import _Parts, _path_items, _read_part, _split
    from core.memory.readers import read_paths

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(par, "BIG_JSONL", 1000)
    monkeypatch.setattr(par, "PART_CHARS", 600)
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.txt").write_text("Orla lies west of Pellow.", encoding="utf-8")
    raw = ("\n".join(_jsonl_lines(30)) + "\n").encode().replace(b"Record 20:", b"Record \xff20:")  # not UTF-8
    (folder / "big.jsonl").write_bytes(raw)
    (folder / "z.txt").write_text("The last note.", encoding="utf-8")
    args = ["notes", "notes/big.jsonl"]
    errors: list = []
    serial = [(r.doc_id, r.source, r.meta, r.text) for r in read_paths(args, errors, max_bytes=1000)]
    items = [it for a in args for it in _path_items(a)]
    assert [it[0] for it in items] == ["file", "jsonl", "file", "jsonl"]
    parts = list(_split([items[:2], items[2:]]))
    events = [ev for part in parts for ev in _read_part(_Parts(None, None, {}, 256), part)[0]]
    assert [(e[1].doc_id, e[1].source, e[1].meta, e[1].text) for e in events if e[0] == "rec"] == serial
    assert [str(e[1]) for e in events if e[0] == "err"] == [str(e) for e in errors] and len(errors) == 6
    assert len(parts) >= 10 and max(sum(len(e[1].text) for e in p if e[0] == "rec") for p in parts) < 800


def test_a_large_jsonl_file_ingests_as_serially(client, tmp_path, monkeypatch):
    import core.memory.parallel as par

    monkeypatch.setattr(par, "BIG_JSONL", 500)
    monkeypatch.setattr(par, "PART_CHARS", 400)
    (tmp_path / "big.jsonl").write_text("\n".join(_jsonl_lines(12)) + "\n", encoding="utf-8")
    mem = _memory(tmp_path / "serial")
    serial = _snapshot(mem, mem.ingest(str(tmp_path / "big.jsonl")))
    mem.close()
    mem = _memory(tmp_path / "parallel")
    stats: dict = {}
    with mem._writing():
        rep = par.ingest_parallel(mem, str(tmp_path / "big.jsonl"), client, stats=stats)
    assert stats["partitions"] >= 3 and len(serial["errors"]) == 2
    _assert_same(_snapshot(mem, rep), serial)
    mem.close()


def test_fields_reach_the_workers(client, tmp_path):
    # `ingest --fields text=paragraphs,id=doc_id`: the workers read a folder's .jsonl, the driver its .jsonl.gz
    # and the dict records; each with the mapping, as serially (without it Brown's lines are all errors)
    import gzip

    with open(BROWN) as fh:
        rows = [json.loads(line) for line in list(fh)[40:43]]
    rows = [{**r, "paragraphs": r["paragraphs"][:2]} for r in rows]
    folder = tmp_path / "brown"
    folder.mkdir()
    (folder / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:2]))
    (folder / "b.jsonl.gz").write_bytes(gzip.compress((json.dumps(rows[2]) + "\n").encode()))
    source = [str(folder), {"doc_id": "d1", "paragraphs": ["Ida Wren mapped the caves of the Orla coast."]}]
    fields = {"text": "paragraphs", "id": "doc_id"}
    mem = _memory(tmp_path / "serial")
    serial = _snapshot(mem, mem.ingest(source, fields=fields))
    mem.close()
    assert serial["report"]["documents"] == 4 and serial["errors"] == [], serial["errors"]
    mem = _memory(tmp_path / "parallel")
    _assert_same(_snapshot(mem, mem.ingest(source, client=client, fields=fields)), serial)
    mem.close()


def test_the_only_worker_dying_without_a_nanny_is_said_so_and_leaves_no_new_memory(tmp_path):
    # `dask worker ADDR --no-nanny`, killed mid-ingest: nothing restarts it, and the user got Dask's own "No valid
    # workers found" (a scatter to no worker) and the new memory folder, empty, left behind
    import subprocess
    import sys
    from pathlib import Path

    from distributed import Client, LocalCluster

    from core.cli import cli as main

    docs = tmp_path / "docs"
    docs.mkdir()
    for i, text in enumerate(_brown_paragraphs(2)):
        (docs / f"b{i}.txt").write_text(text, encoding="utf-8")
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    killed = threading.Event()
    with LocalCluster(n_workers=0, processes=False, protocol="tcp", host="127.0.0.1", dashboard_address="127.0.0.1:0") \
            as cluster, Client(cluster) as c:
        worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", cluster.scheduler_address,
                                   "--nthreads", "1", "--no-nanny", "--no-dashboard"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def killer():  # at its first task of this ingest
            while worker.poll() is None and not killed.is_set():
                if any(str(k).startswith("mycelial-") for keys in c.processing().values() for k in keys):
                    worker.kill()
                    killed.set()
                time.sleep(0.02)

        try:
            c.wait_for_workers(1, timeout=60)
            thread = threading.Thread(target=killer, daemon=True)
            thread.start()
            res = CliRunner().invoke(main, ["ingest", str(docs), "--memory", str(tmp_path / "new"), "-q",
                                            "--scheduler", cluster.scheduler_address])
        finally:
            worker.kill()
            worker.wait()
    assert killed.is_set(), res.output
    assert res.exit_code == 1 and "No valid workers found" not in res.output, res.output
    assert f"the Dask cluster at {cluster.scheduler_address} has no workers left" in res.output, res.output
    assert f"no memory was made at {tmp_path / 'new'}" in res.output and not (tmp_path / "new").exists()
