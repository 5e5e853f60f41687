"""Embed every sentence of the shared corpora into the on-disk cache (run once; later runs are free).

Example:
    python scripts/embed_corpora.py
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.datasets import all_documents  # noqa: E402
from core.embedding import TextEmbedder  # noqa: E402


def main() -> None:
    docs = all_documents()
    sentences = [s for d in docs for s in d.sentences]
    print(f"{len(docs)} documents, {len(sentences)} sentences")
    X = TextEmbedder(backend="torch").embed(sentences, show_progress=True)
    print(f"embedded: {X.shape}")


if __name__ == "__main__":
    from core._script import run_main

    run_main(main)
