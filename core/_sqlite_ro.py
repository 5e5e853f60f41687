"""Opening a WAL-mode SQLite file for reading where its folder cannot be written.

SQLite reads a WAL database through its ``-shm`` index, which it must create beside the file. In a
folder this process cannot write (a read-only mount, another user's memory or cache) three cases:

- ``-wal`` and ``-shm`` both there (a writer is open, or one was killed): ``mode=ro`` reads them
  (SQLite >= 3.22 maps a read-only ``-shm``, or rebuilds the index in memory when no one holds it),
  so the transactions still in the WAL are seen. ``immutable=1`` here silently hid them (a crashed
  ingest's last document was missing from recall and stats).
- neither there, or only an empty ``-wal``: nothing is pending and no writer is open (a WAL writer
  always keeps both files while open), so ``immutable=1`` is correct; ``mode=ro`` alone cannot open.
  A writer that starts later makes the ``-wal`` appear (and changes the file): :func:`writer_appeared`
  tells a reader to reopen, each time it takes a connection; a query already running when a writer
  checkpoints could still read a torn page, the price of reading a WAL file that cannot be indexed.
- a non-empty ``-wal`` without its ``-shm``: its transactions cannot be read from here, and
  ignoring them would answer from an older state: :class:`UnreadableWal` says so.
"""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path


class UnreadableWal(sqlite3.OperationalError):
    """A write-ahead log with committed transactions that this process cannot read."""


def folder_writable(path: Path) -> bool:
    return os.access(path.parent, os.W_OK)


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def read_only_uri(path: Path, untouched: bool = False) -> tuple[str, bool]:
    """The ``file:`` URI to open ``path`` read-only, and whether it is ``immutable``.

    ``untouched``: a file this process must not change at all (another's cache lent as a seed) is read
    as if its folder could not be written, ``readonly_shm`` too: ``mode=ro`` alone still made an empty
    ``-wal`` and a ``-shm`` beside it and wrote the ``-shm``'s index (a test run touched ~/.cache/mycelial)."""
    path = Path(path)
    uri = f"{path.resolve().as_uri()}?mode=ro"
    if folder_writable(path) and not untouched:
        return uri, False  # SQLite makes the -shm it needs; a writer is seen as usual
    wal, shm = _size(Path(f"{path}-wal")), _size(Path(f"{path}-shm"))
    if wal is not None and shm is not None:
        return uri + ("&readonly_shm=1" if untouched else ""), False  # a writer's -shm mapped read-only
    if wal:
        raise UnreadableWal(
            f"{path}-wal holds changes not yet in {path.name}, and its -shm index is missing from a folder "
            f"this process cannot write, so they cannot be read; open it once where the folder can be "
            f"written (by its owner, or without the read-only mount)")
    return uri + "&immutable=1", True


def stamp(path: Path) -> tuple:
    """What changes when a writer touched ``path`` (taken when it is opened ``immutable``)."""
    st = os.stat(path)
    return st.st_ino, st.st_size, st.st_mtime_ns


def writer_appeared(path: Path, opened: tuple) -> bool:
    """True when a file opened ``immutable`` (``opened`` its :func:`stamp` then) has a writer now (a
    ``-wal``) or had one since (a writer that closed cleanly left no ``-wal`` but a changed file):
    reopen it, immutable reads would miss the commits."""
    try:
        return os.path.exists(f"{path}-wal") or stamp(path) != opened
    except OSError:
        return True


def cannot_open_message(path: Path, exc: Exception) -> str:
    """A read-only open that SQLite refused ("unable to open database file"): say why in file terms."""
    return (f"cannot read {path} ({exc}): its folder is not writable and SQLite could not read its "
            f"{Path(path).name}-wal/-shm files (check that they are readable by this user)")
