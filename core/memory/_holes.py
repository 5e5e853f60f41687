"""Give back the disk blocks of all-zero rows of the vector file (``fallocate`` PUNCH_HOLE).

``vectors.f16`` has a row per chunk id ever made and ids are never reused, so every forget and
every re-ingest of an edited file left 768 zero bytes a removed chunk on disk for ever: after 5
edits of 20 files the file held 1.56 MB for 334 chunks (256 kB of them live). A hole reads as
zeros, which the file already means as "read this row from SQLite", so punching changes no
answer; the apparent size stays (another process's map stays valid). Where the call is missing
(not Linux, a file system without holes) nothing happens: the file is as before.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os

import numpy as np

_KEEP_SIZE, _PUNCH_HOLE = 0x01, 0x02
_READ = 1 << 20  # bytes a check reads at a time

try:
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    _fallocate = _libc.fallocate
    _fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    _fallocate.restype = ctypes.c_int
except (OSError, AttributeError):
    _fallocate = None


def block_size(fd: int) -> int:
    return max(512, os.fstat(fd).st_blksize)


def punch_zero_blocks(fd: int, start: int, end: int, data: bytes | None = None) -> int:
    """Punch the blocks of ``[start, end)`` (widened to whole blocks, clipped to the file) that
    hold only zeros; ``data``: the bytes just written at ``start`` (checked instead of read back,
    then only whole blocks inside it). Returns the bytes punched (0 where unsupported)."""
    if _fallocate is None or end <= start:
        return 0
    bs = block_size(fd)
    if data is not None:
        lo, hi = -(-start // bs) * bs, (start + len(data)) // bs * bs
        view = np.frombuffer(data, dtype=np.uint8)[lo - start:hi - start] if hi > lo else None
        return _punch_runs(fd, lo, view, bs) if view is not None else 0
    lo, hi = start // bs * bs, min(-(-end // bs) * bs, os.fstat(fd).st_size // bs * bs)
    done = 0
    for at in range(lo, hi, _READ):
        buf = os.pread(fd, min(_READ, hi - at), at)
        done += _punch_runs(fd, at, np.frombuffer(buf, dtype=np.uint8), bs)
    return done


def _punch_runs(fd: int, at: int, buf: np.ndarray, bs: int) -> int:
    n = len(buf) // bs
    if not n:
        return 0
    zero = ~buf[:n * bs].view(np.uint64 if bs % 8 == 0 else np.uint8).reshape(n, -1).any(axis=1)
    if not zero.any():
        return 0
    edges = np.flatnonzero(np.diff(np.concatenate([[0], zero.view(np.int8), [0]])))
    done = 0
    for a, b in zip(edges[::2].tolist(), edges[1::2].tolist()):
        if _fallocate(fd, _PUNCH_HOLE | _KEEP_SIZE, at + a * bs, (b - a) * bs) != 0:
            return done  # not supported here: stop trying
        done += (b - a) * bs
    return done
