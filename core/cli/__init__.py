"""The ``mycelial`` command line: one thin group; each topic's commands live in their own module.

Heavy libraries (torch, faiss, sentence-transformers) are imported inside the commands,
so ``mycelial --help`` stays instant.
"""
from __future__ import annotations

import errno
import importlib
import logging
import shlex
import warnings

import click

_COMMAND_MODULES = ("vqvae", "graph", "memory", "repair", "recall", "documents", "pipeline", "serve", "associate")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mycelial")
    except PackageNotFoundError:  # a source checkout that was never installed
        return "0+unknown"


class _Group(click.Group):
    """A missing optional extra (plots, eval) is a one-line error naming the pip command, not a traceback;
    so is a file system or disk error (a full disk, a file that cannot be written)."""

    def invoke(self, ctx):
        import sqlite3

        from core._extras import MissingExtraError

        words = [*getattr(ctx, "_protected_args", ()), *ctx.args]  # click empties them before parsing a command's
        cmd = self.get_command(ctx, words[0]) if words else None
        if cmd is not None and (twice := _repeated_option(cmd, words[1:])):
            raise click.UsageError(twice, ctx)
        try:
            with warnings.catch_warnings():  # the library's warnings as one line each, no source line
                warnings.showwarning = _one_line_warning
                # the Python API's IngestWarning: the commands list an ingest's problems themselves
                warnings.filterwarnings("ignore", message="ingest: ", category=UserWarning)
                return super().invoke(ctx)
        except click.NoSuchOption as exc:  # `get -leading-dash.txt` said "No such option: -l" and no more
            word = next((a for a in words if a.startswith(exc.option_name)
                         and len(a) > len(exc.option_name) and not a.startswith("--")), None)
            if word is not None:
                exc.message += (f" A name that starts with '-' goes after `--`: mycelial {words[0]} ... -- "
                                f"{shlex.quote(word)}")
            raise
        except MissingExtraError as exc:
            raise click.ClickException(str(exc)) from None
        except (OSError, sqlite3.OperationalError) as exc:
            if getattr(exc, "errno", None) == errno.EPIPE:  # `mycelial list | head -1`
                _closed_pipe()
            logging.getLogger("mycelial").debug("stopped by", exc_info=True)  # -vv shows where
            kept = ctx.meta.get(KEPT_ON_FULL_DISK) or _KEPT_ON_FULL_DISK.get(words[0] if words else "")
            raise click.ClickException(_os_error(exc, kept)) from None

    def resolve_command(self, ctx, args):
        """An unknown command that names one of ours in other words (``query``, ``add``) says which.

        Click only suggests names spelled alike: ``mycelial query`` said "No such command 'query'"
        and nothing more, though ``recall`` is what was meant."""
        name = args[0] if args else ""
        if name in _OTHER_WORDS and self.get_command(ctx, name) is None and not ctx.resilient_parsing:
            ours = _OTHER_WORDS[name]
            raise click.UsageError(f"No such command {name!r}. Did you mean {ours!r}? ({ours}: "
                                   f"{self.get_command(ctx, ours).get_short_help_str(50)})", ctx)
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.NoSuchCommand as exc:  # click's difflib (ratio 0.6) offered `serve` for `merge`
            exc.possibilities = _slips(name, self.list_commands(ctx))
            raise


def _slips(typed: str, names: list[str]) -> list[str]:
    """The command names ``typed`` is a slip of: at most one typing slip (a letter missing, extra, wrong or two
    swapped) per four letters, or the start of the name (``reinf``). Click's likeness ratio of 0.6 offered an
    unrelated command (`merge` -> `serve`, two letters of five changed)."""
    typed = typed.casefold()
    return [n for n in names if _distance(typed, n) <= max(1, len(typed) // 4)
            or (len(typed) >= 3 and n.startswith(typed))]


def _distance(a: str, b: str) -> int:
    """Edits from ``a`` to ``b`` (insert, delete, replace, swap two neighbours: optimal string alignment)."""
    prev2, prev = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def _repeated_option(cmd: click.Command, args: list[str]) -> str | None:
    """"--memory is given twice (a, b): give it once" for an option that takes one value: click kept the last,
    so `recall -m notes -m papers` asked papers alone, without a word (the HTTP API refuses a repeated parameter)."""
    single = {o: p for p in cmd.params if isinstance(p, click.Option) and not (p.multiple or p.count or p.is_flag)
              for o in p.opts}
    seen: dict[str, list] = {}
    i = 0
    while i < len(args) and args[i] != "--":
        word = args[i]
        name, value = word.partition("=")[0], word.partition("=")[2] if "=" in word else None
        if name not in single and not word.startswith("--") and word[:2] in single:  # -k5
            name, value = word[:2], word[2:]
        if name in single:
            if value is None:
                i += 1
                value = args[i] if i < len(args) else ""
            seen.setdefault(single[name].name, []).append((name, value))
        i += 1
    for given in seen.values():
        if len(given) > 1:
            names = "/".join(dict.fromkeys(n for n, _ in given))
            return f"{names} is given {len(given)} times ({', '.join(shlex.quote(v) for _, v in given)}): give it once"
    return None


# what people type for our commands (git, pip, sqlite and search tools' words)
_OTHER_WORDS = {"query": "recall", "search": "recall", "ask": "recall", "find": "recall",
                "add": "ingest", "import": "ingest", "load": "ingest", "index": "ingest",
                "remove": "forget", "delete": "forget", "rm": "forget",
                "ls": "list", "show": "get", "cat": "get", "server": "serve", "info": "stats", "status": "stats",
                "check": "repair", "verify": "repair", "fsck": "repair",  # click offered nothing for `check`
                "where": "recall", "filter": "recall",  # `where` is recall's --where; click offered `serve`
                "sync": "ingest", "update": "ingest"}  # `ingest --sync` updates a memory from its folders


SIGPIPE_STATUS = 141  # 128 + SIGPIPE: what a shell reports for `seq 1000000 | head -1`'s seq


def _closed_pipe():
    """The reader of stdout went away: stop quietly with 141, as a tool killed by SIGPIPE does.

    Click's own handling exited 1, like a real error; and output still buffered when the process
    ended gave "Exception ignored ... BrokenPipeError" on stderr. As the Python docs advise
    (signal, "Note on SIGPIPE"), stdout is pointed at /dev/null so nothing is written to the pipe again.
    """
    import os
    import sys

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout (a test runner's): nothing left to flush to a pipe
        pass
    raise SystemExit(SIGPIPE_STATUS)


# what a full disk left, by command (a command may say it better in ``ctx.meta[KEPT_ON_FULL_DISK]``): forget
# and repair said the ingest's "the documents committed before it are kept"
KEPT_ON_FULL_DISK = "mycelial.kept_on_full_disk"
_KEPT_ON_FULL_DISK = {
    "forget": "nothing was forgotten (a forget is all or none): free some space and run the command again",
    "repair": "memory.sqlite and its documents are as they were (the index files are rebuilt from it when the "
              "memory next opens): free some space and run the command again",
}


def _os_error(exc: Exception, kept: str | None = None) -> str:
    """``No space left on device: 'm/index.3.npz'``; a full disk says what the command kept."""
    if isinstance(exc, OSError) and exc.strerror:
        name = exc.filename2 or exc.filename  # os.replace(tmp, path): the path
        msg = exc.strerror + (f": {name!r}" if name else "")
    else:
        msg = str(exc)
    if getattr(exc, "errno", None) == errno.ENOSPC or "disk is full" in msg:
        msg += "; " + (kept or "the documents committed before it are kept: free some space and run the command again")
    return msg


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Python's default shows ``semantic.py:99: UserWarning: ...`` plus the code line: noise to a user."""
    click.echo(f"Warning: {message}", err=True)


def _print_version(ctx, _param, value) -> None:
    """--version, looked up only when asked (importlib.metadata costs ~0.1 s of every command)."""
    if value and not ctx.resilient_parsing:
        click.echo(f"mycelial {_version()}")
        ctx.exit()


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show the version and exit.")
def cli():
    """Mycelial: an associative memory over 4-byte VQ-VAE codes and a Hebbian network.

    Example:

        mycelial ingest notes/ --memory my_memory

        mycelial recall "what goes with this?" --memory my_memory
    """


for _name in _COMMAND_MODULES:
    for _command in importlib.import_module(f"core.cli.{_name}").COMMANDS:
        cli.add_command(_command)


def main() -> None:
    import sys

    try:
        try:
            cli()
        finally:  # output still buffered meets the closed pipe here, not in the interpreter's exit
            sys.stdout.flush()
    except BrokenPipeError:
        _closed_pipe()
