"""A memory on the default embedder is written, served and queried without importing torch.

The shipped VQ-VAE runs in numpy with torch's codes; importing torch only for it cost ~2 s of every
`mycelial ingest` and `mycelial serve` start. Real processes, a real server on 127.0.0.1, real text.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from _server_helpers import LiveServer

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "core" / "memory" / "sample"


def _torch_fingerprint_matches(folder: Path) -> None:
    """The codes stored are the torch codec's: the memory opens read-only with it (else "other VQ-VAE weights")."""
    from core.memory import SemanticMemory
    from core.memory.semantic import codec_fingerprint
    from core.reasoning.mycelial import MycelialVQVAE

    torch_codec = MycelialVQVAE.load_default()
    with SemanticMemory(folder, read_only=True, codec=torch_codec) as mem:
        assert mem.store_.get_setting("codec")["fingerprint"] == codec_fingerprint(torch_codec)
        assert type(mem.codec).__name__ == "MycelialVQVAE"


def test_cli_ingest_and_recall_do_not_import_torch(tmp_path):
    folder = tmp_path / "m"
    script = ("import sys; from core.cli import cli\n"
              f"cli.main(['ingest', {str(SAMPLE / 'du_fu.md')!r}, '--memory', {str(folder)!r}], standalone_mode=False)\n"
              f"cli.main(['recall', 'Tang dynasty poet', '--memory', {str(folder)!r}], standalone_mode=False)\n"
              "print('torch imported:', 'torch' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "Du Fu" in run.stdout and "torch imported: False" in run.stdout, run.stdout + run.stderr
    _torch_fingerprint_matches(folder)


def test_serve_ingests_and_answers_without_loading_torch(tmp_path):
    folder = tmp_path / "m"
    server = LiveServer([str(folder)])
    try:
        text = (SAMPLE / "imagism.md").read_text(encoding="utf-8")
        r = httpx.post(server.url + "/v1/memories/m/documents", timeout=120, json=[{"id": "imagism", "text": text}])
        assert r.status_code in (200, 201), r.text
        hits = httpx.get(server.url + "/v1/memories/m/recall", params={"q": "Ezra Pound", "k": 3}, timeout=60)
        assert hits.status_code == 200 and "imagism" in hits.text, hits.text
        maps = Path(f"/proc/{server.proc.pid}/maps").read_text()
        assert "libtorch" not in maps  # the shared library itself: imported anywhere, it is mapped
    finally:
        assert server.stop() == 0
    _torch_fingerprint_matches(folder)
