"""`mycelial` sub-commands of the semantic memory: ingest, recall, stats, forget, demo.

Each command opens the memory, makes one library call and prints the result; known
errors become ``click.ClickException`` (a one-line message, exit code 1).
"""
from __future__ import annotations

import json
import os
import shlex
import sqlite3
import sys
from contextlib import contextmanager
from pathlib import Path

import click

from core.cli._fresh import ingest_failed, interrupted, remove_new_empty_memory
from core.cli._hits import print_hits
from core.cli._params import TEXT, not_blank
from core.cli._report import _cell, as_stored, count, print_report, print_same_text, quoted
from core.cli._sample import refuse_other_documents
from core.memory._hitinfo import where_of


def record_fields(ctx, param, value):
    """``--fields text=paragraphs,id=doc_id`` as `records.Fields` (None when not given); a bad spec is a usage error."""
    if value is None:
        return None
    from core.memory.records import Fields

    try:
        return Fields.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc).removeprefix("fields: "), ctx, param) from None


def user_path(ctx, param, value):
    """``--memory=~/m`` reaches us unexpanded (the shell expands no ``~`` after ``=``): ingest made ~/m (the
    library expands it) and every other command said "no memory at ~/m"."""
    return os.path.expanduser(value) if isinstance(value, str) else value


MEMORY_OPTION = click.option("--memory", "-m", "memory", required=True, type=click.Path(file_okay=False),
                             callback=user_path, help="Memory folder (made by `mycelial ingest`).")
NEW_MEMORY_OPTION = click.option("--memory", "-m", "memory", required=True, type=click.Path(file_okay=False),
                                 callback=user_path, help="Memory folder (created if missing).")
MODES = ("similar", "associative", "hybrid")
EMBEDDER_OPTION = click.option(
    "--embedder", type=click.Choice(["openvino-int8", "torch", "onnx", "onnx-int8"]), default=None,
    help="Embedding backend (default: the one the memory was built with; for a new memory openvino-int8, "
         "or torch with a warning when the openvino extra is not installed).")
SAMPLE_DIR = Path(__file__).resolve().parent.parent / "memory" / "sample"
VERBOSE_OPTION = click.option("--verbose", "-v", count=True, help="Log what the library does (-v info, -vv debug).")


def _parse_where(items) -> dict | None:
    """``--where`` options as the ``where`` of recall (see `core.memory._hitinfo.where_of`)."""
    try:
        return where_of(items)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--where") from None


def _open(folder, read_only: bool = False, embedder: str | None = None, create: bool = False):
    """Open a memory; read commands open it read-only (they never write, never wait for a writer)
    and without torch (see `_open_for_queries`). Only ``create`` (ingest, demo) makes a new memory:
    `forget` or `repair` on an empty folder (an unmounted disk) made one and said "0 documents"."""
    if read_only:
        return _open_for_queries(folder, embedder, single=True)
    path = Path(folder)
    if not create and not (path.is_dir() and any(path.iterdir())):
        raise click.ClickException(f"no memory at {folder}{' (an empty folder)' if path.is_dir() else ''}; "
                                   f"create one with `mycelial ingest PATH --memory {shlex.quote(str(folder))}`")
    return _open_with(folder, False, embedder)


def _open_with(folder, read_only: bool, embedder: str | None, codec=None):
    from core.memory import SemanticMemory
    from core.memory.lock import MemoryBusyError
    from core.memory.store import StoreError

    try:
        from core.embedding import TextEmbedder

        emb = TextEmbedder(backend=embedder) if embedder else None  # None: the memory's recorded backend
        return SemanticMemory(folder, read_only=read_only, embedder=emb, codec=codec)
    except (ValueError, FileNotFoundError, StoreError, MemoryBusyError) as exc:
        raise click.ClickException(str(exc)) from None


def _no_collection_at_exit() -> None:
    """Leave the objects alive at exit to the OS instead of the cyclic collector.

    At interpreter exit the collector walks every object numba, llvmlite and OpenVINO made
    (hundreds of thousands) and runs their finalizers: ~0.3-0.4 s of CPU after a one-shot
    query's answer was printed. ``gc.freeze()`` in an exit hook takes them out of its
    reach; objects are still freed by reference counting, and a read-only command has closed
    its memory and has nothing else to flush. Registered once a process; it runs only at exit,
    so a caller running the command in-process (tests, CliRunner) is unaffected until then."""
    import atexit
    import gc

    atexit.unregister(gc.freeze)  # once: another command in this process registers it again
    atexit.register(gc.freeze)


def _open_for_queries(folder, embedder: str | None, single: bool):
    """Open a memory read-only for recall without importing torch or sentence-transformers.

    The shipped VQ-VAE runs in numpy (the same codes as torch) and, unless ``--embedder``
    names a backend, a torch memory's queries are embedded without torch: one query by a
    numpy forward pass of the model, a batch by its fp32 ONNX export when that is already
    cached (else numpy too). Both give torch's vectors to float32 rounding (cosine >= 0.9999,
    tested).
    """
    from core.reasoning.mycelial.numpy_codec import load_default_numpy

    _no_collection_at_exit()  # every read-only command (recall, stats, get, associate, graph) opens here
    codec = load_default_numpy()  # None: weights the numpy path can't read; torch loads them
    try:
        mem = _open_with(folder, True, embedder, codec)
    except click.ClickException as exc:
        if codec is None or "VQ-VAE weights" not in exc.message:
            raise
        mem = _open_with(folder, True, embedder)  # the torch codec gives the real verdict
    emb = mem.embedder
    if embedder is None and getattr(emb, "backend", None) == "torch" and hasattr(emb, "torch_runtime"):
        emb.torch_runtime = "numpy"
        if not single:  # a batch: ONNX Runtime, once its export is cached (exporting needs torch, ~10 s)
            from core.embedding_onnx import is_exported

            if is_exported(emb._model_dir, quantized=False):
                emb.torch_runtime = "onnx"
    if single and getattr(emb, "backend", None) in ("onnx", "onnx-int8", "openvino-int8"):
        emb.threads = 1
    if single and (embedder == "torch" or "torch" in sys.modules):  # torch after all: one vector, one thread
        import torch

        torch.set_num_threads(1)
    return mem


@contextmanager
def _one_thread_pools(on: bool):
    """Every BLAS/OpenMP pool at one thread while one query runs: on a shared 2-core machine a
    second thread only waits for a core (numpy forward of one query: 160 -> 35 ms at load 7)."""
    if not on:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def _ingest_into(memory, fresh, paths, quiet, fields, embedder, workers, scheduler, verbose):
    """The ingest of `mycelial ingest`: (report, fresh, documents kept, failure to report once closed).

    The memory is opened and its write lock taken before a local Dask cluster starts: a memory another
    process writes (MYCELIAL_LOCK_TIMEOUT=10) was refused after 24 s, a read-only one after 6-10 s, the
    time of starting and stopping the workers first. Ctrl-C (and SIGTERM) exits here, saying what is kept.
    """
    from core.cli._dask import dask_client
    from core.memory.lock import MemoryBusyError
    from core.memory.parallel import WorkerError

    kept = failure = rep = None
    try:  # Ctrl-C while the memory or the model loads too: it said "Aborted!" and left a new, empty memory
        with _open(memory, embedder=embedder, create=True) as mem:
            try:
                with mem._writing(), dask_client(workers, scheduler, verbose, lazy=True) as client:
                    rep = mem.ingest(list(paths), progress=not quiet, client=client, fields=fields)
                fresh = fresh and mem.store_.count_documents() == 0
            except MemoryBusyError as exc:
                raise click.ClickException(str(exc)) from None
            except (ValueError, WorkerError, click.ClickException) as exc:  # said once the memory is closed
                failure, kept = exc, mem.store_.count_documents()  # (a new, empty one goes)
            except KeyboardInterrupt:  # what was committed stays (the memory is saved on the way out)
                kept = mem.store_.count_documents()
                raise
    except KeyboardInterrupt:
        interrupted(memory, fresh, kept)
    return rep, fresh, kept, failure


@click.command("ingest")
@click.argument("paths", nargs=-1, required=True)
@NEW_MEMORY_OPTION
@click.option("--quiet", "-q", is_flag=True, help="No progress bars (neither ingest's nor the model's loading bar).")
@click.option("--sync", is_flag=True, help="Also forget documents of the given folders whose files are gone.")
@click.option("--fields", default=None, metavar="ROLE=KEY,...", callback=record_fields,
              help="The keys of a JSON record's text, id and title when they are not text, id, title, e.g. "
                   "text=paragraphs,id=doc_id (every other key is metadata).")
@EMBEDDER_OPTION
@click.option("--workers", type=click.IntRange(min=1), default=None, metavar="N",
              help="Read, chunk and embed on N local worker processes (a Dask LocalCluster); the memory "
                   "ends up identical to a serial ingest.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Ingest on an existing Dask cluster, e.g. tcp://host:8786 (its workers must read the files).")
@VERBOSE_OPTION
def ingest(paths, memory, quiet, sync, fields, embedder, workers, scheduler, verbose):
    """Ingest files (.txt .md .rst .html .pdf .docx .pptx .odt .odp .epub .eml .jsonl, text without a suffix such as
    README, any of them gzipped), folders (recursive) or - (stdin) into a memory. A file named here is read
    as text whatever its suffix (wiki.test.raw, notes.log) unless it is binary or of a type that is no prose
    (.exe, .xlsx, .png).

    Bad inputs are reported with their file and line; the rest is still ingested.
    A JSONL record is {"id", "text", "title"?, ...metadata}; its text may be a list of
    paragraphs (strings or lists of sentences); `--fields` names other keys. A .json file
    named here (not in a folder) is read too: a list of records, one record, or an object
    of records or texts keyed by id; so are a mailbox (.mbox), a record a message, and a
    table (.csv, .tsv, .xlsx), a record a row under its header.
    Files of a folder get ids relative to it (`man/kill.txt`); `--sync` forgets the
    documents of that folder whose files were deleted or are now skipped (ten named, -v: all).

    Example:

        mycelial ingest notes/ paper.pdf records.jsonl --memory my_memory

        mycelial ingest brown.jsonl --fields text=paragraphs,id=doc_id -m brown

        mycelial ingest hotpotqa_corpus.json -m hotpot
    """
    from core.cli._dask import check_scheduler, check_workers, probe
    from core.cli._signals import sigterm_as_ctrl_c
    from core.log import configure_cli

    configure_cli(verbose, quiet)
    check_workers(workers)
    check_scheduler(scheduler)
    if sync and not any(p != "-" and Path(p).is_dir() for p in paths):
        raise click.UsageError("--sync needs at least one folder among the paths")
    if workers and scheduler is not None:
        raise click.UsageError("give either --workers or --scheduler, not both")
    missing = [p for p in paths if p != "-" and not os.path.lexists(p)]  # a broken link: the reader says so
    if len(missing) == len(paths):  # a typo: create no memory folder for nothing
        raise click.ClickException(f"{', '.join(p or repr(p) for p in missing)}: no such file or folder; "
                                   f"nothing was ingested")  # '' named as '' (it printed ": no such ...")
    if scheduler is not None:  # an unreachable scheduler must not leave a new, empty memory folder behind
        probe(scheduler)
    fresh = not os.path.lexists(memory)
    with sigterm_as_ctrl_c():  # `timeout`, `docker stop`, systemd: stopped as by Ctrl-C, exit 143
        rep, fresh, kept, failure = _ingest_into(memory, fresh, paths, quiet, fields, embedder, workers, scheduler,
                                                 verbose)
    if failure is not None:
        ingest_failed(memory, fresh, kept, failure)
    print_report(rep, verbose, same_text=not sync)
    empty = not (rep.documents or rep.unchanged)
    failed = empty and any(not getattr(e, "skipped", False) for e in rep.errors)  # skips alone are no failure
    forgot = []
    if sync and not (empty and fresh):  # a new empty memory has nothing to forget
        from core.cli.documents import sync_folders

        try:  # a failed run says its refusal only: "sync X: 0 documents forgotten" read as if it had done its work
            sync_folders(memory, paths, say_none=not failed, verbose=verbose, fields=fields, forgot=forgot)
        finally:  # after the sync: a moved file's old id it forgot is no second copy to forget
            print_same_text(rep.same_text, forgot)
    elif sync:
        print_same_text(rep.same_text)
    if not empty:
        return
    gone = fresh and remove_new_empty_memory(memory)
    if failed:
        raise click.ClickException("nothing was ingested" + (f"; no memory was made at {memory}" if gone else "")
                                   + ("; --sync forgot nothing" if sync and not gone and not forgot else ""))
    if gone:
        click.echo(f"nothing to store; no memory was made at {memory}", err=True)


@click.command("stats")
@MEMORY_OPTION
@click.option("--json", "as_json", is_flag=True,
              help="The same JSON on one line (`stats --json`, as other commands take, was 'No such option').")
def stats(memory, as_json):
    """Print the counts of a memory as JSON (documents, chunks, index, network, bytes on disk).

    Example:

        mycelial stats --memory my_memory
    """
    with _open(memory, read_only=True) as mem:
        click.echo(json.dumps(mem.stats(), indent=None if as_json else 2))


@click.command("forget")
@click.argument("doc_ids", metavar="ID [ID ...]", nargs=-1, required=True, type=TEXT)
@MEMORY_OPTION
def forget(doc_ids, memory):
    """Remove documents from the store, the vector index and the Hebbian network.

    Several ids are forgotten in one transaction, all or none: if any id names no
    document, the command forgets nothing, names the unknown ids and exits with 1.

    Example:

        mycelial forget notes/old.md --memory my_memory

        mycelial forget man/kill.txt man/tar.txt --memory my_memory
    """
    if not Path(memory).is_dir():
        raise click.ClickException(f"no memory at {memory}")
    from core.memory._did_you_mean import did_you_mean
    from core.memory.lock import MemoryBusyError

    with _open(memory) as mem:
        ids = list(dict.fromkeys(as_stored(mem.store_, i) for i in doc_ids))  # an id given twice is forgotten once
        try:
            with _committed_when_disk_full(mem, ids):
                if len(ids) == 1:
                    if not mem.forget(ids[0]):
                        raise click.ClickException(f"no document {quoted(ids[0])} in {memory}"
                                                   f"{did_you_mean(mem, ids[0]) or ';'} `mycelial list --memory "
                                                   f"{shlex.quote(str(memory))}` shows the ids")
                    done = ids
                else:
                    unknown = [i for i in ids if mem.store_.document(i) is None]
                    if unknown:
                        hint = did_you_mean(mem, unknown[0]) if len(unknown) == 1 else ""
                        raise click.ClickException(
                            f"no document {', '.join(map(quoted, unknown))} in {memory}{hint or ';'} forgot none of "
                            f"the {len(ids)} ids (`mycelial list --memory {shlex.quote(str(memory))}` shows the ids)")
                    done = mem.forget_many(ids)  # one transaction, one save of the derived state
        except (MemoryBusyError, ValueError) as exc:  # busy, or a read-only mount
            raise click.ClickException(str(exc)) from None
    for doc_id in done:
        click.echo(f"forgot {_cell(doc_id)}")  # as `list` shows it: a newline split the line
    if len(ids) > 1:
        gone = len(ids) - len(done)  # forgotten by another writer between the check and the forget
        click.echo(f"{count(len(done), 'document')} forgotten" + (f" ({gone} already gone)" if gone else ""))


@click.command("demo")
@click.option("--memory", "-m", default="mycelial_demo_memory", show_default=True, type=click.Path(file_okay=False),
              callback=user_path, help="Folder for the demo memory.")
@click.option("--query", default="Which emperor adopted Trajan as his successor?", show_default=True, type=TEXT,
              callback=lambda ctx, param, value: not_blank(value, param, ctx))
@click.option("-k", default=5, show_default=True, type=click.IntRange(1, 100))
def demo(memory, query, k):
    """Ingest the small real sample shipped with the package (WikiText-2 excerpts) and recall.

    Example:

        mycelial demo

        mycelial demo --query "Who was Nero's mother?" --memory /tmp/demo
    """
    with _open(memory, create=True) as mem:
        refuse_other_documents(mem, memory, SAMPLE_DIR)
        rep = mem.ingest([str(SAMPLE_DIR)], progress=sys.stderr.isatty())
        rep.errors = [e for e in rep.errors if not getattr(e, "skipped", False)]  # the sample's ATTRIBUTION.license
        print_report(rep)
        for mode in MODES:  # the three recall modes, side by side
            click.echo(f"\n== {mode} ==")
            print_hits(query, mem.recall(query, k=k, mode=mode, per_document=True))


@contextmanager
def _committed_when_disk_full(mem, ids):
    """A full disk after the forget's commit (while the index files are saved) says the forget was done:
    the message for a full disk during `forget` is otherwise "nothing was forgotten" (it is all or none)."""
    from core.cli import KEPT_ON_FULL_DISK

    try:
        yield
    except (OSError, sqlite3.OperationalError):
        try:
            gone = [i for i in ids if mem.store_.document(i) is None]
        except Exception:  # noqa: BLE001 - the error being raised is what the user must see
            gone = []
        if gone:
            click.get_current_context().meta[KEPT_ON_FULL_DISK] = (
                f"{count(len(gone), 'document')} forgotten all the same (memory.sqlite committed it): free some "
                f"space, and the index files are brought up to date from it when the memory next opens")
        raise


COMMANDS: list = [ingest, stats, forget, demo]
