"""Which files ingest reads: a folder's supported files (`folder_files`, `scan_folder`: hidden paths, memory folders
and entries that are not regular files left out, the unsupported ones counted by suffix), and why a file given
by name is not read (`path_problem`, `unsupported`). `core.memory.readers` reads them and exports these too.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from core.memory._formats import (READS, READS_NAMED, gz_hint, has_own_ids, is_memory, kind, linked_twin,
                                  man_hint, maybe_text, named_hint, named_kind, not_a_file, skip_label,
                                  unreadable_folder)
from core.memory.records import ReadError
from core.text import count


def folder_files(folder: Path, special: list | None = None) -> tuple[list[Path], Counter]:
    """Supported files under ``folder`` (recursively, hidden paths and memory folders left out) and a count of
    the unsupported ones by suffix; ``special`` receives (path, reason) of entries that are
    not regular files (FIFOs, devices, broken or looping links)."""
    from core.memory._folder import MARKER

    files, skipped = [], Counter()
    memories: list[Path] = []  # `ingest notes --memory notes/mem`: its own files were "9 unsupported files"
    for p in sorted(folder.rglob("*")):
        if any(part.startswith(".") for part in p.relative_to(folder).parts):
            continue
        if memories and any(m in p.parents for m in memories):
            continue
        is_dir = p.is_dir()
        if is_dir and p.is_symlink():  # rglob does not descend into it (a link may loop back)
            if special is not None:
                special.append((p, "link to a folder, not followed"))
            continue
        if is_dir and is_memory(p, MARKER):
            memories.append(p)
            continue
        if not p.is_file():
            why = not_a_file(p) or (unreadable_folder(p) if p.is_dir() else None)
            if why is not None and special is not None:
                special.append((p, why))
            continue
        if p.is_symlink() and (twin := linked_twin(p, folder)) is not None:
            if special is not None:  # GPL -> GPL-3 in common-licenses: every hit came twice, under two ids
                special.append((p, f"link to {twin}, read under that name"))
            continue
        if kind(p) is not None:
            files.append(p)
        else:
            skipped[skip_label(p)] += 1
    return files, skipped


def scan_folder(path: Path) -> tuple[list[Path], list[ReadError]]:
    """Supported files of a folder, and the report lines on what was left out: entries that are
    not regular files, unsupported files (counted by suffix), or a folder with nothing to read."""
    if (why := unreadable_folder(path)) is not None:
        return [], [ReadError(str(path), why)]
    special: list = []
    files, skipped = folder_files(path, special)
    notes = [_special_note(path, special)] if special else []
    if skipped:
        kinds = ", ".join(f"{suf or 'no suffix'} {n:,}" for suf, n in skipped.most_common(6))
        n = sum(skipped.values())
        notes.append(ReadError(str(path), f"skipped {count(n, 'unsupported file')} ({kinds}); "
                                          f"read: {READS}{man_hint(skipped)}{gz_hint(skipped)}{named_hint(skipped)}",
                                          skipped=True))
    if not files:
        notes.append(ReadError(str(path), "folder holds no file to read" + ("" if skipped or special  # said above
                                                                          else f" ({READS})")))
    return files, notes


SPECIAL_SHOWN = 5  # entries that are not regular files named in the skip line; the rest are counted


def _special_note(path: Path, special: list) -> ReadError:
    """The skip line of a folder's entries that are not regular files: five named, the rest counted (it ended
    on "..." without a count) and all of them in ``entries`` when some are left out (`ingest -v` lists them)."""
    entries = tuple((str(p.relative_to(path)), why) for p, why in special)
    shown = entries if len(entries) <= SPECIAL_SHOWN + 1 else entries[:SPECIAL_SHOWN]  # never "and 1 more"
    names = ", ".join(f"{name} ({why})" for name, why in shown)
    rest = f" and {len(entries) - len(shown):,} more" if len(shown) < len(entries) else ""
    what = count(len(special), "entry that is not a regular file", "entries that are not regular files")
    return ReadError(str(path), f"skipped {what}: {names}{rest}", skipped=True,  # it said "1 entries"
                     entries=entries if rest else ())


def path_problem(path: Path) -> ReadError | None:
    """Why a path given directly (not a folder) cannot be read, or None for a supported file."""
    if path.is_file():
        why = unsupported(path)
        return ReadError(str(path), why) if why is not None else None
    return ReadError(str(path), not_a_file(path) or "no such file or folder")


def unsupported(path: Path, noun: str = "file type") -> str | None:
    """Why a file is not read, and what is read (its type called ``noun``), or None when it is read: a file
    given to `ingest` or uploaded to the server (one set of rules)."""
    if named_kind(path) is not None or has_own_ids(path):
        return None
    if maybe_text(path):  # left to its content, and that is binary (a .dat of bytes, a program)
        return f"unsupported file: its start is binary (NUL bytes); expected {READS_NAMED}"
    label = skip_label(path)
    hint = man_hint(Counter([label])) + gz_hint([label])
    what = f"{noun} {label!r}" if label != "not UTF-8 text" else "file: its start is not UTF-8 text"
    return f"unsupported {what}; expected {READS_NAMED}{hint}"
