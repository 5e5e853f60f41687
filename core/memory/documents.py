"""What a memory holds, document by document: list, get, and sync with an ingested folder.

Documents read from a folder carry the folder (``meta["root"]``, absolute) and an id
relative to it, so ``sync_folder`` can tell which of them vanished from the folder since.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from core.memory.readers import SUFFIXES, document_id, folder_files, unreadable_folder


def list_documents(mem, prefix: str | None = None) -> list[dict]:
    """``{"id", "title", "chunks", "source", "root"}`` of every document, sorted by id.

    ``prefix`` keeps ids starting with it (``"man/"``).
    """
    sql = "SELECT doc_key, title, source, meta, length(chunk_ids) FROM documents"
    args: tuple = ()
    if prefix:
        sql += " WHERE substr(doc_key, 1, ?) = ?"
        args = (len(prefix), prefix)
    rows = mem.store_._reader.execute(sql + " ORDER BY doc_key", args).fetchall()
    out = []
    for key, title, source, meta, nbytes in rows:
        m = json.loads(meta or "{}")
        out.append({"id": key, "title": title, "chunks": int(nbytes) // 8, "source": source,
                    "root": m.get("root") if isinstance(m, dict) else None})
    return out


def get_document(mem, doc_id: str) -> dict | None:
    """One document with its chunks' texts in reading order; ``None`` when absent."""
    doc = mem.store_.document(str(doc_id))
    if doc is None:
        return None
    ids = [int(c) for c in np.asarray(doc["chunk_ids"]).tolist()]
    rows = mem.store_.chunk_rows(sorted(set(ids)))
    return {"id": doc["doc_key"], "title": doc["title"], "source": doc["source"], "meta": doc["meta"],
            "chunks": [{"chunk_id": c, "text": (rows.get(c) or {}).get("text") or ""} for c in ids]}


def sync_folder(mem, folder) -> list[str]:
    """Forget the documents ingested from ``folder`` whose file is no longer there.

    Only documents whose recorded root is this folder are touched; returns their ids. Documents
    under a subfolder that cannot be read (no permission) are kept: their files may well be there.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"--sync needs a folder; {folder} is not one")
    if (why := unreadable_folder(folder)) is not None:
        raise ValueError(f"{folder}: {why}; --sync forgets none of its documents")
    root = str(folder.resolve())
    special: list = []
    present = {document_id(f, folder)[0] for f in folder_files(folder, special)[0] if f.suffix.lower() in SUFFIXES}
    closed = tuple(p.relative_to(folder).as_posix() + "/" for p, _ in special if p.is_dir())
    docs = list_documents(mem)
    gone = [d["id"] for d in docs if d["root"] == root and d["id"] not in present and not d["id"].startswith(closed)]
    moved = {d["root"] for d in docs if d["id"] in present and d["root"] not in (None, root)} \
        if not any(d["root"] == root for d in docs) else set()
    moved = sorted(r for r in moved if not Path(r).is_dir())
    if moved:  # `mv notes notes2`: its documents keep their old root and --sync from notes2 forgot none, quietly
        raise ValueError(f"the documents of {folder}'s files were ingested from {moved[0]}, which is gone (moved or "
                         f"renamed?): --sync checks only documents ingested from the folder given, so it forgets "
                         f"none; forget a deleted file's document with `mycelial forget ID`")
    if gone and not present:  # an unmounted mount point, a folder emptied by mistake: not a deletion
        raise ValueError(f"{folder} holds no {', '.join(SUFFIXES)} file (not mounted? emptied?); --sync would "
                         f"forget all {len(gone)} of its documents, so it forgets none (`mycelial forget ID` "
                         f"removes one)")
    mem._forget_many(gone)  # one save of the derived state, not one per document
    return gone
