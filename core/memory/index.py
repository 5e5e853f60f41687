"""The vector index of a memory: FAISS behind the FAISS verbs, keyed by SQLite chunk ids.

Exact inner-product search (``IDMap2,SQfp16``: float16, as the store keeps the vectors) while
the memory is small; once it holds ``train_at`` vectors, an ``IVF+PQ`` (fast-scan) index trained on the stored vectors, whose
candidates the memory re-ranks against the stored float16 embeddings. When the memory has
grown ``growth`` times past the size the index was trained at, it is trained again (IVF
lists and nprobe follow the size; see ``core.memory._retrain``). The index is derived
state: it can always be rebuilt from the store.
"""
from __future__ import annotations

import io
import json
import math
import re
import zipfile
from pathlib import Path

import numpy as np

from core._io import atomic_write_bytes
from core._validation import check_embeddings

# Exact search over float16 codes: the memory stores and indexes float16-rounded vectors, so
# fp16 storage loses nothing, halves the bytes every query scans (flat search is bound by them:
# 50k vectors 14.2 -> 8.4 ms a query at load 10, same ids and scores) and the RAM held.
EXACT = "IDMap2,SQfp16"
EXACT_FACTORIES = (EXACT, "IDMap2,Flat")  # "IDMap2,Flat": exact indexes saved before fp16
GROWTH = 8.0  # retrain once the memory holds this many times the vectors the index was trained at


MIN_LISTS = 64  # IVF lists of the smallest trained index: FAISS needs at least one training vector a list


def default_factory(n: int, dim: int = 384) -> str:
    """The trained index for ``n`` vectors: IVF lists (~4 sqrt n) over 4-bit fast-scan PQ codes.

    One 4-bit code per 6 dimensions (64 for 384-d: 32 bytes a vector, as 8-bit PQ32): the
    candidates are re-ranked against the stored float16 vectors, so the codes only have to
    bring the true neighbours into the re-ranked set, and 16-centroid PQ trains ~10x faster
    than 256-centroid PQ and searches with SIMD look-up tables. No OPQ rotation: it tripled
    the training time (235 s vs 44 s at 50k vectors, 1 thread) and the re-ranking makes up for it.

    Examples
    --------
    >>> default_factory(1_000_000)
    'IVF2048,PQ64x4fs'
    >>> default_factory(2_048)
    'IVF256,PQ64x4fs'
    """
    nlist = int(min(2048, max(MIN_LISTS, 2 ** round(math.log2(4 * math.sqrt(max(n, 1)))))))
    m = dim // 6 if dim % 6 == 0 and (dim // 6) % 2 == 0 else (32 if dim % 32 == 0 else 16)
    return f"IVF{nlist},PQ{m}x4fs"


def _quiet_clustering(ivf) -> None:
    """No "WARNING clustering N points to M centroids: please provide at least ..." from FAISS: a memory trains
    when it holds ``train_at`` vectors (64 at least, one a list), fewer than FAISS's 39 a centroid for its 64
    lists and 16-code PQ up to 2,496 vectors, and ~4 sqrt(n) lists ask for more up to ~40k. The candidates are
    re-ranked against the stored vectors, so the lists need not be well filled; FAISS printed one line a PQ
    sub-quantizer, 65 lines at train_at=64 on every (re)training. The count only gates that message (FAISS's
    own limit, at least one vector a centroid, still holds)."""
    if ivf is None:
        return
    ivf.cp.min_points_per_centroid = 1
    pq = getattr(ivf, "pq", None)
    if pq is not None:
        pq.cp.min_points_per_centroid = 1


def default_nprobe(factory: str) -> int:
    """IVF lists visited per query for a factory string: 1/16 of the lists, at least 8.

    On 100k real sentence embeddings (MiniLM, IVF1024 trained at 50k, re-rank 32 x k) the
    lists visited, not the re-rank depth, bound `similar`'s 10-recall@10 against exact search:
    1/64 of the lists .839, 1/32 .899, 1/16 .941, 1/8 .966; re-rank 64 x k with 1/64: .840.
    Clustered synthetic vectors (.986 at 1/64) hid this. 1/16 costs ~0.1-0.4 ms at 100k.

    Examples
    --------
    >>> default_nprobe("IVF2048,PQ64x4fs"), default_nprobe("IDMap2,Flat")
    (128, 0)
    """
    m = re.search(r"IVF(\d+)", factory)
    return 0 if m is None else max(8, int(m.group(1)) // 16)


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
    nprobe : int, optional
        IVF lists visited per query (trained index only); default :func:`default_nprobe`
        of the trained factory (grows with the IVF lists).
    opq_iterations : int, default=8
        OPQ rotation/PQ alternations when training (FAISS defaults to 50: minutes at scale).
    growth : float, default=8.0
        A trained index holding ``growth`` times the vectors it was trained at asks to be
        trained again (:meth:`needs_training`); ``0`` never retrains.

    Attributes
    ----------
    index_ : faiss.Index
    factory_ : str
        Factory string of ``index_``.
    trained_on_ : int
        Vectors the memory held when ``index_`` was trained (0 while exact).
    """

    def __init__(self, dim: int = 384, factory: str | None = None, train_at: int = 50_000,
                 nprobe: int | None = None, opq_iterations: int = 8, growth: float = GROWTH):
        self.dim = dim
        self.opq_iterations = opq_iterations
        self.factory = factory
        self.train_at = train_at
        self.nprobe = nprobe
        self.growth = growth
        self._reset()

    def _reset(self) -> None:
        import faiss

        self.index_ = faiss.index_factory(self.dim, EXACT, faiss.METRIC_INNER_PRODUCT)
        self.factory_ = EXACT
        self.trained_on_ = 0
        self._removed = None  # ids removed while a retrain is being built (see record_removals)

    @property
    def ntotal(self) -> int:
        return int(self.index_.ntotal)

    @property
    def is_exact(self) -> bool:
        return self.factory_ in EXACT_FACTORIES

    def needs_training(self, n_total: int) -> bool:
        """True when the exact index should give way to a trained one for ``n_total`` vectors,
        or a trained index has been outgrown (``growth`` times its training size)."""
        if self.is_exact:
            return n_total >= self.train_at
        return self.needs_retraining(n_total)

    def needs_retraining(self, n_total: int) -> bool:
        """True when this trained index was trained at under ``n_total / growth`` vectors."""
        return (not self.is_exact and self.growth > 0
                and n_total >= self.growth * max(self.trained_on_, 1))

    def train(self, X, n_total: int | None = None, cancel=None, in_child: bool | None = None):
        """Replace the index by an empty trained one (``factory`` or the default for ``n_total``); returns self.

        ``X`` is the training sample; ``n_total`` the memory's size now (default ``len(X)``),
        which sizes the IVF lists and is kept as ``trained_on_``. A sample of ``CHILD_AT`` rows or
        more (``in_child`` forces it either way) is trained in a child process, which Ctrl-C or
        the ``cancel`` event (a ``threading.Event``) stops at once: then it returns None, the index unchanged.
        """
        import faiss

        from core.memory._train_child import CHILD_AT, train_in_child

        X = check_embeddings(X, self.dim, "X")
        n_total = int(n_total or X.shape[0])
        factory = self.factory or default_factory(n_total, self.dim)
        if in_child or (in_child is None and X.shape[0] >= CHILD_AT):
            blob = train_in_child(X, factory, n_total, self.opq_iterations, faiss.omp_get_max_threads(), cancel)
            if blob is None:
                return None
            index = faiss.deserialize_index(np.frombuffer(blob, dtype=np.uint8))
            self.index_, self.factory_, self.trained_on_ = index, factory, n_total
            self._apply_nprobe()
            return self
        index = faiss.index_factory(self.dim, factory, faiss.METRIC_INNER_PRODUCT)
        if isinstance(index, faiss.IndexPreTransform):  # OPQ: fewer alternations; re-ranking fixes the rest
            for i in range(index.chain.size()):
                vt = faiss.downcast_VectorTransform(index.chain.at(i))
                if isinstance(vt, faiss.OPQMatrix):
                    vt.niter = self.opq_iterations
                    vt.verbose = False
        ivf = faiss.try_extract_index_ivf(index)
        ivf = faiss.downcast_index(ivf) if ivf is not None else None
        if isinstance(ivf, faiss.IndexIVFPQ):  # 8-bit PQ: index_factory turns on polysemous training, a
            ivf.do_polysemous_training = False  # Hamming-search reordering we never use (30-37 s of IVF16,PQ8)
        _quiet_clustering(ivf)
        index.train(X)
        self.index_, self.factory_, self.trained_on_ = index, factory, n_total
        self._apply_nprobe()
        return self

    @property
    def nprobe_(self) -> int:
        """IVF lists visited per query: ``nprobe`` or the default for the factory."""
        return int(self.nprobe) if self.nprobe else default_nprobe(self.factory_)

    def _apply_nprobe(self) -> None:
        import faiss

        if not self.is_exact:
            faiss.ParameterSpace().set_index_parameter(self.index_, "nprobe", self.nprobe_)

    def record_removals(self) -> None:
        """From now on keep the ids removed (a retrain built beside replays them before its swap)."""
        self._removed = []

    def removed_since_record(self) -> np.ndarray:
        return np.concatenate(self._removed) if self._removed else np.zeros(0, dtype=np.int64)

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

        ids = np.ascontiguousarray(ids, dtype=np.int64).ravel()
        if not ids.size:
            return 0
        if self._removed is not None:
            self._removed.append(ids.copy())
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
        meta = json.dumps({**header, "factory": self.factory_, "dim": self.dim, "format": 1,
                           "trained_on": self.trained_on_})
        buf = io.BytesIO()
        np.savez(buf, index=blob, header=np.frombuffer(meta.encode("utf-8"), dtype=np.uint8))
        atomic_write_bytes(Path(path), buf.getvalue())

    @classmethod
    def read(cls, path, nprobe: int | None = None, train_at: int = 50_000, factory: str | None = None,
             growth: float = GROWTH):
        """(index, header) from a file written by :meth:`write`; ``ValueError`` if unreadable.

        A trained index written before ``trained_on`` was recorded counts as trained at ``train_at``.
        """
        import faiss

        try:
            with np.load(path, allow_pickle=False) as z:
                blob = z["index"]
                header = json.loads(bytes(z["header"]).decode("utf-8"))
            if header.get("format") != 1:
                raise ValueError(f"unknown index format {header.get('format')!r}")
            self = cls(int(header["dim"]), factory, train_at, nprobe, growth=growth)
            self.index_ = faiss.deserialize_index(blob)
            self.factory_ = header["factory"]
            self.trained_on_ = 0 if self.is_exact else int(header.get("trained_on") or train_at)
        except (OSError, KeyError, ValueError, RuntimeError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{path}: unreadable vector index ({exc})") from None
        self._apply_nprobe()
        return self, header
