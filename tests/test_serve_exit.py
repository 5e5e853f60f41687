"""`mycelial serve` stopped by SIGTERM exits 0, by Ctrl-C 130 (as every other command), after the same shutdown.

Uvicorn raised the signal that stopped it again once shut down: SIGTERM killed the process (status -15), and
Ctrl-C's status depended on the handler it found (0 here). A real server on 127.0.0.1, in a process of its own.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from _server_helpers import free_port
from _two_at_once import two_at_once

from core.memory.semantic import SemanticMemory

ROOT = Path(__file__).resolve().parent.parent
# a background job (CI under nohup ... &) starts with SIGINT ignored: the server takes Ctrl-C as in a terminal
BOOT = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\nfrom core.cli import main; main()"


def _serve(folder: Path, cwd: Path = ROOT) -> tuple[subprocess.Popen, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-c", BOOT, "serve", "--port", str(port), "--memory", str(folder)],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited {proc.returncode}: {proc.stdout.read()}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)  # a refused connection answers at once: the start is seen within 50 ms
    proc.kill()
    raise AssertionError("serve did not answer /healthz in 120 s")


@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_serve_exits_0_on_sigterm_and_130_on_ctrl_c_after_saving(tmp_path, sig, status):
    folder = tmp_path / "m"
    proc, url = _serve(folder)
    try:
        r = httpx.post(url + "/v1/memories/m/documents", timeout=120,
                       json=[{"id": "n1", "text": "The emperor Nerva adopted Trajan as his successor."}])
        assert r.status_code in (200, 201), r.text
        t0 = time.monotonic()
        proc.send_signal(sig)
        proc.wait(timeout=60)
        took = time.monotonic() - t0
    finally:
        proc.kill()
    text = proc.stdout.read()
    print(f"serve exited {proc.returncode} {took:.2f} s after {sig.name}")
    assert proc.returncode == status, text
    assert "saved and closed 1 memory" in text and "Traceback" not in text, text
    assert took < 5, text
    from click.testing import CliRunner

    from core.cli import cli

    listed = CliRunner().invoke(cli, ["list", "--memory", str(folder), "--json"])
    assert [d["id"] for d in json.loads(listed.stdout)] == ["n1"]  # saved


def test_a_ctrl_c_while_serve_exits_keeps_status_130(tmp_path):
    """After the memories are closed Python restores the default handlers as it finalises: a further Ctrl-C
    there killed the process by SIGINT (status -2). It is ignored from the closing message on."""
    proc, _ = _serve(tmp_path / "m")
    try:
        proc.send_signal(signal.SIGINT)
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if "saved and closed" in line:
                break
        for _ in range(5):  # while the process exits
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            time.sleep(0.05)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    text = "".join(seen) + proc.stdout.read()
    assert proc.returncode == 130, text
    assert "Traceback" not in text, text


def _ctrl_c(proc: subprocess.Popen, again_after: float | None = None) -> str:
    """Ctrl-C (twice, ``again_after`` seconds apart, when given); what the process printed once it exited."""
    try:
        proc.send_signal(signal.SIGINT)
        if again_after is not None:
            time.sleep(again_after)
            proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    return proc.stdout.read()


def _has_open(pid: int, name: str) -> bool:
    fd = Path(f"/proc/{pid}/fd")
    try:
        return any(os.readlink(fd / f).endswith(name) for f in os.listdir(fd))
    except OSError:  # a descriptor closed while listed
        return False


def test_ctrl_c_while_serve_opens_its_memories_exits_130_and_keeps_them(tmp_path):
    """Ctrl-C before serving said "Aborted!" (exit 1) and left the memories it had opened unclosed. Sent once
    the memory's SQLite file is open (the memory opening, the model loading and warming up: ~1-2 s)."""
    from click.testing import CliRunner

    from core.cli import cli

    folder = tmp_path / "m"
    made = CliRunner().invoke(cli, ["ingest", str(ROOT / "core" / "memory" / "sample" / "nerva.md"),
                                    "--memory", str(folder), "--quiet"])
    assert made.exit_code == 0, made.output
    proc = subprocess.Popen([sys.executable, "-c", BOOT, "serve", "--port", str(free_port()), "--memory", str(folder)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while not _has_open(proc.pid, "memory.sqlite") and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, proc.stdout.read()
    text = _ctrl_c(proc)
    assert proc.returncode == 130, text
    assert "interrupted: stopped while opening m; nothing was served" in text and "Traceback" not in text, text
    listed = CliRunner().invoke(cli, ["list", "--memory", str(folder), "--json"])
    assert [Path(d["id"]).name for d in json.loads(listed.stdout)] == ["nerva.md"]
    again = CliRunner().invoke(cli, ["ingest", str(ROOT / "core" / "memory" / "sample" / "du_fu.md"),
                                     "--memory", str(folder), "--quiet"])  # no lock left behind
    assert again.exit_code == 0, again.output


def test_two_quick_ctrl_cs_exit_130_without_a_traceback(tmp_path):
    """A second Ctrl-C within uvicorn's tick forces its exit: it skips the app's shutdown and cancels it, and
    Starlette logged the CancelledError as a failed shutdown (a traceback). The memories are still saved."""
    proc, _ = _serve(tmp_path / "m")
    text = _ctrl_c(proc, again_after=0.02)
    assert proc.returncode == 130, text
    assert "Traceback" not in text and "CancelledError" not in text, text
    assert "saved and closed 1 memory" in text, text


def test_serve_says_when_a_memory_it_serves_is_new_and_names_a_near_one(tmp_path):
    # `serve --memory my_memroy` (a typo) served a new, empty memory without a word: every recall answered no hits
    proc, url = _serve(tmp_path / "my_memory")
    try:
        r = httpx.post(url + "/v1/memories/my_memory/documents", timeout=120,
                       json=[{"id": "n1", "text": "The emperor Nerva adopted Trajan as his successor."}])
        assert r.status_code in (200, 201), r.text
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    first = proc.stdout.read()
    assert f"note: memory 'my_memory' is new and empty ({tmp_path / 'my_memory'} held no memory)" in first, first
    SemanticMemory(tmp_path / "my_memorz").close()  # an empty memory an earlier typo made is no suggestion
    # given relative, the new folder suggested itself; an existing memory: no note (the two served side by side:
    # neither writes the other's folder, and each start is ~1-2 s of imports on one core)
    typo, existing = two_at_once(_said_at_start, [(Path("my_memroy"), tmp_path), (tmp_path / "my_memory", ROOT)])
    assert ("note: memory 'my_memroy' is new and empty (my_memroy held no memory); did you mean my_memory?") in typo, \
        typo
    assert "note:" not in existing, existing


def _said_at_start(folder_and_cwd: tuple[Path, Path]) -> str:
    """What `serve` printed when started on ``folder`` (from ``cwd``) and stopped by SIGTERM once it answers."""
    proc, _ = _serve(*folder_and_cwd)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    return proc.stdout.read()


def test_serve_names_the_port_it_listens_on_and_refuses_a_taken_one_before_saying_serving(tmp_path):
    # it printed "serving ... at http://127.0.0.1:18473/" and then failed to bind (another server answered there);
    # --port 0 printed ":0"
    proc = subprocess.Popen([sys.executable, "-c", BOOT, "serve", "--port", "0", "--memory", str(tmp_path / "m")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        banner = ""
        while "serving" not in banner and proc.poll() is None:
            banner = proc.stdout.readline()
        port = int(banner.split("http://127.0.0.1:")[1].split("/")[0])
        assert port > 0
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=30).status_code == 200
        taken = subprocess.run([sys.executable, "-c", BOOT, "serve", "--port", str(port), "--memory",
                                str(tmp_path / "n")], capture_output=True, text=True, timeout=120,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert taken.returncode == 1, taken.stderr
        assert "serving" not in taken.stderr and f"cannot listen on 127.0.0.1:{port}" in taken.stderr, taken.stderr
        assert "Traceback" not in taken.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert proc.returncode == 0
