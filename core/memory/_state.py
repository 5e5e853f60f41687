"""Derived state of a memory (FAISS index, Hebbian network, passage graph): load, catch up with SQLite, save."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from core._io import atomic_write_bytes
from core.memory.graph import PassageGraph
from core.memory.index import VectorIndex


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
        try:
            return json.loads(self._state_path().read_text())
        except (OSError, ValueError):
            return {}

    def _load_derived(self) -> None:
        """Load index and network, then catch them up with the store; rebuild what is missing."""
        from core.reasoning.mycelial import MycelialConfig, MycelialReasoning

        state = self._read_state()
        self.index_, self._index_mark = None, {"chunk": 0, "forget": 0}
        if "index" in state:
            try:
                self.index_, header = VectorIndex.read(self.folder / state["index"]["file"], self.nprobe,
                                                       self.train_at)
                self._index_mark = {"chunk": header["last_chunk"], "forget": header["forget_seq"]}
            except (ValueError, KeyError):
                self.index_ = None
        if self.index_ is None:
            self.index_ = VectorIndex(384, None, self.train_at, self.nprobe)
        self.network_, self._net_mark = None, {"doc": 0, "forget": 0}
        if "network" in state:
            try:
                self.network_ = MycelialReasoning.load(self.folder / state["network"]["file"])
                self._net_mark = {"doc": state["network"]["last_doc"], "forget": state["network"]["forget_seq"]}
            except (ValueError, OSError, KeyError):
                self.network_ = None
        if self.network_ is None:
            cfg = self.network_config or MycelialConfig(num_heads=self.codec.num_heads,
                                                        codebook_size=self.codec.codebook_size)
            self.network_ = MycelialReasoning(cfg)
        self._state_gen = int(state.get("gen", 0))
        before = (dict(self._index_mark), dict(self._net_mark), self.index_.factory_)
        self._catch_up()
        self.graph_ = PassageGraph(self.network_.num_nodes, int(self.codec.codebook_size))
        for rows in self.store_.iter_chunks(0, "id, codes, phrases"):
            self.graph_.add([r[0] for r in rows], np.frombuffer(b"".join(r[1] for r in rows), np.uint8)
                            .reshape(len(rows), -1), [json.loads(r[2]) for r in rows])
        if before != (self._index_mark, self._net_mark, self.index_.factory_) or "index" not in state:
            self.save()

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
                codes = entry["codes"].reshape(-1, self.network_.config.num_heads)
                self.network_.unobserve(codes, np.zeros(len(codes), dtype=np.int64))
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
        st = self.store_
        n_total = st.count_chunks()
        index = VectorIndex(384, None, self.train_at, self.nprobe)
        if index.needs_training(n_total):
            sample = []
            for rows in st.iter_chunks(0, "id, embedding", batch=50_000):
                sample.extend(r[1] for r in rows[:: max(1, n_total // 100_000)])
                if len(sample) >= 100_000:
                    break
            X = np.frombuffer(b"".join(sample), dtype=np.float16).reshape(len(sample), -1).astype(np.float32)
            index.train(X)
        self.index_ = index
        self._index_mark = {"chunk": 0, "forget": st.last_ids()["forget"]}
        for rows in st.iter_chunks(0, "id, embedding", batch=50_000):
            self._index_add_rows(rows)

    def _observe_docs(self, docs) -> None:
        """Observe whole documents: each chunk's codes co-activate, neighbours at eta_group."""
        if not docs:
            return
        all_ids = np.concatenate([ids for _, ids in docs])
        codes = self.store_.codes(all_ids)
        groups = np.repeat(np.asarray([d for d, _ in docs], dtype=np.int64), [len(ids) for _, ids in docs])
        self.network_.observe(codes, groups)
        self._net_mark["doc"] = max(self._net_mark["doc"], int(docs[-1][0]))

    def save(self) -> None:
        """Write the derived state (index, network) atomically and point state.json at it."""
        with self._lock:
            gen = self._state_gen + 1
            index_file, net_file = f"index.{gen}.npz", f"network.{gen}.npz"
            self.index_.write(self.folder / index_file,
                              {"last_chunk": self._index_mark["chunk"], "forget_seq": self._index_mark["forget"]})
            self.network_.save(self.folder / net_file)
            state = {"gen": gen, "index": {"file": index_file, **self._index_mark},
                     "network": {"file": net_file, "last_doc": self._net_mark["doc"],
                                 "forget_seq": self._net_mark["forget"]}}
            atomic_write_bytes(self._state_path(), json.dumps(state, indent=1).encode())
            self._state_gen = gen
            for p in self.folder.glob("*.npz"):  # older generations
                if p.name not in (index_file, net_file):
                    try:
                        p.unlink()
                    except OSError:
                        pass


    def _apply_forget(self, info) -> None:
        if info is None:
            return
        self.index_.remove(info["removed"])
        self.graph_.remove(info["removed"])
        codes = info["codes"].reshape(-1, self.network_.config.num_heads)
        if info["doc_id"] <= self._net_mark["doc"]:
            self.network_.unobserve(codes, np.zeros(len(codes), dtype=np.int64))
        self._index_mark["forget"] = max(self._index_mark["forget"], info["seq"])
        self._net_mark["forget"] = max(self._net_mark["forget"], info["seq"])

