"""The Dask client of `mycelial ingest --workers N` (a local cluster) or `--scheduler ADDRESS` (an existing one).

Why not just ``Client(address, timeout=5)``: its timeout covers the TCP connect, not the handshake
after it, so an address where something else listens (the dashboard's port 8787, any web server)
waited forever, and a service that answered with other bytes ended in a MemoryError traceback
("Unable to allocate 3.07 EiB"). The address is probed first, with one deadline for both.
Why the workers of the local cluster ignore SIGINT: Ctrl-C in a terminal reaches the whole process
group, and each worker printed a KeyboardInterrupt traceback and died (the scheduler then logged the
scattered parts lost); this process stops them itself on its way out. And the scheduler in this process
hooks a callback into every full garbage collection (timing it with a psutil call): a Ctrl-C landing
there was "Exception ignored in GCDiagnosis._gc_callback", and the ingest went on to the end (1 in 5
tries): that callback is removed.
"""
from __future__ import annotations

import os
import signal
from contextlib import ExitStack, contextmanager

import click

from core.cli._signals import signals_held
from core.text import count

CONNECT_SECONDS = 5.0
WORKERS_PER_CORE = 4  # a local worker is a process with its own model: more only compete for the cores


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def check_workers(workers: int | None) -> None:
    """Refuse a local cluster of more worker processes than this machine can run (100,000 hung, starting them)."""
    cap = WORKERS_PER_CORE * _cores()
    if workers is not None and workers > cap:
        raise click.UsageError(f"--workers {workers}: this machine has {count(_cores(), 'core')}, so at most "
                               f"{cap} local workers (each is a process that loads its own model); for more, start "
                               f"workers on other machines and give --scheduler ADDRESS")


def check_scheduler(scheduler: str | None) -> None:
    if scheduler is not None and not scheduler.strip():  # "" ingested serially, silently
        raise click.UsageError("--scheduler needs an address, e.g. tcp://host:8786 (got an empty one)")


REFUSED_AFTER = 0.5  # seconds without a handshake before a plain connect asks whether anything listens at all


def _refused(address: str) -> tuple | None:
    """``(host, port)`` of ``address`` when a TCP connect there is refused (nothing listens), else None. Asked
    only when the handshake is late: a plain connect closed unanswered is an INFO line in a scheduler's log."""
    import socket

    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, loc = parse_address(address)
        if scheme not in ("tcp", "tls"):
            return None
        where = parse_host_port(loc)
        socket.create_connection(where, timeout=CONNECT_SECONDS).close()
    except ConnectionRefusedError:
        return where
    except (OSError, ValueError):
        pass
    return None


def probe(address: str) -> None:
    """Connect to ``address`` and complete the Dask handshake within CONNECT_SECONDS, else a ClickException.

    A port where nothing listens is said at once: distributed retries a refused connect until its timeout and
    then said "Timed out trying to connect ... after 5 s"."""
    import asyncio

    from distributed.comm import connect
    from distributed.security import Security

    async def handshake():
        comm = await connect(address, timeout=CONNECT_SECONDS, **Security().get_connection_args("client"))
        await comm.close()

    async def handshake_or_refused():
        task = asyncio.ensure_future(handshake())
        done, _ = await asyncio.wait({task}, timeout=REFUSED_AFTER)
        if not done and (where := await asyncio.get_running_loop().run_in_executor(None, _refused, address)):
            task.cancel()
            raise ConnectionRefusedError(*where)
        await task

    start = f"cannot reach the Dask scheduler at {address}"
    advice = "start one with `dask scheduler` and `dask worker ADDRESS`, or use --workers N"
    try:
        asyncio.run(asyncio.wait_for(handshake_or_refused(), CONNECT_SECONDS + 1))
    except ConnectionRefusedError as exc:
        host, port = exc.args
        raise click.ClickException(f"{start}: nothing listens there (connection refused); check the address, or "
                                   f"start a scheduler there with `dask scheduler --host {host} --port {port}` and "
                                   f"workers with `dask worker {address}`, or use --workers N") from None
    except asyncio.TimeoutError as exc:  # the connect's own timeout says so in its message; this one is silent
        if str(exc):
            raise click.ClickException(f"{start} ({exc}); {advice}") from None
        raise click.ClickException(f"{start}: something listens there but does not answer as a Dask scheduler "
                                   f"(no handshake in {CONNECT_SECONDS + 1:.0f} s; the dashboard's port 8787? a "
                                   f"scheduler listens on 8786 unless told otherwise)") from None
    except (OSError, ValueError, TypeError) as exc:
        raise click.ClickException(f"{start} ({exc}); {advice}") from None
    except Exception as exc:  # bytes that are not Dask's: a MemoryError for a forged frame size, a decode error
        raise click.ClickException(f"{start}: the service there is not a Dask scheduler (its answer could not be "
                                   f"read as Dask's: {_unreadable(exc)}); check the address and port") from None


def _unreadable(exc: Exception) -> str:
    """Why a service's answer was not Dask's, in words: "MemoryError" read as if this process ran out of memory
    (a forged frame size asks for an absurd buffer)."""
    if isinstance(exc, MemoryError):
        return "it announced a message too large to be one"
    return type(exc).__name__


def _local_cluster(stack: ExitStack, workers: int, log_level: int):
    """A client of a new local cluster of ``workers`` processes, both closed by ``stack``."""
    from multiprocessing import resource_tracker

    from distributed import Client, LocalCluster
    from distributed.gc import disable_gc_diagnosis

    # started here first: started by the cluster, it unblocks SIGINT and SIGTERM in the thread that starts it,
    # and the workers spawned from that thread's children got them again (`signals_held`)
    resource_tracker.ensure_running()
    # a Ctrl-C (or SIGTERM) while the cluster starts is handled once it runs, and then closes it whole
    with signals_held(signal.SIGINT, signal.SIGTERM):
        # dashboard_address=None still starts the scheduler's HTTP server on 8787 (and a second ingest
        # printed "Port 8787 is already in use ... Hosting the HTTP server on port N instead"): any free port
        cluster = stack.enter_context(LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0",
            silence_logs=log_level, preload=[__name__]))
        client = stack.enter_context(Client(cluster))
        disable_gc_diagnosis(force=True)
    return client


def dask_setup(worker) -> None:
    """Preload of the local cluster's workers (run in the worker's main thread): ignore SIGINT.

    The worker started with SIGINT and SIGTERM blocked (`dask_client` holds them while the cluster starts):
    one sent to the process group meanwhile is dropped here (the ingest got it too, and closes the cluster;
    a SIGTERM killed the worker: "Nanny failed to start worker process"); later SIGTERMs end it as before."""
    import signal

    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        term = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    except ValueError:  # not the main thread (a future distributed): a noisy Ctrl-C, not a worker that fails
        return
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, (signal.SIGINT, signal.SIGTERM))
    signal.signal(signal.SIGTERM, term)


@contextmanager
def dask_client(workers: int | None, scheduler: str | None, verbose: int = 0, lazy: bool = False):
    """A Dask client for a parallel ingest: N local worker processes, an existing scheduler, or None (serial).

    ``lazy``: for local workers, a function that starts the cluster on its first call and returns its client
    (the ingest calls it once a document needs embedding: a re-run on unchanged files starts none, ~4 s).

    The local cluster logs only CRITICAL (ERROR with -v): what the ingest cannot recover from reaches the
    user as an error of its own, and distributed's ERROR lines were about what it recovers from ("Removing
    worker ... caused the cluster to lose scattered data, which can't be recovered" for a killed worker
    whose batches were then embedded here) or, after Ctrl-C, about the cluster being torn down.
    """
    if not workers and scheduler is None:
        yield None
        return
    import logging

    if scheduler is not None:
        from distributed import Client

        probe(scheduler)
        try:
            client = Client(scheduler, timeout=CONNECT_SECONDS)
        except (OSError, ValueError, TypeError) as exc:
            raise click.ClickException(f"cannot reach the Dask scheduler at {scheduler} ({exc}); start one with "
                                       f"`dask scheduler` and `dask worker ADDRESS`, or use --workers N") from None
        with client, _workers_gone(scheduler):
            yield client
        return
    with ExitStack() as stack:
        started: list = []

        def start():
            """The client of the local cluster, started on the first call."""
            if not started:
                started.append(_local_cluster(stack, workers, logging.ERROR if verbose else logging.CRITICAL))
            return started[0]

        try:
            yield start if lazy else start()  # its workers have nannies: one that dies is started again
        except KeyboardInterrupt:  # the scheduler here, cut off mid-scatter: "Task exception was never retrieved"
            for name in ("distributed", "asyncio"):
                logging.getLogger(name).setLevel(logging.CRITICAL)
            raise


@contextmanager
def _workers_gone(address: str):
    """Dask's "No valid workers found" (a scatter once the cluster's last worker died, with no nanny to start it
    again: `dask worker --no-nanny`) as a WorkerError in the words of the 60 s wait for workers: the user saw
    Dask's line alone, and the new, empty memory folder was left (`_fresh.ingest_failed` removes it)."""
    from core.memory.parallel import WorkerError

    try:
        yield
    except (TimeoutError, ValueError) as exc:
        if str(exc) != "No valid workers found":
            raise
        raise WorkerError(f"the Dask cluster at {address} has no workers left (its last one stopped during the "
                          f"ingest and nothing started it again; `dask worker {address}` starts one)") from exc
