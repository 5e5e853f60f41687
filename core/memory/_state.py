"""Derived state of a memory (FAISS index, Hebbian network, passage graph): load, catch up with SQLite, save."""
from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np

from core._io import atomic_write_bytes, check_npz
from core.memory._forget import drop_pruned_concepts
from core.memory._graphfile import write_graph
from core.memory._vecfile import keep_up, rewrite as rewrite_vectors, stale_tmp
from core.memory.chunking import embedded_text
from core.memory.index import VectorIndex
from core.log import get_logger

log = get_logger("memory.state")

# The only files `save` ever deletes: generations it wrote, and temporaries of a crashed save.
_OWN_FILE = re.compile(r"(index|network|graph)\.(\d+)\.npz|\.(index|network|graph)\.\d+\.npz\..+\.tmp"
                       r"|\.(state|mycelial)\.json\..+\.tmp")


class StateMixin:
    """Keeps the derived files in step with the store; mixed into `SemanticMemory`."""

    def _reencode(self) -> None:
        """Recompute every chunk's codes with the current codec; drop the derived state (rebuilt on open)."""
        st = self.store_
        with st.atomic():
            for rows in st.iter_chunks(0, "id, embedding"):
                X = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float16).reshape(len(rows), -1)
                codes = self.codec.encode(X.astype(np.float32))
                st._conn.executemany("UPDATE chunks SET codes = ? WHERE id = ?",
                                     [(c.tobytes(), r[0]) for c, r in zip(codes, rows)])
        try:
            self._state_path().unlink()
        except FileNotFoundError:
            pass

    def _state_path(self) -> Path:
        return self.folder / "state.json"

    def _read_state(self) -> dict:
        """state.json, or {} (derived state rebuilt) when missing, damaged or built from another store."""
        try:
            state = json.loads(self._state_path().read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(state, dict) or not isinstance(state.get("gen", 0), int):
            return {}
        if state.get("store", self.store_.uuid) != self.store_.uuid:
            return {}  # derived files of another memory.sqlite (deleted and re-created): never trust them
        for part in ("index", "network"):  # only our own generation files, never a path out of the folder
            entry = state.get(part, {})
            if (not isinstance(entry, dict) or not isinstance(entry.get("file", f"{part}.0.npz"), str)
                    or not re.fullmatch(rf"{part}\.\d+\.npz", entry.get("file", f"{part}.0.npz"))):
                state.pop(part, None)
        return state

    def _load_derived(self) -> None:
        """Load index and network, then catch them up with the store; rebuild what is missing.

        A damaged SQLite page becomes a `StoreError` naming the file and `mycelial repair`.
        """
        import sqlite3

        from core.memory._schema import StoreError
        from core.memory._sqlite_health import damaged_message

        try:
            fixed = self._check_rows()
            self._load_derived_from({} if fixed else self._read_state())
        except sqlite3.DatabaseError as exc:
            if type(exc) is not sqlite3.DatabaseError:  # locked / integrity: not damage
                raise
            raise StoreError(damaged_message(self.folder / "memory.sqlite", exc)) from None

    def _check_rows(self) -> bool:
        """Find chunks/documents whose columns lost their shape; a writable memory recomputes them.

        Codes come again from the stored embedding, an embedding from the chunk text, phrases from
        the text, a document's chunk list from ``doc_chunks``. Returns True when something was fixed
        (derived state is then rebuilt); read-only raises `StoreError` pointing at `mycelial repair`.
        """
        import warnings

        from core.memory.store import StoreError

        st, db = self.store_, self.folder / "memory.sqlite"
        bad, bad_docs = st.damaged_chunks(int(self.codec.num_heads)), st.damaged_documents()
        if not bad and not bad_docs:
            return False
        what = f"{len(bad)} chunk(s) (ids {[r[0] for r in bad[:5]]}) and {len(bad_docs)} document(s)"
        if self.read_only:
            raise StoreError(f"{db}: {what} have damaged columns; "
                             f"run `mycelial repair --memory {shlex.quote(str(self.folder))}`")
        with st.atomic():
            conn, doc_cache = st._conn, {}
            for cid, codes_ok, emb_ok, phrases_ok in bad:
                text, emb, title = conn.execute("SELECT c.text, c.embedding, d.title FROM chunks c LEFT JOIN "
                                                "documents d ON d.id = c.doc_id WHERE c.id = ?", (cid,)).fetchone()
                if not emb_ok:
                    if not isinstance(text, str) or not text.strip():
                        raise StoreError(f"{db}: chunk {cid} has a damaged embedding and no text to embed again; "
                                         f"forget its document and ingest it again")
                    emb = self._embedder().embed([embedded_text(title or "", text, self.title_prefix_)])[0]
                    emb = emb.astype(np.float16).tobytes()
                codes = (self.codec.encode(np.frombuffer(emb, np.float16).astype(np.float32)[None])[0].tobytes()
                         if not (codes_ok and emb_ok) else None)
                phrases = None
                if not phrases_ok:  # as ingest extracts them: key terms need the whole document
                    phrases = json.dumps(_document_phrases_of(conn, cid, doc_cache), ensure_ascii=False)
                conn.execute("UPDATE chunks SET embedding = ?, codes = coalesce(?, codes), phrases = "
                             "coalesce(?, phrases) WHERE id = ?", (emb, codes, phrases, cid))
            if not all(r[3] for r in bad):
                st.recount_concepts()  # the damaged lists' old counts are unknown: df from the stored chunks
            for doc_id in bad_docs:
                ids = [r[0] for r in conn.execute("SELECT chunk_id FROM doc_chunks WHERE doc_id = ? ORDER BY position",
                                                  (doc_id,))]
                conn.execute("UPDATE documents SET chunk_ids = ? WHERE id = ?",
                             (np.asarray(ids, dtype=np.int64).tobytes(), doc_id))
        warnings.warn(f"{db}: {what} had damaged columns; recomputed them from the stored embeddings/text "
                      f"and rebuilt the derived state", stacklevel=3)
        return True

    def _load_derived_from(self, state: dict) -> None:
        from core.reasoning.mycelial import MycelialConfig, MycelialReasoning

        self.index_, self._index_mark = None, {"chunk": 0, "forget": 0}
        if "index" in state:
            try:
                check_npz(self.folder / state["index"]["file"], "index file")  # before np.load allocates
                self.index_, header = VectorIndex.read(self.folder / state["index"]["file"], self.nprobe,
                                                       self.train_at)
                self._index_mark = {"chunk": header["last_chunk"], "forget": header["forget_seq"]}
            except (ValueError, KeyError, OSError):
                self.index_ = None
        if self.index_ is None:
            self.index_ = VectorIndex(384, None, self.train_at, self.nprobe)
        self.network_, self._net_mark = None, {"doc": 0, "forget": 0}
        if "network" in state and state["network"].get("concepts") == 1:  # older files: no concept nodes, rebuild
            try:
                self.network_ = MycelialReasoning.load(self.folder / state["network"]["file"])
                self._net_mark = {"doc": state["network"]["last_doc"], "forget": state["network"]["forget_seq"]}
                if self.network_.concept_space_ not in (None, self.store_.uuid):  # another store's ids
                    self.network_, self._net_mark = None, {"doc": 0, "forget": 0}
                elif (self.network_.config.num_heads, self.network_.config.codebook_size) != (
                        self.codec.num_heads, self.codec.codebook_size):  # saved beside a codec it never fitted
                    self.network_, self._net_mark = None, {"doc": 0, "forget": 0}
            except (ValueError, OSError, KeyError):
                self.network_ = None
        if self.network_ is None:
            cfg = self.network_config or MycelialConfig(num_heads=self.codec.num_heads,
                                                        codebook_size=self.codec.codebook_size)
            self.network_ = MycelialReasoning(cfg)
        self.network_.concept_space_ = self.store_.uuid  # its concept ids are this store's ids
        self._state_gen = int(state.get("gen", 0))
        loaded = "index" in state and "network" in state and self._index_mark["chunk"] + self._net_mark["doc"] > 0
        self._saved = self._derived_mark() if loaded else None
        with self.store_.snapshot():  # one consistent view even while another process commits
            last = self.store_.last_ids()
            if self._index_mark["chunk"] > last["chunk"] or self._index_mark["forget"] > last["forget"]:
                self._index_mark = {"chunk": 0, "forget": last["forget"]}  # ahead of SQLite (lost WAL): rebuild
                self.index_ = VectorIndex(384, None, self.train_at, self.nprobe)
            if self._net_mark["doc"] > last["doc"] or self._net_mark["forget"] > last["forget"]:
                self._reset_network()
            # the chunk-concept incidence first: the network's concept events are read from it
            self._load_graph(state.get("graph"))
            self._catch_up()
            # what the derived state holds, not only its marks: one vector per chunk, one event per occurrence
            if self.index_.ntotal != self.store_.count_chunks():
                self._rebuild_index()
            if self.network_.n_events_ != self.store_.observed_chunks():
                self._reset_network()
                for docs in self.store_.iter_documents(0):
                    self._observe_docs(docs)
                self._net_mark["forget"] = last["forget"]
        self.save(only_if_changed=True)

    def _load_graph(self, entry) -> None:
        from core.memory._graphfile import load_graph

        self.graph_, self._graph_file = load_graph(self, entry)

    def repair(self) -> dict:
        """Check SQLite, then rebuild every derived file (index, network, graph, vectors.f16) from it; returns stats.

        The way out of damaged or edited derived files: SQLite is the source of truth. SQLite's free
        pages go back to the file system first (``freed_bytes`` in the answer).
        """
        from core.memory.store import StoreError

        with self._writing(), self._lock:
            check = self.store_._conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise StoreError(f"{self.folder / 'memory.sqlite'} is damaged ({check}); restore it from a backup")
            freed = self.store_.compact()  # the free pages forgets and edits left
            for p in list(self.folder.iterdir()):
                if _OWN_FILE.fullmatch(p.name) or p.name == "state.json":
                    p.unlink()
            rewrite_vectors(self.store_)  # damaged rows there changed re-ranked scores, repaired or not
            self._state_gen = 0
            self._load_derived()
        return {**self.stats(), "freed_bytes": freed}

    def _reset_network(self) -> None:
        from core.reasoning.mycelial import MycelialConfig, MycelialReasoning

        cfg = self.network_config or MycelialConfig(num_heads=self.codec.num_heads,
                                                    codebook_size=self.codec.codebook_size)
        self.network_, self._net_mark = MycelialReasoning(cfg), {"doc": 0, "forget": 0}
        self.network_.concept_space_ = self.store_.uuid

    def _derived_mark(self) -> tuple:
        """What the saved derived files would record: save only when this changed."""
        return (tuple(self._index_mark.values()), tuple(self._net_mark.values()), self.index_.factory_,
                int(self.index_.ntotal), int(self.network_.n_events_))

    def _catch_up(self) -> None:
        st = self.store_
        # the index: replay removals, add newer chunks; train when large enough
        n_total = st.count_chunks()
        if self.index_.needs_training(n_total) or (self.index_.ntotal == 0 and self._index_mark["chunk"]):
            self._rebuild_index()
        else:
            for entry in st.forget_log(self._index_mark["forget"]):
                self.index_.remove(entry["removed"])
                self._index_mark["forget"] = entry["seq"]
            for rows in st.iter_chunks(self._index_mark["chunk"], "id, embedding"):
                self._index_add_rows(rows)
        last = st.last_ids()
        self._index_mark["forget"] = max(self._index_mark["forget"], last["forget"])
        # the network: replay forgotten documents it had seen, observe newer documents
        for entry in st.forget_log(self._net_mark["forget"]):
            if entry["doc_id"] <= self._net_mark["doc"]:
                try:
                    self._unobserve_entry(entry)
                except ValueError as exc:  # counts the store does not explain: start over from SQLite
                    self._rebuild_network(str(exc))
                    break
            self._net_mark["forget"] = entry["seq"]
        for docs in st.iter_documents(self._net_mark["doc"]):
            self._observe_docs(docs)
        self._net_mark["forget"] = max(self._net_mark["forget"], last["forget"])

    def _index_add_rows(self, rows) -> None:
        if not rows:
            return
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        X = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float16).reshape(len(rows), -1)
        self.index_.add(ids, X.astype(np.float32))
        self._index_mark["chunk"] = max(self._index_mark["chunk"], int(ids[-1]))

    def _rebuild_index(self) -> None:
        """Build the index beside the live one and swap it in (an outgrown one in the background)."""
        from core.memory._retrain import rebuild_index

        rebuild_index(self)

    def _observe_docs(self, docs, codes_too: bool = True, codes=None) -> None:
        """Observe whole documents: each chunk is one event over its code and concept nodes,
        neighbours (within ``window``) at eta_group. ``codes_too=False``: only the concept side
        (the parallel ingest merges its workers' code deltas). ``codes``: the stored codes of
        the documents' chunks in that order, when the caller has them (else read from SQLite)."""
        if not docs:
            return
        all_ids = np.concatenate([ids for _, ids in docs])
        if codes is None:
            codes = self.store_.codes(all_ids)
        groups = np.repeat(np.asarray([d for d, _ in docs], dtype=np.int64), [len(ids) for _, ids in docs])
        if codes_too:
            self.network_.observe(codes, groups)
        offsets, concepts = self.graph_.concepts_of(all_ids)
        self.network_.observe_concepts(codes, offsets, concepts, groups)
        self._net_mark["doc"] = max(self._net_mark["doc"], int(docs[-1][0]))

    def _rebuild_network(self, why: str) -> None:
        """The network observed afresh from SQLite, for counts the store does not explain (a network saved
        by a version that counted a re-numbered concept under its old id); the graph must be complete."""
        log.warning("%s: rebuilding the network from memory.sqlite (%s)", self.folder, why)
        self._network_stale = None
        self._reset_network()
        for docs in self.store_.iter_documents(0):
            self._observe_docs(docs)
        self._net_mark["forget"] = self.store_.last_ids()["forget"]

    def _unobserve_entry(self, entry) -> None:
        """Take a forgotten document's events out of the network (codes and concepts)."""
        self._unobserve_entries([entry])

    def _unobserve_entries(self, entries) -> None:
        """Take forgotten documents' events out of the network in one call: each document its own
        group, so the same windows are subtracted as one call per document would (the counts add)."""
        heads = self.network_.config.num_heads
        codes = [e["codes"].reshape(-1, heads) for e in entries]
        groups = np.repeat(np.arange(len(codes), dtype=np.int64), [len(c) for c in codes])
        codes = np.concatenate(codes)
        self.network_.unobserve(codes, groups)
        with_concepts = [e for e in entries if e.get("concepts") is not None]
        if len(with_concepts) < len(entries):  # log entries written before concepts: one by one
            for e, g in zip(entries, np.split(np.arange(len(groups)), np.cumsum([len(e["codes"]) // heads
                                                                                for e in entries])[:-1])):
                if e.get("concepts") is not None:
                    self.network_.unobserve_concepts(codes[g], *e["concepts"], np.zeros(len(g), np.int64))
            return
        offsets, concepts, base = [], [], 0
        for e in entries:
            off, con = e["concepts"]
            offsets.append(np.asarray(off[:-1], dtype=np.int64) + base)
            concepts.append(np.asarray(con, dtype=np.int64))
            base += len(con)
        offsets.append(np.asarray([base], dtype=np.int64))
        self.network_.unobserve_concepts(codes, np.concatenate(offsets), np.concatenate(concepts), groups)

    def save(self, only_if_changed: bool = False) -> None:
        """Write the derived state (index, network, passage graph) atomically and point state.json at it.

        A read-only memory never writes; ``only_if_changed`` skips a save that would
        rewrite identical state (reads never write).
        """
        # _graph_file: False while the loaded state has no usable graph file (one is written even if
        # nothing else changed); the saved entry, or None when the last save could not write one
        if self.read_only or (only_if_changed and self._saved == self._derived_mark()
                                                     and getattr(self, "_graph_file", False) is not False):
            return
        with self._writing(), self._lock:
            keep_up(self.store_)  # the vector file's last rows (ingest writes it KEEP_UP_ROWS at a time)
            gen = self._state_gen + 1
            index_file, net_file, graph_file = f"index.{gen}.npz", f"network.{gen}.npz", f"graph.{gen}.npz"
            self.index_.write(self.folder / index_file,
                              {"last_chunk": self._index_mark["chunk"], "forget_seq": self._index_mark["forget"]})
            self.network_.save(self.folder / net_file)
            graph_key = write_graph(self.graph_, self.folder / graph_file, self.store_)
            state = {"gen": gen, "store": self.store_.uuid, "index": {"file": index_file, **self._index_mark},
                     "network": {"file": net_file, "last_doc": self._net_mark["doc"],
                                 "forget_seq": self._net_mark["forget"], "concepts": 1}}
            if graph_key is not None:
                state["graph"] = {"file": graph_file, "key": graph_key}
            atomic_write_bytes(self._state_path(), json.dumps(state, indent=1).encode())
            self._state_gen, self._saved = gen, self._derived_mark()
            self._graph_file = state.get("graph")
            # the saved files include every forget up to these marks: their log entries are no longer needed
            done = min(self._index_mark["forget"], self._net_mark["forget"])
            if done and self.store_.prune_forget_log(done):
                self.store_.checkpoint()
            for p in self.folder.iterdir():  # older generations we wrote; never any other file
                if (_OWN_FILE.fullmatch(p.name) and p.name not in (index_file, net_file, graph_file)) \
                        or stale_tmp(p.name):
                    try:
                        p.unlink()
                    except OSError:
                        pass


    def _apply_forget(self, info) -> None:
        self._apply_forgets([info])

    def _apply_forgets(self, infos) -> None:
        """Replay committed forgets on the derived state; the index and graph drop all their chunks
        at once (FAISS's remove_ids scans the whole id map: 3.7 ms a call at 20k chunks)."""
        infos = [info for info in infos if info is not None]  # a document already gone
        if not infos:
            return
        removed = np.concatenate([info["removed"] for info in infos])
        self.index_.remove(removed)
        self.graph_.remove(removed)
        drop_pruned_concepts(self.graph_, self.store_, infos)  # as a reopen reads the concept table
        seen = [info for info in infos if info["doc_id"] <= self._net_mark["doc"]]
        if seen:
            try:
                self._unobserve_entries(seen)
            except ValueError as exc:  # rebuilt by the caller once the graph holds the batch (`_heal_network`)
                self._network_stale = str(exc)
        seq = max(info["seq"] for info in infos)
        self._index_mark["forget"] = max(self._index_mark["forget"], seq)
        self._net_mark["forget"] = max(self._net_mark["forget"], seq)

    def _heal_network(self) -> None:
        """After a forget or a batch: rebuild the network if a forget found counts it could not take out."""
        if getattr(self, "_network_stale", None):
            self._rebuild_network(self._network_stale)


def _document_phrases_of(conn, cid: int, cache: dict) -> list[str]:
    """Chunk ``cid``'s phrases as a clean ingest stores them: `document_phrases` over the chunks of
    the document that holds it (``chunks.doc_id``, the one whose ingest created it), in order, with its
    title, so a repaired chunk gets its names *and* the key terms its document repeats."""
    from core.memory.phrases import document_phrases

    doc_id, position, text = conn.execute("SELECT doc_id, position, text FROM chunks WHERE id = ?", (cid,)).fetchone()
    if doc_id not in cache:
        row = conn.execute("SELECT title FROM documents WHERE id = ?", (doc_id,)).fetchone()
        rows = conn.execute("SELECT dc.position, c.text FROM doc_chunks dc JOIN chunks c ON c.id = dc.chunk_id "
                            "WHERE dc.doc_id = ? ORDER BY dc.position", (doc_id,)).fetchall()
        texts = [t for _, t in rows]
        cache[doc_id] = dict(zip((p for p, _ in rows), document_phrases(texts, row[0] if row else "")))
    found = cache[doc_id].get(position)
    if found is None:  # no document lists it (never written so): its own text alone
        found = document_phrases([text if isinstance(text, str) else None])[0]
    return found
