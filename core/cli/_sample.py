"""`mycelial demo --memory my_memory` added the shipped sample to the user's own memory: ten Wikipedia
documents among theirs, to be forgotten one by one. The demo now keeps to a folder holding the sample only."""
from __future__ import annotations

import json
import shlex
from pathlib import Path

import click


def sample_ids(sample_dir: Path) -> set[str]:
    """The document ids an ingest of the sample folder gives: its notes by file name, its JSONL records by id."""
    ids = {p.name for p in sample_dir.iterdir() if p.suffix in (".md", ".txt")}
    for p in sample_dir.glob("*.jsonl"):
        ids.update(str(json.loads(line)["id"]) for line in p.read_text(encoding="utf-8").splitlines() if line.strip())
    return ids


def refuse_other_documents(mem, folder, sample_dir: Path) -> None:
    """Stop before the sample is ingested into a memory that holds other documents."""
    from core.memory.documents import list_documents

    if not mem.store_.count_documents():
        return
    ours = sample_ids(sample_dir)
    theirs = [d["id"] for d in list_documents(mem) if d["id"] not in ours]
    if theirs:
        raise click.ClickException(
            f"{folder} holds other documents ({', '.join(map(repr, theirs[:2]))}{', ...' if len(theirs) > 2 else ''});"
            f" the demo would add its sample to them: give a new folder (`mycelial demo --memory "
            f"{shlex.quote(str(folder) + '-demo')}`), or recall yours with `mycelial recall`")
