"""Wall time of short commands on the default embedder, against the same commands with torch imported first.

Before 2026-12-03 every writable memory opened the torch VQ-VAE codec: `mycelial ingest` of one note
and `mycelial serve` paid for importing torch (~2 s) although the default embedder (OpenVINO int8)
needs none (read-only commands such as `recall` were torch-free already). The baseline is that cost,
measured in the same run: each command runs in a fresh process, once as is and once after
``import torch``, alternating, ``--rounds`` times.

    python scripts/bench_startup.py --rounds 5
"""
from __future__ import annotations

import argparse
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "core" / "memory" / "sample"


def _boot(with_torch: bool) -> str:
    return ("import torch\n" if with_torch else "") + "from core.cli import main; main()"


def _run(with_torch: bool, *args: str) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", _boot(with_torch), *args], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def _serve_ready(with_torch: bool, folder: Path) -> float:
    """Seconds from the process start until the port accepts a connection (memories open, warm)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", _boot(with_torch), "serve", "--memory", str(folder),
                             "--port", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"serve exited {proc.returncode}")
            try:
                socket.create_connection(("127.0.0.1", port), 0.1).close()
                return time.perf_counter() - t
            except OSError:
                time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    rounds = ap.parse_args().rounds
    work = Path(tempfile.mkdtemp(prefix="bench_startup_"))
    times: dict[tuple[str, bool], list[float]] = {}
    try:
        for r in range(rounds):
            for with_torch in (False, True):
                m = work / f"m{r}{int(with_torch)}"
                steps = {
                    "ingest one note, new memory": lambda: _run(with_torch, "ingest", str(SAMPLE / "du_fu.md"),
                                                                "--memory", str(m)),
                    "ingest a second note": lambda: _run(with_torch, "ingest", str(SAMPLE / "imagism.md"),
                                                         "--memory", str(m)),
                    "serve until it accepts": lambda: _serve_ready(with_torch, m),
                }
                for name, step in steps.items():
                    times.setdefault((name, with_torch), []).append(step())
            print(f"round {r + 1}/{rounds} done", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"| command ({rounds} rounds, median s) | now | torch imported first | ratio |")
    print("|---|---|---|---|")
    for name in dict.fromkeys(n for n, _ in times):
        now, old = statistics.median(times[name, False]), statistics.median(times[name, True])
        print(f"| {name} | {now:.2f} | {old:.2f} | {old / now:.2f}x |")


if __name__ == "__main__":
    from core._script import run_main

    run_main(main)
