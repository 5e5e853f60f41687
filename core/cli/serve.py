"""`mycelial serve`: the HTTP API and web page over one or more memory folders."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from core.text import count



def _token(token_file) -> str | None:
    """The bearer token: --token-file wins over MYCELIAL_TOKEN; None when neither is set."""
    if token_file is not None:
        text = Path(token_file).read_text(encoding="utf-8-sig").strip()  # Notepad's BOM is not the token's
        if not text:
            raise click.ClickException(f"--token-file {token_file} is empty; put the token on its first line")
        return text.splitlines()[0].strip()
    env = os.environ.get("MYCELIAL_TOKEN", "").strip()
    return env or None


@click.command("serve")
@click.option("--memory", "-m", "memories", multiple=True, required=True, metavar="DIR|NAME=DIR",
              help="A memory folder to serve (created if missing), named by the folder; repeat for more.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; other than 127.0.0.1 needs a token.")
@click.option("--port", default=8470, show_default=True, type=click.IntRange(0, 65535))
@click.option("--token-file", type=click.Path(exists=True, dir_okay=False),
              help="File holding the bearer token (else MYCELIAL_TOKEN; else no auth, 127.0.0.1 only).")
@click.option("--max-body-mb", default=20.0, show_default=True, type=click.FloatRange(0.001, 1024),
              help="Largest request body accepted (413 above).")
def serve(memories, host, port, token_file, max_body_mb):
    """Serve memories over HTTP: a JSON API under /v1 (schema at /openapi.json) and a web page at /.

    Example:

        mycelial serve --memory notes/ --memory papers=/data/papers --port 8470

        curl "http://127.0.0.1:8470/v1/memories/notes/recall?q=who+adopted+Trajan&k=5"
    """
    from core.log import configure_cli
    from core.server.registry import parse_memory_spec

    configure_cli()  # warnings and errors to stderr: a failed background job's traceback went to a NullHandler
    from core.server.origin import LOOPBACK_HOSTS

    token = _token(token_file)
    if token is None and host not in LOOPBACK_HOSTS:
        raise click.ClickException(f"--host {host} would expose the memories without auth; set MYCELIAL_TOKEN "
                                   "or --token-file, or bind to 127.0.0.1")
    named = {}
    for spec in memories:
        try:
            name, folder = parse_memory_spec(spec)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        if name in named:
            raise click.ClickException(f"two memories are named {name!r}; name one with --memory NAME=DIR")
        named[name] = folder
    from core.memory.store import StoreError
    from core.server import create_app

    new = {n: f for n, f in named.items() if not _holds_a_memory(Path(f))}
    try:
        app = create_app(named, token=token, max_body=int(max_body_mb * 1024 * 1024),
                         loopback_only=host in LOOPBACK_HOSTS)
    except (ValueError, FileNotFoundError, StoreError) as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:  # it said "Aborted!" (exit 1); the memories opened so far are closed
        _stopped_while_opening(named)
    if "torch" in sys.modules:  # a torch memory's model (loaded at warm-up): one query at a time per thread,
        import torch  # thread pools only fight (see recall); the codec is numpy's, torch is not imported for it

        torch.set_num_threads(1)
    auth = "bearer token required" if token else "no token: local access only"
    for n, slot in app.state.registry.slots.items():
        if slot.memory.read_only:
            click.echo(f"Warning: memory {n!r} is served read-only: its folder is not writable", err=True)
    for n, f in new.items():  # `--memory notes=my_memroy` served a new, empty memory without a word
        click.echo(f"note: memory {n!r} is new and empty ({f} held no memory){_like_it(Path(f))}", err=True)
    try:
        sock = listen(host, port)
    except OSError as exc:  # it said "serving ... at" the port another server answers on, then failed
        app.state.registry.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port "
                                   "(or --port 0 for any free one)") from None
    port = sock.getsockname()[1]  # --port 0: the port the system gave
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"serving {', '.join(f'{n}={f}' for n, f in named.items())} at http://{shown}:{port}/ ({auth})",
               err=True)
    run(app, host, port, sock)


def listen(host: str, port: int):
    """A listening socket on ``host``:``port``, bound before the banner names the address (as uvicorn binds)."""
    import socket

    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _holds_a_memory(folder: Path) -> bool:
    from core.memory._folder import MARKER
    from core.memory._formats import is_memory

    return is_memory(folder, MARKER)


def _like_it(folder: Path) -> str:
    """"; did you mean my_memory?" when a memory folder beside ``folder`` that holds documents has a name close to
    its name (the new folder itself, made a memory by then, was the suggestion when given relative; an empty one an
    earlier typo made was another)."""
    import difflib

    here = folder.absolute()
    try:
        near = [p.name for p in here.parent.iterdir() if p != here and _holds_a_memory(p) and _has_documents(p)]
    except OSError:
        return ""
    close = difflib.get_close_matches(folder.name, near, n=1, cutoff=0.75)
    return f"; did you mean {folder.parent / close[0]}?" if close else ""


def _has_documents(folder: Path) -> bool:
    import sqlite3

    try:
        with sqlite3.connect(f"file:{folder / 'memory.sqlite'}?mode=ro", uri=True) as db:
            return db.execute("SELECT 1 FROM documents LIMIT 1").fetchone() is not None
    except sqlite3.Error:
        return False


def _stopped_while_opening(named: dict) -> None:
    """Ctrl-C before serving: say so and exit 130, as `mycelial ingest` does; further Ctrl-Cs are ignored."""
    from core.cli._fresh import _ignore_further_interrupts

    _ignore_further_interrupts()
    click.echo(f"\ninterrupted: stopped while opening {', '.join(named)}; nothing was served", err=True)
    raise SystemExit(130)


def _not_a_forced_exit(record) -> bool:
    """Drop the lifespan's "failure" of a second Ctrl-C: uvicorn then skips the app's shutdown and cancels it, and
    Starlette reports the CancelledError as a failed shutdown (a traceback); `run` closes the memories itself."""
    return not (record.levelno >= logging.ERROR and isinstance(record.msg, str)
                and record.msg.rstrip().endswith("asyncio.exceptions.CancelledError"))


def run(app, host: str, port: int, sock=None) -> None:
    """Serve ``app`` with uvicorn as `mycelial serve` does (its log: warnings and errors, to stderr).

    A stop by SIGTERM returns (exit 0); by Ctrl-C (SIGINT) it exits 130, as the other commands do. Uvicorn
    raises the signal that stopped it again once shut down: the process died by it (status -15), so the
    handlers in place then only note it. Once the memories are closed further signals are ignored: Python
    restores the default handlers as it finalises, and a Ctrl-C there killed the process (status -2)."""
    import signal
    import threading

    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:  # uvicorn's signal handler
            app.state.jobs.stop()  # background jobs stop at their next commit from the signal on
            super().handle_exit(sig, frame)

    server = Server(uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=10))
    logging.getLogger("uvicorn.error").addFilter(_not_a_forced_exit)
    came: list[int] = []

    def note(signum, frame) -> None:  # uvicorn's own handlers serve in between
        came.append(signum)
        server.should_exit = True  # one before uvicorn took the signals: it stops once started

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, note)
    try:
        server.run(sockets=[sock] if sock is not None else None)
    finally:  # a second Ctrl-C: uvicorn skipped the app's shutdown (jobs still running, memories open)
        registry = app.state.registry
        if not getattr(registry, "_closed", False):
            app.state.jobs.wait(now=True)  # each job ends at its next commit (a Ctrl-C here is held until then)
            registry.close()
            click.echo(f"mycelial serve: stopped; saved and closed {count(len(registry.slots), 'memory', 'memories')}", err=True)
    from core.cli.memory import _no_collection_at_exit

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
    _no_collection_at_exit()  # the memories are closed: the collector's walk at exit cost ~1 s (it died by the signal)
    if signal.SIGINT in came:
        raise SystemExit(130)
    if not server.started:  # as uvicorn.run: the app's startup failed
        raise SystemExit(3)


COMMANDS: list = [serve]
