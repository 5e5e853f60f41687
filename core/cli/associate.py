"""`mycelial associate`, `bridges`, `reinforce`, `unreinforce`, `reinforcements`: read and teach the network."""
from __future__ import annotations

import json
import shlex
from pathlib import Path

import click

from core.cli._report import count
from core.cli._params import CONCEPT
from core.cli.memory import MEMORY_OPTION, TEXT, _open


def _existing(memory) -> None:
    if not Path(memory).is_dir():
        raise click.ClickException(f"no memory at {memory}; create one with "
                                   f"`mycelial ingest PATH --memory {shlex.quote(str(memory))}`")


def _call(fn, *args, **kwargs):
    """Library errors become one-line CLI errors naming the argument."""
    from core.memory.lock import MemoryBusyError

    try:
        return fn(*args, **kwargs)
    except (ValueError, LookupError, MemoryBusyError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)  # KeyError quotes its text
        raise click.ClickException(str(msg)) from None


QUIET = click.option("--quiet", "-q", is_flag=True,
                     help="No notes on stderr (which concept a plural was read as); the answer and errors only.")


@click.command("associate")
@click.argument("concept", type=CONCEPT)
@MEMORY_OPTION
@click.option("-k", default=10, show_default=True, type=click.IntRange(1, 10_000), help="Concepts to list.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@QUIET
def associate(concept, memory, k, as_json, quiet):
    """List the concepts that go with CONCEPT, strongest first (weight = NPMI of co-mention).

    Concepts are shown as the text writes them; --json also gives each one's folded key ("concept").

    Example:

        mycelial associate "neil peart" --memory my_memory -k 5
    """
    _existing(memory)
    with _open(memory, read_only=True) as mem:
        assoc = _call(mem.associations, concept, k=k)
        why = _unknown(mem, concept) if not assoc else ""
        notes = [] if quiet else read_as(mem, concept)
    for note in notes:
        click.echo(note, err=True)
    if as_json:
        click.echo(json.dumps(assoc, ensure_ascii=False))
    elif not assoc:
        click.echo(f"no associations for {concept!r} ({why or 'never named with another concept in one chunk'})",
                   err=True)
    for a in () if as_json else assoc:
        click.echo(f"{a['weight']:.3f}  {a['written']}  ({count(a['chunks'], 'chunk')})")  # said "(1 chunks)"
    _found(assoc)


@click.command("bridges")
@click.argument("concept_a", type=CONCEPT)
@click.argument("concept_b", type=CONCEPT)
@MEMORY_OPTION
@click.option("-k", default=3, show_default=True, type=click.IntRange(1, 100), help="Paths to list.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@QUIET
def bridges(concept_a, concept_b, memory, k, as_json, quiet):
    """The strongest paths (up to 3 edges) between two concepts, with the weight of each edge.

    Example:

        mycelial bridges nero domitian --memory my_memory
    """
    _existing(memory)
    with _open(memory, read_only=True) as mem:
        same = _call(mem.concept_key, concept_a)
        if same is not None and same == _call(mem.concept_key, concept_b):  # exited 1, as "no path" does
            raise click.UsageError(f"{concept_a!r} and {concept_b!r} are the same concept ({same!r}); "
                                   f"give two concepts")
        paths = _call(mem.bridges, concept_a, concept_b, k=k)
        why = "; ".join(f"{c!r}: {w}" for c in dict.fromkeys((concept_a, concept_b)) if (w := _unknown(mem, c))) \
            if not paths else ""
        notes = [] if quiet else read_as(mem, concept_a) + read_as(mem, concept_b)
    for note in notes:
        click.echo(note, err=True)
    if as_json:
        click.echo(json.dumps(paths, ensure_ascii=False))
    elif not paths:
        click.echo(f"no path between {concept_a!r} and {concept_b!r}" + (f" ({why})" if why else ""), err=True)
    for p in () if as_json else paths:
        line = p["written"][0]
        for w, c in zip(p["weights"], p["written"][1:]):
            line += f" —{w:.2f}→ {c}"
        click.echo(f"{p['strength']:.4f}  {line}")
    _found(paths)


def read_as(mem, concept: str) -> list[str]:
    """``["'churches' is no concept of this memory; read as 'church'"]`` when ``concept`` was found only with
    its plurals folded (as recall reads a query), else ``[]``: the user sees which concept answered."""
    from core.memory.associate import singular
    from core.memory.phrases import normalize

    key, folded = mem.concept_key(concept), normalize(concept)
    if key is None or key == folded or key != singular(folded):
        return []
    return [f"{concept!r} is no concept of this memory; read as {key!r}"]


def _unknown(mem, concept: str) -> str:
    """Why ``concept`` leads nowhere when it is no concept of the memory, with the concepts it may mean
    (``not a concept of this memory; like it: emperor, roman emperor``); "" for a known concept."""
    from core.memory._did_you_mean import likely_concepts

    if mem._concept_id(concept) is not None:
        return ""
    like = likely_concepts(mem, concept)
    return "not a concept of this memory" + (f"; like it: {', '.join(like)}" if like else "")


def _found(results: list) -> None:
    """Exit 1 when nothing was found, as grep does (and `graph` for an unknown concept): a script can test it.

    `associate` and `bridges` exited 0 with nothing found, printed or as `[]`."""
    if not results:
        raise SystemExit(1)


@click.command("reinforce")
@click.argument("query", type=TEXT)
@click.argument("chunk_ids", nargs=-1, required=True, type=int)
@MEMORY_OPTION
@click.option("--rate", default=0.5, show_default=True,
              type=click.FloatRange(0, 1, min_open=True, max_open=True),
              help="Soft-bound rate of this event, in (0, 1).")
def reinforce(query, chunk_ids, memory, rate):
    """Teach the memory that CHUNK_IDS answered QUERY (the chunk ids `recall` prints).

    Prints the event id; `mycelial unreinforce ID` undoes it.

    Example:

        mycelial reinforce "which band had Neil Peart as drummer?" 12 40 --memory my_memory
    """
    _existing(memory)
    with _open(memory) as mem:
        eid = _call(mem.reinforce, query, list(chunk_ids), rate=rate)
    click.echo(f"reinforcement {eid}: {count(len(set(chunk_ids)), 'chunk')}, rate {rate} "
               f"(undo: mycelial unreinforce {eid} --memory {shlex.quote(str(memory))})")


@click.command("unreinforce")
@click.argument("event_id", type=int)
@MEMORY_OPTION
def unreinforce(event_id, memory):
    """Undo one reinforcement event (its id was printed by `mycelial reinforce`).

    Example:

        mycelial unreinforce 3 --memory my_memory
    """
    _existing(memory)
    with _open(memory) as mem:
        if not _call(mem.unreinforce, event_id):
            raise click.ClickException(f"no reinforcement event {event_id} in {memory}; "
                                       f"list them with `mycelial reinforcements --memory {shlex.quote(str(memory))}`")
    click.echo(f"undid reinforcement {event_id}")


@click.command("reinforcements")
@MEMORY_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def reinforcements(memory, as_json):
    """List reinforcement events with their current (decayed) weight.

    Example:

        mycelial reinforcements --memory my_memory
    """
    _existing(memory)
    with _open(memory, read_only=True) as mem:
        events = mem.reinforcements()
        half = mem.reinforcement_half_life
    if as_json:
        click.echo(json.dumps(events, ensure_ascii=False))
        return
    from core.cli._report import _cell

    for e in events:
        click.echo(f"{e['id']:5d}  weight {e['weight']:.3f}  chunks {' '.join(map(str, e['chunk_ids']))}  "
                   f"{_cell(e['query'])}")
    n = count(len(events), "event")  # "1 events"
    days = f"{half:g} day" + ("" if half == 1 else "s")  # a half-life of 1 said "1 days"
    click.echo(f"{n}; half-life {days}" if half else f"{n}; no decay by age", err=True)


COMMANDS: list = [associate, bridges, reinforce, unreinforce, reinforcements]
