"""`mycelial ingest --workers N | --scheduler ADDRESS`: the Dask side of the command line (core/cli/_dask.py).

Real sockets on 127.0.0.1 and a real one-worker LocalCluster; no model is loaded by these tests but the one
that ingests a folder serially first.
"""
from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from core.cli import cli as main


def _server(reply: bytes | None):
    """A TCP server on 127.0.0.1 that is no Dask scheduler: it answers `reply` (or nothing) and keeps the line open."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    held: list = []

    def serve():
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            held.append(conn)
            if reply is not None:
                conn.recv(65536)
                conn.sendall(reply)

    threading.Thread(target=serve, daemon=True).start()
    return sock, held


@pytest.mark.parametrize("reply", [None, b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" * 4],
                         ids=["silent", "http"])
def test_a_port_where_no_scheduler_answers_is_a_quick_error(tmp_path, monkeypatch, reply):
    # the dashboard's port (or any web server): `Client(address, timeout=5)` waited forever for a handshake,
    # and a service that answered with other bytes ended in "MemoryError: Unable to allocate 3.07 EiB"
    import core.cli._dask

    monkeypatch.setattr(core.cli._dask, "CONNECT_SECONDS", 1.0)  # the deadline (5 s) is not what is tested
    sock, held = _server(reply)
    doc = tmp_path / "x.txt"
    doc.write_text("A sentence to ingest.", encoding="utf-8")
    address = f"tcp://127.0.0.1:{sock.getsockname()[1]}"
    t0 = time.monotonic()
    try:
        res = CliRunner().invoke(main, ["ingest", str(doc), "--memory", str(tmp_path / "m"), "-q",
                                        "--scheduler", address])
    finally:
        sock.close()
        for conn in held:
            conn.close()
    assert res.exit_code == 1 and f"cannot reach the Dask scheduler at {address}" in res.output, res.output
    assert "Traceback" not in res.output and time.monotonic() - t0 < 8
    assert not (tmp_path / "m").exists()


def test_bad_worker_counts_and_addresses_are_usage_errors(tmp_path):
    # `--scheduler ''` ingested serially without a word; `--workers 100000` sat starting processes
    doc = tmp_path / "x.txt"
    doc.write_text("A sentence to ingest.", encoding="utf-8")
    run = CliRunner().invoke
    for args, says in ((["--scheduler", ""], "--scheduler needs an address"),
                       (["--scheduler", "  "], "--scheduler needs an address"),
                       (["--workers", "100000"], "for more, start workers on other machines"),
                       (["--workers", "-1"], "--workers"), (["--workers", "1.5"], "--workers"),
                       (["--workers", "two"], "--workers")):
        t0 = time.monotonic()
        res = run(main, ["ingest", str(doc), "--memory", str(tmp_path / "m"), "-q", *args])
        assert res.exit_code == 2 and says in res.output, (args, res.output)
        assert time.monotonic() - t0 < 5 and not (tmp_path / "m").exists(), args


_KILL_A_WORKER = """
import gc, json, os, signal, time
from core.cli._dask import dask_client
if __name__ == "__main__":
    with dask_client(1, None) as client:
        ignored = list(client.run(lambda: signal.getsignal(signal.SIGINT) is signal.SIG_IGN).values())
        callbacks = [repr(cb) for cb in gc.callbacks]
        held = client.scatter([1, 2, 3], broadcast=True, hash=False)
        (address, pid), = client.run(os.getpid).items()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while address in client.scheduler_info()["workers"] and time.monotonic() < deadline:
            time.sleep(0.1)
        print(json.dumps({"ignored": ignored, "callbacks": callbacks,
                          "removed": address not in client.scheduler_info()["workers"]}))
"""


def test_the_local_cluster_leaves_ctrl_c_to_this_process_and_logs_no_recovered_error(tmp_path):
    # Ctrl-C in a terminal reaches every process of the group: each worker printed a KeyboardInterrupt
    # traceback and died ("lost scattered data" from the scheduler); now the driver alone stops them.
    # A Ctrl-C that landed in the scheduler's garbage-collection callback here was "Exception ignored";
    # a killed worker logged "... lose scattered data, which can't be recovered" (the ingest recovers it).
    # In a process of its own: distributed's log handler writes to the stderr it found first.
    import json
    import os
    import subprocess
    import sys

    script = tmp_path / "kill_a_worker.py"
    script.write_text(_KILL_A_WORKER)
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["ignored"] == [True] and out["removed"], out
    assert not any("GCDiagnosis" in cb for cb in out["callbacks"]), out
    assert "scattered data" not in res.stderr and "ERROR" not in res.stderr, res.stderr


def test_a_scheduler_without_workers_leaves_no_new_memory(tmp_path, monkeypatch):
    # "the Dask cluster at ... has no workers after 60 s" left the new, empty memory folder it had made
    from distributed import LocalCluster

    import core.memory.parallel

    monkeypatch.setattr(core.memory.parallel, "WAIT_FOR_WORKERS", 0.5, raising=False)
    doc = tmp_path / "x.txt"
    doc.write_text("A sentence to ingest.", encoding="utf-8")
    with LocalCluster(n_workers=0, processes=False, dashboard_address="127.0.0.1:0") as cluster:
        res = CliRunner().invoke(main, ["ingest", str(doc), "--memory", str(tmp_path / "new"), "-q",
                                        "--scheduler", cluster.scheduler_address])
    assert res.exit_code == 1 and "has no workers after" in res.output, res.output
    assert "has no workers yet; waiting up to 0.5 s" in res.output  # the wait said nothing for a minute
    assert f"no memory was made at {tmp_path / 'new'}" in res.output and not (tmp_path / "new").exists()


def _workers_spawned(pid: int, importing: bool = False) -> bool:
    """Whether the process ``pid`` has a Dask worker process (a multiprocessing spawn child) yet; with
    ``importing``, one that is importing `distributed` (it has loaded psutil's extension, before its preload)."""
    import psutil

    try:
        workers = [c for c in psutil.Process(pid).children(recursive=True) if "spawn_main" in " ".join(c.cmdline())]
        return any(not importing or any("psutil" in m.path for m in c.memory_maps()) for c in workers)
    except psutil.Error:
        return False


def _cli(args: list, **env):
    """`mycelial ARGS` in a process of its own (and session: a signal to its group reaches its workers too),
    taking Ctrl-C back (a background job's shell, CI's, starts it ignored)."""
    import os
    import subprocess
    import sys

    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])), **env}
    boot = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\nfrom core.cli import main; main()"
    return subprocess.Popen([sys.executable, "-c", boot, *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_signal_while_the_workers_start_says_one_line(tmp_path, sig):
    # Ctrl-C (to the whole process group, as a terminal sends it) while a spawned worker still imported
    # `distributed`, before its preload ignores SIGINT: two worker KeyboardInterrupt tracebacks, "Nanny failed to
    # start", and distributed's exit hook closing the half-started cluster: "AssertionError: Status.init".
    # SIGTERM (systemd stops the whole group too) killed the ingest (status -15) without a word.
    import os
    import signal

    doc = tmp_path / "x.txt"
    doc.write_text("A sentence to ingest.", encoding="utf-8")
    proc = _cli(["ingest", str(doc), "--memory", str(tmp_path / "m"), "-q", "--workers", "1"])
    try:
        deadline = time.monotonic() + 120
        while not _workers_spawned(proc.pid, importing=True) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert proc.poll() is None, proc.communicate()[0]
        os.killpg(proc.pid, getattr(signal, sig))  # the worker is importing distributed now
        out = proc.communicate(timeout=60)[0]
    finally:
        proc.kill()
    assert proc.returncode == {"SIGINT": 130, "SIGTERM": 143}[sig], out
    assert out.strip() == f"interrupted: nothing was ingested; no memory was made at {tmp_path / 'm'}", out
    assert not (tmp_path / "m").exists()


def test_a_busy_memory_is_refused_before_any_worker_starts(tmp_path):
    # `--workers` started its local cluster first: a memory another process writes was refused after the
    # cluster's start and the lock's wait (24 s with MYCELIAL_LOCK_TIMEOUT=10), a read-only one after 6-10 s
    import os

    from core.memory.lock import WriteLock

    doc = tmp_path / "x.txt"
    doc.write_text("A sentence to ingest.", encoding="utf-8")
    (tmp_path / "m").mkdir()
    lock = WriteLock(tmp_path / "m")
    lock.acquire()
    try:
        proc = _cli(["ingest", str(doc), "--memory", str(tmp_path / "m"), "-q", "--workers", "1"],
                    MYCELIAL_LOCK_TIMEOUT="0.5")
        spawned = False
        while proc.poll() is None:
            spawned = spawned or _workers_spawned(proc.pid)
            time.sleep(0.005)
        out = proc.communicate()[0]
    finally:
        lock.release()
    assert proc.returncode == 1 and f"memory {tmp_path / 'm'} is being written by pid {os.getpid()}" in out, out
    assert not spawned, out


def test_a_scheduler_address_where_nothing_listens_is_said_at_once(tmp_path):
    # distributed retries a refused connect: "Timed out trying to connect to tcp://127.0.0.1:1 after 5 s"
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    doc = tmp_path / "x.txt"
    doc.write_text("A sentence to ingest.", encoding="utf-8")
    t0 = time.monotonic()
    res = CliRunner().invoke(main, ["ingest", str(doc), "--memory", str(tmp_path / "m"), "-q",
                                    "--scheduler", f"tcp://127.0.0.1:{port}"])
    assert res.exit_code == 1 and "nothing listens there (connection refused)" in res.output, res.output
    assert f"dask scheduler --host 127.0.0.1 --port {port}" in res.output, res.output
    assert time.monotonic() - t0 < 4 and not (tmp_path / "m").exists()


def test_a_service_announcing_a_huge_message_is_not_called_a_memory_error(tmp_path):
    # a service that is not Dask's answered with 8 bytes Dask reads as a frame size: "its answer gave
    # MemoryError" read as if the ingest had run out of memory
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def answer():
        conn, _ = server.accept()
        with conn:
            conn.sendall(b"\xff" * 7 + b"\x0f" + b"junk" * 64)
            time.sleep(3)

    threading.Thread(target=answer, daemon=True).start()
    doc = tmp_path / "x.txt"
    doc.write_text("A sentence to ingest.", encoding="utf-8")
    try:
        res = CliRunner().invoke(main, ["ingest", str(doc), "--memory", str(tmp_path / "m"), "-q",
                                        "--scheduler", f"tcp://127.0.0.1:{server.getsockname()[1]}"])
    finally:
        server.close()
    assert res.exit_code == 1 and "is not a Dask scheduler" in res.output, res.output
    assert "MemoryError" not in res.output and "too large" in res.output, res.output
    assert not (tmp_path / "m").exists()


def test_a_rerun_on_unchanged_files_starts_no_worker(tmp_path, wiki_docs):
    # `ingest --workers N` on a folder ingested before started its local cluster (~4 s) to find every file
    # unchanged; the serial path says so in a second
    docs = tmp_path / "docs"
    docs.mkdir()
    for i, d in enumerate(wiki_docs[:3]):
        (docs / f"w{i}.txt").write_text(" ".join(d.sentences[:3]), encoding="utf-8")
    res = CliRunner().invoke(main, ["ingest", str(docs), "--memory", str(tmp_path / "m"), "-q"])
    assert res.exit_code == 0 and res.output.startswith("3 documents ingested"), res.output
    proc = _cli(["ingest", str(docs), "--memory", str(tmp_path / "m"), "-q", "--workers", "1"])
    spawned = False
    while proc.poll() is None:
        spawned = spawned or _workers_spawned(proc.pid)
        time.sleep(0.005)
    out = proc.communicate()[0]
    assert proc.returncode == 0 and out.startswith(
        "0 documents ingested (0 chunks: 0 new, 0 duplicates), 3 unchanged, 0 replaced, 0 errors, "), out
    assert not spawned, out
