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
import threading
from pathlib import Path

import numpy as np

from core.memory._ingest import IngestMixin
from core.memory._recall import RecallMixin
from core.memory._state import StateMixin
from core.memory.chunking import MAX_TOKENS
from core.memory.store import Store
from core.memory.types import MODES, Hit, IngestReport, RecallConfig

__all__ = ["SemanticMemory", "RecallConfig", "Hit", "IngestReport", "MODES"]


class SemanticMemory(StateMixin, IngestMixin, RecallMixin):
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
