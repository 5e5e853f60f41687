"""Training/evaluation splits for the VQ-VAE, including a whole source held out.

Holding out documents of the training sources cannot show whether the model transfers
to text of another kind (issue 16: the plain encoder fell below FAISS on an unseen
source). :func:`source_holdout_split` holds out a *whole* source: nothing of it, not even
a sentence that another corpus shares with it, reaches training.
"""
from __future__ import annotations

import numpy as np

ROTATION = ("wikitext", "passages", "brown")  # the corpora a whole-source hold-out rotates over


def source_holdout_split(sources, holdout: str, fraction: float = 0.15, max_per_doc: int | None = None):
    """(training, validation, test) sentences with the corpus ``holdout`` left out whole.

    Training and validation are the other ``sources``, split by whole documents
    (``core.datasets.is_held_out``, ``fraction`` to validation); test is every sentence
    of ``holdout``. Sentences that also occur in ``holdout`` are removed from training and
    validation.

    Examples
    --------
    >>> train, val, test = source_holdout_split(["wikitext", "passages", "brown"], "brown")  # doctest: +SKIP
    """
    from core.datasets import SOURCES, split_sentences_by_document

    sources = list(dict.fromkeys(sources))
    if holdout not in SOURCES:
        raise ValueError(f"unknown held-out corpus {holdout!r}; known: {sorted(SOURCES)}")
    rest = [s for s in sources if s != holdout and not (holdout == "passages" and s == "2wikimultihopqa")]
    if not rest:
        raise ValueError(f"holding out {holdout!r} leaves no training corpus among {sources}")
    train, val, _ = split_sentences_by_document(rest, fraction, max_per_doc)
    test = list(dict.fromkeys(s for d in SOURCES[holdout]() for s in (d.sentences[:max_per_doc] if max_per_doc
                                                                       else d.sentences)))
    seen = set(test)
    return [s for s in train if s not in seen], [s for s in val if s not in seen], test


def cached_rows(emb, sentences: list[str]) -> tuple[list[str], np.ndarray]:
    """The sentences (first occurrence, in order) whose embedding the cache holds, and those embeddings.

    No MiniLM forward pass: for short runs on a busy machine. Raises when the cache is off.
    """
    from core.embedding import EmbeddingCache

    cache = emb._cache
    if cache is None:
        raise ValueError("cached-only runs need the embedding cache (it is disabled)")
    unique = list(dict.fromkeys(sentences))
    keys = [EmbeddingCache.key(t) for t in unique]
    found = cache.get(emb.cache_model, keys, 384)
    keep = [(t, found[k]) for t, k in zip(unique, keys) if k in found]
    if not keep:
        return [], np.zeros((0, 384), dtype=np.float32)
    return [t for t, _ in keep], np.stack([v for _, v in keep]).astype(np.float32)


def with_extra_rows(X_train: np.ndarray, files, dim: int = 384) -> tuple[np.ndarray, list[dict]]:
    """``X_train`` with the rows of each ``.npy`` file appended (training only, never evaluation).

    For augmentation runs (issue 16): vectors of extra texts cut from the training documents,
    or mixtures of training rows. Each file must hold a finite float array of shape (n, dim);
    pickled objects are refused. Returns the rows and, per file, its path and row count (for the card).
    """
    from core._validation import check_embeddings

    parts, record = [X_train], []
    for path in files or []:
        try:
            with open(path, "rb") as f:
                if f.read(6) != b"\x93NUMPY":
                    raise ValueError("no .npy header")
            X = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            why = "it holds Python objects, never unpickled" if "pickle" in str(exc) else exc
            raise ValueError(f"extra training rows {path!r}: not a readable .npy array ({why})") from exc
        if X.ndim != 2 or X.shape[1] != dim:
            raise ValueError(f"extra training rows {path!r}: shape {X.shape}, expected (n, {dim})")
        parts.append(check_embeddings(X, dim, f"extra training rows {path!r}"))
        record.append({"file": str(path), "rows": int(X.shape[0])})
    return (np.concatenate(parts) if len(parts) > 1 else X_train), record
