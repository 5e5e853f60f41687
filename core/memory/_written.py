"""Concepts as the text writes them ("Cairistíona", "Neil Peart"), for the lists and drawings that show them.

Concepts are stored folded (lower case, no accents) so that one name is one concept; `recall` already
shows them as the passage writes them (`phrases.written_as`). `associations`, `bridges` and `graph` showed
the folded key (``cairistiona``, ``clann ruaidhri``). The written form is read from a few chunks that hold
the concept: the most frequent form among them, the folded key when none writes it.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from core.memory.phrases import _folded, written_as

PER_CONCEPT = 3  # holding chunks read per concept: enough to outvote a sentence-initial capital


def written_forms(mem, concept_ids, per: int = PER_CONCEPT) -> dict[int, str]:
    """{concept id: its most frequent written form in up to ``per`` chunks holding it} (the folded key when
    no chunk writes it). One SQLite read for all of them: ``per`` x len(concept_ids) chunk rows at most."""
    phrases = mem.graph_.phrases_
    ids = [int(c) for c in dict.fromkeys(int(c) for c in concept_ids) if 0 <= int(c) < len(phrases)]
    if not ids:
        return {}
    holders = _holding_chunks(mem, ids, per)
    rows = _chunk_texts(mem, sorted({c for cs in holders.values() for c in cs}))
    lower = {c: text.lower() if text.isascii() else None for c, (text, _) in rows.items()}
    out = {}
    for j in ids:
        key = phrases[j]
        seen = Counter(_written_in(key, *rows[c], lower[c]) for c in holders.get(j, ()) if c in rows)
        out[j] = _most_frequent(seen, key)
    return out


def _written_in(key: str, text: str, title: str, lower: str | None) -> str:
    """`written_as` of ``key`` in ``text``, reading only the stretches around the places an ASCII ``text``
    (``lower``: it lower-cased) has the key's first word: `written_as` folds every word of the text, and 150
    whole chunks made `associations(k=50)` 50x slower (0.2 -> 10 ms). The same answer: a window starts and
    ends between words, so the first match in the first window that has one is the text's first match."""
    first = key.split(" ", 1)[0]
    if lower is None or not first:
        return written_as(key, text, title)
    if " " not in key and _folded(key) != [key]:  # a term kept whole ("crypto.createhash"): written_as splits
        return _term_in(key, text, lower) or written_as(key, text, title)  # the text's words at "." and "/"
    pos = lower.find(first)
    while pos >= 0:
        start = max(text.rfind(" ", 0, pos), text.rfind("\n", 0, pos)) + 1
        end = pos + 2 * len(key) + 40
        while end < len(text) and not text[end].isspace():
            end += 1
        shown = written_as(key, text[start:end])
        if shown != key or _holds(key, text[start:end]):
            return shown
        pos = lower.find(first, pos + 1)
    return written_as(key, "", title)


def _term_in(key: str, text: str, lower: str) -> str | None:
    """A technical term as ``text`` writes it ("crypto.createHash" for 'crypto.createhash'): its first place
    not inside a longer word; None when there is none."""
    pos = lower.find(key)
    while pos >= 0:
        end = pos + len(key)
        if (pos == 0 or not text[pos - 1].isalnum()) and (end == len(text) or not text[end].isalnum()):
            return text[pos:end]
        pos = lower.find(key, pos + 1)
    return None


def _holds(key: str, window: str) -> bool:
    """Whether ``window`` names ``key`` at all (`written_as` answers the key itself both when the text writes it
    just so and when it does not hold it): its words, folded as `written_as` folds them, contain the key's."""
    want, have = key.split(), [t for w in window.split() for t in _folded(w)]
    return any(have[i:i + len(want)] == want for i in range(len(have) - len(want) + 1))


def _most_frequent(seen: Counter, key: str) -> str:
    """The form written most often; a tie goes to the one with fewer capitals ("church" over a sentence's
    "Church"), then to the first seen. The key itself when no chunk wrote it."""
    if not seen:
        return key
    order = {form: i for i, form in enumerate(seen)}
    return min(seen, key=lambda f: (-seen[f], sum(ch.isupper() for ch in f), order[f]))


def _holding_chunks(mem, ids: list[int], per: int) -> dict[int, list[int]]:
    """{concept id: the first ``per`` live chunk ids naming it}, from the passage graph's concept -> chunk rows
    (the index recall's walk reads; built once, then cached)."""
    graph = mem.graph_
    indptr, rows, _ = graph._build()["MT_csr"]
    out = {}
    for j in ids:
        if j + 1 < len(indptr):
            out[j] = graph.chunk_ids_at(rows[indptr[j]:min(indptr[j + 1], indptr[j] + per)]).tolist()
    return out


def _chunk_texts(mem, chunk_ids: list[int]) -> dict[int, tuple[str, str]]:
    """{chunk id: (text, its document's title)}: only the two columns `written_as` reads."""
    sql = ("SELECT c.id, c.text, d.title FROM chunks c JOIN documents d ON d.id = c.doc_id "
           "WHERE c.id IN ({marks})")
    return {cid: (text or "", title or "") for cid, text, title in
            mem.store_._in_batches(np.asarray(chunk_ids, dtype=np.int64), sql)}
