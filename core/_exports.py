"""Model export folders (``<cache>/onnx/<model>-<hash>/``, ``<cache>/openvino/<model>-<hash>/``): marked in
use while a process runs a model from one, and removed once a newer export has replaced them.

A new recipe or new weights build a folder of their own, and the old one (87 MB of ONNX, 23 MB of
int8 model plus its compiled blobs) stayed for good. A process using a folder holds a shared
``flock`` on its ``in-use.lock`` (released however the process ends) and stamps the file's mtime;
a folder of the same model is removed only when no process holds it and nothing in it was
used (mtime, atime) for ``STALE_DAYS``: another installed version, which may not take the lock,
keeps a folder it used this week. The folder is renamed away first, so no process ever
finds half of one under its name.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import time
from pathlib import Path

IN_USE = "in-use.lock"
STALE_DAYS = 7.0
_KEY = re.compile(r"(.+)-[0-9a-f]{16}")
_REMOVING = re.compile(r"\..+\.(\d+)\.removing")
_held: dict[str, int] = {}  # folder -> fd of its lock, kept for the life of the process
_pruned: set[str] = set()


def hold(folder: Path) -> None:
    """Mark ``folder`` in use by this process (a shared flock, kept until the process ends); makes it.

    Best effort: a cache this process cannot write (a shared read-only one) is used unmarked, kept by
    its week of last use like an older version's."""
    key = str(folder)
    if key in _held:
        with contextlib.suppress(OSError):
            os.utime(folder / IN_USE)
        return
    for _ in range(5):  # a folder renamed away between the open and the lock is made again
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(folder / IN_USE, os.O_RDWR | os.O_CREAT, 0o666)
        except FileNotFoundError:
            continue
        except OSError:  # read-only
            return
        fcntl.flock(fd, fcntl.LOCK_SH)  # waits only for a removal under way
        try:
            same = os.stat(folder / IN_USE).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            with contextlib.suppress(OSError):
                os.utime(folder / IN_USE)
            _held[key] = fd
            return
        os.close(fd)


def _last_use(folder: Path) -> float:
    last = folder.stat().st_mtime
    for dirpath, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                st = os.stat(os.path.join(dirpath, name), follow_symlinks=False)
                last = max(last, st.st_mtime, st.st_atime)
    return last


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):
        pass
    return True


def prune_stale(keep: Path, days: float = STALE_DAYS) -> list[str]:
    """Remove the folders beside ``keep`` of the same model that no process holds and none used for
    ``days``; once per folder and process. Returns the names removed."""
    root, gone = keep.parent, []
    m = _KEY.fullmatch(keep.name)
    if m is None or str(keep) in _pruned:
        return gone
    _pruned.add(str(keep))
    try:
        entries = list(os.scandir(root))
    except OSError:
        return gone
    old = time.time() - days * 86_400
    for e in entries:
        dead = _REMOVING.fullmatch(e.name)
        if dead and not _alive(int(dead.group(1))):  # a removal killed halfway
            shutil.rmtree(e.path, ignore_errors=True)
            continue
        other = _KEY.fullmatch(e.name)
        if e.name == keep.name or other is None or other.group(1) != m.group(1) or not e.is_dir(follow_symlinks=False):
            continue
        folder = Path(e.path)
        try:
            if _last_use(folder) > old:
                continue
            fd = os.open(folder / IN_USE, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            away = root / f".{e.name}.{os.getpid()}.removing"
            os.rename(folder, away)  # under the lock: a process that opens it next finds no folder
            shutil.rmtree(away, ignore_errors=True)
            gone.append(e.name)
        except OSError:  # held by a process (or gone): it stays
            pass
        finally:
            os.close(fd)
    return gone
