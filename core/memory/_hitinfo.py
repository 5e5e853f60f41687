"""What recall attaches to hits and filters them by: document metadata and neighbouring chunks.

``where`` is a pre-filter: it selects the documents whose metadata match, and recall ranks
only their chunks (the vector search, the associative candidates and the seeds of the walk
are all drawn from them), so a selective filter still returns ``k`` hits when the matching
documents hold ``k`` chunks.
"""
from __future__ import annotations

import json
import math

import numpy as np

from core.memory._checks import plain
from core.memory.phrases import _folded, title_phrase, written_as

_SCALAR = (str, int, float, bool, type(None))


def metadata_there(store, keys) -> str:
    """What the documents' metadata holds, for a ``where`` on ``keys`` that matched nothing: the keys (a key's
    case counts: `Category=news` matched nothing and said no more), or the values of a key it names. From 2,000
    documents."""
    rows = store._reader.execute(
        "SELECT j.key, j.value FROM (SELECT meta FROM documents WHERE json_valid(meta) LIMIT 2000) d, "
        "json_each(d.meta) j WHERE j.type IN ('text', 'integer', 'real', 'true', 'false', 'null')").fetchall()
    values: dict = {}
    for key, value in rows:
        values.setdefault(key, set()).add(value)
    if not values:
        return " (no document has metadata)"
    known = [k for k in dict.fromkeys(keys) if k in values]
    if known:  # the key is there: its values
        return "; " + "; ".join(f"{k!r} holds " + ", ".join(sorted(map(str, values[k])))[:200] for k in known)
    return "; the documents' metadata keys: " + ", ".join(sorted(values))[:300]


def check_where(where) -> dict | None:
    """``where`` as ``{key: value or list of values}``; ValueError naming the fix otherwise."""
    if where is None:
        return None
    if not isinstance(where, dict) or not where:
        raise ValueError(f"where must be a non-empty dict of metadata keys to values, e.g. "
                         f"{{'category': 'news'}}; got {where!r}")
    out = {}
    for key, val in where.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"where keys must be non-empty strings (metadata keys), got {key!r}")
        vals = plain(list(val) if isinstance(val, (list, tuple, set, frozenset, np.ndarray)) else [val])  # np.int64(1)
        if not vals or not all(isinstance(v, _SCALAR) for v in vals):
            raise ValueError(f"where[{key!r}] must be a string, number, bool or None, or a non-empty list of "
                             f"them (any of), got {val!r}")
        if any(isinstance(v, float) and not math.isfinite(v) for v in vals):
            raise ValueError(f"where[{key!r}] must be finite, got {val!r}")
        out[key] = vals
    return out


def where_of(items) -> dict | None:
    """``("category=news", "lang=en", "lang=fr")`` -> ``{"category": "news", "lang": ["en", "fr"]}``: the
    ``where`` of ``mycelial recall --where`` and of ``GET .../recall?where=``; ValueError for an item that is
    not KEY=VALUE.

    A value that reads as a JSON number, bool or null (``year=1961``, ``draft=true``) matches that value
    or the same text (a producer may have written ``"1961"``); any other value is text.
    """
    out: dict = {}
    for item in items or ():
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{item!r}: expected KEY=VALUE, e.g. category=news")
        try:
            val = json.loads(raw)
        except ValueError:
            val = raw
        if isinstance(val, (dict, list)) or (isinstance(val, float) and not math.isfinite(val)):
            val = raw  # NaN, Infinity: text
        vals = [val] if isinstance(val, str) else [val, raw]
        out.setdefault(key.strip(), []).extend(vals)
    return out or None


def _same(a, b) -> bool:
    """JSON equality that keeps True apart from 1 (both are 1 to Python's ==)."""
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def matches(meta: dict, where: dict) -> bool:
    """True when every key of ``where`` is in ``meta`` with one of its values; a list in ``meta`` (``"tags":
    ["x", "y"]``) matches when one of its items does (it matched nothing: a filter value is never a list)."""
    return all(key in meta and any(_same(m, v) for m in (meta[key] if isinstance(meta[key], list) else (meta[key],))
                                   for v in vals) for key, vals in where.items())


def allowed_chunks(store, where: dict) -> np.ndarray:
    """Sorted chunk ids of the documents whose metadata match ``where`` (checked by ``check_where``).

    SQLite narrows the documents to those holding one key (``json_type``, no row is parsed in
    Python otherwise); Python then checks every key with JSON-exact equality.
    """
    # a key JSON escapes (a quote, a backslash, a control character) has no SQLite path that finds it (`$."a\\"b"`
    # matched no document, so where={'a"b': 'v'} found nothing): such keys are checked in Python only
    first = next((k for k in where if not any(c in '"\\' or c < " " for c in k)), None)
    # meta SQLite cannot parse (NaN, written before records were checked) is left to Python's parser
    rows = store._reader.execute("SELECT meta, chunk_ids FROM documents WHERE ?1 IS NULL OR CASE WHEN json_valid(meta) "
                                 "THEN json_type(meta, ?1) IS NOT NULL ELSE 1 END",
                                 (None if first is None else f'$."{first}"',)).fetchall()
    parts = [np.frombuffer(ids, dtype=np.int64) for meta, ids in rows if matches(json.loads(meta), where)]
    if not parts:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.concatenate(parts))


def document_metadata(store, doc_keys) -> dict[str, dict]:
    """doc key -> its metadata dict, in one query."""
    keys = sorted(set(doc_keys))
    out: dict[str, dict] = {}
    for start in range(0, len(keys), 500):
        part = keys[start:start + 500]
        marks = ",".join("?" * len(part))
        for key, meta in store._reader.execute(f"SELECT doc_key, meta FROM documents WHERE doc_key IN ({marks})",
                                               part):
            m = json.loads(meta or "{}")
            out[key] = m if isinstance(m, dict) else {}
    return out


def credit_matching(store, hits, where: dict) -> list:
    """``hits`` with each one credited to a document that matches ``where``. The same text in two documents is
    one stored chunk, credited to the first: `recall(where={"cat": "beta"})` returned it as document A's,
    ``{"cat": "alpha"}``, though B, which matches, holds it too."""
    metas = document_metadata(store, [h.doc_id for h in hits])
    wrong = {h.chunk_id for h in hits if not matches(metas.get(h.doc_id, {}), where)}
    if wrong:
        sql = ("SELECT dc.chunk_id, d.doc_key, d.title, d.meta, dc.position FROM doc_chunks dc JOIN documents d "
               "ON d.id = dc.doc_id WHERE dc.chunk_id IN ({marks}) ORDER BY d.id, dc.position")
        owner = {}
        for cid, key, title, meta, pos in store._in_batches(sorted(wrong), sql):
            m = json.loads(meta or "{}")
            if cid not in owner and isinstance(m, dict) and matches(m, where):
                owner[cid] = (key, title, pos)
        for h in hits:
            if h.chunk_id in owner:
                h.doc_id, h.title, h.position = owner[h.chunk_id]
    return hits


def attach(store, hits, context: int = 0) -> None:
    """Fill ``Hit.metadata`` and, with ``context`` > 0, ``Hit.context`` (neighbours in the document)."""
    if not hits:
        return
    metas = document_metadata(store, [h.doc_id for h in hits])
    for h in hits:
        h.metadata = dict(metas.get(h.doc_id, {}))
    if context <= 0:
        return
    want: dict[int, tuple[int, int]] = {}
    spans = []
    docs = {}
    for h in hits:
        if h.doc_id not in docs:
            d = store.document(h.doc_id)
            docs[h.doc_id] = np.asarray(d["chunk_ids"]).tolist() if d is not None else []
        ids = docs[h.doc_id]
        lo, hi = max(0, h.position - context), min(len(ids), h.position + context + 1)
        span = [(p, ids[p]) for p in range(lo, hi) if p != h.position]
        spans.append(span)
        for p, c in span:
            want[c] = (p, c)
    rows = store.chunk_rows(sorted(want)) if want else {}
    for h, span in zip(hits, spans):
        h.context = [{"chunk_id": int(c), "position": int(p), "text": (rows.get(c) or {}).get("text") or ""}
                     for p, c in span]


class PhraseSources:
    """(activation, source) of the walk's strongest phrases, by text, for the ``why`` of hits.

    A source is "query", the id of the seed chunk naming the phrase, ("edge", from phrase,
    weight, npmi) of the learned edge that carried it (weight: npmi x n/(n+1), what the walk passed
    activation by and ``associations``/``bridges`` show), or None. It is worked out only when a
    returned hit asks (a dozen phrases, not the 64 strongest of every recall); the seeds'
    phrases are read from the incidence ``M`` the walk used (a rebuilt graph makes new arrays).
    """

    def __init__(self, names, ids, acts, q_ids, seeds, M, via):
        self._names, self._q, self._seeds, self._M, self._via = names, q_ids, seeds, M, via
        self._at = {names[i]: (i, a) for i, a in zip(ids, acts)}
        self._done: dict = {}
        self._seed_sets = None

    def __contains__(self, phrase) -> bool:
        return phrase in self._at

    def __len__(self) -> int:
        return len(self._at)

    def get(self, phrase, default=None):
        out = self._done.get(phrase)
        if out is None:
            return self[phrase] if phrase in self._at else default
        return out

    def seed_ids(self) -> list[int]:
        return sorted({cid for cid, _ in self._seeds})

    def __getitem__(self, phrase):
        out = self._done.get(phrase)
        if out is None:
            i, act = self._at[phrase]
            if self._seed_sets is None:
                ptr, ind = self._M.indptr, self._M.indices
                self._seed_sets = [(cid, set(ind[ptr[r]:ptr[r + 1]].tolist())) for cid, r in self._seeds]
            src = "query" if i in self._q else next((cid for cid, ps in self._seed_sets if i in ps), None)
            if src is None and i in self._via:  # reached along a learned edge of the network
                a, wt, npmi = self._via[i]
                src = ("edge", self._names[a], round(wt, 2), round(npmi, 2))
            out = self._done[phrase] = (act, src)
        return out


def _why_text(chunk_id: int, info: dict, row: dict, sources: dict, seeds: dict, carriers: dict | None = None) -> str:
    """One readable path per hit: query -> (seed passage ->) concept -> this passage, and what use added (a
    reinforcement's share of the score was in no word of it). ``carriers``: {(head, code): activation} of the
    code nodes that passed mass on in the walk."""
    text = _path_text(chunk_id, info, row, sources, seeds, carriers or {})
    added = info.get("reinforcement") or 0.0
    return f"{text}; {_use_text(info)} +{added:.2f}" if added >= 0.005 else text


def _use_text(info: dict) -> str:
    """Who confirmed what lifted this passage (``learning._sources``): "reinforced by use" was written on passages
    the user never confirmed, lifted only because they share a concept or a code with one that was."""
    if info.get("confirmed") == "this query":
        return "confirmed by use"
    if info.get("confirmed"):
        return "confirmed by use for a related query"
    others = info.get("reinforced_by") or []
    if others:
        return (f"reinforced by use of related passage{'s' if len(others) > 1 else ''} "
                + ", ".join(f"#{c}" for c in others[:3]))
    return "reinforced by use"


def _own_carriers(row: dict, carriers: dict) -> list[str]:
    """This passage's code nodes ("head:code", one per head) among those that passed mass on, strongest first:
    the only code nodes that carried activation to it (the walk's strongest overall were another passage's)."""
    mine = [(h, int(c)) for h, c in enumerate(row.get("codes", ()))]
    return [f"{h}:{c}" for h, c in sorted((n for n in mine if n in carriers), key=lambda n: -carriers[n])]


def _title_only(phrase: str, row: dict) -> bool:
    """Is ``phrase`` this chunk's document title and not in the chunk's text ("## Release history" of
    'Independiente'): a concept stored for every chunk of the document, which this one does not name."""
    title = row.get("title") or ""
    if not title or phrase != title_phrase(title):
        return False
    return f" {phrase} " not in f" {' '.join(_folded(row['text'] or ''))} "


def _path_text(chunk_id: int, info: dict, row: dict, sources: dict, seeds: dict, carriers: dict) -> str:
    """The path of `_why_text`: query -> (seed passage ->) concept -> this passage.

    ``row`` is the hit's chunk (its text, title, document and concepts), ``seeds`` a seed chunk's (label,
    document). Concepts are shown as this passage writes them ("Géza von Cziffra", not 'geza von cziffra'), or
    folded when it does not."""
    sim = info.get("cosine") if "cosine" in info else info.get("similarity")  # the plain cosine, in every mode
    cos = f"cosine {sim:.2f}" if sim is not None else ""
    assoc = info.get("association") or 0.0
    held = [(s[0], p) for p in row["phrases"] if (s := sources.get(p)) is not None] if assoc > 0 else []
    if not held:
        if assoc > 0 and (nodes := " ".join(_own_carriers(row, carriers))):
            return f"query ≈ this passage ({cos}); query codes → network nodes {nodes} → this passage".replace(" ()", "")
        return f"query ≈ this passage ({cos})" if cos else "query → this passage"

    def shown(phrase: str) -> str:
        return written_as(phrase, row["text"] or "", row["title"] or "")

    best = max(held)[1]
    src = sources[best][1]
    if isinstance(src, tuple) and src[0] == "edge":  # a learned edge: its weight as `bridges` shows it, and npmi
        edge = f"—{src[2]:.2f} (npmi {src[3]:.2f})→"
        where = "this passage's title" if _title_only(best, row) else "in this passage"
        path = f"query ≈ '{shown(src[1])}' {edge} '{shown(best)}' ({where})"
    elif src == chunk_id:  # the title is a concept of every chunk: a chunk without it in its text "names" nothing
        path = f"query ≈ this passage ({'in' if _title_only(best, row) else 'names'} '{shown(best)}')"
    elif src is not None and src != "query":
        label, doc = seeds.get(src, (src, None))
        start = "another passage of this document" if doc == row["doc_key"] else f"'{label}'"
        path = f"query ≈ {start} → '{shown(best)}' → this passage"
    else:
        path = f"query → '{shown(best)}' → this passage"
    edges = [e for e in info.get("edges") or () if e["to"] != best]
    if edges and "npmi" not in path:  # the strongest other learned edge that led into this passage
        e = max(edges, key=lambda e: sources[e["to"]][0])
        path += f"; '{shown(e['from'])}' —{e['weight']:.2f} (npmi {e['npmi']:.2f})→ '{shown(e['to'])}'"
    return f"{path} ({cos})" if cos else path
