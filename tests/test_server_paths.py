"""A served memory shows no path of the server's disk: hits of files ingested from a folder carried
the absolute ``path`` and ``root`` in their metadata, and a 503 named the memory's folder."""
from __future__ import annotations

import httpx
from _server_helpers import LiveServer

from core.memory import SemanticMemory
from core.reasoning.mycelial import MycelialVQVAE


def test_http_hits_and_errors_name_no_server_path(tmp_path, monkeypatch, embedder):
    codec = MycelialVQVAE.load_default()
    notes = tmp_path / "notes"
    (notes / "man").mkdir(parents=True)
    (notes / "man" / "kill.txt").write_text("kill sends a signal to a process; SIGTERM asks the tide mill "
                                            "daemon to stop.", encoding="utf-8")
    lone = tmp_path / "lone.md"
    lone.write_text("# Tide mills\n\nThe tide mill of Pellow grinds corn when the sea goes out.", encoding="utf-8")
    folder = tmp_path / "mem"
    monkeypatch.chdir(tmp_path)  # `lone.md` given by its absolute path, named relative to here
    with SemanticMemory(folder, embedder=embedder, codec=codec) as mem:
        mem.ingest([str(notes), str(lone),
                    {"id": "rec", "text": "A record about the tide mill of Woodbridge.", "path": "/wiki/Tide_mill"}])
        local = {h.doc_id: h.metadata for h in mem.recall("tide mill", k=5)}
    assert local["man/kill.txt"]["root"] == str(notes.resolve())  # the Python API keeps the user's own paths
    monkeypatch.setenv("MYCELIAL_LOCK_TIMEOUT", "0.2")
    server = LiveServer([f"m={folder}"])
    try:
        got = httpx.get(server.url + "/v1/memories/m/recall", params={"q": "tide mill", "k": 5}, timeout=60)
        batch = httpx.post(server.url + "/v1/memories/m/recall", json={"queries": ["tide mill"], "k": 5}, timeout=60)
        assert got.status_code == batch.status_code == 200
        assert str(tmp_path) not in got.text and str(tmp_path) not in batch.text
        served = {h["doc_id"]: h["metadata"] for h in got.json()["hits"]}
        assert served == {h["doc_id"]: h["metadata"] for h in batch.json()["results"][0]["hits"]}
        assert served["man/kill.txt"] == {"path": "man/kill.txt"}  # was the absolute path and root
        assert served["lone.md"] == {"path": "lone.md"}
        assert served["rec"] == {"path": "/wiki/Tide_mill"}  # a record's own metadata passes unchanged
        with SemanticMemory(folder, embedder=embedder, codec=codec) as other, other._writing():
            busy = httpx.delete(server.url + "/v1/memories/m/documents/man/kill.txt", timeout=60)
        assert busy.status_code == 503 and "'m' is being written" in busy.json()["error"], busy.text
        assert str(folder) not in busy.text and str(folder.resolve()) not in busy.text
    finally:
        server.stop()
