"""The vector index of a memory: FAISS behind the FAISS verbs, keyed by SQLite chunk ids.

Exact inner-product search (``IDMap2,Flat``) while the memory is small; once it holds
``train_at`` vectors, an ``OPQ+IVF+PQ`` index trained on the stored vectors, whose
candidates the memory re-ranks against the stored float16 embeddings. The index is
derived state: it can always be rebuilt from the store.
"""
from __future__ import annotations

import io
import json
import zipfile
import math
from pathlib import Path

import numpy as np

from core._io import atomic_write_bytes
from core._validation import check_embeddings

EXACT = "IDMap2,Flat"


def default_factory(n: int, dim: int = 384) -> str:
    """The trained index for ``n`` vectors: OPQ rotation, IVF lists (~4 sqrt n), 32-byte PQ codes.

    Examples
    --------
    >>> default_factory(1_000_000)
    'OPQ32,IVF2048,PQ32'
    """
    nlist = int(min(2048, max(64, 2 ** round(math.log2(4 * math.sqrt(max(n, 1)))))))
    m = 32 if dim % 32 == 0 else 16
    return f"OPQ{m},IVF{nlist},PQ{m}"


class VectorIndex:
    """A FAISS index with int64 ids (the chunks' SQLite rowids), inner-product metric.

    Parameters
    ----------
    dim : int, default=384
    factory : str, optional
        A FAISS index factory string for the trained index; default
        :func:`default_factory` of the training-set size.
    train_at : int, default=50_000
        Vectors needed before the exact index is replaced by a trained one.
    nprobe : int, default=32
        IVF lists visited per query (trained index only).
    opq_iterations : int, default=8
        OPQ rotation/PQ alternations when training (FAISS defaults to 50: minutes at scale).

    Attributes
    ----------
    index_ : faiss.Index
    factory_ : str
        Factory string of ``index_``.
    """

    def __init__(self, dim: int = 384, factory: str | None = None, train_at: int = 50_000, nprobe: int = 32,
                 opq_iterations: int = 8):
        self.dim = dim
        self.opq_iterations = opq_iterations
        self.factory = factory
        self.train_at = train_at
        self.nprobe = nprobe
        self._reset()

    def _reset(self) -> None:
        import faiss

        self.index_ = faiss.index_factory(self.dim, EXACT, faiss.METRIC_INNER_PRODUCT)
        self.factory_ = EXACT

    @property
    def ntotal(self) -> int:
        return int(self.index_.ntotal)

    @property
    def is_exact(self) -> bool:
        return self.factory_ == EXACT

    def needs_training(self, n_total: int) -> bool:
        """True when the exact index should give way to a trained one for ``n_total`` vectors."""
        return self.is_exact and n_total >= self.train_at

    def train(self, X) -> "VectorIndex":
        """Replace the index by an empty trained one (``factory`` or the default for len(X))."""
        import faiss

        X = check_embeddings(X, self.dim, "X")
        factory = self.factory or default_factory(X.shape[0], self.dim)
        index = faiss.index_factory(self.dim, factory, faiss.METRIC_INNER_PRODUCT)
        if isinstance(index, faiss.IndexPreTransform):  # OPQ: fewer alternations; re-ranking fixes the rest
            for i in range(index.chain.size()):
                vt = faiss.downcast_VectorTransform(index.chain.at(i))
                if isinstance(vt, faiss.OPQMatrix):
                    vt.niter = self.opq_iterations
                    vt.verbose = False
        index.train(X)
        self.index_, self.factory_ = index, factory
        self._apply_nprobe()
        return self

    def _apply_nprobe(self) -> None:
        import faiss

        if not self.is_exact:
            faiss.ParameterSpace().set_index_parameter(self.index_, "nprobe", self.nprobe)

    def add(self, ids, X) -> None:
        """Add vectors under the given int64 ids (no validation of duplicates: ids come from SQLite)."""
        X = check_embeddings(X, self.dim, "X")
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if ids.shape != (X.shape[0],):
            raise ValueError(f"ids must have shape ({X.shape[0]},), got {ids.shape}")
        self.index_.add_with_ids(X, ids)

    def remove(self, ids) -> int:
        """Remove the ids present; returns how many were removed."""
        import faiss

        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if not ids.size:
            return 0
        return int(self.index_.remove_ids(faiss.IDSelectorBatch(ids)))

    def search(self, X, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(D, I) of the ``k`` best inner products per query row; missing results are ``-1``."""
        X = check_embeddings(X, self.dim, "queries")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if self.ntotal == 0:
            return (np.full((X.shape[0], k), -np.inf, dtype=np.float32),
                    np.full((X.shape[0], k), -1, dtype=np.int64))
        return self.index_.search(X, k)

    # -- persistence --------------------------------------------------------------------
    def write(self, path, header: dict) -> None:
        """Write index + JSON header in one ``.npz`` file, atomically."""
        import faiss

        blob = faiss.serialize_index(self.index_)
        meta = json.dumps({**header, "factory": self.factory_, "dim": self.dim, "format": 1})
        buf = io.BytesIO()
        np.savez(buf, index=blob, header=np.frombuffer(meta.encode("utf-8"), dtype=np.uint8))
        atomic_write_bytes(Path(path), buf.getvalue())

    @classmethod
    def read(cls, path, nprobe: int = 32, train_at: int = 50_000, factory: str | None = None):
        """(index, header) from a file written by :meth:`write`; ``ValueError`` if unreadable."""
        import faiss

        try:
            with np.load(path, allow_pickle=False) as z:
                blob = z["index"]
                header = json.loads(bytes(z["header"]).decode("utf-8"))
            if header.get("format") != 1:
                raise ValueError(f"unknown index format {header.get('format')!r}")
            self = cls(int(header["dim"]), factory, train_at, nprobe)
            self.index_ = faiss.deserialize_index(blob)
            self.factory_ = header["factory"]
        except (OSError, KeyError, ValueError, RuntimeError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{path}: unreadable vector index ({exc})") from None
        self._apply_nprobe()
        return self, header
