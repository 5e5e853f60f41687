"""Waiting for a background thread's work when Ctrl-C may come: the interrupt is held until the work has ended.

Not ``Thread.join``: a join that Ctrl-C interrupts marks a thread still running as stopped (CPython 3.11,
bpo-45274), so every later join returns at once. And the interrupt is held, not raised at once: a process
that exits while a thread of its own is inside native code (FAISS, the embedding model) can die of
"FATAL: exception not rethrown" (SIGABRT, exit 134) instead of exiting 130 with its memory saved.
"""
from __future__ import annotations

import threading
from typing import Callable


def wait_holding_interrupt(done: threading.Event, timeout: float | None = None,
                           on_interrupt: Callable[[bool], None] | None = None) -> bool:
    """``done.wait(timeout)``; a KeyboardInterrupt meanwhile (one or more) is raised once ``done`` is set.

    ``on_interrupt(first)`` runs at each interrupt (say why the process waits, cancel the work).
    Returns whether ``done`` was set (False only on a timeout without an interrupt).
    """
    interrupted = None
    while True:
        try:
            ended = done.wait(timeout)
            break
        except KeyboardInterrupt as exc:
            if on_interrupt is not None:
                on_interrupt(interrupted is None)
            interrupted = interrupted or exc
    if interrupted is not None:
        raise interrupted
    return ended
