"""Semantic memory: readers, chunking, the SQLite store, the FAISS index and `SemanticMemory`."""
from __future__ import annotations

__all__ = ["SemanticMemory", "RecallConfig", "Hit", "IngestReport", "IngestWarning"]


def __getattr__(name: str):
    if name in __all__:
        from core.memory import semantic

        return getattr(semantic, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
