"""Load test of `mycelial serve` on 127.0.0.1: N clients recall while one client ingests.

Starts a real server process on a free port over a fresh memory holding the shipped sample,
runs ``--clients`` recall clients (real questions, mixed modes) for ``--seconds`` while one
more client posts WikiText-2 articles in batches, then stops the server with SIGTERM and
reopens the folder to check that every acknowledged (201) document is stored.

Prints and writes (``--out``) JSON: requests/s, p50/p99 latency, 5xx count, lost documents.

    .venv/bin/python scripts/bench_server.py --clients 20 --seconds 30
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SAMPLE = ROOT / "core" / "memory" / "sample"
QUESTIONS = ["Which emperor adopted Trajan as his successor?", "Who was Nero's mother?",
             "What made ironclad warships different?", "Which poets founded Imagism?",
             "Where did Du Fu live during the An Lushan rebellion?", "Who murdered the archbishop of York?"]
MODES = ("hybrid", "similar", "associative")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(folder: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "MYCELIAL_TOKEN"}
    proc = subprocess.Popen([sys.executable, "-c", "from core.cli import main; main()", "serve", "--memory",
                             f"bench={folder}", "--port", str(port)], cwd=ROOT, env=env)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("server did not start in 180 s")


async def run_load(url: str, clients: int, seconds: float, docs: list[dict], batch: int) -> dict:
    lat: list[float] = []
    status: dict[int, int] = {}
    acked: list[str] = []
    ingest_lat: list[float] = []
    stop_at = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients + 2)

    async def reader(i: int, client: httpx.AsyncClient):
        n = i
        while time.monotonic() < stop_at:
            params = {"q": QUESTIONS[n % len(QUESTIONS)], "k": 10, "mode": MODES[n % len(MODES)]}
            t0 = time.perf_counter()
            try:
                r = await client.get("/v1/memories/bench/recall", params=params)
                code = r.status_code
            except httpx.HTTPError:
                code = -1  # transport error (counted apart from 5xx)
            lat.append(time.perf_counter() - t0)
            status[code] = status.get(code, 0) + 1
            n += 1

    async def writer(client: httpx.AsyncClient):
        pos = 0
        while time.monotonic() < stop_at and pos < len(docs):
            part = docs[pos:pos + batch]
            pos += batch
            t0 = time.perf_counter()
            r = await client.post("/v1/memories/bench/documents", json=part)
            ingest_lat.append(time.perf_counter() - t0)
            status[r.status_code] = status.get(r.status_code, 0) + 1
            if r.status_code == 201:
                acked.extend(d["id"] for d in part)

    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        t0 = time.perf_counter()
        await asyncio.gather(writer(client), *(reader(i, client) for i in range(clients)))
        wall = time.perf_counter() - t0
    ms = np.asarray(lat) * 1000
    return {"recall_requests": len(lat), "wall_s": round(wall, 1), "recall_per_s": round(len(lat) / wall, 1),
            "recall_p50_ms": round(float(np.percentile(ms, 50)), 1), "recall_p99_ms": round(float(np.percentile(ms, 99)), 1),
            "ingest_requests": len(ingest_lat), "ingest_p50_ms": round(float(np.median(ingest_lat)) * 1000, 1)
            if ingest_lat else None, "status_counts": {str(k): v for k, v in sorted(status.items())},
            "http_5xx": sum(v for k, v in status.items() if k >= 500), "transport_errors": status.get(-1, 0),
            "acked_ids": acked}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--batch", type=int, default=4, help="documents per ingest request")
    ap.add_argument("--no-ingest", action="store_true", help="recall only (the baseline without a writer)")
    ap.add_argument("--out", default=str(ROOT / "bench_results" / "bench_server.json"))  # artifacts/: the pipeline's
    args = ap.parse_args()
    if args.clients < 1 or args.seconds <= 0 or args.batch < 1:
        raise SystemExit("--clients, --seconds and --batch must be positive")
    from core.datasets import wikitext_documents
    from core.memory import SemanticMemory

    docs = [{"id": f"wt:{i}", "title": d.title, "text": " ".join(d.sentences[:40])}
            for i, d in enumerate(wikitext_documents()) if d.sentences]
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        folder = Path(tmp) / "bench"
        with SemanticMemory(folder) as mem:
            mem.ingest(sorted(str(p) for p in SAMPLE.iterdir() if p.suffix in (".md", ".jsonl")))
        port = free_port()
        proc = start_server(folder, port)
        try:
            res = asyncio.run(run_load(f"http://127.0.0.1:{port}", args.clients, args.seconds,
                                      [] if args.no_ingest else docs, args.batch))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        acked = res.pop("acked_ids")
        with SemanticMemory(folder) as mem:
            lost = [d for d in acked if mem.store_.document(d) is None]
    res.update({"ingest": not args.no_ingest, "clients": args.clients, "seconds": args.seconds, "docs_acked": len(acked), "docs_lost": len(lost),
                "cpus": os.cpu_count(), "loadavg_after": [round(x, 2) for x in os.getloadavg()]})
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    from core._script import run_main

    run_main(main)
