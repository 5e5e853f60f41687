"""`mycelial list` and `mycelial get`: the documents a memory holds, by the ids `forget` takes."""
from __future__ import annotations

import json
import shlex
from pathlib import Path

import click

from core.cli._report import _cell, as_stored, count, quoted
from core.cli.memory import MEMORY_OPTION, TEXT, _open


def _existing(memory):
    if not Path(memory).is_dir():
        raise click.ClickException(f"no memory at {memory}; create one with "
                                   f"`mycelial ingest PATH --memory {shlex.quote(str(memory))}`")


@click.command("list")
@MEMORY_OPTION
@click.option("--prefix", default=None, type=TEXT, help="Only ids starting with this (e.g. man/).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array.")
def list_cmd(memory, prefix, as_json):
    """List the documents of a memory: id, chunk count, title.

    Ids of files read from a folder are relative to that folder (`man/kill.txt`).

    Example:

        mycelial list --memory my_memory --prefix man/
    """
    _existing(memory)
    from core.memory.documents import list_documents

    with _open(memory, read_only=True) as mem:
        docs = list_documents(mem, prefix)
    if as_json:
        click.echo(json.dumps(docs, ensure_ascii=False))
        return
    for d in docs:
        click.echo(f"{_cell(d['id'])}\t{d['chunks']}\t{_cell(d['title'])}")
    click.echo(count(len(docs), "document"), err=True)


@click.command("get")
@click.argument("doc_id", type=TEXT)
@MEMORY_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the document and its chunks as JSON.")
def get_cmd(doc_id, memory, as_json):
    """Print one document of a memory: its title, source and chunks in reading order.

    Example:

        mycelial get man/kill.txt --memory my_memory
    """
    _existing(memory)
    from core.memory.documents import get_document

    from core.memory._did_you_mean import did_you_mean

    with _open(memory, read_only=True) as mem:
        doc = get_document(mem, as_stored(mem.store_, doc_id))
        hint = did_you_mean(mem, doc_id) if doc is None else ""
    if doc is None:
        raise click.ClickException(f"no document {quoted(doc_id)} in {memory}{hint or ';'} "
                                   f"`mycelial list --memory {shlex.quote(str(memory))}` shows the ids")
    if as_json:
        click.echo(json.dumps(doc, ensure_ascii=False))
        return
    click.echo(f"id: {_cell(doc['id'])}\ntitle: {_cell(doc['title'])}\nsource: {_cell(doc['source'])}\n"
               f"chunks: {len(doc['chunks'])}")
    for i, c in enumerate(doc["chunks"]):  # the chunk id too: what recall prints and --exclude/reinforce take
        click.echo(f"\n[{i}] chunk {c['chunk_id']}\n{c['text']}")


FORGOT_SHOWN = 10  # forgotten documents named one a line, each kind; the rest are counted (-v names them all)


def sync_folders(memory, paths, say_none: bool = True, verbose: int = 0, fields=None,
                 forgot: list | None = None) -> int:
    """`ingest --sync`: forget the documents of each folder in ``paths`` whose file is gone; returns how
    many. ``say_none=False``: no "0 documents forgotten" line (the caller refuses the run). Files deleted
    are told apart from files still there but now skipped; past ``FORGOT_SHOWN`` of each they are counted
    (500 deleted files were 500 lines), unless ``verbose``. ``fields``: the ingest's record keys (`--fields`).
    ``forgot`` receives the ids forgotten, also when a later folder fails (the ingest's notes name them)."""
    from core.memory.documents import sync_folder

    folders = [p for p in paths if p != "-" and Path(p).is_dir()]
    if not folders:
        raise click.ClickException("--sync needs at least one folder among the paths")
    total = 0
    with _open(memory) as mem:
        for folder in folders:
            skipped: dict = {}
            try:
                gone = sync_folder(mem, folder, skipped, fields)
            except ValueError as exc:
                raise click.ClickException(str(exc)) from None
            deleted = [(i, f"no longer in {folder}") for i in gone if i not in skipped]
            _forgot(deleted, f"no longer in {folder}", verbose)
            _forgot([(i, f"now skipped: {skipped[i]}") for i in gone if i in skipped], "still there, now skipped",
                    verbose)
            total += len(gone)
            if forgot is not None:
                forgot.extend(gone)
            if gone or say_none:
                click.echo(f"sync {folder}: {count(len(gone), 'document')} forgotten"
                           + (f" ({len(skipped):,} still in it, now skipped)" if skipped else ""))
    return total


def _forgot(lines: list[tuple[str, str]], why: str, verbose: int) -> None:
    shown = lines if verbose or len(lines) <= FORGOT_SHOWN + 1 else lines[:FORGOT_SHOWN]  # never "1 more"
    for doc_id, reason in shown:
        click.echo(f"forgot {_cell(doc_id)} ({_cell(reason)})")
    if len(shown) < len(lines):
        click.echo(f"forgot {count(len(lines) - len(shown), 'more document')} {_cell(why)} (-v names them all)")


COMMANDS: list = [list_cmd, get_cmd]
