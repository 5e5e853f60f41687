"""`VectorFile`: a memory-mapped float16 copy of the stored embeddings, one row per chunk id.

Re-ranking reads a few hundred stored vectors a query; from SQLite that is a B-tree lookup
and a Python row each (~1.7 ms of a 9 ms hybrid recall at 100k chunks), from this file a
numpy gather. SQLite stays the source of truth: the file is derived state any writable
store brings up to date lazily (``vectors.f16`` beside ``memory.sqlite``, 768 bytes a chunk
id on disk), and every row it cannot vouch for is read from SQLite instead:

- rows are written only from committed SQLite rows, then fsynced, and only then does the
  header's ``upto`` (the last chunk id covered) move: a crash leaves rows the header does not
  count, never a counted row that is not on disk. Chunk ids are never reused (AUTOINCREMENT)
  and an embedding never changes, so a written row stays right.
- a forgotten chunk's row is zeroed by the forget itself (``zero``), or on the next catch-up
  from the forget log (its ``forget`` mark); when the log was pruned past the mark, or the
  store is not the one the file was built from (uuid, a lower last id, a different last
  row), every row is written again. The file never shrinks, so another process's map of it
  stays valid.
- an all-zero row (a gap, a forgotten or damaged embedding) is read from SQLite; the blocks
  that hold only such rows are punched out (`_holes`): the file's apparent size grows with
  every chunk id ever made, its disk use only with the live rows.

Writers serialise on an ``flock`` of the file (processes) and a lock (threads); readers
take no lock. A read-only store only reads the file when it exists and is its own.
"""
from __future__ import annotations

import fcntl
import mmap
import os
import re
import struct
import threading
from pathlib import Path

import numpy as np

from core.log import get_logger
from core.memory._holes import punch_zero_blocks
from core.memory._recall_kernels import f32_rows

log = get_logger("memory.vectors")

MAGIC = b"MYCVEC01"
HEADER = 64  # magic 8 | dim u32 | pad u32 | store uuid 32 | upto i64 (48) | forget mark i64 (56)
_UPTO, _FORGET = 48, 56
_F32_OF_F16 = np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float32)  # exact
STEP = 65_536  # rows a catch-up reads and writes at a time

# the vector file's creation temporary (64 bytes) of a process killed before it linked it in place
_TMP = re.compile(r"\.vectors\.f16\.(\d+)\.\d+\.tmp")


def stale_tmp(name: str) -> bool:
    """``name`` is the creation temporary (`_create`) of a process gone: the memory's save deletes it."""
    m = _TMP.fullmatch(name)
    if not m:
        return False
    try:
        os.kill(int(m.group(1)), 0)
    except ProcessLookupError:
        return True
    except (OSError, OverflowError):
        return False
    return False



class VectorFile:
    """float16 rows by chunk id, memory-mapped; see the module docstring."""

    def __init__(self, path, uuid: str, dim: int, writable: bool):
        self.path, self.dim, self.writable = Path(path), int(dim), bool(writable)
        self.uuid = (uuid or "").encode("ascii")[:32].ljust(32, b"\0")
        self.row_bytes = 2 * self.dim
        self._lock = threading.Lock()
        self._map, self._rows = None, None
        if not self.path.exists():
            if not writable:
                raise FileNotFoundError(self.path)
            self._create()
        self._fd = os.open(self.path, os.O_RDWR if writable else os.O_RDONLY)
        try:
            head = os.pread(self._fd, HEADER, 0)
            if len(head) < HEADER or head[:8] != MAGIC or struct.unpack_from("<I", head, 8)[0] != self.dim:
                raise ValueError(f"{self.path} is not a vector file of {self.dim}-d rows")
            if head[16:48] != self.uuid:
                if not writable:
                    raise ValueError(f"{self.path} belongs to another store")
                self._reset()
        except BaseException:
            os.close(self._fd)
            raise

    def _create(self) -> None:
        """A new file holding only its header, linked into place atomically (never replaces one)."""
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        head = bytearray(HEADER)
        head[:8] = MAGIC
        struct.pack_into("<I", head, 8, self.dim)
        head[16:48] = self.uuid
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, bytes(head))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, self.path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            os.unlink(tmp)

    # -- header -----------------------------------------------------------------------
    def _marks(self) -> tuple[int, int]:
        return struct.unpack("<qq", os.pread(self._fd, 16, _UPTO))

    def _set_marks(self, upto: int, forget: int) -> None:
        os.pwrite(self._fd, struct.pack("<qq", int(upto), int(forget)), _UPTO)

    def _reset(self) -> None:
        """Count no row (rows are rewritten by the next catch-up); the file keeps its size."""
        os.pwrite(self._fd, self.uuid, 16)
        self._set_marks(0, -1)
        os.fsync(self._fd)

    # -- reads ------------------------------------------------------------------------
    def covered(self) -> int:
        """The last chunk id the file counts (read from the map: no system call)."""
        return struct.unpack_from("<q", self._map, _UPTO)[0] if self._map is not None else self._marks()[0]

    def rows(self, ids: np.ndarray, f32: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(float16 rows (n, dim), bool: the row is in the file) for chunk ids; missing rows are 0.

        ``f32``: the rows as float32 (exactly), gathered and converted in one pass when every
        id is in the file's range."""
        upto = self.covered() if self._map is not None else -1
        if self._rows is None or len(self._rows) <= upto:
            size = os.fstat(self._fd).st_size
            upto = min(self._marks()[0], (size - HEADER) // self.row_bytes - 1)
            self._remap(size)
        upto = min(upto, len(self._rows) - 1)
        if len(ids) and ids.min() > 0 and ids.max() <= upto:
            if f32:
                return f32_rows(self._rows.view(np.uint16), ids, _F32_OF_F16)
            out, have = self._rows[ids], np.ones(len(ids), dtype=bool)
        else:
            have = (ids > 0) & (ids <= upto)
            out = np.zeros((len(ids), self.dim), dtype=np.float16)
            out[have] = self._rows[ids[have]]
        have &= out.view(np.uint64).any(axis=1)  # on the bits: float16 compares are emulated, ~8x slower
        return (np.take(_F32_OF_F16, out.view(np.uint16)) if f32 else out), have

    def _remap(self, size: int) -> None:
        n = (size - HEADER) // self.row_bytes
        if n <= 0:
            self._rows = np.zeros((0, self.dim), dtype=np.float16)
            return
        self._map = mmap.mmap(self._fd, HEADER + n * self.row_bytes, prot=mmap.PROT_READ)
        try:
            self._map.madvise(mmap.MADV_RANDOM)  # a query reads scattered rows: no read-ahead
        except (AttributeError, OSError):
            pass
        self._rows = np.frombuffer(self._map, dtype=np.float16, count=n * self.dim, offset=HEADER).reshape(n, self.dim)

    # -- writes -----------------------------------------------------------------------
    def catch_up(self, store, step: int | None = None) -> None:
        """Bring the file up to ``store``: forgets first, then new chunks (all of them: ~1 s a
        million rows; ingest keeps it within 4,096 rows, see ``keep_up``)."""
        if not self.writable:
            return
        with self._lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                self._catch_up(store, step or STEP)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _catch_up(self, store, step: int) -> None:
        upto, fmark = self._marks()
        last = store.last_ids()
        if fmark < 0 or not self._still_valid(store, upto, last["chunk"]):
            self._set_marks(0, -1)
            os.fsync(self._fd)
            upto, fmark = 0, last["forget"]  # rows written from now on reflect every forget so far
        elif last["forget"] > fmark:
            log = store.forget_log(fmark)
            seqs = [e["seq"] for e in log]
            removed = np.concatenate([e["removed"] for e in log] or [np.zeros(0, dtype=np.int64)])
            if seqs != list(range(fmark + 1, last["forget"] + 1)):  # pruned before this file saw them
                self._set_marks(0, -1)
                os.fsync(self._fd)
                upto, fmark = 0, last["forget"]
            else:
                self._zero(removed[removed <= upto])
                fmark = last["forget"]
                self._set_marks(upto, fmark)
        done = upto
        while done < last["chunk"]:  # in slices of ``step`` rows (bounded buffers)
            top = min(last["chunk"], done + step)
            buf = np.zeros((top - done, self.dim), dtype=np.float16)
            # one copy of every well-formed row (a damaged one stays zero: read from SQLite)
            ok = [(cid, blob) for cid, blob in _range(store, done, top)
                  if isinstance(blob, bytes) and len(blob) == self.row_bytes]
            if ok:
                at = np.fromiter((cid for cid, _ in ok), dtype=np.int64, count=len(ok)) - (done + 1)
                buf[at] = np.frombuffer(b"".join([blob for _, blob in ok]), dtype=np.float16).reshape(len(ok), self.dim)
            data = buf.tobytes()
            os.pwrite(self._fd, data, HEADER + (done + 1) * self.row_bytes)
            if len(ok) < top - done:  # gaps (forgotten chunks): their whole zero blocks take no disk
                punch_zero_blocks(self._fd, HEADER + (done + 1) * self.row_bytes, 0, data)
            done = top
        if done > upto:
            os.fsync(self._fd)  # rows on disk before the header counts them
        self._set_marks(done, fmark)

    def rewrite(self, store) -> None:
        """Write every row again from ``store`` (`repair`): the catch-up trusts the rows it counts, so a
        damaged one (flipped bytes) kept changing re-ranked scores. Readers meanwhile count no row: SQLite."""
        with self._lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                self._set_marks(0, -1)
                os.fsync(self._fd)
                self._catch_up(store, STEP)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _still_valid(self, store, upto: int, last_chunk: int) -> bool:
        """False when the store went back (restored from a backup) or its last counted row differs."""
        if upto == 0:
            return True
        if last_chunk < upto:
            return False
        row = _range(store, upto - 1, upto)
        if not row:
            return True  # forgotten: nothing to compare
        mine = os.pread(self._fd, self.row_bytes, HEADER + upto * self.row_bytes)
        return mine == row[0][1] or not any(mine)

    def _zero(self, ids: np.ndarray) -> None:
        zero = bytes(self.row_bytes)
        ids = np.unique(ids)
        for cid in ids.tolist():
            os.pwrite(self._fd, zero, HEADER + cid * self.row_bytes)
        if len(ids):
            os.fsync(self._fd)
            # the blocks now all zeros go back to the file system (ids are never reused: else the
            # file kept 768 B a chunk ever removed); runs of consecutive ids are checked at once
            for run in np.split(ids, np.flatnonzero(np.diff(ids) != 1) + 1):
                punch_zero_blocks(self._fd, HEADER + int(run[0]) * self.row_bytes,
                                  HEADER + (int(run[-1]) + 1) * self.row_bytes)

    def zero(self, ids, seq: int | None) -> None:
        """Zero the rows of chunks forgotten by forget-log entry ``seq``; moves the forget mark
        when it was the next one and is committed (``seq`` not None), else the next catch-up
        replays the log. A zero row is always safe: it is read from SQLite."""
        if not self.writable:
            return
        with self._lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                upto, fmark = self._marks()
                ids = np.asarray(ids, dtype=np.int64)
                self._zero(ids[ids <= upto])
                if seq is not None and fmark == seq - 1:
                    self._set_marks(upto, seq)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self._rows = None
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:  # a caller still holds a view: the map goes with it
                pass
            self._map = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _range(store, lo: int, hi: int) -> list[tuple]:
    """(id, embedding blob) of the chunks with ``lo < id <= hi``, in id order."""
    return store._reader.execute("SELECT id, embedding FROM chunks WHERE id > ? AND id <= ? ORDER BY id",
                                 (int(lo), int(hi))).fetchall()


def vector_file(store, create: bool = True) -> VectorFile | None:
    """The store's `VectorFile` (opened once), or None: an in-memory store, a read-only store
    without its own file, or a file that cannot be used (then SQLite serves every read)."""
    vf = getattr(store, "_vecfile", False)
    if vf is not False or store.path is None:
        return vf or None
    path = store.path.with_name("vectors.f16")
    if not create and not path.exists():
        return None
    try:
        vf = VectorFile(path, store.uuid, 384, writable=not store.read_only)
    except (OSError, ValueError) as exc:
        if not (store.read_only and isinstance(exc, FileNotFoundError)):
            log.warning("vector file %s not used (%s); re-ranking reads SQLite", path, exc)
        vf = None
    store._vecfile = vf
    if vf is not None and vf.writable:
        vf.catch_up(store)  # forgets a crash kept from the file, rows ingested since
    return vf


def rewrite(store) -> None:
    """`repair`: the store's vector file written again from SQLite, in place (another process's map of it
    stays valid); a file that is no vector file (0 bytes, a damaged header) is made anew."""
    if store.path is None or store.read_only:
        return
    vf = getattr(store, "_vecfile", False)
    if vf:
        vf.close()
    store._vecfile = False  # opened again below
    path = store.path.with_name("vectors.f16")
    try:
        vf = VectorFile(path, store.uuid, 384, writable=True)
    except ValueError:
        path.unlink(missing_ok=True)
        vf = VectorFile(path, store.uuid, 384, writable=True)
    vf.rewrite(store)
    store._vecfile = vf


def keep_up(store) -> None:
    """Write the rows committed batches added (ingest calls it every ``KEEP_UP_ROWS`` rows and
    on save), so the first recall after a large ingest does not pay for them (~1 s a million rows)."""
    vf = vector_file(store)
    if vf is not None and vf.writable:
        vf.catch_up(store)


def read_vectors(store, chunk_ids) -> tuple[np.ndarray, np.ndarray]:
    """``store.embeddings`` (the ids that exist, float32 rows, in the order given) from the
    vector file where it holds the row, from SQLite for the rest."""
    ids = np.asarray(chunk_ids, dtype=np.int64).ravel()
    vf = vector_file(store)
    if vf is None or not len(ids):
        return store.embeddings(ids)
    if vf.writable and int(ids.max()) > vf.covered():
        vf.catch_up(store)
    X, have = vf.rows(ids, f32=True)
    if not have.all():
        found, Y = store.embeddings(ids[~have])
        miss = np.flatnonzero(~have)
        got = np.isin(ids[miss], found)
        if len(found):  # rounded to float16 as the file would hold them
            pos = {c: i for i, c in enumerate(found.tolist())}
            X[miss[got]] = Y[[pos[c] for c in ids[miss[got]].tolist()]].astype(np.float16).astype(np.float32)
        have[miss[got]] = True
        ids, X = ids[have], X[have]
    return ids, X


def forgotten(store, removed, seq: int | None) -> None:
    """Zero the rows of chunks a forget removed, if the store has a vector file."""
    vf = vector_file(store, create=False)
    if vf is not None and len(removed):
        vf.zero(removed, seq)
