"""Small CLI behaviours, checked through real `mycelial` processes (the exit statuses of nothing found: in this
process): counts in words, exit statuses, a closed pipe, a memory path that cannot be made."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args, input=None, prefix=(), **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([*prefix, sys.executable, "-c", "from core.cli import main; main()", *args], input=input,
                          capture_output=True, text=True, env=env, timeout=120, **kw)


def _ingest_here(folder, text: str) -> None:
    """Build a memory in this process with the same `ingest -` command: a setup step, not what is checked
    (a fresh process paid ~3 s of imports and model load for it); the commands under test run as processes."""
    from click.testing import CliRunner

    from core.cli import cli

    r = CliRunner().invoke(cli, ["ingest", "-", "--memory", str(folder), "-q"], input=text)
    assert r.exit_code == 0, r.output


def _py(code: str):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)


@pytest.fixture(scope="module")
def lone(tmp_path_factory):
    """A memory of one document naming one concept, which co-occurs with nothing."""
    folder = tmp_path_factory.mktemp("small") / "m"
    _ingest_here(folder, "the weather was fine and Quetzalcoatl slept all day.\n")
    return folder


# 1. counts in words ("1 documents", "1 concepts")

def test_ctrl_c_after_one_document_says_1_document_is(tmp_path):
    r = _py(f"from core.cli._fresh import interrupted; interrupted({str(tmp_path)!r}, False, 1)")
    assert r.returncode == 130 and "interrupted: 1 document is in " in r.stderr, r.stderr  # "1 documents are"
    r = _py(f"from core.cli._fresh import interrupted; interrupted({str(tmp_path)!r}, False, 2)")
    assert r.returncode == 130 and "interrupted: 2 documents are in " in r.stderr, r.stderr


def test_a_failed_parallel_ingest_after_one_document_says_1_document_is(tmp_path):
    r = _py("from core.cli._fresh import ingest_failed; from core.memory.parallel import WorkerError\n"
            f"ingest_failed({str(tmp_path)!r}, False, 1, WorkerError('embed failed on a worker'))")
    assert r.returncode == 1 and f"; 1 document is in {tmp_path}: fix the workers" in r.stderr, r.stderr


def test_graph_of_a_lone_concept_says_1_concept_0_edges(lone, tmp_path):
    pytest.importorskip("matplotlib")
    r = _run("graph", "--memory", str(lone), "--concept", "quetzalcoatl", "--out", str(tmp_path))
    assert r.returncode == 0 and r.stdout.startswith("1 concept, 0 edges around 'Quetzalcoatl'"), r.stdout + r.stderr


@pytest.mark.skipif(not shutil.which("taskset") or not hasattr(os, "sched_getaffinity"), reason="needs taskset")
def test_too_many_workers_on_one_core_says_1_core(tmp_path):
    (tmp_path / "a.txt").write_text("hello\n")
    r = _run("ingest", str(tmp_path / "a.txt"), "--memory", str(tmp_path / "m"), "--workers", "5",
             prefix=("taskset", "-c", "0"))
    assert r.returncode == 2 and "this machine has 1 core, so at most 4 local workers" in r.stderr, r.stderr


def test_train_on_one_row_says_1_row(tmp_path):
    import numpy as np

    np.save(tmp_path / "one.npy", np.full((1, 384), 384 ** -0.5, np.float32))
    from click.testing import CliRunner

    from core.cli import cli

    r = CliRunner().invoke(cli, ["train", "--npy", str(tmp_path / "one.npy"), "--out", str(tmp_path / "out")])
    assert r.exit_code == 1 and "one.npy has 1 row; training needs at least" in r.stderr, (r.stderr, r.exception)


# 2. nothing found: exit 1, as grep (and `graph --concept` for an unknown concept)

def test_associate_and_bridges_exit_1_when_they_find_nothing(lone):
    # in this process (click's CliRunner: the exit status the command sets, stdout and stderr apart): seven
    # `mycelial` processes took ~10-26 s, for no behaviour of a process
    from click.testing import CliRunner

    from core.cli import cli

    commands = (["associate", "zzzz"], ["associate", "quetzalcoatl"], ["bridges", "zzzz", "yyyy"])
    for command in commands:
        r = CliRunner().invoke(cli, [*command, "--memory", str(lone)])
        assert r.exit_code == 1 and r.stdout == "" and r.stderr.startswith("no "), (command, r.stderr, r.exception)
        r = CliRunner().invoke(cli, [*command, "--memory", str(lone), "--json"])
        assert r.exit_code == 1 and r.stdout == "[]\n", (command, r.stdout, r.stderr, r.exception)
    r = CliRunner().invoke(cli, ["graph", "--memory", str(lone), "--concept", "zzzz"])
    assert r.exit_code == 1, r.stderr


def test_associate_exits_0_when_it_finds_something(tmp_path):
    folder = tmp_path / "m"
    _ingest_here(folder, "Neil Peart was the drummer of Rush, a Canadian rock band.\n")
    from click.testing import CliRunner

    from core.cli import cli

    r = CliRunner().invoke(cli, ["associate", "neil peart", "--memory", str(folder)])  # in this process, as above
    assert r.exit_code == 0 and "rush" in r.stdout.lower(), r.stdout + r.stderr
    r = CliRunner().invoke(cli, ["bridges", "neil peart", "rush", "--memory", str(folder), "--json"])
    assert r.exit_code == 0 and r.stdout.startswith("[{"), r.stdout + r.stderr


# 3. a closed pipe (`mycelial list | head -1`): status 141, as a tool SIGPIPE ends, and nothing on stderr

@pytest.mark.parametrize("unbuffered", ["", "1"])  # the write fails in the command, or in the last flush
@pytest.mark.parametrize("command", [["list"], ["recall", "weather", "-q"], ["stats"]])
def test_a_closed_pipe_ends_the_command_quietly_with_141(lone, command, unbuffered):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": unbuffered}
    proc = subprocess.Popen([sys.executable, "-c", "from core.cli import main; main()", *command, "--memory",
                             str(lone)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    proc.stdout.close()  # the reader is gone before the command writes (it takes >1 s to import)
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141 and err == "", (proc.returncode, err)  # was 1, or 120 and a BrokenPipeError


# 4. a memory path that cannot be a folder: one line naming it and why

@pytest.mark.parametrize("where, why", [("/proc/mycelial-x", "/proc cannot hold new folders"),
                                        ("/proc/mycelial-x/m", "/proc cannot hold new folders"),
                                        ("FILE/m", "FILE is a file, not a folder")])
def test_a_memory_path_that_cannot_be_made_names_it_and_why(tmp_path, where, why):
    if where.startswith("/proc") and not Path("/proc/self").is_dir():
        pytest.skip("no /proc")
    (tmp_path / "a.txt").write_text("hello\n")
    folder, why = where.replace("FILE", str(tmp_path / "a.txt")), why.replace("FILE", str(tmp_path / "a.txt"))
    r = _run("ingest", "-", "--memory", folder, "-q", input="Neil Peart was the drummer of Rush.\n")
    # it said "Error: [Errno 2] No such file or directory: '/proc/mycelial-x'"
    assert r.returncode == 1 and r.stderr == f"Error: cannot make the memory folder {folder}: {why}\n", r.stderr
