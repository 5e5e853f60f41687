"""Learning from use: ``reinforce(query, chunk_ids)`` strengthens what a user confirmed; decay and undo.

Nodes are the memory's concepts (``c:neil peart``) and code nodes (``k:head:code``). A query's
nodes are the concepts it names and its four codes; a chunk's nodes are its concepts and codes.
One reinforcement event co-activates every query node with every node of the chosen chunks,
at its own rate ``r`` in (0, 1), with the network's soft-bound rule. Events are kept apart from
the stream's evidence (the Hebbian network and the concept incidence are never touched):

* stored, one row per event, in the ``reinforcements`` table of ``memory.sqlite`` (query,
  its hash, its nodes, its vector, chunk ids, rate, a decay ``scale``, time), so they survive reopen;
  the edges recall reads are derived from that table (rebuilt whenever it changes);
* **undo**: ``unreinforce(event_id)`` deletes one event; with no event left recall is
  exactly what it was before (no boost is computed at all);
* **decay** (forgetting), two documented schedules:
  - per day: an event's weight halves every ``reinforcement_half_life`` days (a setting stored
    in the memory, default 30; ``None`` = never), applied at read time from its age;
  - per batch: ``decay_reinforcements(half_lives=1)`` halves every stored weight now (call it
    after each ingest batch for a per-batch schedule); events under 0.01 are dropped;
* **forget**: forgetting a document removes its chunks from every event (an event left with
  no chunk is dropped);
* **merge** of two memories = concatenating their event rows (weights combine by the soft bound).

Edge weight of (query node q, chunk node n): ``w = 1 - prod_e (1 - w_e)`` over the events that
hold both, ``w_e = rate * scale * 0.5 ** (age_days / half_life)``. Recall boost of a candidate
chunk c for a query with nodes Q: ``b(c) = mean over q in Q, n in nodes(c) of w(q, n)`` in [0, 1]
(1 only when every pair was reinforced to saturation). ``hybrid`` adds
``reinforce_weight * b(c)`` (cosine units, default 0.2: a fifth of the association's full lift,
which is ``fusion_weight`` 1.0 x the top cosine);
``associative`` adds it relative to the best association; ``similar`` stays plain cosine.
A passage confirmed for this question (or a rewording of it) also moves toward the top (``_answers``).
"""
from __future__ import annotations

import hashlib
import json
import math
import time

import numpy as np

from core.memory import _answers
from core.memory.phrases import query_phrases
from core.memory.types import Hit

_TABLE = """CREATE TABLE IF NOT EXISTS reinforcements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    query TEXT NOT NULL,
    query_hash TEXT NOT NULL,
    query_nodes TEXT NOT NULL,
    chunk_ids TEXT NOT NULL,
    rate REAL NOT NULL,
    scale REAL NOT NULL DEFAULT 1.0,
    created REAL NOT NULL,
    query_vec BLOB
)"""
DAY = 86_400.0
DEFAULT_HALF_LIFE_DAYS = 30.0
MIN_WEIGHT = 0.01  # decay_reinforcements drops events below this, like the network's min_weight
_SQL_MIN, _SQL_MAX = -2 ** 63, 2 ** 63 - 1  # an id outside SQLite's INTEGER was an OverflowError


class UnknownChunkError(LookupError):
    """A chunk id given to ``reinforce`` is not in the memory."""


def _is_real(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)


class LearningMixin:
    """``reinforce``, ``unreinforce``, ``reinforcements``, ``decay_reinforcements``; mixed into `SemanticMemory`."""

    reinforce_weight: float = 0.2  # was 0.1 when the association's lift was capped at 0.5

    # -- storage ------------------------------------------------------------------------
    def _reinforce_table(self, create: bool = False) -> bool:
        """True when the table exists (created on the writing connection when ``create``)."""
        st = self.store_
        if create:
            st._conn.execute(_TABLE)
            if "query_vec" not in {r[1] for r in st._conn.execute("PRAGMA table_info(reinforcements)")}:
                # a table written before the answer part (``_answers``) had no question vectors
                st._conn.execute("ALTER TABLE reinforcements ADD COLUMN query_vec BLOB")
            return True
        row = st._reader.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'reinforcements'").fetchone()
        return row is not None

    def _reinforce_rows(self) -> list[tuple]:
        if not self._reinforce_table():
            return []
        return self.store_._reader.execute("SELECT id, query, query_nodes, chunk_ids, rate, scale, created"
                            " FROM reinforcements ORDER BY id").fetchall()

    @property
    def reinforcement_half_life(self) -> float | None:
        """Days after which a reinforcement weighs half (``None``: never decays by age)."""
        s = self.store_.get_setting("reinforcement", {"half_life_days": DEFAULT_HALF_LIFE_DAYS})
        return s.get("half_life_days")

    @reinforcement_half_life.setter
    def reinforcement_half_life(self, days) -> None:
        if days is not None and (not _is_real(days) or days <= 0):
            raise ValueError(f"reinforcement_half_life must be a positive number of days or None, got {days!r}")
        with self._writing(), self._lock, self.store_.atomic():
            self.store_.set_setting("reinforcement", {"half_life_days": None if days is None else float(days)})

    # -- nodes --------------------------------------------------------------------------
    def _query_nodes(self, query: str, q_vec=None) -> list[str]:
        if q_vec is None:
            q_vec = self.embed_queries([query])[0]
        codes = np.asarray(self.codec.encode(np.asarray(q_vec, dtype=np.float32)[None, :]))[0]
        nodes = [f"c:{p}" for p in query_phrases(query, self.graph_.vocab_)]
        return nodes + [f"k:{h}:{int(c)}" for h, c in enumerate(codes)]

    def _chunk_nodes(self, chunk_ids) -> dict[int, frozenset]:
        """id -> nodes (concepts and codes) of the chunks that exist.

        Cached per chunk id: a chunk's text, codes and concepts never change and ids are never
        reused (a forgotten chunk is just absent from SQLite, so a cached entry is checked there).
        """
        cache = self.__dict__.setdefault("_rf_nodes", {})
        if len(cache) > 200_000:
            cache.clear()
        ids = sorted({int(c) for c in chunk_ids if _SQL_MIN <= int(c) <= _SQL_MAX})  # others cannot exist
        todo = [c for c in ids if c not in cache]
        conn = self.store_._reader
        for i in range(0, len(todo), 500):
            part = todo[i:i + 500]
            sql = f"SELECT id, codes, phrases FROM chunks WHERE id IN ({','.join('?' * len(part))})"
            for cid, codes, phrases in conn.execute(sql, part):
                nodes = [f"c:{p}" for p in (json.loads(phrases) if phrases != "[]" else [])]
                cache[cid] = frozenset(nodes + [f"k:{h}:{c}" for h, c in enumerate(bytes(codes))])
        alive = set(ids) - set(todo)
        if alive:  # cached ids: still in the store? (forget may have removed them)
            alive = self._existing_chunks(alive)
        fresh = set(todo)
        return {c: cache[c] for c in ids if c in cache and (c in alive or c in fresh)}

    def _existing_chunks(self, ids) -> set:
        ids = sorted(ids)
        out = set()
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            out.update(r[0] for r in self.store_._reader.execute(
                f"SELECT id FROM chunks WHERE id IN ({','.join('?' * len(part))})", part))
        return out

    # -- the API ------------------------------------------------------------------------
    def reinforce(self, query: str, chunk_ids, rate: float = 0.5) -> int:
        """Strengthen ``query``'s nodes with the nodes of ``chunk_ids`` (what the user found useful).

        Returns the event id: ``unreinforce(event_id)`` undoes exactly this event. ``rate``
        in (0, 1) is the soft-bound rate of this event (0.5: one confirmation weighs half).
        Unknown chunk ids raise `UnknownChunkError` (a ``LookupError``) before anything is stored.
        """
        from core.memory._checks import check_text

        check_text(query, "query (the question the chunks answered)")  # a lone surrogate failed in the embedder
        if isinstance(chunk_ids, (str, bytes)) or not hasattr(chunk_ids, "__iter__"):
            raise ValueError(f"chunk_ids must be a list of chunk ids (ints), got {chunk_ids!r:.200}")
        ids = list(chunk_ids)
        if not ids or any(isinstance(c, bool) or not isinstance(c, (int, np.integer)) for c in ids):
            hint = " (take each hit's: [h.chunk_id for h in hits])" if any(isinstance(c, Hit) for c in ids) else ""
            raise ValueError(f"chunk_ids must be a non-empty list of integer chunk ids{hint}, got {ids!r:.200}")
        if not _is_real(rate) or not 0 < rate < 1:
            raise ValueError(f"rate must be a number in (0, 1), e.g. 0.5; got {rate!r}")
        ids = list(dict.fromkeys(int(c) for c in ids))
        with self._writing(), self._lock:
            known = self._chunk_nodes(ids)
            missing = [c for c in ids if c not in known]
            if missing:
                raise UnknownChunkError(f"unknown chunk ids {missing[:10]}; take chunk_id from recall hits")
            q_vec = np.asarray(self.embed_queries([query])[0], dtype=np.float32)
            nodes = self._query_nodes(query, q_vec)
            with self.store_.atomic():
                self._reinforce_table(create=True)
                cur = self.store_._conn.execute(
                    "INSERT INTO reinforcements (query, query_hash, query_nodes, chunk_ids, rate, scale, created,"
                    " query_vec) VALUES (?, ?, ?, ?, ?, 1.0, ?, ?)",
                    (query, hashlib.sha1(query.encode("utf-8", "surrogatepass")).hexdigest(),
                     json.dumps(nodes, ensure_ascii=False), json.dumps(ids), float(rate), time.time(), q_vec.tobytes()))
            return int(cur.lastrowid)

    def unreinforce(self, event_id: int) -> bool:
        """Undo one ``reinforce`` event; False when no event has this id."""
        if isinstance(event_id, bool) or not isinstance(event_id, (int, np.integer)):
            raise ValueError(f"event_id must be an integer returned by reinforce(), got {event_id!r}")
        if not _SQL_MIN <= int(event_id) <= _SQL_MAX:  # SQLite ids are 64-bit: no such event
            return False
        with self._writing(), self._lock:
            if not self._reinforce_table():
                return False
            with self.store_.atomic():
                cur = self.store_._conn.execute("DELETE FROM reinforcements WHERE id = ?", (int(event_id),))
            return cur.rowcount > 0

    def reinforcements(self, now: float | None = None) -> list[dict]:
        """Every event with its current ``weight`` (after decay, at time ``now``, default now)."""
        if now is not None and not _is_real(now):  # "x" failed in float(); NaN gave every event its full weight
            raise ValueError(f"now must be a time in seconds (time.time()) or None, got {now!r}")
        now = time.time() if now is None else float(now)
        hl = self.reinforcement_half_life
        out = []
        for eid, query, qn, cids, rate, scale, created in self._reinforce_rows():
            out.append({"id": eid, "query": query, "chunk_ids": json.loads(cids), "query_nodes": json.loads(qn),
                        "rate": rate, "weight": _weight(rate, scale, created, now, hl), "created": created})
        return out

    def decay_reinforcements(self, half_lives: float = 1.0) -> int:
        """Multiply every event's weight by ``0.5 ** half_lives`` now; drop events under 0.01.

        The per-batch schedule (e.g. once after each ingest). Returns how many events remain.
        """
        if not _is_real(half_lives) or half_lives < 0:
            raise ValueError(f"half_lives must be a non-negative number, got {half_lives!r}")
        with self._writing(), self._lock:
            if not self._reinforce_table():
                return 0
            with self.store_.atomic():
                c = self.store_._conn
                c.execute("UPDATE reinforcements SET scale = scale * ?", (0.5 ** float(half_lives),))
                c.execute("DELETE FROM reinforcements WHERE rate * scale < ?", (MIN_WEIGHT,))
                return c.execute("SELECT count(*) FROM reinforcements").fetchone()[0]

    def _forget_reinforcements(self, removed, moved: dict | None = None) -> dict[int, list]:
        """Drop forgotten chunks from every event; an event left with no chunk goes (called by forget).

        ``moved`` (old id -> new id): chunks a replaced document stored again, or holds edited; their events
        follow them. Returns the events that went, {event id: the chunk ids it named}: an ingest says so.
        """
        gone, moved, dropped = {int(c) for c in removed}, moved or {}, {}
        if not gone or not self._reinforce_table():
            return dropped
        with self.store_.atomic():
            conn, moves = self.store_._conn, False
            for eid, cids in conn.execute("SELECT id, chunk_ids FROM reinforcements").fetchall():
                ids = json.loads(cids)
                left = list(dict.fromkeys(moved.get(c, c) for c in ids if c not in gone or c in moved))
                if not left:
                    conn.execute("DELETE FROM reinforcements WHERE id = ?", (eid,))
                    dropped[eid] = ids
                elif left != ids:
                    conn.execute("UPDATE reinforcements SET chunk_ids = ? WHERE id = ?", (json.dumps(left), eid))
                    moves = True
            if moves:  # the caches' key (`events_key`): counts and lengths stay when an event moves 7 -> 9
                self.store_.set_setting(_MOVES, int(self.store_.get_setting(_MOVES, 0) or 0) + 1)
        return dropped

    def _drop_dead_reinforcements(self) -> int:
        """On a writable open: events naming chunks that no longer exist lose those ids (an event left
        with none goes). A crash between a forget's commit and the events' update left such ids, before
        both shared one transaction. Returns how many ids were dropped."""
        if not self._reinforce_table():
            return 0
        named = set()
        for (cids,) in self.store_._reader.execute("SELECT chunk_ids FROM reinforcements"):
            try:
                named.update(c for c in json.loads(cids) if isinstance(c, int) and _SQL_MIN <= c <= _SQL_MAX)
            except (TypeError, ValueError):  # an edited row: left as it is (recall ignores what it cannot read)
                continue
        dead = named - self._existing_chunks(named) if named else set()
        try:
            self._forget_reinforcements(dead)
        except (TypeError, ValueError):  # another row cannot be read: opening must not fail on it
            return 0
        return len(dead)

    # -- recall -------------------------------------------------------------------------
    def _reinforcement_edges(self):
        """Events grouped by their (query nodes, chunk nodes): [(qn, cn, [(rate, scale, created), ...], {chunk id:
        its nodes}, {query texts})]; cached until the table changes. Recall walks each group's node pairs once: one
        per event made a recall 28x slower after 5,000 confirmations of one answer (7 -> 200 ms), same boosts. The
        chunks and queries say which passages were confirmed, and for what (``_sources``)."""
        key = events_key(self.store_._reader)
        cached = getattr(self, "_rf_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        rows = self._reinforce_rows()
        nodes = self._chunk_nodes([c for r in rows for c in json.loads(r[3])]) if rows else {}
        groups: dict[tuple[frozenset, frozenset], tuple[list, dict, set]] = {}
        for eid, query, qn, cids, rate, scale, created in rows:
            ids = [c for c in json.loads(cids) if c in nodes]
            cn = frozenset(n for c in ids for n in nodes[c])
            if cn:
                ws, chunks, queries = groups.setdefault((frozenset(json.loads(qn)), cn), ([], {}, set()))
                ws.append((rate, scale, created))
                chunks.update((c, nodes[c]) for c in ids)
                queries.add(query)
        events = [(qn, cn, ws, chunks, queries) for (qn, cn), (ws, chunks, queries) in groups.items()]
        self._rf_cache = (key, events)
        return events

    def _reinforced(self, q, query_text, mode: str, scores: dict, trace: dict | None = None, explain: int = 0):
        """Recall hook: (scores with the reinforcement boost, {chunk: {"reinforcement": what it added to the
        score, "reinforcement_weight": its learned weight b}}): the score is a sum a reader can check. For the
        ``explain`` best chunks also what carried it (``_sources``): a passage the user never confirmed is lifted
        too when it shares a concept or a code with one that was.

        ``trace`` (the walk's explanation) already holds the query's concepts and codes when
        recall explains; otherwise they are computed here.
        """
        if mode == "similar" or not scores or query_text is None or not self._reinforce_table():
            return scores, {}
        events = self._reinforcement_edges()
        if not events:
            return scores, {}
        qkey = (query_text, np.asarray(q, dtype=np.float32).tobytes())
        last = getattr(self, "_rf_query", None)  # per-document recall asks again with the same query
        if last is None or last[0] != qkey:
            if trace and "seed_codes" in trace:  # its seed_phrases are the known concepts only: an event holds all
                nodes = [f"c:{p}" for p in query_phrases(query_text, self.graph_.vocab_)] + \
                        [f"k:{h}:{c}" for h, c in trace["seed_codes"]]
            else:
                nodes = self._query_nodes(query_text, q)
            last = self._rf_query = (qkey, frozenset(nodes))
        Q = last[1]
        now, hl = time.time(), self.reinforcement_half_life
        log_keep: dict[tuple[str, str], float] = {}
        active = []  # (group's chunks, asked with this query?, its strength) for _sources
        for qn, cn, ws, chunks, queries in events:
            shared = Q & qn
            if not shared:
                continue
            lk = sum(math.log1p(-min(_weight(rate, scale, created, now, hl), 1 - 1e-12)) for rate, scale, created in ws)
            active.append((chunks, query_text in queries, len(shared) * -math.expm1(lk)))
            for a in shared:
                for n in cn:
                    log_keep[(a, n)] = log_keep.get((a, n), 0.0) + lk
        per_node: dict[str, float] = {}
        for (_, n), lk in log_keep.items():
            per_node[n] = per_node.get(n, 0.0) + (1.0 - math.exp(lk))
        touched = per_node.keys()
        cand_nodes = self._chunk_nodes(scores) if per_node else {}
        top = max(scores.values()) if mode == "associative" else 1.0
        gain = self.reinforce_weight * (top if top > 0 else 1.0)
        out, boost = dict(scores), {}
        for c, nodes in cand_nodes.items():
            hit = nodes & touched
            if not hit:
                continue
            b = sum(per_node[n] for n in hit) / (len(Q) * len(nodes))
            if b > 0:
                out[c] = scores[c] + gain * b
                # exact: the parts of ``why`` add up to the score (it was rounded here, off by up to 5e-5)
                boost[c] = {"reinforcement": gain * b, "reinforcement_weight": b}
        self._answered(q, scores, out, boost, gain, (now, hl))
        if not boost:
            return scores, {}
        for c in sorted(out, key=out.get, reverse=True)[:explain] if boost else ():  # those recall explains
            if c in boost:
                boost[c].update(_sources(c, cand_nodes.get(c, frozenset()), active))
                if boost[c].get("answer_weight") and boost[c]["confirmed"] is None:  # a rewording of its question
                    boost[c]["confirmed"] = "a related query"
        return out, boost

    def _answered(self, q, scores: dict, out: dict, boost: dict, gain: float, clock) -> None:
        """Add the answer part (``_answers``) to ``out`` and ``boost`` in place: a passage confirmed for this
        question, or nearly this one, moves toward the top by its answer weight (``why["answer_weight"]``)."""
        now, hl = clock
        answers = _answers.answer_weights(q, _answers.cached_events(self), lambda r, s, c: _weight(r, s, c, now, hl))
        for c, add in _answers.pull_to_top(scores, dict(out), answers, gain).items():
            out[c] += add
            mine = boost.setdefault(c, {"reinforcement": 0.0, "reinforcement_weight": 0.0})
            mine["reinforcement"] += add
            mine["answer_weight"] = answers[c]


_MOVES = "reinforcement_moves"  # a setting: how many times events' chunk ids were rewritten
_EVENTS_KEY = ("SELECT count(*), max(id), total(scale), total(length(chunk_ids)), "
               f"(SELECT value FROM settings WHERE key = '{_MOVES}') FROM reinforcements")


def events_key(reader) -> tuple:
    """What tells the events' caches the table changed: its counts and lengths, and how often chunk ids were
    rewritten (`_forget_reinforcements`): an event moved to an edited passage's new chunk (7 -> 9) kept the counts
    and lengths, and the process went on naming the chunk that was gone."""
    return tuple(reader.execute(_EVENTS_KEY).fetchone())


def _sources(chunk_id: int, nodes: frozenset, active: list) -> dict:
    """What lifted a passage: ``confirmed`` ("this query": a reinforcement of this query named it; "a related
    query": one of a query sharing concepts or codes with this one did; None: never confirmed) and
    ``reinforced_by``, the other confirmed passages (ids, at most 5, strongest first) whose concepts or codes it
    shares. "reinforced by use" was written on passages nobody confirmed, lifted through a shared code node."""
    confirmed, via = None, {}
    for chunks, asked, strength in active:
        if chunk_id in chunks:
            confirmed = "this query" if asked or confirmed == "this query" else "a related query"
        for other, theirs in chunks.items():
            common = len(nodes & theirs)
            if other != chunk_id and common:
                via[other] = max(via.get(other, 0.0), strength * common)
    return {"confirmed": confirmed, "reinforced_by": sorted(via, key=lambda o: (-via[o], o))[:5]}


def _weight(rate, scale, created, now, half_life_days) -> float:
    """One event's weight: rate x per-batch decays x the age decay (halves every half-life)."""
    w = float(rate) * float(scale)
    if half_life_days:
        w *= 0.5 ** (max(0.0, now - float(created)) / (DAY * float(half_life_days)))
    return w
