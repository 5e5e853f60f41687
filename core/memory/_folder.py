"""A memory's folder: created, adopted or refused. A memory owns only folders it made (``mycelial.json``),
so no command ever deletes or overwrites files of a folder that holds something else."""
from __future__ import annotations

import errno
import os
import shlex
import time
import warnings
from pathlib import Path

from core._io import atomic_write_bytes, read_json
from core.memory._lost import refuse_lost_store
from core.memory.lock import MemoryReadOnlyError

MARKER = "mycelial.json"
FORMAT = 1


class FolderMixin:
    """``_claim_folder`` for `SemanticMemory` (its ``folder``, ``read_only`` and ``unwritable``)."""

    def _claim_folder(self) -> None:
        """Create, adopt or refuse the folder: a memory owns only folders it created (``mycelial.json``)."""
        folder, marker = self.folder, self.folder / MARKER
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"memory folder {folder} exists and is not a folder")
        if not folder.exists() and self.read_only:
            raise FileNotFoundError(f"no memory at {folder}; create one with "
                                    f"`mycelial ingest PATH --memory {shlex.quote(str(folder))}`")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OSError(_cannot_make(folder, exc)) from exc
        if not self.read_only and not os.access(folder, os.W_OK):
            self.read_only = self.unwritable = True
        elif not self.read_only and (locked := _unwritable_file(folder)) is not None:
            # SQLite said only "attempt to write a readonly database", and repair "rebuilt" (exit 0)
            self.read_only = self.unwritable = True
            self.unwritable_file = locked
        store = folder / "memory.sqlite"
        if marker.exists():
            try:
                info = read_json(marker, "memory marker")
                if not isinstance(info, dict) or not isinstance(info.get("format"), int):
                    raise ValueError(f"memory marker {marker} is damaged (expected {{\"format\": {FORMAT}, ...}})")
            except ValueError as exc:
                if foreign_store(store) is not None:
                    raise
                # the store proves the folder is a memory (its own migrations refuse a newer version):
                # adopt it as one made before the marker existed
                warnings.warn(f"{exc}; memory.sqlite is beside it, so the folder is opened as a memory"
                              + ("" if self.read_only else " and the marker is written again"), stacklevel=3)
                info = None
            if info is not None:
                if info["format"] > FORMAT:
                    raise ValueError(f"{folder} was written by a newer Mycelial (memory format {info['format']}, "
                                     f"this version reads {FORMAT}); upgrade Mycelial")
                if not self.read_only:  # SQLite would make a new, empty store: the next save deleted the old files
                    refuse_lost_store(folder)
                return
        # a memory made before the marker existed is adopted by its store; a user's own memory.sqlite (another
        # program's database) was taken for one: our tables added to it, its state.json and *.npz overwritten
        foreign = foreign_store(store)
        has_store = foreign is None
        if foreign:
            raise ValueError(f"{folder} is not a Mycelial memory: its memory.sqlite {foreign}, and there is no "
                             f"{MARKER}; give a new or empty folder so none of its files are touched")
        # a concurrent creator's write.lock / marker temporary do not make the folder someone else's
        if not has_store and any(p.name != "write.lock" and not p.name.startswith(f".{MARKER}.")
                                 for p in folder.iterdir()):
            from core.memory._formats import kind

            # what ingest reads (README.gz, a suffixless LICENSE too); its first 8 KB only where the name says nothing
            docs = sorted(p.name for p in folder.iterdir() if p.is_file() and kind(p) is not None)
            if docs:  # `serve --memory notes/`: the user meant the documents
                mem = (f"{folder.name}-memory" if folder.name not in ("", ".", "..")  # `.` said "-memory", an option
                       else str(folder.resolve().parent / f"{folder.resolve().name or 'mycelial'}-memory"))
                raise ValueError(f"{folder} holds documents ({', '.join(docs[:2])}{', ...' if len(docs) > 2 else ''}), "
                                 f"not a Mycelial memory (no {MARKER} or memory.sqlite): to recall or serve them, "
                                 f"make a memory of them first: "
                                 f"`mycelial ingest {shlex.quote(str(folder))} --memory {shlex.quote(mem)}`, "
                                 f"then use --memory {shlex.quote(mem)}")
            raise ValueError(f"{folder} is not a Mycelial memory (no {MARKER} or memory.sqlite) and is not empty; "
                             + ("give the folder a memory was made in (`mycelial ingest PATH --memory DIR` makes one)"
                                if self.read_only else  # `recall` was told to give a new folder it would not make
                                "give a new or empty folder so none of its files are touched"))
        if not has_store and self.unwritable:  # `mycelial ingest` itself was told to run `mycelial ingest`
            raise MemoryReadOnlyError(f"cannot make a memory in {folder}: the folder is not writable (no write "
                                      f"permission or a read-only mount); give a folder you can write")
        if not has_store and self.read_only:
            raise FileNotFoundError(f"no memory at {folder}; create one with "
                                    f"`mycelial ingest PATH --memory {shlex.quote(str(folder))}`")
        if not self.read_only:  # a new memory, or one made before the marker existed (adopted)
            atomic_write_bytes(marker, (f'{{"format": {FORMAT}, "kind": "mycelial-memory", '
                                        f'"created": {time.time():.0f}}}\n').encode())


def unwritable_reason(mem) -> str:
    """Why a memory whose folder or files refuse writes cannot be changed, with the way out."""
    locked = getattr(mem, "unwritable_file", None)
    if locked is None:
        return "its folder is not writable (a read-only mount or no write permission)"
    return (f"{locked} is not writable (no write permission: `chmod u+w {shlex.quote(str(locked))}`, "
            f"or run as its owner)")


def _unwritable_file(folder) -> Path | None:
    """The first file a writer must write in place (the store, its journals, the lock) that this process
    may not write; None when all can be (or are not there yet: the folder makes them)."""
    for name in ("memory.sqlite", "memory.sqlite-wal", "memory.sqlite-shm", "write.lock"):
        path = folder / name
        if path.is_file() and not os.access(path, os.W_OK):
            return path
    return None


def foreign_store(path) -> str | None:
    """None when ``path`` is a Mycelial store (its ``_migrations``, ``documents`` and ``chunks`` tables); else
    what it is, in words ("" when there is no file). Read through a read-only connection: nothing is written."""
    import sqlite3
    from urllib.parse import quote

    if not path.is_file():
        return ""
    try:
        conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)
        try:
            tables = sorted(r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return f"is not a database Mycelial can read ({exc})"
    if {"_migrations", "documents", "chunks"} <= set(tables):
        return None
    shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
    return f"is another program's database (its tables: {shown})" if tables else "is an empty database"


def _cannot_make(folder, exc: OSError) -> str:
    """``cannot make the memory folder /proc/x: /proc cannot hold new folders``: the raw errno said only
    "[Errno 2] No such file or directory: '/proc/x'" of a parent that exists."""
    parent = folder.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        why = f"{parent} is a file, not a folder"
    elif exc.errno == errno.ENOENT:  # /proc, /sys: the parent is there and takes no new folder
        why = f"{parent} cannot hold new folders"
    else:
        why = f"{exc.strerror or exc} in {parent}"
    return f"cannot make the memory folder {folder}: {why}"
