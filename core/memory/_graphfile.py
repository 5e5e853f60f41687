"""The passage graph saved beside the index and the network (``graph.N.npz``), so opening a memory
does not rebuild it from every chunk row (JSON phrase lists decoded and looked up one by one: the
largest part of opening a memory, see README section 4).

The file holds the graph's live rows only (what a rebuild from SQLite gives: forgotten rows are
dropped, places re-read from SQLite, since a forget can hand a shared chunk to another document)
and a key of the store it was written from: highest chunk / document / forget ids, chunk and
concept counts, the codec's fingerprint. It is used only when that key is the store's key now and
its arrays have the shapes, order and ranges a graph has; anything else (another process wrote
since, a damaged or edited file) rebuilds from SQLite, as before. The vocabulary is always read
from SQLite's concept table. No pickle: plain ``.npz`` arrays read with ``allow_pickle=False``.
"""
from __future__ import annotations

import io
import json
import re
import zipfile

import numpy as np

from core._io import atomic_write_bytes, check_npz
from core.log import get_logger
from core.memory.graph import PassageGraph, _Growable

log = get_logger("memory.graphfile")

FORMAT = 1
_ARRAYS = ("ids", "codes", "place", "ph_row", "ph_col")
_FILE = re.compile(r"graph\.\d+\.npz")  # only our own generation files, never a path out of the folder


def store_key(store) -> dict:
    """What the graph's content depends on, read from the store's committed state (one cheap query each)."""
    conn = store._reader
    last = store.last_ids()
    n_concepts, max_concept = conn.execute("SELECT count(*), coalesce(max(id), 0) FROM concepts").fetchone()
    codec = store.get_setting("codec") or {}
    return {"store": store.uuid, "chunk": int(last["chunk"]), "doc": int(last["doc"]), "forget": int(last["forget"]),
            "chunks": int(store.count_chunks()), "concepts": int(n_concepts), "max_concept": int(max_concept),
            "codec": codec.get("fingerprint") if isinstance(codec, dict) else None}


def _growable(values: np.ndarray) -> _Growable:
    g = _Growable.__new__(_Growable)
    g.buf, g.n = values, len(values)
    return g


def write_graph(graph: PassageGraph, path, store) -> dict | None:
    """Write the graph's live rows atomically; returns the key written, or None (nothing written) when
    the graph does not hold exactly the store's committed chunks (then the next open rebuilds)."""
    with store.snapshot():
        key = store_key(store)
        rows = store._reader.execute("SELECT id, doc_id, position FROM chunks ORDER BY id").fetchall()
    with graph._lock:
        alive = graph._alive.values
        ids = graph._ids.values[alive]
        sql = np.asarray(rows, dtype=np.int64).reshape(-1, 3)
        if len(ids) != len(sql) or not np.array_equal(ids, sql[:, 0]) or graph._codes is None and len(ids):
            log.warning("passage graph not saved: it holds %d chunks, the store %d", len(ids), len(sql))
            return None
        new_row = np.cumsum(alive) - 1
        r, c = graph._ph_row.values, graph._ph_col.values
        keep = alive[r] if len(r) else np.zeros(0, dtype=bool)
        heads = graph._codes.values.shape[1] if graph._codes is not None else 0
        arrays = {"ids": ids, "codes": graph._codes.values[alive] if heads else np.zeros((0, 0), np.uint8),
                  "place": sql[:, 1:].copy(), "ph_row": new_row[r[keep]], "ph_col": c[keep].copy()}
    header = {"format": FORMAT, "key": key, "num_nodes": graph.num_nodes, "codebook_size": graph.codebook_size}
    buf = io.BytesIO()
    np.savez(buf, header=np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8), **arrays)
    atomic_write_bytes(path, buf.getvalue())
    return key


def read_graph(path, key: dict, num_nodes: int, codebook_size: int) -> dict:
    """The arrays of a graph file written for ``key``; ``ValueError`` when it is not that (stale, damaged,
    edited, another codec's shape)."""
    check_npz(path, "passage graph file")
    try:
        with np.load(path, allow_pickle=False) as z:
            header = json.loads(bytes(z["header"]).decode("utf-8"))
            arrays = {name: z[name] for name in _ARRAYS}
    except (OSError, KeyError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise ValueError(f"passage graph file {path} is unreadable ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"passage graph file {path}: unknown format")
    if header.get("key") != key:
        raise ValueError(f"passage graph file {path} was written for another state of the store")
    if header.get("num_nodes") != num_nodes or header.get("codebook_size") != codebook_size:
        raise ValueError(f"passage graph file {path} was written for another codec shape")
    _check_arrays(arrays, key, codebook_size, path)
    return arrays


def _check_arrays(a: dict, key: dict, codebook_size: int, path) -> None:
    """The shapes, dtypes, order and ranges a rebuilt graph has: an edited file is not a crash later."""
    ids, codes, place, r, c = (a[k] for k in _ARRAYS)
    n = len(ids)
    ok = (ids.dtype == place.dtype == r.dtype == c.dtype == np.int64 and codes.dtype == np.uint8
          and ids.ndim == r.ndim == c.ndim == 1 and codes.ndim == place.ndim == 2 and place.shape == (n, 2)
          and len(codes) == n and n == key["chunks"] and len(r) == len(c))
    ok = ok and (n == 0 or (codes.shape[1] > 0 and int(codes.max()) < codebook_size
                            and ids[0] > 0 and int(ids[-1]) <= key["chunk"] and bool(np.all(np.diff(ids) > 0))))
    ok = ok and (len(r) == 0 or (int(r[0]) >= 0 and int(r[-1]) < n and bool(np.all(np.diff(r) >= 0))
                                 and int(c.min()) > 0 and int(c.max()) <= key["max_concept"]))
    if not ok:
        raise ValueError(f"passage graph file {path}: arrays are not a passage graph of this store")


def graph_from(arrays: dict, num_nodes: int, codebook_size: int) -> PassageGraph:
    """A `PassageGraph` holding the saved rows (its vocabulary is synced from SQLite by the caller)."""
    g = PassageGraph(num_nodes, codebook_size)
    n = len(arrays["ids"])  # np.load's arrays are the graph's own (writable, nothing else holds them)
    g._ids, g._place = _growable(arrays["ids"]), _growable(arrays["place"])
    g._codes = _growable(arrays["codes"]) if n else None
    g._alive = _growable(np.ones(n, dtype=bool))
    g._ph_row, g._ph_col = _growable(arrays["ph_row"]), _growable(arrays["ph_col"])
    return g


def load_graph(mem, entry) -> tuple[PassageGraph, dict | bool]:
    """(graph, the state entry it came from or False): from its saved file when that was written for
    the store as it is now, else rebuilt from every chunk row; the vocabulary always from SQLite.
    Called inside the store's snapshot (`StateMixin._load_derived_from`)."""
    st = mem.store_
    nodes, size = mem.network_.num_nodes, int(mem.codec.codebook_size)
    graph = None
    if isinstance(entry, dict) and isinstance(entry.get("file"), str) and _FILE.fullmatch(entry["file"]):
        try:
            key = store_key(st)
            if entry.get("key") != key:
                raise ValueError("written for another state of the store")
            graph = graph_from(read_graph(mem.folder / entry["file"], key, nodes, size), nodes, size)
        except (ValueError, OSError) as exc:
            log.info("%s: rebuilding the passage graph (%s)", mem.folder, exc)
    loaded = entry if graph is not None else False
    if graph is None:
        graph = PassageGraph(nodes, size)
    graph.vocab_source = lambda after: st.concepts(after, st._conn)
    graph.sync_vocab(st.concepts(0))
    if not loaded:
        for rows in st.iter_chunks(0, "id, codes, phrases, doc_id, position"):
            graph.add([r[0] for r in rows], np.frombuffer(b"".join(r[1] for r in rows), np.uint8)
                      .reshape(len(rows), -1), [json.loads(r[2]) for r in rows], [r[3:] for r in rows])
    return graph, loaded
