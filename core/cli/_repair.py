"""`mycelial repair --check` and `--start-empty`: the two ways of repair that rebuild nothing."""
from __future__ import annotations

import shlex
from pathlib import Path

import click

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
