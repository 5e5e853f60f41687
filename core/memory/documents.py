"""What a memory holds, document by document: list, get, and sync with an ingested folder.

Documents read from a folder carry the folder (``meta["root"]``, absolute) and an id
relative to it, so ``sync_folder`` can tell which of them vanished from the folder since.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from core.memory._formats import is_jsonl
from core.memory._names import disk_name, nfc
from core.memory.readers import document_id, folder_files, is_blank, unreadable_folder
from core.memory.records import Fields


def _after(prefix: str) -> str | None:
    """The least string above every string starting with ``prefix`` (None: no bound), so a prefix
    is an index range of ``doc_key`` (SQLite compares UTF-8 bytes: code point order)."""
    while prefix:
        c = ord(prefix[-1]) + 1
        if c <= 0x10FFFF:
            return prefix[:-1] + chr(0xE000 if 0xD800 <= c <= 0xDFFF else c)
        prefix = prefix[:-1]
    return None


def _prefix_where(prefix: str | None) -> tuple[str, tuple]:
    if not prefix:
        return "", ()
    prefix = nfc(prefix)  # ids are NFC (core.memory._names)
    upper = _after(prefix)
    return (" WHERE doc_key >= ? AND doc_key < ?", (prefix, upper)) if upper else (" WHERE doc_key >= ?", (prefix,))


def count_documents(mem, prefix: str | None = None) -> int:
    """How many documents :func:`list_documents` lists for ``prefix``."""
    where, args = _prefix_where(prefix)
    return mem.store_._reader.execute("SELECT count(*) FROM documents" + where, args).fetchone()[0]


def list_documents(mem, prefix: str | None = None, limit: int | None = None, offset: int = 0,
                   with_meta: bool = False) -> list[dict]:
    """``{"id", "title", "chunks", "source", "root"}`` of every document, sorted by id.

    ``prefix`` keeps ids starting with it (``"man/"``; a range of the id index); ``limit`` and
    ``offset`` take one page of that order; ``with_meta`` adds each one's metadata (``"meta"``).
    """
    where, args = _prefix_where(prefix)
    sql = "SELECT doc_key, title, source, meta, length(chunk_ids) FROM documents" + where + " ORDER BY doc_key"
    if limit is not None:
        sql += " LIMIT ? OFFSET ?"
        args += (int(limit), int(offset))
    out = []
    for key, title, source, meta, nbytes in mem.store_._reader.execute(sql, args).fetchall():
        m = json.loads(meta or "{}")
        m = m if isinstance(m, dict) else {}
        out.append({"id": key, "title": title, "chunks": int(nbytes) // 8, "source": source,
                    "root": folder_of(m, source), **({"meta": m} if with_meta else {})})
    return out


def folder_of(meta: dict, source) -> str | None:
    """The folder a file's document was read from (``meta["root"]``), None for any other document. A file's
    meta is its path (its source) and folder; a record's meta is its producer's: a JSONL record holding
    ``"root": "/home/me/notes"`` (a `mycelial list --json` export ingested back) was taken for a file of that
    folder, and ``ingest notes --sync`` forgot it."""
    root = meta.get("root")
    return root if isinstance(root, str) and isinstance(source, str) and meta.get("path") == source else None


def get_document(mem, doc_id: str) -> dict | None:
    """One document with its chunks' texts in reading order; ``None`` when absent."""
    doc = mem.store_.document(str(doc_id))
    if doc is None:
        return None
    ids = [int(c) for c in np.asarray(doc["chunk_ids"]).tolist()]
    rows = mem.store_.chunk_rows(sorted(set(ids)))
    return {"id": doc["doc_key"], "title": doc["title"], "source": doc["source"], "meta": doc["meta"],
            "chunks": [{"chunk_id": c, "text": (rows.get(c) or {}).get("text") or ""} for c in ids]}


def changed_metadata(store, recs) -> list[tuple[str, str, dict]]:
    """``(doc_key, stored source, new meta)`` of the records among ``recs`` ((record, content hash) pairs)
    whose text and title are stored unchanged but whose metadata changed: the content hash leaves metadata
    out, so such a record was counted unchanged and kept its old metadata (``where=`` then missed it).
    Files are left to `moved_files` (their metadata is their place)."""
    from core.memory.store import _json_meta

    recs = {rec.doc_id: (rec, chash) for rec, chash in recs
            if not (isinstance(rec.meta.get("path"), str) and rec.source == rec.meta["path"])}
    rows = []
    for key, stored_hash, source, meta in _stored(store, list(recs)):
        rec, chash = recs[key]
        new = json.loads(_json_meta(rec.meta))  # as it would be stored (tuples as lists, others as str)
        try:
            old = json.loads(meta or "{}")
        except ValueError:
            old = None
        if stored_hash == chash and json.dumps(old, sort_keys=True) != json.dumps(new, sort_keys=True):
            rows.append((key, source, new))  # sorted dumps: True and 1 differ, key order does not
    return rows


def _stored(store, keys: list[str]):
    """``(doc_key, content_hash, source, meta)`` of the stored documents among ``keys``, 500 a query."""
    for start in range(0, len(keys), 500):
        part = keys[start:start + 500]
        yield from store._conn.execute(f"SELECT doc_key, content_hash, source, meta FROM documents WHERE doc_key "
                                       f"IN ({','.join('?' * len(part))})", part)


def moved_files(store, recs) -> tuple[list[tuple[str, str, dict]], dict[str, tuple[str, str]], dict[str, str]]:
    """What to record for the unchanged files among ``recs`` ((record, content hash) pairs) that were
    stored from another place which is gone (`mv notes notes2` then `ingest notes2`): ``(doc_key, source,
    meta)`` rows, {old root: (new root, path prefix)} of whole folders gone (their other documents,
    files deleted since, move too, so ``--sync`` of the new folder forgets them), and {old folder/: new
    folder/} for the records of JSONL files there (their source is their file's absolute path).

    A file still present at its recorded place is left as it was (a copy ingested from a second folder
    does not take the documents away from the first one's ``--sync``).
    """
    files = {rec.doc_id: (rec, chash) for rec, chash in recs
             if isinstance(rec.meta.get("path"), str) and rec.source == rec.meta["path"]}
    rows, roots = [], {}
    for key, stored_hash, source, meta in _stored(store, list(files)):
        rec, chash = files[key]
        old, new = json.loads(meta or "{}"), rec.meta
        if stored_hash != chash or not isinstance(old, dict) or not isinstance(old.get("path"), str) \
                or source != old["path"] or (old["path"], old.get("root")) == (new["path"], new.get("root")):
            continue
        root = old.get("root") if isinstance(old.get("root"), str) else None
        if (root is not None and root == new.get("root")) or (  # one file: its path spelled otherwise
                disk_name(root, key) is not None if root else os.path.lexists(old["path"])):
            continue
        rows.append((key, rec.source, dict(new)))  # a file's meta is its path and root alone
        prefix = _prefix(new["path"], key)
        if root and isinstance(new.get("root"), str) and prefix is not None and not Path(root).is_dir():
            roots[root] = (new["root"], prefix)
    roots = {old: new for old, new in roots.items() if _folder_moved(store, old, new[1])}
    dirs = {old.rstrip(os.sep) + os.sep: new.rstrip(os.sep) + os.sep for old, (new, _) in roots.items()
            if os.path.isabs(old) and os.path.isabs(new)}
    rows += _moved_records(store, [(rec, chash) for rec, chash in recs if rec.doc_id not in files], dirs)
    return rows, roots, dirs


def _folder_moved(store, old_root: str, new_prefix: str) -> bool:
    """Did the folder ``old_root`` (gone) move to where ``new_prefix`` points? When at least half of its documents'
    files are there. One shared file was taken for proof: `ingest B --sync` with folder A unmounted moved all of A's
    documents to B (one README.md the same in both) and forgot those B does not hold."""
    keys = [k for (k,) in store._conn.execute("SELECT doc_key FROM documents WHERE json_extract(meta, '$.root') = ?",
                                              (old_root,))]
    there = sum(disk_name(new_prefix, k) is not None for k in keys)
    return 2 * there >= len(keys)


def _prefix(path: str, key: str) -> str | None:
    """The folder part of a file's ``path`` whose id under it is ``key`` (``notes2/`` of ``notes2/sub/b.md``),
    the disk's spelling of the name aside (a decomposed name has an NFC id); None when it does not end so."""
    parts = path.split(os.sep)
    n = key.count("/") + 1
    if len(parts) < n or nfc("/".join(parts[-n:])) != key:
        return None
    return "".join(p + os.sep for p in parts[:-n])


def _moved_records(store, recs, dirs: dict[str, str]) -> list[tuple[str, str, dict]]:
    """``(doc_key, source, meta)`` of the unchanged JSONL records among ``recs`` whose stored file is gone
    and which now come from another one (`mv notes notes2`: they kept the old path, so ``--sync`` of
    notes2 never forgot them); adds to ``dirs`` the folder that moved, so the records of its JSONL files
    deleted since move too. A record whose old file is still there is left (a copy of the file)."""
    recs = {rec.doc_id: (rec, chash) for rec, chash in recs
            if isinstance(rec.source, str) and is_jsonl(rec.source) and os.path.isabs(rec.source)}
    rows = []
    for key, stored_hash, source, meta in _stored(store, list(recs)):
        rec, chash = recs[key]
        if stored_hash != chash or not isinstance(source, str) or source == rec.source \
                or not is_jsonl(source) or not os.path.isabs(source) or os.path.lexists(source):
            continue
        rows.append((key, rec.source, json.loads(meta or "{}")))
        old, new = Path(source).parts, Path(rec.source).parts
        tail = 0  # the path both end with (sub/x.jsonl of notes/sub/x.jsonl -> notes2/sub/x.jsonl)
        while tail < min(len(old), len(new)) - 1 and old[-tail - 1] == new[-tail - 1]:
            tail += 1
        old_dir, new_dir = str(Path(*old[:len(old) - tail])), str(Path(*new[:len(new) - tail]))
        if tail and not os.path.lexists(old_dir):
            dirs.setdefault(old_dir.rstrip(os.sep) + os.sep, new_dir.rstrip(os.sep) + os.sep)
    return rows


def sync_folder(mem, folder, skipped: dict | None = None, fields=None) -> list[str]:
    """Forget the documents ingested from ``folder`` whose file is no longer there, and the records of
    its JSONL files that left them (the file deleted, or the line).

    Only documents whose recorded root is this folder are touched; returns their ids. Documents
    under a subfolder that cannot be read (no permission) are kept: their files may well be there.
    ``skipped`` receives {id: why} of those forgotten although their file is still there, now skipped
    (emptied, a link to a file read under another name, a kind no longer read): the CLI said "no longer
    in the folder" of a file the user could see there. ``fields``: the record keys its JSONL files were
    ingested with (`records.Fields`): with others no line is read, and every JSONL file keeps its records.
    """
    if isinstance(folder, str) and not folder.strip():  # Path("") is the working directory: synced it instead
        raise ValueError("--sync needs a folder; an empty path is not one (give '.' for the working directory)")
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"--sync needs a folder; {folder} is not one")
    if (why := unreadable_folder(folder)) is not None:
        raise ValueError(f"{folder}: {why}; --sync forgets none of its documents")
    fields = Fields.of(fields)  # a bad mapping forgets nothing
    root = str(folder.resolve())
    special: list = []
    files = {document_id(f, folder)[0]: f for f in folder_files(folder, special)[0]}
    closed = tuple(nfc(p.relative_to(folder).as_posix()) + "/" for p, _ in special if p.is_dir())
    docs = list_documents(mem)
    # a file emptied since its ingest holds nothing now (ingest skips it): its document goes as a deleted one's
    present = {i for i, f in files.items() if not is_blank(f)}
    gone = [d["id"] for d in docs if d["root"] == root and d["id"] not in present and not d["id"].startswith(closed)]
    if skipped is not None:
        skipped.update(_still_there(folder, gone, dict(special)))
    gone += _gone_records(docs, folder, root, closed, skipped, fields)
    moved = {d["root"] for d in docs if d["id"] in present and d["root"] not in (None, root)} \
        if not any(d["root"] == root for d in docs) else set()
    moved = sorted(r for r in moved if not Path(r).is_dir())
    if moved:  # `mv notes notes2`: its documents keep their old root and --sync from notes2 forgot none, quietly
        raise ValueError(f"the documents of {folder}'s files were ingested from {moved[0]}, which is gone (moved or "
                         f"renamed?): --sync checks only documents ingested from the folder given, so it forgets "
                         f"none; forget a deleted file's document with `mycelial forget ID`")
    if gone and not present:  # an unmounted mount point, a folder emptied by mistake: not a deletion
        what = "file with text" if files else "file"  # every file emptied (truncated by a tool?) counts too
        raise ValueError(f"{folder} holds no {what} to read (not mounted? emptied?); --sync would "
                         f"forget all {len(gone)} of its documents, so it forgets none (`mycelial forget ID` "
                         f"removes one)")
    mem.forget_many(gone)  # one save of the derived state, not one per document
    return gone


def _still_there(folder: Path, ids: list[str], special: dict) -> dict[str, str]:
    """{id: why it is skipped now} of the files among ``ids`` (forgotten by ``sync_folder``) still in ``folder``."""
    from core.memory._formats import kind, skip_label

    out = {}
    for doc_id in ids:
        path = folder / doc_id
        if not os.path.lexists(path):
            continue
        if path in special:
            out[doc_id] = special[path]
        elif not path.is_file():
            continue  # a folder now holds its name: the file itself is gone
        elif kind(path) is None:
            label = skip_label(path)  # ".pl", "RECORD", "not UTF-8 text", as the skip line counts them
            out[doc_id] = label if label == "not UTF-8 text" else f"{label} files are not read"
        elif is_blank(path):
            out[doc_id] = "empty file"
    return out


def _gone_records(docs: list[dict], folder: Path, root: str, closed: tuple, skipped: dict | None = None,
                  fields=None) -> list[str]:
    """Ids of records read from a JSONL file of ``folder`` (their source is its absolute path) whose
    file is gone or no longer holds their id. A file with a line it cannot read keeps all its records:
    the missing id may be on that line. ``skipped`` receives {id: "empty file"} of an emptied file's records."""
    from core.memory.readers import read_file
    from core.memory.records import is_empty_file

    by_file: dict[str, list[str]] = {}
    for d in docs:
        src = d["source"]
        if d["root"] is None and isinstance(src, str) and is_jsonl(src) \
                and src.startswith(root.rstrip(os.sep) + os.sep):
            by_file.setdefault(src, []).append(d["id"])
    gone = []
    for src, ids in by_file.items():
        rel = Path(src).relative_to(root)
        if rel.as_posix().startswith(closed):
            continue
        if not (folder / rel).is_file():
            gone += ids
            continue
        errors: list = []
        held = {rec.doc_id for rec in read_file(folder / rel, errors, fields=fields)}
        if not any(not e.skipped for e in errors):  # emptied (a skip): it holds none of them now
            gone += [i for i in ids if i not in held]
            if skipped is not None and any(map(is_empty_file, errors)):
                skipped.update((i, "empty file") for i in ids if i not in held)
    return gone


def other_file(store, rec, content_hash) -> str | None:
    """The place of another file, still there, whose document already has ``rec``'s id (two folders
    both holding ``notes.txt``), else None. ``rec`` would replace that document although nobody
    edited it. Only file ids are checked: a record's id is its producer's key, meant to be updated.
    ``content_hash(rec)`` is called only for a stored id.
    """
    path = rec.meta.get("path")
    if not isinstance(path, str) or rec.source != path:
        return None
    doc = store.document(rec.doc_id)
    if doc is None or doc["content_hash"] == content_hash(rec) or not isinstance(doc["meta"], dict):
        return None  # new, or unchanged (a copy: the original keeps it, `moved_files`)
    old = doc["meta"].get("path")
    if not isinstance(old, str) or doc["source"] != old:
        return None
    root = doc["meta"].get("root")
    place = Path(root) / rec.doc_id if isinstance(root, str) else Path(old)
    try:
        return None if os.path.samefile(place, path) else str(place)
    except OSError:  # gone (moved, deleted): this file takes its id, as an edit after `mv` does
        return None
