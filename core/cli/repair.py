"""`mycelial repair`: rebuild a memory's derived files from memory.sqlite, or only check them (`--check`), or
start a memory whose store is lost over empty (`--start-empty`)."""
from __future__ import annotations

import shlex
from pathlib import Path

import click

from core.cli.memory import MEMORY_OPTION, _open
from core.text import count


def check_files(memory) -> None:
    """`repair --check`: one line a problem and exit 1, or one line saying the files match."""
    from core.memory._check_files import check_memory
    from core.memory.store import StoreError

    try:
        counts, problems = check_memory(Path(memory))
    except (StoreError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    if not problems:
        click.echo(f"{memory}: {count(counts['documents'], 'document')}, {count(counts['chunks'], 'chunk')}; "
                   f"memory.sqlite, the index, network, graph and vectors.f16 agree")
        return
    for line in problems:
        click.echo(f"{memory}: {line}")
    sqlite_bad = problems[0].startswith("memory.sqlite fails")
    fix = f"; `mycelial repair --memory {shlex.quote(str(memory))}` rebuilds these from memory.sqlite"
    raise click.ClickException(f"{count(len(problems), 'problem')} found" + ("" if sqlite_bad else fix))


def start_over(memory) -> None:
    """`repair --start-empty`: the lost store's derived files go, so repair's open makes a new, empty memory."""
    from core.memory._lost import start_over as delete_derived
    from core.memory.lock import MemoryBusyError, WriteLock
    from core.memory.store import StoreError

    try:
        with WriteLock(Path(memory)):  # no other process writes meanwhile
            gone = delete_derived(memory)
    except (MemoryBusyError, StoreError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"started {memory} over empty (deleted {', '.join(gone) or 'nothing'})", err=True)


@click.command("repair")
@MEMORY_OPTION
@click.option("--start-empty", is_flag=True,
              help="Only when memory.sqlite is missing or empty (0 bytes): delete the index, network and vector "
                   "files it leaves behind and start the memory over, empty.")
@click.option("--check", is_flag=True,
              help="Only compare the files with memory.sqlite (SQLite's integrity check, the index, network and "
                   "graph counts, every vectors.f16 row); change nothing, exit 1 when repair has something to fix.")
def repair(memory, start_empty, check):
    """Check memory.sqlite, return its free pages, rebuild the derived files (index, network, vectors.f16) from it.

    For derived files that were damaged, edited or written by an older version, and to shrink
    memory.sqlite after forgetting much (SQLite reuses free pages but never gives them back by
    itself); the documents themselves live in SQLite and are kept. A missing or empty
    memory.sqlite is refused (restore it from a backup) unless --start-empty is given.

    Example:

        mycelial repair --memory my_memory
    """
    from core.memory.lock import MemoryBusyError
    from core.memory.store import StoreError

    if not Path(memory).is_dir():
        raise click.ClickException(f"no memory at {memory}")
    if check and start_empty:
        raise click.UsageError("give either --check or --start-empty, not both")
    if check:
        return check_files(memory)
    if start_empty:
        start_over(memory)
    with _open(memory) as mem:
        try:
            st = mem.repair()
        except (MemoryBusyError, StoreError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"rebuilt {memory}: {count(st['documents'], 'document')}, {count(st['chunks'], 'chunk')}, "
               f"{st['index_vectors']:,} index vectors, {st['network'].get('events', 0):,} network events"
               + (f"; {st['freed_bytes'] / 1e6:.1f} MB of free SQLite pages returned" if st.get("freed_bytes") else ""))


COMMANDS: list = [repair]
