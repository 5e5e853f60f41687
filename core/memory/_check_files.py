"""`mycelial repair --check`: compare a memory's files with memory.sqlite and write nothing.

Opening a memory rebuilds a damaged index, network or graph quietly, and damaged rows of vectors.f16 were found by
nothing (they changed re-ranked scores); this reads each file as saved and says what `repair` would rebuild.
"""
from __future__ import annotations

import json
import os
import struct

import numpy as np

from core.memory._graphfile import store_key
from core.memory._vecfile import HEADER, MAGIC, STEP, _range
from core.memory.store import Store

_SHOWN = 5  # ids named per problem


def check_memory(folder) -> tuple[dict, list[str]]:
    """({"documents", "chunks"}, one line per problem found); a store that cannot be opened raises `StoreError`."""
    store = Store(folder / "memory.sqlite", read_only=True)
    try:
        with store.snapshot():
            rows = [r[0] for r in store._reader.execute("PRAGMA integrity_check(5)")]
            problems = [] if rows == ["ok"] else [f"memory.sqlite fails SQLite's integrity_check ({'; '.join(rows)}): "
                                                  f"repair cannot rebuild it; restore it from a backup"]
            counts = {"documents": store.count_documents(), "chunks": store.count_chunks()}
            problems += _derived(folder, store, counts["chunks"])
            problems += _vectors(folder / "vectors.f16", store)
    finally:
        store.close()
    return counts, problems


def _derived(folder, store, chunks: int) -> list[str]:
    """What state.json and the index, network and graph files it names hold, against the store."""
    from core.memory.index import VectorIndex
    from core.reasoning.mycelial import MycelialReasoning

    try:
        state = json.loads((folder / "state.json").read_text())
        entries = {part: state[part]["file"] for part in ("index", "network")}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"state.json is missing or unreadable ({exc}); the index, network and graph are rebuilt on open"]
    if state.get("store") != store.uuid:
        return ["state.json was written for another memory.sqlite (another store id)"]
    problems = []
    try:
        index, _ = VectorIndex.read(folder / entries["index"])
        if index.ntotal != chunks:
            problems.append(f"{entries['index']} holds {index.ntotal:,} vectors for {chunks:,} chunks")
    except (OSError, ValueError, KeyError) as exc:
        problems.append(f"{entries['index']} is unreadable ({exc})")
    try:
        events, expected = MycelialReasoning.load(folder / entries["network"]).n_events_, store.observed_chunks()
        if events != expected:
            problems.append(f"{entries['network']} holds {events:,} events for {expected:,} chunk occurrences")
    except (OSError, ValueError, KeyError) as exc:
        problems.append(f"{entries['network']} is unreadable ({exc})")
    graph = state.get("graph", {}).get("file") if isinstance(state.get("graph"), dict) else None
    if graph is not None:
        try:
            with np.load(folder / graph, allow_pickle=False) as z:
                key = json.loads(bytes(z["header"]).decode("utf-8"))["key"]
                n = len(z["ids"])
            if key != store_key(store) or n != chunks:
                problems.append(f"{graph} was written for another state of memory.sqlite ({n:,} chunks)")
        except (OSError, ValueError, KeyError) as exc:
            problems.append(f"{graph} is unreadable ({exc})")
    return problems


def _vectors(path, store) -> list[str]:
    """Every row vectors.f16 counts against the stored embedding (a zero row is read from SQLite: fine)."""
    if not path.exists():
        return []  # made by the next write
    with open(path, "rb") as fh:
        head = fh.read(HEADER)
        if len(head) < HEADER or head[:8] != MAGIC or struct.unpack_from("<I", head, 8)[0] != 384:
            return [f"{path.name} is not a vector file ({os.path.getsize(path):,} bytes); re-ranking reads SQLite"]
        if head[16:48].rstrip(b"\0").decode("ascii", "replace") != (store.uuid or ""):
            return [f"{path.name} was written for another memory.sqlite"]
        upto = min(struct.unpack_from("<q", head, 48)[0], store.last_ids()["chunk"])
        bad, row = [], 768
        for lo in range(0, max(upto, 0), STEP):
            hi = min(upto, lo + STEP)
            fh.seek(HEADER + (lo + 1) * row)
            data = np.frombuffer(fh.read((hi - lo) * row).ljust((hi - lo) * row, b"\0"), np.uint8).reshape(-1, row)
            want = np.zeros_like(data)
            for cid, blob in _range(store, lo, hi):
                if isinstance(blob, bytes) and len(blob) == row:
                    want[cid - lo - 1] = np.frombuffer(blob, np.uint8)
            differ = data.any(axis=1) & (data != want).any(axis=1)
            bad += (np.flatnonzero(differ) + lo + 1).tolist()
    if not bad:
        return []
    return [f"{path.name}: {len(bad):,} of {upto:,} rows differ from memory.sqlite (chunk ids "
            f"{', '.join(map(str, bad[:_SHOWN]))}{', ...' if len(bad) > _SHOWN else ''}): re-ranked scores change"]
