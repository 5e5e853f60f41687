"""Which records an ingest admits, and a record's content identity (skip a document that did not change)."""
from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import replace

from core.memory.readers import ReadError, Record


def _content_hash(rec: Record) -> str:
    h = hashlib.sha1(rec.text.encode("utf-8"))
    h.update(b"\x00" + rec.title.encode("utf-8"))
    return h.hexdigest()


def kept_title(rec: Record, store) -> None:
    """Give ``rec`` the title its stored document has when that is the file name as written (``Du_Fu``, stored
    before names became readable titles) and the text is unchanged: the readable title changed the content hash,
    so an unchanged file was re-embedded whole by the next ingest or ``--sync``. It takes "Du Fu" when edited."""
    if not rec.name or rec.name == rec.title:
        return
    stored = store.content_hashes([rec.doc_id]).get(rec.doc_id)
    if stored is not None and stored != _content_hash(rec) and stored == _content_hash(replace(rec, title=rec.name)):
        rec.title = rec.name


def record_problem(rec: Record, seen: dict[str, str], store=None) -> ReadError | None:
    """Why ``rec`` must be skipped (not valid Unicode, its id already came in this ingest, or it names
    another file's document in ``store``), else None.

    Records ``rec``'s id in ``seen`` (id -> source) when it is admitted, and gives it its stored title
    when that is its file name as written (`kept_title`). A non-UTF-8 file name
    or an unpaired surrogate costs this record only, never the ingest.
    """
    where = rec.source or "<records>"
    try:
        (rec.doc_id + rec.title + rec.text).encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = rec.doc_id[exc.start:exc.end] if exc.start < len(rec.doc_id) else ""
        if rec.source and bad and all(0xDC80 <= ord(c) <= 0xDCFF for c in bad):  # os.fsdecode's escaped bytes
            return ReadError(where, f"file name is not valid UTF-8 (byte 0x{ord(bad[0]) - 0xDC00:02x}); "
                                    f"rename the file; skipped")
        return ReadError(where, f"not valid Unicode (unpaired surrogate at character "
                                f"{exc.start} of id+title+text); skipped")
    try:  # the folder's own name (a non-UTF-8 folder: every file's source and root) failed the whole batch
        (rec.source or "").encode("utf-8")
        json.dumps(rec.meta, ensure_ascii=False, default=str).encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(exc.object[exc.start])
        return ReadError(where, f"path is not valid UTF-8 (byte 0x{code - 0xDC00:02x}); rename it; skipped"
                         if 0xDC80 <= code <= 0xDCFF else "metadata is not valid Unicode (unpaired surrogate); skipped")
    for name, value in (("id", rec.doc_id), ("title", rec.title), ("text", rec.text)):
        if "\x00" in value:  # one NUL made the embedder refuse the whole batch
            return ReadError(where, f'"{name}" contains a NUL byte; skipped')
    if rec.doc_id in seen:
        return ReadError(where, f"duplicate id {rec.doc_id!r} in this ingest (first from {seen[rec.doc_id]}); skipped")
    if store is not None:
        from core.memory.documents import other_file

        kept_title(rec, store)
        if (place := other_file(store, rec, _content_hash)) is not None:
            return ReadError(where, f"id {rec.doc_id!r} already names the document of {place}, which is still "
                                    f"there; skipped (`mycelial forget {shlex.quote(rec.doc_id)}` first to "
                                    f"replace it by this file)")
    seen[rec.doc_id] = where
    return None
