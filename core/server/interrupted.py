"""What a background job stopped by the server's shutdown left out, in words for the server's log.

The job stops at the ingest's next commit (each commit stores whole documents in one transaction), so a
document is in the memory whole or not at all; which ones are in is read back from the store, not counted:
a batch's unchanged, refused and committed documents are not told apart by the progress counts.
"""
from __future__ import annotations

from dataclasses import replace

SHOWN = 100  # files (or ids) the log line names before "and N more"


class JobStopped(Exception):
    """Raised by a job's progress callable once the server stops: the ingest ends at that commit boundary
    (what it committed stays, and it saves), the batch being embedded is not stored."""


def _record(item, i: int):
    """``item`` as the ingest reads it (a posted dict is parsed as ingest parses it); None if it cannot be."""
    from core.memory._checks import check_record
    from core.memory.records import Record, parse_record

    try:
        return check_record(item) if isinstance(item, Record) else parse_record(item, "<records>", i + 1)
    except (ValueError, TypeError):
        return None


def stored_hashes(slot, part: list) -> dict:
    """{id: stored content hash or None} of a batch's records, read before its ingest (`left_out`'s ``before``)."""
    ids = [r.doc_id for r in (_record(item, i) for i, item in enumerate(part)) if r is not None]
    now = slot.memory.store_.content_hashes(ids)
    return {i: now.get(i) for i in ids}


def _hashes(rec) -> set[str]:
    """The content hashes ``rec`` may be stored under (its title, or its file name kept as the title)."""
    from core.memory._admit import _content_hash

    return {_content_hash(rec)} | ({_content_hash(replace(rec, title=rec.name))} if rec.name else set())


def left_out(store, records: list, before: dict) -> list:
    """The records of ``records`` not stored as given. ``before``: the stored hashes of the batch the stop cut
    ({id: hash or None}, read before it began): one it changed was committed by it."""
    recs = [(item, _record(item, i)) for i, item in enumerate(records)]
    now = store.content_hashes([r.doc_id for _, r in recs if r is not None])
    out = []
    for item, rec in recs:
        got = now.get(rec.doc_id) if rec is not None else None
        committed = rec is not None and rec.doc_id in before and got != before[rec.doc_id]
        if got is None or not (committed or got in _hashes(rec)):
            out.append(rec if rec is not None else item)
    return out


def _source(rec) -> str | None:
    """The uploaded file a record came from; None for a posted document."""
    src = getattr(rec, "source", "") or ""
    return src if src and src != "<records>" else None


def left_out_words(records: list, missing: list) -> str:
    """"2 files did not get in: a.txt, b.txt; 1 file got in in part: big.jsonl (60 of its 100 records missing)"
    (uploads; a records file's records are stored each whole) or "2 documents did not get in: p398, p399" (a
    posted list)."""
    total: dict[str, int] = {}
    for i, rec in enumerate(records):
        if (src := _source(_record(rec, i) if isinstance(rec, dict) else rec)) is not None:
            total[src] = total.get(src, 0) + 1
    files: dict[str, int] = {}
    ids = []
    for rec in missing:
        src = _source(rec)
        if src is None:
            ids.append(str(rec.get("id") if isinstance(rec, dict) else rec.doc_id))
        else:
            files[src] = files.get(src, 0) + 1
    whole = [f for f, n in files.items() if n >= total.get(f, n)]
    part = [f"{f} ({n:,} of its {total[f]:,} records missing)" for f, n in files.items() if n < total.get(f, n)]
    parts = [f"{_count(len(whole), 'file')} did not get in: {_listed(whole)}"] if whole else []
    parts += [f"{_count(len(part), 'file')} got in in part: {_listed(part)}"] if part else []
    parts += [f"{_count(len(ids), 'document')} did not get in: {_listed(ids)}"] if ids else []
    return "; ".join(parts) or "every document got in"


def _count(n: int, what: str) -> str:
    return f"{n:,} {what}{'s' if n != 1 else ''}"


def _listed(names: list[str]) -> str:
    more = f" and {len(names) - SHOWN:,} more" if len(names) > SHOWN else ""
    return ", ".join(names[:SHOWN]) + more
