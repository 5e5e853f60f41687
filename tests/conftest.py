"""Shared fixtures: real sentences from ../shared/data and their (cached) embeddings."""
from __future__ import annotations

import numpy as np
import pytest

from core.datasets import wikitext_documents
from core.embedding import TextEmbedder


@pytest.fixture(scope="session")
def embedder() -> TextEmbedder:
    """The real default model (all-MiniLM-L6-v2, offline), with the on-disk cache."""
    return TextEmbedder()


@pytest.fixture(scope="session")
def wiki_docs():
    """The 120 real WikiText-2 articles as Documents."""
    return wikitext_documents()


@pytest.fixture(scope="session")
def wiki_sample(wiki_docs, embedder):
    """(sentences, article index per sentence, float32 embeddings) for ~2,000 real sentences.

    Takes the first 20 sentences of each article, so every article is represented.
    """
    sentences, article = [], []
    for i, doc in enumerate(wiki_docs):
        for s in doc.sentences[:20]:
            sentences.append(s)
            article.append(i)
    X = embedder.embed(sentences)
    return sentences, np.asarray(article), X
