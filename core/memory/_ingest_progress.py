"""The ingest's progress bar: its total when it is cheap to know beforehand (an ETA), and its updates."""
from __future__ import annotations

import os
from pathlib import Path

from core.memory._overlap import without_overlaps
from core.memory._formats import has_own_ids, is_gzip, kind, named_kind
from core.memory.readers import Record, folder_files
from core.memory.records import is_empty_file
from core.memory.types import IngestReport


def _expected_documents(source) -> int | None:
    """How many documents ``source`` holds, when that is cheap to know without consuming it
    (the progress bar's total, hence its ETA): records in a list, files of folders, lines
    of JSONL files. ``None`` for iterators, stdin and gzipped JSONL files."""
    items = [source] if isinstance(source, (str, os.PathLike, dict, Record)) else source
    if not isinstance(items, (list, tuple)):
        return None
    items = without_overlaps(items)[0]  # what is read: a folder given twice is read once
    n = 0
    for item in items:
        if isinstance(item, (dict, Record)):
            n += 1
            continue
        if not isinstance(item, (str, os.PathLike)) or str(item) == "-" or not str(item).strip():  # "": not the cwd
            return None
        path = Path(item)
        for f in folder_files(path)[0] if path.is_dir() else [path] if path.is_file() else []:
            what = kind(f) if path.is_dir() else named_kind(f)
            if (what == "jsonl" and is_gzip(f)) or has_own_ids(f) and what != "jsonl":  # known only by reading it all
                return None
            if what == "jsonl":
                try:  # an unreadable file is the reader's to report: it stopped the whole ingest here
                    with open(f, "rb") as fh:
                        n += sum(1 for line in fh if line.strip())
                except OSError:
                    pass
            elif what is not None:
                n += 1
    return n


class Reported:
    """A progress callable given to ``ingest(progress=fn)`` in place of the bar: ``fn(documents, chunks,
    embedding)`` after each commit (the documents and chunks done so far) and, while a long batch embeds,
    every half second with ``embedding`` = (chunks embedded, chunks to embed) of that batch (else None). The
    server's background jobs report a large upload's embedding with it: a 2,719-chunk file stood at 0/1."""

    def __init__(self, fn) -> None:
        self.fn, self.documents = fn, 0

    def close(self) -> None:
        pass


def progress_bar(progress, source):
    """The ingest's bar: a tqdm bar for True, a `Reported` for a callable, None for False."""
    if callable(progress):
        return Reported(progress)
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=_expected_documents(source), unit="doc", desc="ingest")


def _progress(bar, documents: int, report: IngestReport) -> None:
    """Advance the bar by the documents just committed and the inputs that failed since its last step: its total
    counts those too (a folder of 18 good files, 3 bad ones and a JSONL file with 3 bad lines ended at 69/75)."""
    if isinstance(bar, Reported):
        bar.documents += documents
        bar.fn(bar.documents, report.chunks, None)
        return
    if bar is None:
        return
    failed = _new_failures(bar, report)
    if documents or failed:
        # the counts first: set after update(), they showed on the next step ("30/200" with no chunks)
        # as text: tqdm shortens numbers, so 10,009 chunks showed as "chunks=1e+4"
        bar.set_postfix(chunks=str(report.chunks), new=str(report.new_chunks), refresh=False)
        if bar.total is not None and bar.n + documents + failed > bar.total:  # a failure the total did not count
            bar.total = bar.n + documents + failed  # (a missing path, an unreadable JSONL file): never past 100 %
        bar.update(documents + failed)


def _new_failures(bar, report: IngestReport) -> int:
    """The inputs that failed or were found empty since the bar's last step. A folder's notes are not counted:
    what they name (entries that are not files, unsupported suffixes) is not in the total."""
    seen = getattr(bar, "mycelial_errors", 0)
    bar.mycelial_errors = len(report.errors)
    return sum((is_empty_file(e) or not getattr(e, "skipped", False)) and not os.path.isdir(e.source)
               for e in report.errors[seen:])


def _finished(bar, report: IngestReport) -> None:
    """The last step of an ingest that ran to its end: the failures after the last commit, and a total the
    inputs did not fill (where the count and the reader disagree) taken down to what was done: 100 %."""
    if bar is None or isinstance(bar, Reported):
        return
    _progress(bar, 0, report)
    if bar.total is not None and bar.n < bar.total:
        bar.total = bar.n
        bar.refresh()


def _embedding_wait(bar, report: IngestReport):
    """What the bar shows while a commit waits for a long batch's embedding: ``embedding=4,096/19,925``
    chunks (None without a bar). The next commit's update drops it."""
    if bar is None:
        return None
    if isinstance(bar, Reported):
        return lambda done, total: bar.fn(bar.documents, report.chunks, (done, total))

    def show(done: int, total: int) -> None:
        bar.set_postfix(chunks=str(report.chunks), new=str(report.new_chunks), embedding=f"{done:,}/{total:,}")

    return show


def workers_wait(bar, report: IngestReport, inflight, n_workers: int):
    """What a parallel ingest's bar shows while it waits for the workers, ``waiting(batch)``: of the chunks of
    the batches sent to embed (``batch``, ``inflight``), those that came back (``embedding=1,024/3,072``, as a
    serial bar shows its batch's); before any was sent, that the workers read. It stood at 0/200 for 39-90 s
    while they started, loaded the model and embedded the first batches, saying nothing."""
    show = _embedding_wait(bar, report)
    if show is None:
        return None

    def waiting(batch=None) -> None:
        sent = [b for b in ([batch] if batch is not None else []) + list(inflight) if b.future is not None]
        if sent:
            show(sum(len(b.need) for b in sent if b.future.done()), sum(len(b.need) for b in sent))
        elif hasattr(bar, "set_postfix") and report.chunks == 0:
            bar.set_postfix(chunks="0", new="0", workers=f"{n_workers} reading and chunking")

    return waiting
