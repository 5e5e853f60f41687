"""A served memory built from the shipped sample (core/memory/sample), shared by the server tests."""
from __future__ import annotations

from pathlib import Path

SAMPLE = Path(__file__).resolve().parent.parent / "core" / "memory" / "sample"
QUESTION = "Which emperor adopted Trajan as his successor?"
TOKEN = "test-token-3f9a"


def build_sample_memory(folder, embedder, codec) -> None:
    """Ingest the sample into ``folder`` and close it (the server reopens it)."""
    from core.memory import SemanticMemory

    with SemanticMemory(folder, embedder=embedder, codec=codec) as mem:
        rep = mem.ingest([str(SAMPLE)])
    assert rep.documents >= 10 and not rep.errors, rep.to_dict()
