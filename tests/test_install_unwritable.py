"""Mycelial installed where its user cannot write, for a user whose home holds no cache (a service account):
every command failed with numba's "cannot cache function '_mark': no locator available". A real process of
another user (``nobody``, run as root through ``setpriv``) on a real memory."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from core.memory import SemanticMemory
from core.reasoning.mycelial import MycelialVQVAE

REPO = Path(__file__).resolve().parent.parent
NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] if os.geteuid() == 0 else []


@pytest.fixture(scope="module")
def shared_memory(embedder):
    """A memory every user can read (pytest's own folders are the owner's alone)."""
    root = Path(tempfile.mkdtemp(prefix="mycelial-shared-"))
    try:
        with SemanticMemory(root / "m", embedder=embedder, codec=MycelialVQVAE.load_default()) as mem:
            mem.ingest([{"id": "vask", "text": "Zebulon Quartz kept the lighthouse of Vask and counted petrels."},
                        {"id": "tess", "text": "Zebulon Quartz designed the copper aqueduct of Tessary in 1821."},
                        {"id": "brin", "text": "Orla Finch bred silver carp in the flooded quarry of Brindle."}])
        for p in [root, *root.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        yield root / "m"
    finally:
        shutil.rmtree(root)


def test_a_user_who_can_write_neither_the_install_nor_a_home_cache_runs_the_kernels(shared_memory):
    numba_dir = Path(tempfile.gettempdir()) / "mycelial-numba-65534"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MYCELIAL_", "NUMBA_"))}
    env["HOME"] = "/nonexistent"  # nobody's: no ~/.cache for numba's own fallback
    runs = []
    for args in (["stats"], ["associate", "vask"]):  # the second finds the kernels (if any) the first cached
        r = subprocess.run(NOBODY + [sys.executable, "-c", "from core.cli import main; main()", *args, "--memory",
                                     str(shared_memory)], capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
        runs.append(r)
    assert "Zebulon Quartz" in r.stdout, r.stdout  # the network's kernels ran (a concept shown as written)
    if NOBODY:  # the kernels went to a folder of ours under the temporary folder, the user's own
        assert numba_dir.is_dir() and numba_dir.stat().st_uid == 65534 and any(numba_dir.rglob("*.nbi"))
    assert json.loads(runs[0].stdout)["documents"] == 3  # the first `stats` (a third process ran it again)
