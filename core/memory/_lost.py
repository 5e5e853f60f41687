"""A memory whose ``memory.sqlite`` is gone (deleted, or 0 bytes) while its derived files remain.

SQLite makes a new, empty database where the file is missing or empty, so a writable open used to
start the memory over without a word: the next save then deleted the old index, network and graph,
the only trace left of the lost documents. A writable open now refuses when the derived files record
chunks; `start_over` is the explicit way to begin again (``mycelial repair --start-empty``).
"""
from __future__ import annotations

import json
import re
import shlex
import struct
import zipfile
from pathlib import Path

import numpy as np

from core.memory._schema import StoreError

# derived files a save writes (the generations of index, network and graph, their pointer, the vector copy)
_DERIVED = re.compile(r"(index|network|graph)\.\d+\.npz|state\.json|vectors\.f16")


def store_gone(store: Path) -> bool:
    """``memory.sqlite`` is missing or empty: a writable open would make a new database there."""
    try:
        return store.stat().st_size == 0
    except FileNotFoundError:
        return True


def refuse_lost_store(folder: Path) -> None:
    """`StoreError` when the store is missing or empty and the derived files beside it record chunks.

    A new folder (no derived files, or files of an empty memory) passes: it is made as before.
    """
    store = folder / "memory.sqlite"
    if not store_gone(store):
        return
    record = recorded(folder)
    if record is None:
        return
    what, names = record
    state = "is missing" if not store.exists() else "is empty (0 bytes)"
    quoted = shlex.quote(str(folder))
    raise StoreError(f"{store} {state}, but the files beside it ({', '.join(names)}) record a memory of {what}: "
                     f"restore memory.sqlite from a backup (nothing was changed); to start this memory over "
                     f"empty instead, run `mycelial repair --start-empty --memory {quoted}` or delete the folder")


def recorded(folder: Path) -> tuple[str, list[str]] | None:
    """("29 chunks of 2 documents", the files saying so) from the derived files, or None when none
    records a chunk. Reads only headers and small JSON; a file that cannot be read says nothing."""
    count, docs, last, names = 0, None, 0, []
    for p in sorted(folder.iterdir()):
        if not _DERIVED.fullmatch(p.name):
            continue
        try:
            n, d, top = _record_of(p)
        except (OSError, ValueError, KeyError, TypeError, AttributeError, zipfile.BadZipFile, struct.error):
            continue
        if n or top:
            names.append(p.name)
        if n > count:
            count, docs = n, d
        last = max(last, top)
    if not names:
        return None
    what = f"{count:,} chunks" if count else f"up to {last:,} chunks"
    return what + (f" of {docs:,} documents" if docs else ""), names


def _record_of(path: Path) -> tuple[int, int | None, int]:
    """(chunk count, document count or None, highest chunk id) one derived file records."""
    if path.name == "state.json":
        state = json.loads(path.read_text())
        key = state.get("graph", {}).get("key", {})
        return int(key.get("chunks", 0)), _documents(key), int(state.get("index", {}).get("chunk", 0))
    if path.name == "vectors.f16":
        with open(path, "rb") as fh:
            head = fh.read(64)
        return 0, None, struct.unpack_from("<q", head, 48)[0] if head[:8] == b"MYCVEC01" else 0
    with np.load(path, allow_pickle=False) as z:  # only the small JSON header member is read
        header = json.loads(bytes(z["header"]).decode("utf-8"))
    if path.name.startswith("graph."):
        key = header["key"]
        return int(key["chunks"]), _documents(key), int(key["chunk"])
    if path.name.startswith("index."):
        return 0, None, int(header.get("last_chunk", 0))
    return 0, None, 0  # a network file records no chunk count in its header


def _documents(key: dict) -> int | None:
    """Documents of a graph key: its highest document id when nothing was ever forgotten (ids are never
    reused), else unknown."""
    return int(key["doc"]) if key.get("forget") == 0 and key.get("doc") else None


def start_over(folder) -> list[str]:
    """Delete the derived files of a memory whose store is missing or empty (and the empty store itself),
    so the next open makes a new, empty memory there; returns the names deleted. Refuses a sound store."""
    folder = Path(folder)
    store = folder / "memory.sqlite"
    if not (folder / "mycelial.json").is_file():  # only a memory's own folder loses files here
        raise StoreError(f"{folder} is not a Mycelial memory (no mycelial.json); nothing was deleted")
    if not store_gone(store):
        raise StoreError(f"{store} is there ({store.stat().st_size:,} bytes): --start-empty only starts over a "
                         f"memory whose memory.sqlite is missing or empty; nothing was deleted")
    gone = []
    for p in sorted(folder.iterdir()):
        if _DERIVED.fullmatch(p.name) or p.name in ("memory.sqlite", "memory.sqlite-wal", "memory.sqlite-shm"):
            p.unlink()
            gone.append(p.name)
    return gone
