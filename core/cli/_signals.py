"""SIGTERM as Ctrl-C for `mycelial ingest`, and signals held while a local Dask cluster starts.

`timeout`, `docker stop`, systemd and a cancelled CI job stop a process with SIGTERM. An ingest died of it
(status -15, 143 in a shell): no "interrupted: ..." line, the derived files not saved (the next open rebuilt
the passage graph) and, with --workers, "There appear to be 12 leaked semaphore objects". It now stops as
Ctrl-C stops it and exits 143 (128 + 15, what a shell reports for a process SIGTERM ended): the job is not
done, unlike `mycelial serve`, whose normal end SIGTERM is (exit 0).
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

TERMINATED = 128 + signal.SIGTERM  # 143
INTERRUPTED = 128 + signal.SIGINT  # 130


class _Term:
    """Whether SIGTERM came (``came``), and the handler that turns it into the Ctrl-C of the moment."""

    def __init__(self) -> None:
        self.came = False

    def __call__(self, signum, frame) -> None:
        """Run the SIGINT handler in place now: Python's raises KeyboardInterrupt; a block that holds Ctrl-C
        (`core._waiting.interrupts_held`) holds this too; once "interrupted: ..." is said it is ignored."""
        self.came = True
        handler = signal.getsignal(signal.SIGINT)
        if not callable(handler):  # SIGINT ignored from the start (a background job: `nohup ... &`)
            raise KeyboardInterrupt
        handler(signal.SIGINT, frame)


_current: list[_Term] = []


@contextmanager
def sigterm_as_ctrl_c() -> Iterator[_Term]:
    """Within the block SIGTERM does what Ctrl-C does; ``.came`` tells which it was (the exit status)."""
    if threading.current_thread() is not threading.main_thread():
        yield _Term()
        return
    term = _Term()
    before = signal.signal(signal.SIGTERM, term)
    _current.append(term)
    try:
        yield term
    finally:
        _current.remove(term)
        if signal.getsignal(signal.SIGTERM) is term:  # not when `ignore_from_now_on` set it ignored
            signal.signal(signal.SIGTERM, before)


def exit_status() -> int:
    """130 after Ctrl-C, 143 after SIGTERM (the innermost `sigterm_as_ctrl_c` block says which came)."""
    return TERMINATED if _current and _current[-1].came else INTERRUPTED


def ignore_from_now_on() -> None:
    """The command only reports and exits now: further Ctrl-Cs, and SIGTERMs turned into them, are ignored."""
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if _current and signal.getsignal(signal.SIGTERM) is _current[-1]:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


@contextmanager
def signals_held(*signums: int) -> Iterator[None]:
    """Hold ``signums`` during the block: noted, not acted on; the first that came is raised again after it.

    For a local Dask cluster's start. The signals are also blocked in this thread, and the threads the start
    makes here, with the worker processes they spawn, inherit that mask: a Ctrl-C to the process group reaches
    no worker before its preload ignores SIGINT (each printed a KeyboardInterrupt traceback, raised while it
    imported `distributed`). And this process no longer stops with the cluster half started (distributed's
    exit hook then failed: "AssertionError: Status.init"); the handlers catch what other threads (the model's)
    receive, which the mask does not hold.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    came: list[int] = []
    before = {s: signal.signal(s, lambda signum, frame: came.append(signum)) for s in signums}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, signums)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # one pending is noted now
        for s, handler in before.items():
            signal.signal(s, handler)
    if came:
        signal.raise_signal(came[0])  # what it would have done: a KeyboardInterrupt, here
