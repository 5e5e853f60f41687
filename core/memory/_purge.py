"""Purge the embedding cache of the text a memory no longer holds (forget, re-ingest of an edited file).

Chunks are embedded as ``title: chunk`` (`embedded_text`), so the cache key is that text, not the
bare chunk: purging the bare chunk alone left every titled chunk's vector (and so its text's
embedding) in ``MYCELIAL_CACHE_DIR`` for ever, and the cache grew with every version of every file.
"""
from __future__ import annotations

from core.memory.chunking import embedded_text


def purge_cached(mem, infos, batch=()) -> int:
    """Delete the cached vectors of the removed chunks of forget ``infos`` (store.forget's answers).

    The key is what the chunk was embedded as (its document's title and the memory's bound
    ``title_prefix``); ``batch``: the ingest's (record, chunks, ...) whose embedded texts are kept
    (an edited document's unchanged chunks, stored again under new ids). Returns the rows deleted."""
    purge = getattr(getattr(mem, "embedder", None), "forget_texts", None)
    if purge is None or not any(infos):
        return 0
    prefix = getattr(mem, "title_prefix_", False)
    keep = {embedded_text(rec.title, c, prefix) for rec, chunks, *_ in batch for c in chunks}
    texts = []
    for info in infos:
        if not info:
            continue
        for t in info["texts"]:
            key = embedded_text(info.get("title", ""), t, prefix)
            if key not in keep:
                texts.append(key)
    return purge(texts) if texts else 0
