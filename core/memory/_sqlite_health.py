"""What is wrong with a SQLite file that failed to open or read: damaged (and what can be done), or a full disk."""
from __future__ import annotations

import os
import shlex
import sqlite3
from pathlib import Path


def damaged_message(path, exc) -> str:
    """The one message for a damaged database file: name it and the way out."""
    folder = Path(path).parent if path else "DIR"
    problem = quick_check(path) if path and Path(path).is_file() else None
    if problem:  # SQLite itself is damaged: nothing here can rebuild it
        problem = " ".join(problem.split())[:160]
        return (f"{path} is damaged ({exc}; quick_check: {problem}); restore it from a backup "
                f"(the sqlite3 shell's `.recover` can salvage rows into a new file)")
    return (f"{path} is damaged ({exc}); run `mycelial repair --memory {shlex.quote(str(folder))}` "
            f"(it checks the file and "
            f"rebuilds what can be rebuilt; restore it from a backup if that reports damage)")


FULL_DISK_BYTES = 1 << 20  # less free than this when an open fails: the disk, not damage (a -shm takes 32 KiB)


def disk_full(path) -> bool:
    """The file system holding ``path`` has (almost) no space left for this process."""
    try:
        st = os.statvfs(Path(path).parent)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < FULL_DISK_BYTES


def quick_check(path) -> str | None:
    """SQLite's ``quick_check`` of a database file opened read-only: None when sound, else the problem."""
    try:
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return str(exc)
    try:
        rows = [r[0] for r in conn.execute("PRAGMA quick_check(5)")]
    except sqlite3.Error as exc:
        return str(exc)
    finally:
        conn.close()
    return None if rows == ["ok"] else "; ".join(rows)
