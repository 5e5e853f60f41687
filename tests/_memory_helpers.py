"""Helpers shared by the memory tests: a tiny real PDF writer, small real corpora, a crash harness."""
from __future__ import annotations

# Python source for a child process that opens the memory at sys.argv[1] and dies (exit 70) at the first
# SQL statement after the COMMIT of a transaction that wrote a forget-log entry: after the durable
# commit, before any derived file is saved. Append the call to run (it ends with os._exit(0)).
KILL_AFTER_FORGET_COMMIT = """
import json, os, sys
import numpy as np
from core.memory import SemanticMemory
mem = SemanticMemory(sys.argv[1])
seen = {"logged": False, "committed": False}
def trace(sql):
    if seen["committed"]:
        os._exit(70)
    if sql.startswith("INSERT INTO forget_log"):
        seen["logged"] = True
    elif seen["logged"] and sql == "COMMIT":
        seen["committed"] = True
mem.store_._conn.set_trace_callback(trace)
"""


def write_pdf(path, pages: list, title: str | None = None) -> None:
    """Write a minimal, valid PDF of Helvetica text (correct xref). A page is a str (one line) or a list of lines,
    each a str (set 14 points below the one before, the first at 720) or ``(y, text)`` (set at height ``y``; 792 is
    the top) or ``(x, y, text)`` (72 is the left margin). ``title``: the /Title of a document information dictionary
    (/Info)."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", None,
               "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for page in pages:
        y, shown = 734, []
        for line in ([page] if isinstance(page, str) else page):
            x, y, text = (line if len(line) == 3 else (72, *line)) if isinstance(line, tuple) else (72, y - 14, line)
            safe = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            shown.append(f"BT /F1 12 Tf {x} {y} Td ({safe}) Tj ET")
        stream = "\n".join(shown)
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
        content = len(objects)
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                       f"/Resources << /Font << /F1 3 0 R >> >> /Contents {content} 0 R >>")
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    info = ""
    if title is not None:  # UTF-16BE with its byte order mark: any title, in a PDF string of hex digits
        objects.append(f"<< /Title <FEFF{title.encode('utf-16-be').hex().upper()}> >>")
        info = f" /Info {len(objects)} 0 R"
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{obj}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{info} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    with open(path, "wb") as fh:
        fh.write(bytes(out))


def wiki_records(wiki_docs, n_docs: int = 6, n_sents: int = 12) -> list[dict]:
    """Real WikiText articles as records; sentences as paragraphs so chunks hit the embedding cache."""
    return [{"id": f"wiki{i}", "title": d.title, "text": "\n\n".join(d.sentences[:n_sents])}
            for i, d in enumerate(wiki_docs[:n_docs])]


def wait_first_document(proc, mem, seconds: float) -> None:
    """Poll the memory at `mem` (read-only) until its first document is committed, `proc` ends or time runs out:
    the point where a Ctrl-C interrupts an ingest that has something to keep."""
    import sqlite3
    import time

    end = time.monotonic() + seconds
    while proc.poll() is None and time.monotonic() < end:
        try:
            with sqlite3.connect(f"file:{mem / 'memory.sqlite'}?mode=ro", uri=True) as db:
                if db.execute("SELECT count(*) FROM documents").fetchone()[0]:
                    return
        except sqlite3.Error:
            pass
        time.sleep(0.005)


def untrained_memory(folder, wiki_sample, n: int):
    """Build at ``folder`` a memory of ``n`` vectors whose exact index is not trained (its train_at was higher):
    the next writable open with ``train_at <= n`` trains it in the background. Real WikiText sentence vectors,
    each repeated with a little noise (no two alike). Returns the unit vectors, row i stored as doc ``i``."""
    import numpy as np

    from core.memory import SemanticMemory
    from core.reasoning.mycelial.numpy_codec import load_default_numpy

    base = wiki_sample[2][:2000]
    X = np.repeat(base, -(-n // len(base)), axis=0)[:n]
    X += 0.02 * np.random.default_rng(0).standard_normal(X.shape, dtype=np.float32)  # float32 draws: 2x faster at 100k
    with SemanticMemory(folder, codec=load_default_numpy(), train_at=10**7) as mem:
        mem.ingest_vectors(range(len(X)), X)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def training_children(pid: int) -> list[int]:
    """The processes training an index (``core.memory._train_child``) that process ``pid`` started (needs /proc)."""
    from pathlib import Path

    found = []
    for proc in Path("/proc").iterdir():
        try:
            if not proc.name.isdigit():
                continue
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid == pid and b"core.memory._train_child" in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except (OSError, ValueError, IndexError):
            pass
    return found


def running(pids) -> list[int]:
    """Those of ``pids`` still running (not gone, not a zombie waiting to be reaped)."""
    from pathlib import Path

    alive = []
    for pid in pids:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                alive.append(pid)
        except (OSError, IndexError):
            pass
    return alive


def read_one(path):
    """The one record the readers give for the file at ``path``, which reads without an error."""
    from core.memory.readers import read_paths

    errors: list = []
    recs = list(read_paths(path, errors))
    assert errors == [] and len(recs) == 1, (errors, recs)
    return recs[0]
