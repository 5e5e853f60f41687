"""A full disk during `forget` and `repair` says what the command left, on a real tmpfs filled to the brim
(root with mount only: no other way makes a real ENOSPC). Real SQLite, FAISS and model."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest
from _memory_helpers import wiki_records
from click.testing import CliRunner

from core.cli import cli
from core.memory import SemanticMemory
from core.reasoning.mycelial import MycelialVQVAE

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("mount") is None,
                                reason="a small tmpfs needs root and mount")


@contextmanager
def _full_disk(tmp_path, memory, free_kb: int):
    """A copy of ``memory`` on a 4 MB tmpfs with ``free_kb`` KB left; unmounted at the end."""
    place = Path(tempfile.mkdtemp(prefix=f"disk{free_kb}-", dir=tmp_path))
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(place)]).returncode:
        pytest.skip("mount -t tmpfs failed")
    try:
        shutil.copytree(memory, place / "m")
        st = os.statvfs(place)
        (place / "filler").write_bytes(b"x" * max(0, st.f_bavail * st.f_frsize - free_kb * 1024))
        yield place / "m"
    finally:
        subprocess.run(["umount", "--lazy", str(place)], check=True)


def _documents(folder) -> int:
    r = CliRunner().invoke(cli, ["list", "--memory", str(folder)])
    return len(r.output.splitlines()) - 1  # its lines, under a header


def test_a_full_disk_says_what_forget_and_repair_left(tmp_path, wiki_docs, embedder):
    # both said the ingest's "the documents committed before it are kept: free some space and run the command
    # again", and an open on a disk too full for SQLite's -shm said "damaged ...; restore it from a backup"
    memory = tmp_path / "m"
    with SemanticMemory(memory, embedder=embedder, codec=MycelialVQVAE.load_default()) as m:
        m.ingest(wiki_records(wiki_docs, n_docs=3, n_sents=30))
        m.forget("wiki2")  # free pages: repair compacts (VACUUM), which needs room
        doc = m.documents()[0]["id"]
    said = set()
    for free_kb in (16, 48, 96, 160):
        with _full_disk(tmp_path, memory, free_kb) as folder:
            r = CliRunner().invoke(cli, ["forget", doc, "--memory", str(folder)])
            (folder.parent / "filler").unlink()
            left = _documents(folder)
        if r.exit_code == 0:
            continue
        assert "the documents committed before it" not in r.output and "damaged" not in r.output, r.output
        if "the disk holding it is full" in r.output:  # too full to open it: nothing was done
            assert "nothing was changed" in r.output and left == 2, r.output
            said.add("open")
        elif "nothing was forgotten (a forget is all or none)" in r.output:
            assert left == 2, r.output
            said.add("none")
        else:
            assert "1 document forgotten all the same" in r.output and left == 1, r.output
            said.add("done")
    assert said == {"open", "none", "done"}, said
    said = set()
    for free_kb in (16, 24, 32, 40):
        with _full_disk(tmp_path, memory, free_kb) as folder:
            r = CliRunner().invoke(cli, ["repair", "--memory", str(folder)])
            (folder.parent / "filler").unlink()
            left = _documents(folder)
        assert left == 2 and "the documents committed before it" not in r.output, r.output
        if r.exit_code:
            said.add("open" if "the disk holding it is full" in r.output else
                     "kept" if "memory.sqlite and its documents are as they were" in r.output else r.output)
    assert "kept" in said and said <= {"open", "kept"}, said
