"""``mycelial recall``: one query or a JSONL file of them, as text or JSON."""
from __future__ import annotations

import json
import shlex
from pathlib import Path

import click

from core.cli._hits import print_hits
from core.cli.memory import (MEMORY_OPTION, MODES, TEXT, VERBOSE_OPTION, _one_thread_pools,
                             _open_for_queries, _parse_where)


# not ingest's option text: a query never makes a memory, and a memory refuses a backend other than its own
EMBEDDER_OPTION = click.option(
    "--embedder", type=click.Choice(["openvino-int8", "torch", "onnx", "onnx-int8"]), default=None,
    help="Embedding backend of the queries: the one the memory was built with (the default; another is "
         "refused). On a torch memory, `torch` embeds with torch itself instead of its numpy port "
         "(the same vectors to float32 rounding; slower to start).")


def _read_queries(path):
    out, problems, first = [], [], {}
    from core.memory._files import decode_text

    try:  # as ingest reads a file: UTF-8 with or without a BOM (Notepad's), or UTF-16 with its BOM
        lines = decode_text(Path(path).read_bytes(), str(path)).split("\n")  # not splitlines(): JSON may hold U+2028
    except ValueError as exc:
        raise click.ClickException(f"--queries {path}: {exc}") from None
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:  # a plain-text question, most often
            problems.append(f'error: {path}:{no}: not JSON ({exc.msg} at column {exc.colno}); expected {{"id": ..., "query": "..."}}')
            continue
        if not isinstance(rec, dict) or not isinstance(rec.get("query"), str) or not rec["query"].strip():
            problems.append(f'error: {path}:{no}: expected {{"id": ..., "query": "..."}}')
            continue
        try:  # this question's own chunk ids to leave out (its source passage), beside --exclude's
            own = _line_exclude(rec.get("exclude", []))
        except ValueError as exc:
            problems.append(f'error: {path}:{no}: "exclude": {exc}')
            continue
        qid = rec.get("id", no)
        key = json.dumps(qid, sort_keys=True)
        if key in first:  # answered twice under one id: a reader keyed by id kept one of them, without a word
            problems.append(f"note: {path}:{no}: id {key[:80]} repeats line {first[key]}; both lines are answered")
        first.setdefault(key, no)
        out.append((qid, rec["query"], own))
    return out, problems


def _line_exclude(value) -> tuple[int, ...]:
    """A line's ``"exclude"``: a list of chunk ids (or one id, or "12,40"), as a sorted tuple."""
    from core._validation import parse_chunk_ids

    if isinstance(value, bool) or not isinstance(value, (list, int, str)):
        raise ValueError(f"expected a list of chunk ids such as [12, 40], got {json.dumps(value)[:80]}")
    values = value if isinstance(value, list) else [value]
    if any(isinstance(v, bool) or not isinstance(v, (int, str)) for v in values):
        raise ValueError(f"expected a list of chunk ids such as [12, 40], got {json.dumps(value)[:80]}")
    return tuple(sorted(set(parse_chunk_ids(values))))


def _recall_lines(mem, items, exclude, **kwargs) -> list:
    """Hits of every ``(id, query, own exclude)`` line, in order: one batch per distinct exclude set."""
    groups: dict = {}
    for i, (_, _, own) in enumerate(items):
        groups.setdefault(tuple(sorted(set(exclude or ()) | set(own))), []).append(i)
    results: list = [None] * len(items)
    for ids, rows in groups.items():
        for i, hits in zip(rows, mem.recall_batch([items[i][1] for i in rows], exclude=list(ids) or None, **kwargs)):
            results[i] = hits
    return results


def _parse_exclude(values) -> list[int] | None:
    """``--exclude 12,40 --exclude 7`` -> [12, 40, 7]; a piece that is no chunk id is a usage error (exit 2)."""
    from core._validation import parse_chunk_ids

    try:
        return parse_chunk_ids(values) or None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--exclude") from None


def _say_why_no_hits(mem, hits, where_args, exclude=None) -> None:
    """An empty filter, an empty memory and an exclusion of every hit looked alike: say which it is."""
    from core.memory._hitinfo import metadata_there

    if not hits:
        why = (f"no document's metadata matches --where {' '.join(where_args)}{metadata_there(mem.store_, [a.partition('=')[0].strip() for a in where_args])}"
               if where_args else "the memory holds no documents" if not mem.store_.count_documents()
               else "nothing outside --exclude scored above zero" if exclude
               else "nothing scored above zero")
        click.echo(f"  no hits: {why}")


@click.command("recall")
@click.argument("query", required=False, type=TEXT)
@MEMORY_OPTION
@click.option("-k", default=10, show_default=True, type=click.IntRange(1, 10_000), help="Hits to return.")
@click.option("--mode", type=click.Choice(MODES), default="hybrid", show_default=True)
@click.option("--per-document", is_flag=True, help="At most one chunk per document.")
@click.option("--queries", type=click.Path(exists=True, dir_okay=False),
              help='JSONL file of {"id", "query"} lines (batch mode); a line\'s "exclude": [chunk ids] leaves '
                   'those out of its own hits.')
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one line per query in batch mode).")
@click.option("--explain", is_flag=True, help="Also print each hit's score parts, concepts, seed passages and nodes.")
@click.option("--context", type=click.IntRange(0, 100), default=0, show_default=True,
              help="Also show the N chunks before and after each hit in its document.")
@click.option("--where", multiple=True, metavar="KEY=VALUE", type=TEXT,
              help="Only documents whose metadata has KEY=VALUE (repeat: all keys must match; "
                   "the same key twice: any of its values). Applied before ranking.")
@click.option("--exclude", multiple=True, metavar="CHUNK_ID[,CHUNK_ID...]", type=TEXT,
              help="Leave these chunk ids out of the hits (every query's; repeat or separate with commas). "
                   "A hit's chunk id is printed after its document id.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but the answer (no loading bars, no notes on stderr).")
@EMBEDDER_OPTION
@VERBOSE_OPTION
def recall(query, memory, k, mode, per_document, queries, as_json, explain, context, where, exclude, quiet,
           embedder, verbose):
    """Recall the chunks that best answer QUERY (or every query of --queries).

    Example:

        mycelial recall "which emperor adopted Trajan?" --memory my_memory -k 5 --mode hybrid

        mycelial recall --queries questions.jsonl --memory my_memory --json

        mycelial recall "election results" --memory my_memory --where category=news --context 1 -q
    """
    from core.log import configure_cli

    configure_cli(verbose, quiet)
    if (query is None) == (queries is None):
        raise click.UsageError("give either a QUERY or --queries FILE.jsonl")
    where_args, where = where, _parse_where(where)
    exclude = _parse_exclude(exclude)
    if not Path(memory).is_dir():
        raise click.ClickException(f"no memory at {memory}; create one with "
                                   f"`mycelial ingest PATH --memory {shlex.quote(str(memory))}`")
    single = query is not None
    if not single:  # read before the model loads; a file with no query is an error, not an empty answer
        items, problems = _read_queries(queries)
        for p in problems:  # "error: ..." for a line skipped, "note: ..." for one answered
            click.echo(p, err=True)
        if not items:
            raise click.ClickException(f'no query could be read from {queries}: one JSON object a line, '
                                       f'{{"id": ..., "query": "..."}}')
    with _one_thread_pools(single), _open_for_queries(memory, embedder, single) as mem:
        if query is not None:
            try:
                hits = mem.recall(query, k=k, mode=mode, per_document=per_document, context=context, where=where,
                                  exclude=exclude)
            except ValueError as exc:
                raise click.ClickException(str(exc)) from None
            if as_json:
                click.echo(json.dumps([h.to_dict() for h in hits], ensure_ascii=False))
            else:
                print_hits(query, hits, explain)
                _say_why_no_hits(mem, hits, where_args, exclude)
            return
        try:
            results = _recall_lines(mem, items, exclude, k=k, mode=mode, per_document=per_document,
                                    context=context, where=where)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        for (qid, text, own), hits in zip(items, results):
            if as_json:
                click.echo(json.dumps({"id": qid, "query": text, "hits": [h.to_dict() for h in hits]},
                                      ensure_ascii=False))
            else:
                print_hits(text, hits, explain)
                # --queries printed only "query: ..." for each
                _say_why_no_hits(mem, hits, where_args, exclude or list(own))


COMMANDS = [recall]
