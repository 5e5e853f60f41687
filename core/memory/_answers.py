"""The answer part of learning from use: a passage confirmed for a question ranks first when it is asked again.

The node edges (``learning``) lift a confirmed passage by at most ``reinforce_weight`` (0.2 cosine units), and
lift its neighbours by up to half of that: a confirmed answer 0.3 below the top never reached it, however often it
was confirmed. Here each event also says "this passage answers this question". For a new query ``q``:

* how much an event's question is *this* question: ``same(q, q_e) = (cos - c0) / (1 - c0)`` clipped to [0, 1],
  ``cos`` the cosine of the two questions' embeddings, ``c0 = SAME_QUERY_COSINE`` (0.9): the same question is 1,
  a rewording near 1, another question 0;
* a passage's answer weight: ``d = 1 - prod_e (1 - w_e * same(q, q_e))`` over the events that confirmed it
  (``w_e`` the event's decayed weight, the soft bound as for the edges);
* its score moves the fraction ``d`` of the way to ``T = (best score with the edges' lift) + gain``: the
  expected score when, with belief ``d``, it is the answer, which belongs above every other passage.

With the same question asked again ``d`` is the event's weight: rate 0.9 once puts the passage first from up to
1.8 below the top, rate 0.5 once from up to ``gain`` (0.2) below, and 0.5 twice (``d`` 0.75) from up to 0.6. For
that question a neighbour lifted only through shared nodes never passes it from below: its edge weight is at most
the confirmed passage's, and it gets no answer part. Another question (cosine at most ``c0``) gets no answer part.
"""
from __future__ import annotations

import json
import math

import numpy as np

SAME_QUERY_COSINE = 0.9  # below it two questions are different ones (all-MiniLM-L6-v2: rewordings 0.93-0.98)


class AnswerEvents:
    """The events grouped by question text: ``vectors`` (one per question) and ``events`` (its [(chunk ids, rate,
    scale, created)]). The unit vectors are stacked once (per length), so a recall takes one matrix product."""

    def __init__(self, vectors: list[np.ndarray], events: list[list[tuple]]):
        self.vectors, self.events = vectors, events
        self._stacks: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def cosines(self, q) -> tuple[np.ndarray, np.ndarray]:
        """(indices of the questions with ``q``'s length, their cosines to ``q``); another length is another model."""
        q = np.asarray(q, dtype=np.float32).ravel()
        if q.size not in self._stacks:
            idx = np.array([i for i, v in enumerate(self.vectors) if v.size == q.size], dtype=np.int64)
            M = np.stack([self.vectors[i] for i in idx]) if idx.size else np.zeros((0, q.size), np.float32)
            M = M / np.maximum(np.linalg.norm(M, axis=1, keepdims=True), 1e-12)
            self._stacks[q.size] = (idx, M)
        idx, M = self._stacks[q.size]
        return idx, M @ (q / max(float(np.linalg.norm(q)), 1e-12))


def answer_events(mem, rows) -> AnswerEvents:
    """The table's events by question text (``AnswerEvents``).

    ``rows``: (id, query, chunk_ids, rate, scale, created, query_vec) from the table. A row stored before the
    vector was (``query_vec`` NULL) has its question embedded here once (``cached_events`` keeps the result)."""
    by_text: dict[str, tuple[bytes | None, list]] = {}
    for _, query, cids, rate, scale, created, vec in rows:
        try:
            ids = [int(c) for c in json.loads(cids)]
        except (TypeError, ValueError):  # an edited row: ignored, as the edges ignore it
            continue
        blob, evs = by_text.setdefault(query, (vec, []))
        if not _usable(blob) and _usable(vec):
            by_text[query] = (vec, evs)
        evs.append((ids, rate, scale, created))
    missing = [t for t, (blob, _) in by_text.items() if not _usable(blob)]
    embedded = dict(zip(missing, mem.embed_queries(missing))) if missing else {}
    vectors = [np.asarray(embedded[t] if t in embedded else np.frombuffer(blob, dtype=np.float32), dtype=np.float32)
               for t, (blob, _) in by_text.items()]
    return AnswerEvents(vectors, [evs for _, evs in by_text.values()])


def cached_events(mem):
    """``answer_events`` of the memory's table, cached until it changes (as ``_reinforcement_edges`` is)."""
    from core.memory.learning import events_key

    reader = mem.store_._reader
    key = events_key(reader)
    cached = getattr(mem, "_rf_answers", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    cols = {r[1] for r in reader.execute("PRAGMA table_info(reinforcements)")}
    vec = "query_vec" if "query_vec" in cols else "NULL"  # a read-only memory of before the column
    rows = reader.execute(f"SELECT id, query, chunk_ids, rate, scale, created, {vec} FROM reinforcements ORDER BY id")
    events = answer_events(mem, rows.fetchall())
    mem._rf_answers = (key, events)
    return events


def _usable(blob) -> bool:
    """A stored float32 vector (no vector: the question is embedded again; another length matches no query)."""
    return isinstance(blob, bytes) and len(blob) > 0 and len(blob) % 4 == 0


def same_question(cos, c0: float = SAME_QUERY_COSINE):
    """How much a question at cosine ``cos`` from the new one is the same question: 1 at 1, 0 at ``c0`` and below."""
    return np.clip((np.asarray(cos, dtype=np.float64) - c0) / (1.0 - c0), 0.0, 1.0)


def answer_weights(q, events: AnswerEvents, weight, c0: float = SAME_QUERY_COSINE) -> dict[int, float]:
    """{chunk id: d}, the soft-bound belief that the chunk answers the question of ``q`` (only d > 0).

    ``weight(rate, scale, created)``: an event's decayed weight."""
    log_keep: dict[int, float] = {}
    idx, cos = events.cosines(q)
    for i, s in zip(idx, same_question(cos, c0)):
        if s <= 0:
            continue
        for ids, rate, scale, created in events.events[i]:
            lk = math.log1p(-min(weight(rate, scale, created) * float(s), 1 - 1e-12))
            for c in ids:
                log_keep[c] = log_keep.get(c, 0.0) + lk
    return {c: -math.expm1(lk) for c, lk in log_keep.items() if lk < 0}


def pull_to_top(scores: dict, lifted: dict, answers: dict, gain: float) -> dict[int, float]:
    """{chunk: what its answer part adds}: the fraction ``d`` of the way from its score (with the edges' lift,
    ``lifted``) to the best such score plus ``gain``, for the candidates ``answers`` holds."""
    mine = {c: d for c, d in answers.items() if c in scores}
    if not mine:
        return {}
    target = max(lifted.get(c, s) for c, s in scores.items()) + gain
    return {c: d * (target - lifted.get(c, scores[c])) for c, d in mine.items()}
