"""`SemanticMemory`: ingest document streams, store them, and recall by similarity and association.

A memory is a folder::

    memory.sqlite      source of truth (documents, chunks, codes, float16 embeddings, forget log)
    state.json         which derived files are current, and the last chunk/document they include
    index.<n>.npz      the FAISS vector index                       (derived, rebuilt if missing)
    network.<n>.npz    the Hebbian network over the code nodes      (derived, rebuilt if missing)

Derived state is saved after each ingest and on close; on open, a lagging or missing file
is caught up from SQLite (new chunks added, forgotten documents replayed from the forget
log), so a crash at any point loses no committed document.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from core._validation import check_embeddings
from core.memory.chunking import MAX_TOKENS, chunk_hash, chunk_text
from core.memory.graph import PassageGraph
from core._io import atomic_write_bytes
from core.memory.index import VectorIndex
from core.memory.phrases import extract_phrases, title_phrase
from core.memory.readers import ReadError, Record, parse_record, read_paths
from core.memory.store import Store

MODES = ("similar", "associative", "hybrid")


@dataclass
class RecallConfig:
    """Knobs of associative and hybrid recall (defaults tuned on HotpotQA/MuSiQue, checked on WikiText).

    Parameters
    ----------
    seed_hits : int
        Best vector hits that seed the associative walk.
    seed_temperature : float
        Softmax temperature over the seeds' cosine similarities.
    phrase_weight, query_phrase_weight : float
        Mass passed on by the seeds' phrases and by the phrases the query names.
    code_weight : float
        Mass passed on by the code nodes activated through the Hebbian network.
    df_power : float
        Division of a node's mass among the chunks holding it (``df ** df_power``).
    restart : float
        Share of the seed mass the seed chunks keep in ``associative`` mode.
    seed_codes_from_hits : bool
        Seed the Hebbian network with the codes of the seed hits as well as the query's.
    steps : int
        Spreading steps in the Hebbian network.
    fusion_weight : float
        ``hybrid`` score = cosine + ``fusion_weight`` * association / max association.
    candidates : int
        Vector hits and associative hits considered before fusion.
    """

    seed_hits: int = 5
    seed_temperature: float = 0.05
    phrase_weight: float = 1.0
    query_phrase_weight: float = 2.0
    code_weight: float = 0.1
    df_power: float = 0.5
    restart: float = 0.5
    seed_codes_from_hits: bool = True
    steps: int = 2
    fusion_weight: float = 4.0
    candidates: int = 100


@dataclass
class Hit:
    """One recalled chunk. ``why`` explains the score (seeds, nodes that carried activation, weights)."""

    doc_id: str
    chunk_id: int
    score: float
    text: str
    title: str = ""
    position: int = 0
    why: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class IngestReport:
    """What an ingest did: counts, and every input problem with its file and line."""

    documents: int = 0
    chunks: int = 0
    new_chunks: int = 0
    duplicate_chunks: int = 0
    unchanged: int = 0
    replaced: int = 0
    errors: list = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["errors"] = [str(e) for e in self.errors]
        return d


def _content_hash(rec: Record) -> str:
    h = hashlib.sha1(rec.text.encode("utf-8"))
    h.update(b"\x00" + rec.title.encode("utf-8"))
    return h.hexdigest()


class SemanticMemory:
    """An associative memory in a folder (created if missing, reopened if present).

    Parameters
    ----------
    folder : str or Path
    embedder : TextEmbedder, optional
        Default ``TextEmbedder()`` (all-MiniLM-L6-v2, cached).
    codec : MycelialVQVAE, optional
        Default ``MycelialVQVAE.load_default()`` (the shipped weights).
    network_config : MycelialConfig, optional
        For a new memory; a reopened memory keeps its saved network.
    recall_config : RecallConfig, optional
    train_at : int, default=50_000
        Chunks needed before the exact vector index gives way to OPQ+IVF+PQ.
    nprobe : int, default=12
    rerank : int, default=16
        With a trained index, ``rerank * k`` candidates are re-scored with the stored
        float16 vectors.
    max_tokens : int, default=128
        Chunk size limit in word pieces.
    batch_size : int, default=256
        Chunks embedded and committed per transaction during ingest.

    Examples
    --------
    >>> mem = SemanticMemory("my_memory")                                # doctest: +SKIP
    >>> mem.ingest(["notes/", {"id": "q1", "text": "Rush is a band."}])  # doctest: +SKIP
    >>> mem.recall("which band?", k=5, mode="hybrid")[0].doc_id          # doctest: +SKIP
    'q1'
    """

    def __init__(self, folder, embedder=None, codec=None, network_config=None, recall_config=None,
                 train_at: int = 50_000, nprobe: int = 12, rerank: int = 16,
                 max_tokens: int = MAX_TOKENS, batch_size: int = 256):
        self.folder = Path(folder)
        self.embedder = embedder
        self.codec = codec
        self.network_config = network_config
        self.recall_config = recall_config or RecallConfig()
        self.train_at = train_at
        self.nprobe = nprobe
        self.rerank = rerank
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self._lock = threading.RLock()
        self._open()

    # -- opening, derived state -------------------------------------------------------
    def _open(self) -> None:
        if self.folder.exists() and not self.folder.is_dir():
            raise ValueError(f"memory folder {self.folder} exists and is not a folder")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.store_ = Store(self.folder / "memory.sqlite")
        if self.codec is None:
            from core.reasoning.mycelial import MycelialVQVAE

            self.codec = MycelialVQVAE.load_default()
        heads, size = int(self.codec.num_heads), int(self.codec.codebook_size)
        probe = np.random.default_rng(0).standard_normal((64, 384)).astype(np.float32)
        probe /= np.linalg.norm(probe, axis=1, keepdims=True)
        fingerprint = hashlib.sha1(np.ascontiguousarray(self.codec.encode(probe)).tobytes()).hexdigest()
        saved = self.store_.get_setting("codec")
        if saved is not None and (saved["num_heads"], saved["codebook_size"]) != (heads, size):
            raise ValueError(f"{self.folder} was built with {saved['num_heads']} heads x "
                             f"{saved['codebook_size']} codes; the codec has {heads} x {size}")
        if saved is not None and saved.get("fingerprint") != fingerprint:
            self._reencode()  # new VQ-VAE weights: codes come again from the stored embeddings
        if saved is None or saved.get("fingerprint") != fingerprint:
            with self.store_.atomic():
                self.store_.set_setting("codec", {"num_heads": heads, "codebook_size": size,
                                                  "fingerprint": fingerprint})
        self._load_derived()

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

    def close(self) -> None:
        """Save derived state and close the store."""
        if getattr(self, "store_", None) is None or self.store_._conn is None:
            return
        self.save()
        self.store_.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- ingest -----------------------------------------------------------------------
    def _embedder(self):
        if self.embedder is None:
            from core.embedding import TextEmbedder

            self.embedder = TextEmbedder()
        return self.embedder

    def _records(self, source, errors: list) -> Iterable[Record]:
        if isinstance(source, (str, os.PathLike)):
            yield from read_paths([source], errors)
            return
        if isinstance(source, (dict, Record)):
            source = [source]
        for i, item in enumerate(source):
            if isinstance(item, Record):
                yield item
            elif isinstance(item, dict):
                try:
                    yield parse_record(item, "<records>", i + 1)
                except ValueError as exc:
                    errors.append(ReadError("<records>", str(exc), i + 1))
            elif isinstance(item, (str, os.PathLike)):
                yield from read_paths([item], errors)
            else:
                errors.append(ReadError("<records>", f"expected a path, dict or Record, got {type(item).__name__}", i + 1))

    def ingest(self, source, progress: bool = False) -> IngestReport:
        """Read, chunk, embed, encode and store documents; grow the index and the network.

        Parameters
        ----------
        source : path, list of paths, or iterable of records
            Files (``.txt .md .pdf .jsonl``), folders (recursive), ``"-"`` for standard
            input, or dicts ``{"id", "text", "title"?, ...metadata}``.
        progress : bool
            Show a tqdm bar of documents.

        Returns
        -------
        IngestReport
            Counts and per-input errors; bad inputs never stop the rest.
        """
        t0 = time.perf_counter()
        report = IngestReport()
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(unit="doc", desc="ingest")
        pending: list[tuple[Record, list[str]]] = []
        n_pending = 0
        try:
            for rec in self._records(source, report.errors):
                chunks = chunk_text(rec.text, self.max_tokens)
                if not chunks:
                    report.errors.append(ReadError(rec.source or rec.doc_id, "no text after chunking"))
                    continue
                pending.append((rec, chunks))
                n_pending += len(chunks)
                if n_pending >= self.batch_size:
                    self._ingest_batch(pending, report)
                    if bar is not None:
                        bar.update(len(pending))
                    pending, n_pending = [], 0
            if pending:
                self._ingest_batch(pending, report)
                if bar is not None:
                    bar.update(len(pending))
        finally:
            if bar is not None:
                bar.close()
            if report.documents or report.replaced:
                self.save()
        report.seconds = time.perf_counter() - t0
        return report

    def _ingest_batch(self, batch, report: IngestReport) -> None:
        st = self.store_
        todo = []
        for rec, chunks in batch:
            chash = _content_hash(rec)
            old = st.document(rec.doc_id)
            if old is not None and old["content_hash"] == chash:
                report.unchanged += 1
                continue
            todo.append((rec, chunks, chash, old is not None))
        if not todo:
            return
        # embed only chunks the store does not hold yet
        hashes = [[chunk_hash(c) for c in chunks] for _, chunks, _, _ in todo]
        known = st.chunk_ids_by_hash([h for hs in hashes for h in hs])
        need: dict[bytes, str] = {}
        for (_, chunks, _, _), hs in zip(todo, hashes):
            for h, c in zip(hs, chunks):
                if h not in known:
                    need.setdefault(h, c)
        vec: dict[bytes, np.ndarray] = {}
        code: dict[bytes, np.ndarray] = {}
        if need:
            X = self._embedder().embed(list(need.values()))
            C = self.codec.encode(X)
            vec = dict(zip(need, X))
            code = dict(zip(need, C))
        self._commit(todo, hashes, vec, code, report)

    def _commit(self, todo, hashes, vec, code, report) -> None:
        st = self.store_
        heads = self.network_.config.num_heads
        added_docs, new_rows = [], []
        with self._lock:
            forgotten, batch, meta = [], [], []
            with st.atomic():
                for (rec, chunks, chash, replace), hs in zip(todo, hashes):
                    if replace:
                        forgotten.append(st.forget(rec.doc_id))
                        report.replaced += 1
                    codes = np.stack([code[h] if h in code else np.zeros(heads, np.uint8) for h in hs])
                    emb = np.stack([vec[h] if h in vec else np.zeros(384, np.float32) for h in hs])
                    tphrase = title_phrase(rec.title)
                    phrases = []
                    for c in chunks:
                        p = extract_phrases(c) if c else []
                        if tphrase and tphrase not in p:
                            p = [tphrase] + p
                        phrases.append(p)
                    batch.append((rec.doc_id, rec.title, rec.source, rec.meta, chash, hs, chunks, codes, emb, phrases))
                    meta.append((emb, codes, phrases))
                for (doc_id, ids, new), (emb, codes, phrases) in zip(st.add_documents(batch), meta):
                    added_docs.append((doc_id, ids))
                    for j in np.flatnonzero(new):
                        new_rows.append((int(ids[j]), emb[j], codes[j], phrases[j]))
                    report.documents += 1
                    report.chunks += len(ids)
                    report.new_chunks += int(new.sum())
                    report.duplicate_chunks += int((~new).sum())
            # committed: now the derived state (replay removals first)
            for f in forgotten:
                self._apply_forget(f)
            if new_rows:
                ids = np.asarray([r[0] for r in new_rows], dtype=np.int64)
                self.index_.add(ids, np.stack([r[1] for r in new_rows]).astype(np.float16).astype(np.float32))
                self._index_mark["chunk"] = max(self._index_mark["chunk"], int(ids.max()))
                self.graph_.add(ids, np.stack([r[2] for r in new_rows]), [r[3] for r in new_rows])
            self._observe_docs(added_docs)
            if self.index_.needs_training(st.count_chunks()):
                self._rebuild_index()

    def ingest_vectors(self, ids, embeddings, texts=None, batch_size: int = 50_000) -> IngestReport:
        """Store your own 384-d embeddings as one-chunk documents (ids become doc ids).

        Parameters
        ----------
        ids : sequence of str or int, unique
        embeddings : array-like (n, 384) float
            Normalised to unit length here (recall uses inner products).
        texts : sequence of str, optional
            Stored with the chunks and shown in hits; phrases are extracted from them.
        """
        t0 = time.perf_counter()
        X = check_embeddings(embeddings, 384, "embeddings")
        ids = [str(i) for i in ids]
        if len(ids) != X.shape[0]:
            raise ValueError(f"got {len(ids)} ids for {X.shape[0]} embeddings")
        if len(set(ids)) != len(ids):
            raise ValueError("ids must be unique")
        if texts is not None:
            texts = list(texts)
            if len(texts) != len(ids):
                raise ValueError(f"got {len(texts)} texts for {len(ids)} embeddings")
        norms = np.linalg.norm(X, axis=1, keepdims=True)
        if (norms == 0).any():
            raise ValueError(f"embeddings row {int(np.flatnonzero(norms.ravel() == 0)[0])} is all zeros")
        X = X / norms
        report = IngestReport()
        for s in range(0, len(ids), batch_size):
            part = slice(s, s + batch_size)
            C = self.codec.encode(X[part])
            todo, hashes, vec, code = [], [], {}, {}
            for j, doc in enumerate(ids[part]):
                text = texts[s + j] if texts is not None else None
                h = hashlib.sha1(b"vec\x00" + doc.encode() + X[s + j].tobytes()).digest() if text is None \
                    else chunk_hash(text)
                rec = Record(doc, text or "", "", {}, "<vectors>")
                todo.append((rec, [text], hashlib.sha1(h).hexdigest(), False))
                hashes.append([h])
                vec[h], code[h] = X[s + j], C[j]
            existing = self.store_.existing_documents(ids[part])
            if existing:
                keep = [i for i, t in enumerate(todo) if t[0].doc_id not in existing]
                report.unchanged += len(todo) - len(keep)
                todo, hashes = [todo[i] for i in keep], [hashes[i] for i in keep]
            self._commit(todo, hashes, vec, code, report)
        self.save()
        report.seconds = time.perf_counter() - t0
        return report

    # -- forget -----------------------------------------------------------------------
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

    def forget(self, doc_id: str) -> bool:
        """Remove a document from the store, the index and (exactly) from the network.

        Returns False when no document has this id.
        """
        with self._lock:
            info = self.store_.forget(str(doc_id))
            if info is None:
                return False
            self._apply_forget(info)
            self.save()
            return True

    # -- recall -----------------------------------------------------------------------
    def embed_queries(self, queries) -> np.ndarray:
        if isinstance(queries, str):
            queries = [queries]
        return self._embedder().embed(list(queries))

    def recall(self, query: str, k: int = 10, mode: str = "hybrid", per_document: bool = False,
               exclude=None) -> list[Hit]:
        """The ``k`` chunks best matching ``query``.

        Parameters
        ----------
        query : str
        k : int
        mode : {"similar", "associative", "hybrid"}
            ``similar`` = vector search; ``associative`` = activation spread from the
            query's codes and phrases and its best vector hits through the Hebbian
            network and the passage graph; ``hybrid`` = cosine + weighted association.
        per_document : bool
            At most one hit (the best chunk) per document.
        exclude : iterable of int, optional
            Chunk ids never to return (e.g. the query's own chunk in evaluations).
        """
        if not isinstance(query, str) or not query.strip():
            raise ValueError("query must be a non-empty string")
        q = self.embed_queries([query])[0]
        return self.recall_vector(q, k, mode, query_text=query, per_document=per_document, exclude=exclude)

    def recall_batch(self, queries, k: int = 10, mode: str = "hybrid", per_document: bool = False):
        """``recall`` for many queries, embedding them in one batch."""
        queries = list(queries)
        Q = self.embed_queries(queries)
        return [self.recall_vector(q, k, mode, query_text=t, per_document=per_document) for q, t in zip(Q, queries)]

    def _vector_search(self, q: np.ndarray, n: int, pool: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(chunk ids, cosines) of the ``n`` nearest chunks.

        With an approximate index, ``max(n, pool)`` candidates are re-scored exactly against
        the stored float16 embeddings.
        """
        with self._lock:
            if self.index_.is_exact:
                D, I = self.index_.search(q[None, :], n)
            else:
                D, I = self.index_.search(q[None, :], max(n, pool))
        ids = I[0][I[0] >= 0]
        if not len(ids):
            return ids, np.zeros(0, dtype=np.float32)
        if self.index_.is_exact:
            return ids, D[0][: len(ids)].astype(np.float32)
        found, X = self.store_.embeddings(ids)
        if not len(found):
            return found, np.zeros(0, dtype=np.float32)
        sims = X @ q
        order = np.argsort(-sims, kind="stable")[:n]
        return found[order], sims[order].astype(np.float32)

    def _exact_sims(self, q: np.ndarray, ids: np.ndarray) -> dict[int, float]:
        found, X = self.store_.embeddings(ids)
        return dict(zip(found.tolist(), (X @ q).tolist())) if len(found) else {}

    def recall_vector(self, q, k: int = 10, mode: str = "hybrid", query_text: str | None = None,
                      per_document: bool = False, exclude=None, explain: bool = True) -> list[Hit]:
        """``recall`` from a query embedding (384-d); ``query_text`` adds its phrases as seeds."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        q = check_embeddings(q, 384, "query")[0]
        cfg = self.recall_config
        excl = set(int(e) for e in exclude) if exclude is not None else set()
        want = 3 * k if per_document else k
        n_cand = want if mode == "similar" else max(cfg.candidates, want)
        ids, sims = self._vector_search(q, n_cand + len(excl), self.rerank * want)
        if excl:
            keep = np.asarray([i not in excl for i in ids.tolist()], dtype=bool)
            ids, sims = ids[keep], sims[keep]
        if mode == "similar" or not len(ids):
            scores = dict(zip(ids.tolist(), sims.tolist()))
            return self._hits(scores, k, per_document, {i: {"similarity": s} for i, s in scores.items()}
                              if explain else {})
        assoc, trace = self._associate(q, query_text, ids, sims, excl, explain)
        sim_of = dict(zip(ids.tolist(), sims.tolist()))
        if mode == "associative":
            scores = assoc
        else:
            top = max(assoc.values()) if assoc else 1.0
            cand = set(sim_of) | set(sorted(assoc, key=assoc.get, reverse=True)[:n_cand])
            missing = [c for c in cand if c not in sim_of]
            if missing:
                sim_of.update(self._exact_sims(q, np.asarray(missing, dtype=np.int64)))
            scores = {c: sim_of.get(c, 0.0) + cfg.fusion_weight * assoc.get(c, 0.0) / top for c in cand}
        why = {}
        if explain:
            for c in sorted(scores, key=scores.get, reverse=True)[: 4 * k]:
                why[c] = {"similarity": sim_of.get(c), "association": assoc.get(c, 0.0), **trace}
        return self._hits(scores, k, per_document, why)

    def _associate(self, q, query_text, ids, sims, excl, explain: bool = True):
        """Association score per chunk id: spreading from seeds through phrases and code nodes."""
        cfg = self.recall_config
        g = self.graph_
        m = min(cfg.seed_hits, len(ids))
        seed_ids = ids[:m]
        w = np.exp((sims[:m] - sims[0]) / cfg.seed_temperature)
        w = w / w.sum()
        seed_rows = g.rows_of(seed_ids)
        ok = seed_rows >= 0
        seed_rows, w = seed_rows[ok], w[ok]
        q_phr = extract_phrases(query_text) if query_text else []
        q_ids = g.phrase_ids(q_phr)
        # the Hebbian network: query codes (and the seeds' codes) spread activation
        q_codes = self.codec.encode(q[None, :])
        seed_codes = q_codes
        node_act = None
        if cfg.code_weight > 0 and self.network_.n_events_ > 0:
            if cfg.seed_codes_from_hits and len(seed_rows):
                seed_codes = np.concatenate([q_codes, g._codes.values[seed_rows]])
            with self._lock:
                acts = self.network_.propagate(seed_codes, steps=cfg.steps)
            node_act = acts.max(axis=0)
        with g._lock:
            rows, scores, trace = g.spread(seed_rows, w, q_ids, node_act, candidate_rows=g.rows_of(ids),
                                           query_phrase_weight=cfg.query_phrase_weight,
                                           phrase_weight=cfg.phrase_weight, df_power=cfg.df_power,
                                           code_weight=cfg.code_weight, restart=cfg.restart)
            if len(rows) > 4 * cfg.candidates:  # only the strongest can reach the top
                top = np.argpartition(-scores, 4 * cfg.candidates)[:4 * cfg.candidates]
                rows, scores = rows[top], scores[top]
            chunk_ids = g.chunk_ids_at(rows)
            active_phr = np.flatnonzero(trace["phrase_act"])
            top_phr = active_phr[np.argsort(-trace["phrase_act"][active_phr])[:8]]
            phr = [(g.phrases_[i], round(float(trace["phrase_act"][i]), 4)) for i in top_phr]
        assoc = {int(c): float(s) for c, s in zip(chunk_ids, scores) if int(c) not in excl}
        if not explain:
            return assoc, {}
        size = self.codec.codebook_size
        nodes = []
        if node_act is not None:
            for n_ in trace["nodes"][:8]:
                nodes.append({"node": [int(n_ // size), int(n_ % size)], "activation": round(float(node_act[n_]), 4)})
        qc = [[h, int(c)] for h, c in enumerate(q_codes[0])]
        if len(nodes) >= 2:  # the Hebbian weights between the strongest carrying nodes
            W = self._network_weights()
            a, b = nodes[0]["node"], nodes[1]["node"]
            nodes[0]["weight_to_next"] = round(float(W[a[0] * size + a[1], b[0] * size + b[1]]), 4)
        trace = {"seed_codes": qc, "seed_phrases": q_phr, "seed_chunks": [int(s) for s in seed_ids],
                 "phrases": phr, "nodes": nodes}
        return assoc, trace

    def _network_weights(self):
        """The network's CSR weights, cached until the network changes."""
        net = self.network_
        key = (id(net), net.n_events_, net.keys_.shape[0], net.n_decays_, float(net.counts_.sum()))
        cached = getattr(self, "_w_cache", None)
        if cached is None or cached[0] != key:
            with self._lock:
                cached = self._w_cache = (key, net.weights())
        return cached[1]

    def _hits(self, scores: dict, k: int, per_document: bool, why: dict) -> list[Hit]:
        order = sorted(scores, key=lambda c: (-scores[c], c))
        out: list[Hit] = []
        seen_docs = set()
        pos = 0
        step = 4 * k if per_document else k  # rows are fetched only for what can be returned
        while len(out) < k and pos < len(order):
            part = order[pos:pos + step]
            pos += len(part)
            rows = self.store_.chunk_rows(part)
            for c in part:
                r = rows.get(c)
                if r is None:  # forgotten since the search
                    continue
                if per_document:
                    if r["doc_key"] in seen_docs:
                        continue
                    seen_docs.add(r["doc_key"])
                info = dict(why.get(c, {}))
                if "phrases" in info:  # keep only the phrases this chunk holds
                    mine = set(r["phrases"])
                    info["phrases"] = [p for p in info["phrases"] if p[0] in mine]
                out.append(Hit(r["doc_key"], int(c), float(scores[c]), r["text"] or "", r["title"], r["position"], info))
                if len(out) >= k:
                    break
        return out

    # -- the rest ---------------------------------------------------------------------
    def reconstruct(self, codes, k: int = 5) -> list[list[Hit]]:
        """Decode codes with the VQ-VAE and return, per row, the stored chunks nearest the decoded vector."""
        decoded = self.codec.decode(codes)
        decoded = decoded / np.maximum(np.linalg.norm(decoded, axis=1, keepdims=True), 1e-12)
        return [self.recall_vector(v, k, "similar") for v in decoded]

    def stats(self) -> dict:
        """Counts of documents and chunks, index kind, network size, bytes on disk."""
        net = self.network_.stats()
        disk = sum(p.stat().st_size for p in self.folder.iterdir() if p.is_file())
        return {"folder": str(self.folder), "documents": self.store_.count_documents(),
                "chunks": self.store_.count_chunks(), "index": self.index_.factory_,
                "index_vectors": self.index_.ntotal, "phrases": len(self.graph_.phrases_),
                "network": {k: v for k, v in net.items() if isinstance(v, (int, float, str))},
                "bytes_on_disk": disk}
