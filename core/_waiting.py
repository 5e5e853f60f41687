"""Waiting for a background thread's work when Ctrl-C may come: the interrupt is held until the work has ended.

Not ``Thread.join``: a join that Ctrl-C interrupts marks a thread still running as stopped (CPython 3.11,
bpo-45274), so every later join returns at once. And the interrupt is held, not raised at once: a process
that exits while a thread of its own is inside native code (FAISS, the embedding model) can die of
"FATAL: exception not rethrown" (SIGABRT, exit 134) instead of exiting 130 with its memory saved.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Callable, Iterator


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


@contextmanager
def interrupts_held(on_interrupt: Callable[[bool], None] | None = None) -> Iterator[None]:
    """Hold every Ctrl-C that comes inside the block and raise one KeyboardInterrupt after it.

    ``wait_holding_interrupt`` holds only the interrupts that land in its wait: one that lands a statement
    before (while a message saying why the process waits is being written) escaped at once. Here the SIGINT
    handler itself records it, so nothing in the block is cut short. Only in the main thread with Python's
    default handler in place (elsewhere no KeyboardInterrupt arrives, or someone else handles SIGINT).
    """
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    came: list[int] = []

    def hold(signum, frame) -> None:
        if on_interrupt is not None:
            on_interrupt(not came)
        came.append(signum)

    signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if came:
        raise KeyboardInterrupt
