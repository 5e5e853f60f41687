"""Path arguments that name what another one reads already: `ingest notes notes notes/a.md` read notes twice and
a.md a third time, stored a.md twice (as ``a.md``, its id in the folder, and as ``notes/a.md``), and reported 23
"duplicate id" errors, every skip line twice and the empty files counted twice."""
from __future__ import annotations

import os
from pathlib import Path

from core.memory._formats import kind
from core.memory.records import ReadError


def without_overlaps(items: list) -> tuple[list, list[ReadError]]:
    """``items`` (paths, records) less the paths read by another item: a path given again is dropped, and a file or
    folder inside a folder also given is read with that folder, under the id it has there (a note says so). A file
    the folder would not read (hidden, a suffix read only when named, a link) is still read by its name."""
    folders = {}
    for item in items:
        if _is_path(item) and os.path.isdir(item):
            folders.setdefault(os.path.abspath(item), item)
    kept, notes, seen = [], [], set()
    for item in items:
        if not _is_path(item):
            kept.append(item)
            continue
        where = os.path.abspath(item)
        if where in seen:
            continue
        seen.add(where)
        outer = next((f for f in folders if f != where and _read_within(Path(where), Path(f))), None)
        if outer is None:
            kept.append(item)
        else:
            notes.append(ReadError(str(item), f"read as part of {folders[outer]} (given too), under its id there",
                                   skipped=True))
    return kept, notes


def _is_path(item) -> bool:
    return isinstance(item, (str, os.PathLike)) and str(item) not in ("-", "") and bool(str(item).strip())


def _read_within(path: Path, folder: Path) -> bool:
    """Does reading ``folder`` read ``path`` (a file or folder under it) too?"""
    try:
        rel = path.relative_to(folder)
    except ValueError:
        return False
    if any(part.startswith(".") for part in rel.parts) or path.is_symlink():
        return False
    return path.is_dir() or (path.is_file() and kind(path) is not None)
