"""Real unwritable places for a reader process, on any machine, without skipping.

Root ignores permission bits, so as root a reader runs under ``setpriv`` without the two capabilities
that bypass them (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH): the kernel then applies the files' modes to
it as to another user (``os.access`` says no too), while it can still run the Python under /root.
Where ``mount`` works (root with CAP_SYS_ADMIN), a read-only bind mount is a second, separate view.
A non-root user gets the modes as they are.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = os.geteuid() == 0
NO_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
          "--inh-caps=-dac_override,-dac_read_search"] if ROOT else []
REPO = Path(__file__).resolve().parent.parent


@dataclass
class View:
    """A place a reader cannot write: ``path`` seen through it, ``prefix`` to start the reader with."""

    label: str
    path: Path
    prefix: list = field(default_factory=list)

    def run(self, args: list, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
        """``python -c SCRIPT``-style args (after the interpreter) run as this view's reader."""
        return subprocess.run(self.prefix + [sys.executable, *args], capture_output=True, text=True,
                              timeout=timeout, cwd=REPO, env={**os.environ, **(env or {})})

    def mycelial(self, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        return self.run(["-c", "from core.cli import main; main()", *args], env=env)


def _mount_read_only(src: Path, dst: Path, stack: ExitStack) -> bool:
    if not ROOT or shutil.which("mount") is None:
        return False
    dst.mkdir() if src.is_dir() else dst.touch()
    if subprocess.run(["mount", "--bind", str(src), str(dst)], capture_output=True).returncode != 0:
        return False
    stack.callback(subprocess.run, ["umount", "--lazy", str(dst)], check=True)  # lazy: a reader left open
    return subprocess.run(["mount", "-o", "remount,bind,ro", str(dst)], capture_output=True).returncode == 0


def _chmod(path: Path, mode: int) -> None:
    if path.exists():  # the owner may have replaced it meanwhile (index.N.npz -> index.N+1.npz)
        path.chmod(mode)


def _chmod_unwritable(place: Path, stack: ExitStack) -> None:
    """``place`` (a folder: it and its files) without write permission, given back at the end."""
    paths = [place, *place.iterdir()] if place.is_dir() else [place]
    for p in paths:
        mode = p.stat().st_mode & 0o7777
        stack.callback(_chmod, p, mode)
        p.chmod(mode & ~0o222)


@contextmanager
def unwritable_views(place: Path, mounts: Path):
    """Every view of ``place`` (a folder or a file) that a reader cannot write: without write permission
    always, through a read-only bind mount (under ``mounts``) where mounting works."""
    with ExitStack() as stack:
        views = []
        mounted = mounts / f"ro-{place.name}"
        if _mount_read_only(place, mounted, stack):
            views.append(View("read-only mount", mounted))
        _chmod_unwritable(place, stack)
        views.append(View("no write permission", place, NO_DAC))
        yield views


@contextmanager
def owner_writes(place: Path):
    """The owner writing ``place`` meanwhile: root already may; another user gets write permission back."""
    if ROOT:
        yield
        return
    with ExitStack() as stack:
        for p in [place, *place.iterdir()]:
            mode = p.stat().st_mode & 0o7777
            stack.callback(_chmod, p, mode)
            p.chmod(mode | 0o200)
        yield
