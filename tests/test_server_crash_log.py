"""An unexpected error of a request is logged once, with its traceback, by a real uvicorn on 127.0.0.1.

Starlette calls the handler of ``Exception`` and then re-raises, so uvicorn logged every 500 again ("Exception
in ASGI application"): two tracebacks for one failure in `mycelial serve`'s log.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from _server_helpers import free_port

# the app `mycelial serve` runs (its logging, its uvicorn call) with one route that fails as a bug would
SCRIPT = """
import sys
from core.cli.serve import run
from core.log import configure_cli
from core.server import create_app

configure_cli()
app = create_app({"m": sys.argv[1]})

@app.get("/v1/memories/{name}/boom")
def boom(name: str):
    raise RuntimeError("a fault planted by the test")

run(app, "127.0.0.1", int(sys.argv[2]))
"""


def test_an_unexpected_error_is_one_log_entry_with_its_traceback_and_a_500_in_the_error_shape(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path / "m"), str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            cwd=Path(__file__).resolve().parent.parent)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        r = httpx.get(url + "/v1/memories/m/boom", timeout=30)
        assert r.status_code == 500 and r.json() == {"error": "internal server error (details are in the server log)",
                                                     "fields": []}
        head = httpx.head(url + "/v1/memories/m/boom", timeout=30)
        assert head.status_code == 500 and head.content == b""
        assert httpx.get(url + "/healthz", timeout=5).status_code == 200  # the server goes on
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out = proc.communicate(timeout=60)[0].decode()
        except subprocess.TimeoutExpired:
            proc.kill()
            out = proc.communicate()[0].decode()
    assert out.count("Traceback (most recent call last)") == 2, out  # one per failed request
    assert out.count("RuntimeError: a fault planted by the test") == 2, out
    assert out.count("ERROR mycelial.server: unhandled error on GET /v1/memories/m/boom") == 2, out
    assert "Exception in ASGI application" not in out, out
