"""A served memory built from the shipped sample (core/memory/sample), shared by the server tests."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

SAMPLE = Path(__file__).resolve().parent.parent / "core" / "memory" / "sample"
QUESTION = "Which emperor adopted Trajan as his successor?"
TOKEN = "test-token-3f9a"


def build_sample_memory(folder, embedder, codec) -> None:
    """Ingest the sample into ``folder`` and close it (the server reopens it)."""
    from core.memory import SemanticMemory

    with SemanticMemory(folder, embedder=embedder, codec=codec) as mem:
        rep = mem.ingest(sorted(str(p) for p in SAMPLE.iterdir() if p.suffix in (".md", ".jsonl")))
    assert rep.documents >= 10 and not rep.errors, rep.to_dict()


@contextmanager
def sample_client(root, embedder, others=(), max_body: int = 256 * 1024):
    """(app, TestClient) over the sample built at ``root/sample`` (and empty memories named ``others``),
    served with the test token."""
    from fastapi.testclient import TestClient

    from core.reasoning.mycelial import MycelialVQVAE
    from core.server import create_app

    codec = MycelialVQVAE.load_default()
    build_sample_memory(root / "sample", embedder, codec)
    memories = {"sample": root / "sample", **{name: root / name for name in others}}
    app = create_app(memories, token=TOKEN, embedder=embedder, codec=codec, max_body=max_body)
    with TestClient(app) as client:
        yield app, client


@contextmanager
def sample_and_another_served(root, embedder, name: str, records: list[dict]):
    """A live server (`LiveServer`) of the sample at ``root/sample`` and a second memory ``root/name`` holding
    ``records``, stopped afterwards: the page tests' fixture."""
    from core.memory import SemanticMemory
    from core.reasoning.mycelial import MycelialVQVAE

    codec = MycelialVQVAE.load_default()
    build_sample_memory(root / "sample", embedder, codec)
    with SemanticMemory(root / name, embedder=embedder, codec=codec) as mem:
        mem.ingest(records)
    srv = LiveServer([str(root / "sample"), str(root / name)])
    try:
        yield srv
    finally:
        srv.stop()


def finished_job(get, location: str, headers=None, tries: int = 600, pause: float = 0.05) -> dict:
    """The job at ``location`` once it is done or failed (``get``: a TestClient's or httpx's get)."""
    import time

    for _ in range(tries):
        job = get(location, headers=headers or {}).json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(pause)
    raise AssertionError(f"job {location} still {job['status']} after {tries * pause:.0f} s")


def post_then_hang_up(app, path: str, parts: list[bytes], ctype: str = "application/json") -> list[dict]:
    """The ASGI messages ``app`` sends for a POST whose client hangs up once ``parts`` of its body are sent
    (uvicorn's ``receive`` then gives ``http.disconnect``); its Content-Length claims a longer body when cut."""
    import asyncio
    import threading

    given = list(parts)
    whole = len(parts) == 1

    async def receive():
        if given:
            return {"type": "http.request", "body": given.pop(0), "more_body": not whole or bool(given)}
        return {"type": "http.disconnect"}

    sent: list[dict] = []

    async def send(msg):
        sent.append(msg)

    size = sum(map(len, parts)) if whole else 10 * sum(map(len, parts))
    headers = [(b"host", b"127.0.0.1"), (b"content-type", ctype.encode()), (b"content-length", str(size).encode()),
               (b"authorization", f"Bearer {TOKEN}".encode())]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8470)}
    # its own thread: a test before it may leave an event loop running in this one (asyncio.run refuses then)
    worker = threading.Thread(target=asyncio.run, args=(app(scope, receive, send),))
    worker.start()
    worker.join()
    return sent


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """``mycelial serve`` as a real process on 127.0.0.1 (uvicorn), stopped with SIGTERM or SIGKILL;
    ``prefix``: a command to start it under (``setpriv`` for a reader without root's overrides)."""

    def __init__(self, memories: list[str], token: str | None = None, timeout: float = 120.0,
                 prefix: list | None = None):
        import os
        import subprocess
        import sys
        import time

        import httpx

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env.pop("MYCELIAL_TOKEN", None)
        if token:
            env["MYCELIAL_TOKEN"] = token
        args = list(prefix or []) + [sys.executable, "-c", "from core.cli import main; main()", "serve", "--port", str(self.port)]
        for m in memories:
            args += ["--memory", m]
        self.proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     cwd=Path(__file__).resolve().parent.parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}: {self.proc.stdout.read().decode()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)  # a refused connection answers at once: the start is seen within 50 ms
        self.stop()
        raise RuntimeError("server did not answer /healthz in time")

    def stop(self, sig=None) -> int:
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(sig or signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except Exception:
            self.proc.kill()
            return self.proc.wait()


def cold_cache(tmp_path, monkeypatch) -> None:
    """A fresh embedding cache for the servers a test starts (the model exports shared): from a warm cache an
    upload is ingested in a blink, and nothing is still running when the test's signal comes."""
    from core.config import cache_dir

    cache = tmp_path / "cache"
    cache.mkdir()
    for export in ("openvino", "onnx"):
        (cache_dir() / export).mkdir(exist_ok=True)
        (cache / export).symlink_to(cache_dir() / export, target_is_directory=True)
    monkeypatch.setenv("MYCELIAL_CACHE_DIR", str(cache))
    monkeypatch.delenv("MYCELIAL_CACHE_SEED", raising=False)
