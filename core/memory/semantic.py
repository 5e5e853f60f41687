"""`SemanticMemory`: ingest document streams, store them, and recall by similarity and association.

A memory is a folder::

    memory.sqlite      source of truth (documents, chunks, codes, float16 embeddings, forget log)
    state.json         which derived files are current, and the last chunk/document they include
    index.<n>.npz      the FAISS vector index                       (derived, rebuilt if missing)
    network.<n>.npz    the Hebbian network over the code nodes      (derived, rebuilt if missing)
    mycelial.json      marks the folder as a memory (format version); only files named above are ever deleted
    write.lock         held (flock) by the one process writing; a second writer waits, then fails

Derived state is saved after each ingest and on close; on open, a lagging or missing file
is caught up from SQLite (new chunks added, forgotten documents replayed from the forget
log), so a crash at any point loses no committed document.
"""
from __future__ import annotations

import hashlib
import shlex
import threading
import warnings

import numpy as np

from core.memory._folder import FolderMixin
from core.memory._forget import ForgetMixin
from core.memory._ingest import IngestMixin
from core.memory._recall import RecallMixin
from core.memory._state import StateMixin
from core.memory._writing import WritingMixin
from core.memory.associate import AssociateMixin
from core.memory.learning import LearningMixin
from core._io import folder_bytes
from core._validation import check_flags
from core.memory.chunking import MAX_TOKENS
from core.memory.lock import WriteLock
from core.memory.records import Fields
from core.memory.store import Store
from core.memory._checks import MAX_K, check_doc_ids, check_folder, check_k as _check_k, check_open, check_source
from core.memory._checks import check_network_sizes
from core.memory._checks import check_parts as _check_parts, check_settings as _check_settings
from core.memory._checks import deprecated as _deprecated, renamed as _renamed
from core.memory.types import MODES, Hit, IngestReport, IngestWarning, RecallConfig

__all__ = ["SemanticMemory", "RecallConfig", "Hit", "IngestReport", "IngestWarning", "MODES", "MAX_K"]

CHUNKS_PER_COMMIT = 1024  # chunks embedded and committed per ingest transaction (SemanticMemory's chunks_per_commit)
BATCH_SIZE = CHUNKS_PER_COMMIT  # its former name, kept for scripts that import it


def codec_fingerprint(codec) -> str:
    """The codes ``codec`` gives 64 fixed random unit vectors, hashed: other weights, other codes."""
    probe = np.random.default_rng(0).standard_normal((64, 384)).astype(np.float32)
    probe /= np.linalg.norm(probe, axis=1, keepdims=True)
    return hashlib.sha1(np.ascontiguousarray(codec.encode(probe)).tobytes()).hexdigest()


class SemanticMemory(FolderMixin, WritingMixin, ForgetMixin, StateMixin, IngestMixin, RecallMixin,
                     AssociateMixin, LearningMixin):
    """An associative memory in a folder (created if missing, reopened if present).

    Parameters
    ----------
    folder : str or Path
    embedder : TextEmbedder, optional
        Default ``TextEmbedder()`` (all-MiniLM-L6-v2, cached).
    codec : MycelialVQVAE or NumpyVQVAE, optional
        Default: the shipped weights in numpy (`load_default_codec`), the same codes as torch's.
    network_config : MycelialConfig, optional
        For a new memory; a reopened memory keeps its saved network.
    recall_config : RecallConfig, optional
    train_at : int, default=50_000
        Chunks needed before the exact vector index gives way to OPQ+IVF+PQ.
    nprobe : int, optional
        IVF lists visited per query; default 1/16 of the lists (they grow with the memory).
    rerank : int, default=32
        With a trained index, ``rerank * k`` candidates are re-scored with the stored
        float16 vectors. 4-bit fast-scan codes rank the near-ties of a large memory coarsely:
        at 1M synthetic chunks 10-recall@10 was .904 with 16, .994 with 32 (+0.4 ms p50).
    max_tokens : int, default=128
        Chunk size limit in word pieces, 7 to 256 (what the model reads).
    chunks_per_commit : int, default=1024
        Chunks embedded and committed per transaction during ingest (formerly ``batch_size``, still
        accepted by keyword with a DeprecationWarning: the store's own ``rows_per_statement`` had the
        same name and meant rows per SQL statement). Larger batches keep both
        of the model's streams busy and commit (fsync) less often: 256 -> 1,024 made a 100k-chunk
        ingest's model and engine faster (README, section 4); a crash loses at most one batch's
        work, which the next ingest of the same input redoes.
    read_only : bool, default=False
        Never write to the folder (SQLite opened ``mode=ro``; derived state caught up in
        memory only); ingest and forget raise. Implied when the folder is not writable.

    Examples
    --------
    >>> mem = SemanticMemory("my_memory")                                # doctest: +SKIP
    >>> mem.ingest(["notes/", {"id": "q1", "text": "Rush is a band."}])  # doctest: +SKIP
    >>> mem.recall("which band?", k=5, mode="hybrid")[0].doc_id          # doctest: +SKIP
    'q1'
    """

    def __init__(self, folder, embedder=None, codec=None, network_config=None, recall_config=None,
                 train_at: int = 50_000, nprobe: int | None = None, rerank: int = 32,
                 max_tokens: int = MAX_TOKENS, chunks_per_commit: int = CHUNKS_PER_COMMIT, read_only: bool = False,
                 batch_size: int | None = None):
        _check_parts(embedder, codec, recall_config, network_config)
        self.folder = check_folder(folder)
        check_flags(read_only=read_only)
        self.read_only = bool(read_only)
        self.unwritable = False  # read-only because the folder is (a read-only mount), not by choice
        self.unwritable_file = None  # or because this file in it is (memory.sqlite without write permission)
        self.embedder = embedder
        self.codec = codec
        self.network_config = network_config
        self.recall_config = recall_config or RecallConfig()
        self.train_at = train_at
        self.nprobe = nprobe
        self.rerank = rerank
        self.max_tokens = max_tokens
        if batch_size is not None:
            chunks_per_commit = _renamed("batch_size", batch_size, "chunks_per_commit", chunks_per_commit,
                                         CHUNKS_PER_COMMIT)
        self.chunks_per_commit = chunks_per_commit
        _check_settings(train_at=train_at, chunks_per_commit=chunks_per_commit, rerank=rerank, nprobe=nprobe,
                        max_tokens=max_tokens)
        self._lock = threading.RLock()
        self._wlock, self._seen, self._saved = None, None, None
        self._open()

    @property
    def batch_size(self) -> int:
        """Deprecated name of ``chunks_per_commit``."""
        _deprecated("SemanticMemory.batch_size", "chunks_per_commit")
        return self.chunks_per_commit

    @batch_size.setter
    def batch_size(self, value: int) -> None:
        _deprecated("SemanticMemory.batch_size", "chunks_per_commit")
        _check_settings(chunks_per_commit=value)
        self.chunks_per_commit = value

    # -- opening, derived state -------------------------------------------------------
    def _open(self) -> None:
        self._claim_folder()
        if self.read_only:
            self.store_ = Store(self.folder / "memory.sqlite", read_only=True)
            self._seen = self.store_.last_ids()  # what refresh() compares with
            self._open_store()
            return
        self._wlock = WriteLock(self.folder)
        with self._writing():
            self.store_ = Store(self.folder / "memory.sqlite")
            self._open_store()

    def _open_store(self) -> None:
        from core.embedding import bind_memory_embedder
        from core.memory._ingest import bind_title_prefix

        # one embedding backend per memory: a mismatch is a clear error, never a silent mix
        self.embedder = bind_memory_embedder(self.store_, self.embedder, self.folder, self.read_only)
        self.title_prefix_ = bind_title_prefix(self.store_, self.read_only)
        default_codec = self.codec is None
        if default_codec:
            from core.reasoning.mycelial.numpy_codec import load_default_codec

            self.codec = load_default_codec()
        heads, size = int(self.codec.num_heads), int(self.codec.codebook_size)
        check_network_sizes(self.network_config, self.codec)  # the default codec is known only now
        fingerprint = codec_fingerprint(self.codec)
        saved = self.store_.get_setting("codec")
        if default_codec and saved is not None and saved.get("fingerprint") != fingerprint:
            from core.reasoning.mycelial import MycelialVQVAE  # numpy rounded a probe apart from torch here

            torch_codec = MycelialVQVAE.load_default()
            if codec_fingerprint(torch_codec) == saved.get("fingerprint"):
                self.codec, fingerprint = torch_codec, saved["fingerprint"]
        if saved is not None and (saved["num_heads"], saved["codebook_size"]) != (heads, size):
            raise ValueError(f"{self.folder} was built with {saved['num_heads']} heads x "
                             f"{saved['codebook_size']} codes; the codec has {heads} x {size}")
        if saved is not None and saved.get("fingerprint") != fingerprint and self.read_only:
            raise ValueError(f"{self.folder} was encoded by other VQ-VAE weights; re-encode its chunks once "
                             f"with `mycelial repair --memory {shlex.quote(str(self.folder))}` "
                             f"(any writing command does it)")
        if saved is not None and saved.get("fingerprint") != fingerprint:
            self._reencode()  # new VQ-VAE weights: codes come again from the stored embeddings
        if (saved is None or saved.get("fingerprint") != fingerprint) and not self.read_only:
            with self.store_.atomic():
                self.store_.set_setting("codec", {"num_heads": heads, "codebook_size": size,
                                                  "fingerprint": fingerprint})
        self._load_derived()
        if not self.read_only:
            self._drop_dead_reinforcements()  # ids an older version's crash left in events

    def close(self) -> None:
        """Save derived state (if it changed) and close the store."""
        if getattr(self, "store_", None) is None or self.store_._conn is None:
            return
        from core.memory._retrain import finish_retrain

        finish_retrain(self)  # the build in flight is swapped in and saved first; no further one starts
        if not self.read_only:
            self.save(only_if_changed=True)
        self.store_.close()
        self._closed = True

    # -- writes hold the inter-process lock ---------------------------------------------
    def ingest(self, source, progress: bool = False, client=None, partitions: int | None = None,
               fields=None) -> IngestReport:
        check_source(source)
        if not callable(progress):
            check_flags(progress=progress)
        fields = Fields.of(fields)  # a bad mapping is refused before the write lock is taken
        with self._writing():
            report = super().ingest(source, progress, client, partitions, fields)
        if any(not getattr(e, "skipped", False) for e in report.errors):  # a notebook's typo in a path ingested
            # nothing without a visible word (a file a folder does not read is a skip, no problem)
            warnings.warn(report.problems_line(), IngestWarning, stacklevel=2)
        return report

    ingest.__doc__ = IngestMixin.ingest.__doc__

    def ingest_vectors(self, ids, embeddings, texts=None, batch_size: int = 50_000) -> IngestReport:
        """Store your own 384-d embeddings as one-chunk documents (ids become doc ids).

        A known id whose vector moved (a component by more than ``VECTOR_ATOL`` = 1e-3 at unit
        length) is replaced as `ingest` replaces an edited document: the old chunk leaves SQLite,
        the index and the network exactly, in the same transaction that stores the new one
        (``IngestReport.replaced``); the same vector again is ``unchanged``. The new version is
        stored as given (its text, or none).

        Parameters
        ----------
        ids : sequence of str or int, unique
        embeddings : array-like (n, 384) float
            Normalised to unit length here (recall uses inner products).
        texts : sequence of str, optional
            Stored with the chunks and shown in hits; phrases are extracted from them.
        batch_size : int, default=50_000
            Vectors encoded and committed in one SQLite transaction.
        """
        from core.memory._vectors import ingest_vectors

        with self._writing():
            return ingest_vectors(self, ids, embeddings, texts, batch_size)

    # -- bounds on recall ---------------------------------------------------------------
    def recall_vector(self, q, k: int = 10, *args, **kwargs):
        _check_k(k)
        self._fresh()  # recall and recall_batch come here too: each query sees what other processes committed
        return super().recall_vector(q, k, *args, **kwargs)

    recall_vector.__doc__ = RecallMixin.recall_vector.__doc__

    def recall(self, query, k: int = 10, *args, **kwargs):
        _check_k(k)
        return super().recall(query, k, *args, **kwargs)

    recall.__doc__ = RecallMixin.recall.__doc__

    def recall_batch(self, queries, k: int = 10, *args, **kwargs):
        _check_k(k)
        return super().recall_batch(queries, k, *args, **kwargs)

    recall_batch.__doc__ = RecallMixin.recall_batch.__doc__

    def recall_each(self, queries, k: int = 10, *args, **kwargs):
        _check_k(k)
        return super().recall_each(queries, k, *args, **kwargs)

    recall_each.__doc__ = RecallMixin.recall_each.__doc__

    def __repr__(self) -> str:
        """``<SemanticMemory '/data/mem1': 145 documents, 6,216 chunks, read-only>`` (it was the default
        ``<... object at 0x7f...>``): which folder, how big, whether it may write; never an error."""
        folder = getattr(self, "folder", "?")
        if getattr(self, "_closed", False) or getattr(self, "store_", None) is None:
            return f"<SemanticMemory {str(folder)!r} (closed)>"
        try:
            size = f"{self.store_.count_documents():,} documents, {len(self.graph_):,} chunks"
        except Exception:  # noqa: BLE001 - a repr must not raise (a debugger shows it for a damaged store too)
            size = "size unknown"
        return f"<SemanticMemory {str(folder)!r}: {size}{', read-only' if self.read_only else ''}>"

    def __enter__(self):
        check_open(self)  # a second `with mem:` entered, then every call said "store is closed"
        return self

    def __exit__(self, exc_type, *exc):
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
            from core.memory._retrain import cancel_retrain

            cancel_retrain(self)  # Ctrl-C: close waits for the build in flight to stop, not for the whole build
        self.close()

    # -- reading ----------------------------------------------------------------------

    def documents(self, prefix: str | None = None, limit: int | None = None, offset: int = 0,
                  with_meta: bool = False) -> list[dict]:
        """``{"id", "title", "chunks", "source", "root"}`` of the documents, sorted by id (`mycelial list`):
        ``prefix`` keeps ids starting with it, ``limit``/``offset`` take a page, ``with_meta`` adds ``"meta"``.
        The CLI and HTTP listed them; Python had to import ``list_documents`` from a private module."""
        from core.memory.documents import list_documents

        check_open(self)
        if prefix is not None and not isinstance(prefix, str):
            raise TypeError(f"prefix must be a string or None, got {type(prefix).__name__}")
        for name, value, least in (("limit", limit, 1), ("offset", offset, 0)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))
                                      or value < least):
                raise ValueError(f"{name} must be an integer of at least {least}, got {value!r}")
        check_flags(with_meta=with_meta)
        return list_documents(self, prefix, limit, int(offset), with_meta)

    def document(self, doc_id) -> dict | None:
        """One document (`mycelial get`): ``{"id", "title", "source", "meta", "chunks": [{"chunk_id", "text"}]}``
        with its chunks in reading order; ``None`` when the memory holds no such id."""
        from core.memory.documents import get_document

        check_open(self)
        (key,) = check_doc_ids([doc_id], "doc_id")
        return get_document(self, key)

    # -- recall -----------------------------------------------------------------------

    def stats(self) -> dict:
        """Counts of documents and chunks, index kind, network size, bytes on disk."""
        check_open(self)
        self._fresh()  # index_vectors and network: what recall now uses, caught up with other processes
        net = self.network_.stats()
        disk = folder_bytes(self.folder)  # files may come and go while another process writes
        return {"folder": str(self.folder), "documents": self.store_.count_documents(),
                "chunks": self.store_.count_chunks(), "index": self.index_.factory_,
                "index_vectors": self.index_.ntotal, "phrases": self.store_.count_concepts(),
                "network": {k: v for k, v in net.items() if isinstance(v, (int, float, str))},
                "bytes_on_disk": disk}
