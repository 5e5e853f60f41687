"""The developer's cache (``~/.cache/mycelial``, or their ``MYCELIAL_CACHE_DIR``) as the suite uses it:
lent, never written.

Its model exports were symlinked into the suite's private cache, so every session wrote through the
links (each process stamped ``in-use.lock``, OpenVINO added and pruned compiled blobs); its
``embeddings.sqlite`` is the read-only seed. The exports are now hard links (a copy across file
systems) in a folder of the private cache's own, and :func:`stamps` lets the session check at its
end that nothing in the developer's folder changed. Another process using that folder meanwhile (the
developer's ``mycelial serve``, another checkout's test run) may change it too: :func:`other_users`
names them, so such a change is reported as theirs or ours, not silently passed.
"""
from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from core._exports import IN_USE


def mirror_exports(shared: Path, private: Path) -> None:
    """``private/<export>`` made a tree of hard links to ``shared/<export>`` (onnx, openvino): no
    build when the developer has one, and whatever a test process adds or stamps stays private.
    A folder being removed (``.*.removing``) and the lock files are left out."""
    for export in ("onnx", "openvino"):
        source = shared / export
        if not source.is_dir():
            continue  # built in the private cache the first time a test needs it, and not kept
        for dirpath, dirs, files in os.walk(source):
            dirs[:] = [d for d in dirs if not d.startswith((".", "compiled-"))]  # blobs: keyed by their path
            target = private / export / os.path.relpath(dirpath, source)
            target.mkdir(parents=True, exist_ok=True)
            for name in files:
                if name == IN_USE or name.startswith("."):
                    continue
                _link(os.path.join(dirpath, name), target / name)


def _link(source: str, target: Path) -> None:
    try:
        os.link(source, target)
    except FileNotFoundError:  # pruned by a run of the developer's meanwhile
        pass
    except OSError:  # another file system (or no links there): a copy, stamps kept
        with contextlib.suppress(FileNotFoundError):
            shutil.copy2(source, target)


def stamps(folder: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of every file under ``folder``, by relative path (links not followed)."""
    found: dict[str, tuple[int, int]] = {}
    for dirpath, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(dirpath, name)
            try:
                st = os.stat(path, follow_symlinks=False)
            except FileNotFoundError:
                continue
            found[os.path.relpath(path, folder)] = (st.st_size, st.st_mtime_ns)
    return found


def changes(before: dict, after: dict) -> list[str]:
    """What differs between two :func:`stamps`, one line a file."""
    said = [f"made {p}" for p in sorted(after.keys() - before.keys())]
    said += [f"removed {p}" for p in sorted(before.keys() - after.keys())]
    said += [f"changed {p} (size, mtime_ns {before[p]} -> {after[p]})"
             for p in sorted(before.keys() & after.keys()) if before[p] != after[p]]
    return said


def other_users(folder: Path) -> list[str]:
    """Other processes with a file in ``folder`` open now, as "pid command" (Linux /proc; [] elsewhere)."""
    prefix, found = f"{os.path.realpath(folder)}/", []
    for pid in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}").startswith(prefix) for fd in fds):
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    command = f.read().replace(b"\0", b" ").decode(errors="replace")
                found.append(f"{pid} {command[:120]}")
        except OSError:  # gone, or not ours to read
            continue
    return found
