"""What `mycelial ingest` and `demo` print of an ingest: its problems one a line (repeats counted) and the
summary line; and the one-field-a-line cleaning every listing uses."""
from __future__ import annotations

import os
import re

import click

from core.text import count  # noqa: F401 (the commands import it from here)


def _cell(text: str) -> str:
    """One field of a one-record-a-line listing: a tab or newline in a file name would split its line,
    and text someone else stored (a file name, a record id, a reinforced query) must not drive the
    terminal (escape sequences: an OSC sets the window title or the clipboard). A byte of a non-UTF-8 file
    name (os.fsdecode's U+DC80-U+DCFF) is shown as ``\\xe9``, as the HTTP upload error shows it, not as the
    ``\\udce9`` stderr's backslashreplace made of it."""
    from core.memory.records import _TERMINAL

    text = _TERMINAL.sub("", text).replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return _ESCAPED_BYTE.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", text)


def quoted(doc_id: str) -> str:
    """An id in an error message, quoted and as `list` shows it: ``repr`` doubled the backslash of ``new\\nline.txt``
    (neither the id as typed nor as listed)."""
    return f"'{_cell(doc_id)}'"


_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
_UNESCAPE = {"\\t": "\t", "\\n": "\n", "\\r": "\r"}


def as_stored(store, doc_id: str) -> str:
    """The stored id that ``doc_id`` names as ``list`` shows it (`_cell`): ``new\\nline.txt`` for a file named with
    a newline. `get` and `forget` of the id as shown said "no document"; an id stored so is taken first."""
    if "\\" not in doc_id or store.document(doc_id) is not None:
        return doc_id
    raw = re.sub(r"\\[tnr]", lambda m: _UNESCAPE[m.group()], doc_id)
    return raw if raw != doc_id and store.document(raw) is not None else doc_id


SAME_PROBLEM_SHOWN = 3  # lines of one file shown with one problem; the rest are counted


def _problem(message: str) -> str:
    """What one error shares with others of its kind: its message, but of a repeated id the kind alone
    (MuSiQue's corpus with --fields id=title printed 126 lines, one an id)."""
    return "duplicate id" if message.startswith("duplicate id ") else message


def print_errors(errors, verbose: int = 0) -> None:
    """One line an error, but one file's lines with the same problem (a JSONL file of another schema: 50,000
    lines of 'missing "text"') are shown three times, then counted in one line; so are empty files. A folder's
    entries that are not regular files are named five times, then counted (``verbose``: one a line, all)."""
    from core.memory._formats import is_json
    from core.memory.records import is_empty_file

    empty = [e for e in errors if is_empty_file(e)]
    hidden = {id(e) for e in empty[SAME_PROBLEM_SHOWN:]} if len(empty) > SAME_PROBLEM_SHOWN + 1 else set()
    seen: dict[tuple, list] = {}
    for err in errors:
        if id(err) in hidden:  # a folder of 200 empty placeholder files: three named, the rest counted
            continue
        seen.setdefault((err.source, _problem(err.message), getattr(err, "skipped", False), err.line is None),
                        []).append(err)
    for (source, message, skipped, _), group in seen.items():
        kind = "skipped" if skipped else "error"
        for err in group[:SAME_PROBLEM_SHOWN if len(group) > SAME_PROBLEM_SHOWN + 1 else None]:
            _echo_error(kind, err, verbose)
        if len(group) > SAME_PROBLEM_SHOWN + 1:
            rest = group[SAME_PROBLEM_SHOWN:]
            # a JSON file's records may share a line (one-line JSON: "lines 1-1")
            what = "more record" if is_json(source) else "more line"
            where = f"line {rest[0].line}" if rest[0].line == rest[-1].line else f"lines {rest[0].line}-{rest[-1].line}"
            click.echo(f"{kind}: {_cell(source)}: {count(len(rest), what)} with the same problem ({where})", err=True)
    if hidden:
        click.echo(f"skipped: {count(len(hidden), 'more empty file')}", err=True)


def _echo_error(kind: str, err, verbose: int) -> None:
    """One error's line; a skip line that names some of a folder's entries says how to see them all (its
    sixth was "...", never named, even with -v), and with ``verbose`` is one line an entry instead."""
    entries = getattr(err, "entries", ())
    if not entries:
        click.echo(f"{kind}: {_cell(str(err))}", err=True)
    elif not verbose:
        click.echo(f"{kind}: {_cell(str(err))} (-v lists them)", err=True)
    else:
        for name, why in entries:
            click.echo(f"{kind}: {_cell(os.path.join(err.source, name))}: {_cell(why)}", err=True)


def print_report(rep, verbose: int = 0, same_text: bool = True) -> None:
    """The problems of an ingest (``verbose``: every skipped entry named), then its summary line and notes.
    ``same_text=False``: the caller says the copies stored again itself (after `--sync`, `print_same_text`)."""
    from core.memory.records import is_empty_file

    errors = [e for e in rep.errors if not getattr(e, "skipped", False)]
    empty = sum(map(is_empty_file, rep.errors))  # not errors: they failed an ingest of nothing else
    print_errors(rep.errors, verbose)
    click.echo(f"{count(rep.documents, 'document')} ingested ({count(rep.chunks, 'chunk')}: {rep.new_chunks:,} new, "
               f"{f'{rep.kept_chunks:,} kept from the version replaced, ' if rep.kept_chunks else ''}"
               f"{count(rep.duplicate_chunks, 'duplicate')}), {rep.unchanged:,} unchanged, "
               f"{f'{rep.moved:,} moved (their new place recorded{_gone(rep.moved_gone)}), ' if rep.moved else ''}"
               f"{rep.replaced:,} replaced, "
               f"{count(len(errors), 'error')}, {'skipped ' + count(empty, 'empty file') + ', ' if empty else ''}"
               f"{rep.seconds:.1f}s")
    for (was, now), n in sorted(rep.replaced_across.items()):  # "1 replaced" alone: a record took a file's id
        click.echo(f"note: {count(n, 'document')} of {_cell(was)} replaced by {_cell(now)}'s with the same "
                   f"{'id' if n == 1 else 'ids'} (a record's id is its update key; give each source its own ids, "
                   f"e.g. a prefix, to keep both)", err=True)
    print_dropped(rep.reinforcements_dropped)
    if same_text:
        print_same_text(rep.same_text)


def print_dropped(dropped: dict) -> None:
    """One note for the reinforcements an edit left with no passage (they went silently: `unreinforce` then said
    "no reinforcement event 1")."""
    if not dropped:
        return
    ids = ", ".join(map(str, list(dropped)[:5])) + (f" and {len(dropped) - 5:,} more" if len(dropped) > 5 else "")
    docs = list(dict.fromkeys(d for d in dropped.values() if d))
    of = ", ".join(map(_cell, docs[:2])) + (f" and {len(docs) - 2:,} more" if len(docs) > 2 else "")
    what, whose = ("reinforcement", "its passage") if len(dropped) == 1 else ("reinforcements", "their passages")
    click.echo(f"note: {what} {ids} dropped: {whose}{f' of {of}' if of else ''} changed "
               f"(`mycelial reinforce` the new one to keep the feedback)", err=True)


def print_same_text(same: dict, forgot=()) -> None:
    """One note for the new documents another id holds already, two of them named. ``forgot``: the ids `--sync`
    forgot after the ingest: a pair whose old id it forgot is a file moved (one copy left), named
    as moved, not as a copy to forget (the advice was done already, and following it lost the only copy)."""
    gone = set(forgot)
    moves = {new: old for new, old in same.items() if old in gone}
    if moves:
        shown = ", ".join(f"{_cell(old)} -> {_cell(new)}" for new, old in list(moves.items())[:2])
        more = f" and {len(moves) - 2:,} more" if len(moves) > 2 else ""
        click.echo(f"note: {count(len(moves), 'document')} moved ({shown}{more}): stored under the "
                   f"new id, and --sync forgot the old one", err=True)
    same = {new: old for new, old in same.items() if new not in moves}
    if not same:
        return
    shown = ", ".join(f"{_cell(new)} as {_cell(old)}" for new, old in list(same.items())[:2])
    more = f" and {len(same) - 2:,} more" if len(same) > 2 else ""
    click.echo(f"note: {count(len(same), 'document')} stored again under another id ({shown}{more}): the same "
               f"text and title were stored already, from another folder or path; `mycelial forget` one id to keep "
               f"one copy", err=True)


def _gone(n: int) -> str:
    """Of the moved documents, those whose file the moved folder no longer holds."""
    return f"; {n:,} of them no longer there: --sync forgets {'it' if n == 1 else 'them'}" if n else ""
