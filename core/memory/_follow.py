"""Where a reinforcement goes when a replaced document's passage it named was edited: a one-word fix in that
passage made a new chunk, forgot the old one, and the event (the user's feedback) went without a word.

The rule: the old chunk an event names is followed to the new version's chunk at the same position when that chunk
is one the old version did not hold (the edited text, not a kept passage that shifted there) and the two share at
least ``FOLLOW_SHARE`` of the longer one's words (counted with repeats, case folded). An edit keeps most words; two
different passages of one text share at most about half of them (measured on 305 adjacent chunk pairs of Wikipedia,
Brown, news and web pages: at most 0.50, median 0.25), so a paragraph inserted before it (positions shift) or a
passage rewritten does not carry the event to another passage.
"""
from __future__ import annotations

import json
from collections import Counter

FOLLOW_SHARE = 2 / 3


def named_chunks(conn) -> set[int]:
    """The chunk ids some reinforcement event names (an unreadable row names none)."""
    named = set()
    for (cids,) in conn.execute("SELECT chunk_ids FROM reinforcements"):
        try:
            named.update(c for c in json.loads(cids) if isinstance(c, int))
        except (TypeError, ValueError):
            continue
    return named


def old_passages(store, doc_key: str, named: set[int]) -> dict[int, tuple[int, str]]:
    """{position: (chunk id, text)} of the stored version of ``doc_key`` for its chunks an event names, read before
    its forget deletes them; {} when no event names one (the usual case: nothing more is read)."""
    doc = store._document_w(doc_key)
    if doc is None or not named:
        return {}
    at = {int(c): p for p, c in enumerate(doc["chunk_ids"].tolist()) if int(c) in named}
    if not at:
        return {}
    marks = ",".join("?" * len(at))
    rows = store._conn.execute(f"SELECT id, text FROM chunks WHERE id IN ({marks})", list(at)).fetchall()
    return {at[cid]: (cid, text or "") for cid, text in rows}


def edited_moves(old: dict[int, tuple[int, str]], ids, chunks, kept: set[int]) -> dict[int, int]:
    """{old chunk id: new chunk id} for the old version's named chunks ``old`` that the new version (chunk ids
    ``ids``, texts ``chunks``, in order) holds edited at the same position; ``kept``: the new positions whose chunk
    the old version held as it is (its events follow it already)."""
    moves = {}
    for pos, (cid, text) in old.items():
        if pos < len(ids) and pos not in kept and int(ids[pos]) != cid and close(text, chunks[pos]):
            moves[cid] = int(ids[pos])
    return moves


def close(a: str, b: str) -> bool:
    """Whether ``b`` is ``a`` edited: they share at least ``FOLLOW_SHARE`` of the longer one's words."""
    wa, wb = Counter(a.casefold().split()), Counter(b.casefold().split())
    longer = max(sum(wa.values()), sum(wb.values()))
    return longer > 0 and sum((wa & wb).values()) >= FOLLOW_SHARE * longer
