"""The Dask worker side of a parallel ingest: read and chunk documents, embed and encode batches.

``ingest_parallel`` (``parallel.py``, the driver) submits ``_read_part`` (phase 1) and
``_embed_part`` (phase 2) to the workers with the scattered ``_Parts``. They are kept apart
from the driver because this is all a worker runs: no SQLite, no memory, no write lock, only
the readers, the chunker, the embedder and the codec; and the model a worker process loads
once (``_MODELS``) lives with the code that uses it.
"""
from __future__ import annotations

import copy
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.memory._formats import has_own_ids
from core.memory.chunking import TARGET_TOKENS, chunk_text
from core.memory.readers import MAX_BYTES, ReadError, read_file
from core.memory.records import DEFAULT_FIELDS, Fields

_MODELS: dict = {}  # per worker process: (model, backend, device, threads) -> a TextEmbedder with its model loaded


@dataclass
class _Parts:
    """What every worker needs to embed and encode like this memory (scattered once, never mutated)."""

    embedder: object
    codec: object
    network: dict
    max_tokens: int
    fields: Fields = DEFAULT_FIELDS  # the keys of JSONL records (`records.Fields`)


def _embedder_for(emb):
    """``emb`` (a model-free copy) sharing the model this worker process loaded once for its kind."""
    from core.embedding import TextEmbedder

    if not isinstance(emb, TextEmbedder):
        return emb
    key = (emb.model, emb.backend, emb.device, emb.threads)
    base = _MODELS.get(key)
    if base is None:
        base = copy.copy(emb)
        _ = base.model_ if emb.backend == "torch" else base.onnx_  # load now, once per worker process
        _MODELS[key] = base
    out = copy.copy(emb)
    for attr in ("_model", "_onnx"):
        if getattr(base, attr, None) is not None:
            setattr(out, attr, getattr(base, attr))
    return out


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):  # not on a worker
        return "(none)"


def _capture(records, errors: list):
    """Interleave the records of a reader with the errors it appended, in the order they happened."""
    n = 0
    for rec in records:
        yield from (("err", e) for e in errors[n:])
        n = len(errors)
        yield ("rec", rec)
    yield from (("err", e) for e in errors[n:])


def _read_part(parts: _Parts, items: list) -> tuple[list, dict]:
    """Phase 1 on a worker: read files and chunk records; events in stream order."""
    t0 = time.perf_counter()
    events = []
    for it in items:
        if it[0] != "file":
            events.append(it)
            continue
        _, open_path, shown, doc_id, meta, source = it  # shown: in errors; source: the records' (driver's)
        errors: list = []
        if not os.path.lexists(open_path):  # the driver found it: this worker sees other files
            events.append(("err", ReadError(shown, f"not found on the Dask worker {_worker_address()} at "
                                                   f"{open_path}: the workers must see this machine's files "
                                                   f"at the same path (a shared file system), or ingest "
                                                   f"without --scheduler")))
            continue
        for kind, x in _capture(read_file(Path(open_path), errors, MAX_BYTES, fields=parts.fields), errors):
            if kind == "err" and x.source == open_path:
                x.source = shown
            elif kind == "rec":
                x.source = source
                if not has_own_ids(open_path):  # file ids are the driver's (its working folder)
                    x.doc_id, x.meta = doc_id, meta
            events.append((kind, x))
    t1 = time.perf_counter()
    out = []
    for ev in events:
        if ev[0] == "rec":
            rec = ev[1]
            try:
                (rec.doc_id + rec.title + rec.text).encode("utf-8")
                chunks = chunk_text(rec.text, parts.max_tokens, TARGET_TOKENS if rec.merge else None)
            except UnicodeEncodeError:
                chunks = None  # reported by the driver, in order
            ev = ("rec", rec, chunks)
        out.append(ev)
    return out, {"read": t1 - t0, "chunk": time.perf_counter() - t1}


def _embed_part(parts: _Parts, texts: list, need: list, doc_hashes: list, complete: list) -> dict:
    """Phase 2 on a worker: embed and encode one serial batch; the network delta of its complete documents."""
    from core.reasoning.mycelial import MycelialConfig, MycelialReasoning

    t_load = time.perf_counter()
    embedder, codec, config = _embedder_for(parts.embedder), parts.codec, MycelialConfig.from_dict(parts.network)
    t0 = time.perf_counter()
    X = embedder.embed(texts) if texts else np.zeros((0, 384), np.float32)
    t1 = time.perf_counter()
    C = codec.encode(X) if texts else np.zeros((0, config.num_heads), np.uint8)
    t2 = time.perf_counter()
    pos = {h: i for i, h in enumerate(need)}
    docs = [hs for hs, full in zip(doc_hashes, complete) if full]
    delta = None
    if docs:
        rows = np.fromiter((pos[h] for hs in docs for h in hs), dtype=np.int64)
        groups = np.repeat(np.arange(len(docs), dtype=np.int64), [len(hs) for hs in docs])
        net = MycelialReasoning(config).observe(C[rows], groups)
        delta = (net.keys_, net.counts_, net.group_counts_, net.node_counts_, int(net.n_events_))
    return {"X": X.astype(np.float16), "C": C, "delta": delta,
            "t": {"load": t0 - t_load, "embed": t1 - t0, "encode": t2 - t1, "delta": time.perf_counter() - t2}}
