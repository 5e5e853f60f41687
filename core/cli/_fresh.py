"""An ingest that made a new memory folder and stored nothing (an error, or Ctrl-C) leaves no folder behind.

`mycelial ingest typo/ --memory notes` said "nothing was ingested" and still left an empty memory
`notes/` (SQLite file, index, network): the next `recall` found "a memory" holding nothing.
"""
from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from pathlib import Path

import click

from core.cli._signals import exit_status, ignore_from_now_on
from core.text import count

# the files a memory writes into its own folder (SQLite with its journals, derived state, lock)
_OWN = re.compile(r"memory\.sqlite(-wal|-shm|-journal)?|(index|network|graph)\.\d+\.npz|mycelial\.json|state\.json"
                  r"|vectors\.f16|write\.lock")


def remove_new_empty_memory(folder) -> bool:
    """Delete ``folder``, made by this command, when it holds only a memory's own files; True when gone.

    Called only after the memory was closed with no document in it. Anything else in the folder
    (a file someone put there meanwhile) keeps the folder and everything in it.
    """
    folder = Path(folder)
    entries = list(folder.iterdir())
    if any(not (p.is_file() and _OWN.fullmatch(p.name)) for p in entries):
        return False
    for p in entries:
        p.unlink(missing_ok=True)
    try:
        folder.rmdir()
    except OSError:
        return False
    return True


def interrupted(memory, fresh: bool, kept: int | None):
    """Ctrl-C during `mycelial ingest`: say what the memory holds now, exit 130 (a shell's code for SIGINT;
    143 when it was SIGTERM, which the command turns into a Ctrl-C: `core.cli._signals`).

    ``kept`` is the count the open memory gave; None when the interrupt came while it opened or closed.
    A memory this command made that holds nothing is removed, as after an ingest that stored nothing.
    """
    _ignore_further_interrupts()
    if kept is None:
        kept = _documents(memory)
    if fresh and not kept and (not Path(memory).exists() or remove_new_empty_memory(memory)):
        click.echo(f"\ninterrupted: nothing was ingested; no memory was made at {memory}", err=True)
    else:
        held = _held(kept) if kept is not None else "what was committed is"
        click.echo(f"\ninterrupted: {held} in {memory}; run the same command again to finish (the stored ones "
                   f"are skipped as unchanged)", err=True)
    raise SystemExit(exit_status())


def _ignore_further_interrupts() -> None:
    """From here on the memory is closed and the process only reports and exits: a further Ctrl-C is ignored.

    It used to land in the interpreter's exit (an exit hook's traceback, or the process killed by SIGINT:
    status -2, not 130) or half-way through the removal of an empty new memory. The cyclic collector is
    also kept out of the exit (as for the read commands): it took 0.4-2.5 s after the message.
    """
    from core.cli.memory import _no_collection_at_exit

    ignore_from_now_on()  # and a SIGTERM that `ingest` turns into a Ctrl-C
    _no_collection_at_exit()


def ingest_failed(memory, fresh: bool, kept: int, exc: Exception):
    """`mycelial ingest` stopped by ``exc`` (a ValueError, or a WorkerError of a parallel ingest) with ``kept``
    documents in the closed memory: one line; a memory this command made that holds nothing is removed
    (a Dask cluster without workers left one behind after its 60 s wait)."""
    from core.memory.parallel import WorkerError

    gone = fresh and not kept and remove_new_empty_memory(memory)
    if not isinstance(exc, WorkerError):
        raise click.ClickException(f"{exc}" + (f"; no memory was made at {memory}" if gone else ""))
    held = f"nothing was ingested; no memory was made at {memory}" if gone else f"{_held(kept)} in {memory}"
    raise click.ClickException(f"{exc}; {held}: fix the workers and run the same command again (the stored ones "
                               f"are skipped as unchanged)")


def _held(n: int) -> str:
    """``1 document is``, ``2 documents are``: Ctrl-C after one document said "1 documents are"."""
    return f"{count(n, 'document')} {'is' if n == 1 else 'are'}"


def _documents(folder) -> int | None:
    """Documents committed in ``folder`` (0 without a store, None when it cannot be read)."""
    db = Path(folder) / "memory.sqlite"
    if not db.is_file():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
            return conn.execute("SELECT count(*) FROM documents").fetchone()[0]
    except sqlite3.Error:  # no table yet (interrupted while it was made), or damaged
        return None
