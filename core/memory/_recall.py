"""Recall: vector search, associative spreading, fusion, and the hits with their explanations."""
from __future__ import annotations

import threading
from contextlib import contextmanager

import numpy as np

from core._validation import check_flags, check_ids, check_query_vector
from core.log import get_logger
from core.memory._association import AssociationMixin
from core.memory._checks import check_parts, check_text, is_real
from core.memory._hitinfo import _why_text, allowed_chunks, attach, check_where, credit_matching
from core.memory._fusion import fused, hybrid_scores
from core.memory._neighbours import with_neighbours
from core.memory.types import MODES, Hit, RecallConfig

log = get_logger("memory.recall")

_omp = []  # [(get, set) of every OpenMP runtime loaded when the first recall ran]
_vanished = threading.local()  # .ids: chunks this thread's recall ranked that SQLite no longer holds


@contextmanager
def _one_thread():
    """OpenMP pools at one thread while a single query is ranked.

    torch and FAISS each bring their own libgomp; on one query vector their spinning
    pools only fight (realdocs 10k chunks, load 8 on 2 cores: query codes 64 -> 0.3 ms,
    FAISS search 16 -> 0.7 ms). OpenMP's limit belongs to the calling thread, so each
    recall sets and restores its own and concurrent recalls cannot undo each other.
    The runtimes' ``omp_get_max_threads``/``omp_set_num_threads`` are called directly:
    threadpoolctl's limit/restore (which also re-reads and re-sets the BLAS pools) cost
    ~0.13 ms a recall at 100k chunks."""
    if not _omp:
        from threadpoolctl import ThreadpoolController
        _omp.append([(c.dynlib.omp_get_max_threads, c.dynlib.omp_set_num_threads)
                     for c in ThreadpoolController().lib_controllers if c.user_api == "openmp"])
    libs = _omp[0]
    before = [get() for get, _ in libs]
    for _, set_ in libs:
        set_(1)
    try:
        yield
    finally:
        for (_, set_), n in zip(libs, before):
            set_(n)


class RecallMixin(AssociationMixin):
    """Recall by similarity, association or both; mixed into `SemanticMemory` (the walk: `_association.py`)."""

    exact_filter_max: int = 20_000  # a `where` filter this selective is scored exactly from SQLite

    @property
    def recall_config(self) -> RecallConfig:
        """The recall knobs (`RecallConfig`); ``None`` sets the defaults."""
        return self._recall_config

    @recall_config.setter
    def recall_config(self, value) -> None:
        # checked here, not at the next query: a dict or a string failed deep in a recall
        # ("'dict' object has no attribute 'candidates'")
        check_parts(None, None, value)
        self._recall_config = RecallConfig() if value is None else value

    def embed_queries(self, queries) -> np.ndarray:
        if isinstance(queries, str):
            queries = [queries]
        from core.embedding import TextEmbedder

        emb = self._embedder()  # queries are not kept in the embedding cache (a custom embedder: its own embed)
        return emb.embed(list(queries), store=False) if isinstance(emb, TextEmbedder) else emb.embed(list(queries))

    def recall(self, query: str, k: int = 10, mode: str = "hybrid", per_document: bool = False,
               exclude=None, min_score: float | None = None, context: int = 0, where: dict | None = None) -> list[Hit]:
        """The ``k`` chunks best matching ``query``.

        Parameters
        ----------
        query : str
        k : int
        mode : {"similar", "associative", "hybrid"}
            ``similar`` = vector search (a chunk's cosine read with its adjacent chunks',
            `RecallConfig.neighbour_weight`); ``associative`` = activation spread from the
            query's codes and phrases and its best vector hits through the Hebbian
            network and the passage graph (it returns only the chunks the walk reaches: fewer
            than ``k`` when few are linked); ``hybrid`` = cosine + a bounded lift from
            association (see `RecallConfig.fusion_weight`), in cosine units.
        per_document : bool
            At most one hit (the best chunk) per document.
        exclude : iterable of int, optional
            Chunk ids never to return (e.g. the query's own chunk in evaluations); they
            lend nothing to their neighbours' scores either.
        min_score : float, optional
            Drop hits scoring below this (``similar``/``hybrid`` scores are cosine units,
            e.g. 0.3 keeps answers and drops nonsense for MiniLM in ``similar``; ``hybrid``
            adds up to ``fusion_weight`` x the top cosine, so there about 0.6).
        context : int, default 0
            Attach to each hit the ``context`` chunks before and after it in its document
            (``Hit.context``; ``Hit.passage`` joins them with the hit's text).
        where : dict, optional
            Metadata filter, e.g. ``{"category": "news"}`` or ``{"lang": ["en", "fr"]}`` (any of):
            only documents whose metadata hold every key with one of its values are ranked.
            Applied **before** ranking (vector search, associative candidates and seeds are
            drawn from the matching documents only), so ``similar`` and ``hybrid`` never leave fewer
            than ``k`` hits while matching chunks remain. Every hit carries its document's ``metadata``.
        """
        q = self.embed_queries([check_text(query, "query")])[0]
        return self.recall_vector(q, k, mode, query_text=query, per_document=per_document, exclude=exclude,
                                  min_score=min_score, context=context, where=where)

    def recall_batch(self, queries, k: int = 10, mode: str = "hybrid", per_document: bool = False,
                     exclude=None, min_score: float | None = None, context: int = 0, where: dict | None = None):
        """``recall`` for many queries, embedding them in one batch; the same arguments as ``recall``
        (``exclude`` applies to every query)."""
        return list(self.recall_each(queries, k, mode, per_document, exclude, min_score, context, where))

    def recall_each(self, queries, k: int = 10, mode: str = "hybrid", per_document: bool = False,
                    exclude=None, min_score: float | None = None, context: int = 0, where: dict | None = None):
        """``recall_batch`` one query at a time: its arguments are checked and the queries embedded in one batch
        now, each query's hits ranked when the iterator is advanced. A caller may stop between queries (the
        server, once the client of a batch has hung up: it ran to the end, ~4 CPU-s for 64 queries at k=100)."""
        if isinstance(queries, (str, bytes)) or not hasattr(queries, "__iter__"):  # list("abc"): three queries
            raise ValueError(f"queries must be a list of query strings (for one, use recall()); got {queries!r:.80}")
        if mode not in MODES:  # before a long batch is embedded for nothing
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        exclude = check_ids(exclude, "exclude")  # once (a generator would be spent by the first query)
        queries = [check_text(t, f"queries[{i}]") for i, t in enumerate(queries)]
        Q = self.embed_queries(queries)
        return (self.recall_vector(q, k, mode, query_text=t, per_document=per_document, exclude=exclude,
                                   min_score=min_score, context=context, where=where)
                for q, t in zip(Q, queries))

    def _vector_search(self, q: np.ndarray, n: int, pool: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(chunk ids, cosines) of the ``n`` nearest chunks.

        With an approximate index, ``max(n, pool)`` candidates are re-scored exactly against
        the stored float16 embeddings.
        """
        with self._lock:
            if self.index_.is_exact:
                D, I = self.index_.search(q[None, :], n)
            else:
                D, I = self.index_.search(q[None, :], max(n, pool))
        ids = I[0][I[0] >= 0]
        if not len(ids):
            return ids, np.zeros(0, dtype=np.float32)
        if self.index_.is_exact:
            return ids, D[0][: len(ids)].astype(np.float32)
        found, X = self.store_.vectors(ids)
        if not len(found):
            return found, np.zeros(0, dtype=np.float32)
        sims = X @ q
        order = np.argsort(-sims, kind="stable")[:n]
        return found[order], sims[order].astype(np.float32)

    def _search(self, q: np.ndarray, n: int, pool: int, allowed: np.ndarray | None):
        """``_vector_search`` restricted to ``allowed`` chunk ids (sorted), when given.

        A small allowed set is scored exactly from its stored vectors; a large one is read
        from the index with a pool widened by how rare the allowed chunks are (x4 until
        ``n`` of them are found or the whole index was read).
        """
        if allowed is None:
            return self._vector_search(q, n, pool)
        if not len(allowed):
            return allowed, np.zeros(0, dtype=np.float32)
        if len(allowed) <= self.exact_filter_max:
            found, X = self.store_.vectors(allowed)
            if not len(found):
                return found, np.zeros(0, dtype=np.float32)
            sims = X @ q
            order = np.lexsort((found, -sims))[:n]
            return found[order], sims[order].astype(np.float32)
        total = max(int(self.index_.ntotal), 1)
        m = min(total, n + 2 * n * total // len(allowed))
        while True:
            ids, sims = self._vector_search(q, m, max(m, pool))
            keep = np.isin(ids, allowed)
            if keep.sum() >= n or m >= total:
                return ids[keep][:n], sims[keep][:n]
            m = min(total, 4 * m)

    def _exact_sims(self, q: np.ndarray, ids: np.ndarray) -> dict[int, float]:
        found, X = self.store_.vectors(ids)
        return dict(zip(found.tolist(), (X @ q).tolist())) if len(found) else {}

    def recall_vector(self, q, k: int = 10, mode: str = "hybrid", query_text: str | None = None,
                      per_document: bool = False, exclude=None, explain: bool = True,
                      min_score: float | None = None, context: int = 0, where: dict | None = None) -> list[Hit]:
        """``recall`` from a query embedding (384-d); ``query_text`` adds its phrases as seeds."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        if min_score is not None and not is_real(min_score):  # np.float32(0.3) (a score read back) was refused
            raise ValueError(f"min_score must be a finite number or None, got {min_score!r}")
        check_flags(per_document=per_document, explain=explain)
        if query_text is not None and (not isinstance(query_text, str) or query_text.strip()):  # "" = no phrases
            query_text = check_text(query_text, "query_text")
        if isinstance(context, bool) or not isinstance(context, (int, np.integer)) or not 0 <= context <= 100:
            raise ValueError(f"context must be an integer from 0 to 100 (neighbouring chunks per side), got {context!r}")
        where, exclude = check_where(where), check_ids(exclude, "exclude")
        q = check_query_vector(q, 384)
        allowed = allowed_chunks(self.store_, where) if where else None
        with _one_thread():
            hits = self._ranked_past_gone(q, k, mode, query_text, per_document, exclude, explain, min_score,
                                          allowed, where)
        if where and not per_document:  # per document, credited before the documents are counted
            hits = credit_matching(self.store_, hits, where)
        attach(self.store_, hits, int(context))
        log.debug("recall %s k=%d: %d hits%s", mode, k, len(hits),
                  "" if allowed is None else f" among {len(allowed)} chunks matching {where}")
        return hits

    def _ranked_past_gone(self, q, k: int, mode: str, query_text, per_document: bool, exclude, explain: bool,
                          min_score, allowed, where) -> list[Hit]:
        """`_ranked`, ranked again without the chunks it found gone from SQLite while fewer than ``k`` hits came:
        another process forgot them and this object could not reload yet (that process still holds the write
        lock), so its index still gave them. A recall then still has ``k`` hits while ``k`` chunks are stored
        (it gave none at k=1); hybrid and associative scores stay those of this object's network until it reloads."""
        gone: set[int] = set()
        while True:
            _vanished.ids = set()
            skip = exclude if not gone else [*(exclude or ()), *sorted(gone)]
            try:
                hits = self._ranked(q, k, mode, query_text, per_document, skip, explain, min_score, allowed, where)
                new = _vanished.ids - gone
            finally:
                _vanished.ids = None
            if len(hits) >= k or not new:
                return hits
            gone |= new

    def _ranked(self, q, k: int, mode: str, query_text, per_document: bool, exclude, explain: bool,
                min_score, allowed: np.ndarray | None = None, where: dict | None = None) -> list[Hit]:
        """The ranking of ``recall_vector`` (arguments checked), over the ``allowed`` chunks (those of documents
        matching ``where``) if given."""
        if per_document:
            return self._recall_per_document(q, k, mode, query_text, exclude, explain, min_score, allowed, where)
        cfg = self.recall_config
        excl = set(int(e) for e in exclude) if exclude is not None else set()
        want = 3 * k if per_document else k
        n_cand = want if mode == "similar" else max(cfg.candidates, want)
        n_search = n_cand + len(excl)
        if mode == "similar" and cfg.neighbour_weight > 0:
            # read with their neighbours (`_neighbours.py`), from twice as many by plain cosine: the
            # blend lowers chunks whose context disagrees, so one just past the plain top can rise
            ids, sims = self._search(q, 2 * n_search, self.rerank * want, allowed)
            plain = dict(zip(ids.tolist(), sims.tolist())) if explain else {}
            sims = with_neighbours(self.graph_, self.store_, q, ids, sims, cfg.neighbour_weight, excl)
            order = np.lexsort((ids, -sims))[:n_search]
            ids, sims = ids[order], sims[order]
        else:
            ids, sims = self._search(q, n_search, self.rerank * want, allowed)
            plain = None  # the sims are the plain cosines
        if excl:
            keep = np.asarray([i not in excl for i in ids.tolist()], dtype=bool)
            ids, sims = ids[keep], sims[keep]
        if mode == "similar" or not len(ids):
            scores = dict(zip(ids.tolist(), sims.tolist()))
            why = {i: {"similarity": s, "cosine": s if plain is None else plain[i]}
                   for i, s in scores.items()} if explain else {}
            return self._hits(scores, k, per_document, why, min_score)
        # restart (the seeds keep part of their mass) re-adds the vector ranking: associative
        # needs it, hybrid already has the cosine, so there it would count the seeds twice
        assoc, trace = self._associate(q, query_text, ids, sims, excl, explain,
                                       restart=cfg.restart if mode == "associative" else 0.0)
        if allowed is not None and assoc:
            a_ids = np.fromiter(assoc, dtype=np.int64, count=len(assoc))
            assoc = {int(c): assoc[int(c)] for c in a_ids[np.isin(a_ids, allowed)]}
        sim_of = dict(zip(ids.tolist(), sims.tolist()))
        if mode == "associative":
            scores = assoc
        else:  # the walk was seeded by plain cosines; fusion reads them with their neighbours
            a_ids = np.fromiter(assoc, dtype=np.int64, count=len(assoc))  # the walk's n_cand strongest (ties: first)
            a_top = a_ids[np.argsort(-np.fromiter(assoc.values(), dtype=np.float64, count=len(assoc)), kind="stable")[:n_cand]]
            cand = set(sim_of) | set(a_top.tolist())
            missing = [c for c in cand if c not in sim_of]
            if missing:
                sim_of.update(self._exact_sims(q, np.asarray(missing, dtype=np.int64)))
            plain = dict(sim_of) if explain else {}
            scores, sim_of = hybrid_scores(self, q, sim_of, assoc, want, excl)
        fused_of = scores if mode == "hybrid" else {}  # score = cosine + lift (+ reinforcement, below)
        # learning from use (learning.py); what lifted the hits explained below, too
        scores, boost = self._reinforced(q, query_text, mode, scores, trace, 4 * k if explain else 0)
        why = {}
        if explain:
            for c in sorted(scores, key=scores.get, reverse=True)[: 4 * k]:
                # "lift": what association added to the cosine, so a reader can add the score up (the CLI
                # printed the raw association, 1.31, beside a score of 1.27 = cosine .63 + a lift of .63)
                lift = {"lift": fused_of[c] - sim_of[c]} if c in fused_of and sim_of.get(c) is not None else {}
                # "similarity": the score's part (read with the neighbours in hybrid); "cosine": the plain one
                cosine = sim_of.get(c) if mode == "associative" else plain.get(c)
                why[c] = {"similarity": sim_of.get(c), "cosine": cosine, "association": assoc.get(c, 0.0), **lift,
                          **trace, **boost.get(c, {})}
        return self._hits(scores, k, per_document, why, min_score)

    def _fuse(self, cand, sim_of: dict, assoc: dict) -> dict:
        """`fused` (`_fusion.py`) of {chunk: cosine} and {chunk: association} over ``cand``."""
        ids = list(cand)
        s = np.fromiter((sim_of.get(c, 0.0) for c in ids), dtype=np.float64, count=len(ids))
        a = np.fromiter((assoc.get(c, 0.0) for c in ids), dtype=np.float64, count=len(ids))
        return dict(zip(ids, fused(self.recall_config, s, a).tolist()))

    def _recall_per_document(self, q, k: int, mode: str, query_text, exclude, explain: bool,
                             min_score: float | None = None, allowed: np.ndarray | None = None,
                             where: dict | None = None) -> list[Hit]:
        """The best chunk of each of the ``k`` best documents.

        One long document can fill any fixed candidate pool, so the pool grows (x4) until it
        holds ``k`` documents or the memory has no more chunks to give; every hit is a plain
        recall hit, so each keeps its ``why``.
        """
        exclude = list(exclude) if exclude is not None else None
        total = max(1, self.store_.count_chunks() if allowed is None else len(allowed))
        n, reached = min(3 * k, total), -1
        while True:
            hits = self._ranked(q, n, mode, query_text, False, exclude, explain, min_score, allowed)
            if where:  # a chunk two documents share counts for the one that matches, not for its first owner
                hits = credit_matching(self.store_, hits, where)
            out, seen = [], set()
            for h in hits:
                if h.doc_id not in seen:
                    seen.add(h.doc_id)
                    out.append(h)
            # similar/hybrid return fewer than n only when nothing is left. Association reaches
            # only linked chunks, but a wider pool also seeds the walk wider, so a pool that
            # brings no new document can still lead to one: it stops when no new chunk comes
            spent = len(hits) <= reached if mode == "associative" else len(hits) < n
            if len(out) >= k or spent or n >= total:
                return out[:k]
            n, reached = min(4 * n, total), len(hits)

    def _hits(self, scores: dict, k: int, per_document: bool, why: dict,
              min_score: float | None = None) -> list[Hit]:
        ids = np.fromiter(scores, dtype=np.int64, count=len(scores))  # best first, ties by id: what
        vals = np.fromiter(scores.values(), dtype=np.float64, count=len(scores))  # sorted() on (-score, id) gives
        order = ids[np.lexsort((ids, -vals))].tolist()
        if min_score is not None:
            order = [c for c in order if scores[c] >= min_score]
        seeds, seed_ids = {}, []
        srcs = next((w.get("_sources") for w in why.values() if w.get("_sources")), None)
        if srcs:
            seed_ids = srcs.seed_ids()  # every seed: a superset of the sources asked for below
        out: list[Hit] = []
        seen_docs = set()
        pos = 0
        step = 4 * k if per_document else k  # rows are fetched only for what can be returned
        while len(out) < k and pos < len(order):
            part = order[pos:pos + step]
            rows = self.store_.chunk_rows(part + seed_ids if pos == 0 else part)  # one query with the seeds' titles
            if pos == 0:
                seeds = {c: (rows[c]["title"] or rows[c]["doc_key"], rows[c]["doc_key"])  # label, document
                         for c in seed_ids if c in rows}
            pos += len(part)
            for c in part:
                r = rows.get(c)
                if r is None:  # forgotten since the search (by another process: `_ranked_past_gone`)
                    if getattr(_vanished, "ids", None) is not None:
                        _vanished.ids.add(c)
                    continue
                if per_document:
                    if r["doc_key"] in seen_docs:
                        continue
                    seen_docs.add(r["doc_key"])
                info = dict(why.get(c, {}))
                sources = info.pop("_sources", None) or {}
                carriers = info.pop("_carriers", None) or {}
                if info.get("seed_chunks"):  # what the ids are, for a reader (`--explain`)
                    info["seed_titles"] = [seeds[s][0] if s in seeds else "" for s in info["seed_chunks"]]
                if "phrases" in info:  # keep only the phrases this chunk holds
                    mine = set(r["phrases"])
                    info["phrases"] = [p for p in info["phrases"] if p[0] in mine]
                edges = []
                for p in r["phrases"]:  # one look-up per phrase: each is a method call on PhraseSources
                    src = sources.get(p)
                    if src is not None and isinstance(src[1], tuple):
                        edges.append({"from": src[1][1], "to": p, "weight": src[1][2], "npmi": src[1][3]})
                if edges:  # the learned network edges that carried activation into this chunk
                    info["edges"] = edges[:3]
                text = _why_text(int(c), info, r, sources, seeds, carriers) if info else ""
                out.append(Hit(r["doc_key"], int(c), float(scores[c]), r["text"] or "", r["title"], r["position"],
                               info, text))
                if len(out) >= k:
                    break
        return out


