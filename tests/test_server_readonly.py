"""A memory whose folder is not writable (a read-only mount), served and used from the command line.

Root ignores chmod, so the folder's answer to ``os.access(W_OK)`` is patched, as on a read-only
mount; everything else (SQLite, FAISS, the model, the app) is real.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from core.cli import cli
from core.memory import SemanticMemory
from core.reasoning.mycelial import MycelialVQVAE
from core.server import create_app

DOCS = [{"id": "vask", "title": "Vask", "text": "Zebulon Quartz kept the lighthouse of Vask and counted storm petrels."},
        {"id": "tessary", "title": "Tessary", "text": "Orla Finch designed the copper aqueduct of Tessary in 1821."}]


@pytest.fixture
def unwritable(tmp_path, embedder, monkeypatch):
    """A memory of two documents whose folder then reports itself unwritable."""
    folder = tmp_path / "ro"
    codec = MycelialVQVAE.load_default()
    with SemanticMemory(folder, embedder=embedder, codec=codec) as mem:
        mem.ingest(DOCS)
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if mode & os.W_OK and Path(p) == folder
                        else real(p, mode, **kw))
    return folder, codec


def _files(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.startswith("memory.sqlite-")}


def test_server_refuses_writes_to_an_unwritable_memory_with_403(unwritable, embedder):
    # POST/DELETE on a memory on a read-only mount answered 500 'internal server error' (reinforce 422,
    # a background job 202 and then 'failed'); recall kept working
    folder, codec = unwritable
    before = _files(folder)
    app = create_app({"ro": folder}, embedder=embedder, codec=codec)
    with TestClient(app) as client:
        hits = client.get("/v1/memories/ro/recall", params={"q": "who kept the lighthouse of Vask", "k": 1}).json()
        assert hits["hits"][0]["doc_id"] == "vask"
        answers = [
            client.post("/v1/memories/ro/documents", json=[{"id": "new", "text": "A new note."}]),
            client.post("/v1/memories/ro/documents", params={"background": "true"}, json=[{"id": "n", "text": "x"}]),
            client.post("/v1/memories/ro/documents", files={"file": ("n.txt", b"A new note.", "text/plain")}),
            client.delete("/v1/memories/ro/documents/vask"),
            client.post("/v1/memories/ro/forget", json={"ids": ["vask", "tessary"]}),
            client.post("/v1/memories/ro/reinforce", json={"query": "lighthouse", "chunk_ids": [1]}),
            client.delete("/v1/memories/ro/reinforce/1"),
        ]
        for r in answers:
            assert r.status_code == 403, (r.request.method, r.request.url, r.status_code, r.text)
            assert "not writable" in r.json()["error"] and "Traceback" not in r.text
        assert client.get("/v1/memories/ro/stats").json()["documents"] == 2
    assert _files(folder) == before


def test_cli_forget_on_an_unwritable_memory_is_one_line(unwritable):
    # `mycelial forget` printed a Python traceback ending in ValueError; ingest/repair printed
    # "open it with read_only=False", which a command-line user never chose
    folder, _ = unwritable
    for args in (["forget", "vask"], ["ingest", "-"], ["repair"], ["reinforce", "q", "1"]):
        r = CliRunner().invoke(cli, args + ["--memory", str(folder)], input="A note.\n")
        assert r.exit_code == 1 and isinstance(r.exception, SystemExit), (args, r.output)
        assert "Traceback" not in r.output and "read_only=False" not in r.output, (args, r.output)
        assert f"memory {folder} cannot be changed: its folder is not writable" in r.output, (args, r.output)
    r = CliRunner().invoke(cli, ["list", "--memory", str(folder)])
    assert r.exit_code == 0 and "vask" in r.output
