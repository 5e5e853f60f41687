"""Association per chunk for recall: the query and its best vector hits seed a walk through the Hebbian
network's code nodes, the concepts the text names and the passage graph (`graph.py`); the trace says why."""
from __future__ import annotations

import numpy as np

from core.memory._hitinfo import PhraseSources
from core.memory.phrases import query_phrases


class AssociationMixin:
    """The associative walk of `RecallMixin` (``_associate``) and the network weights its explanations show."""

    def _associate(self, q, query_text, ids, sims, excl, explain: bool = True, restart: float | None = None):
        """Association score per chunk id: spreading from seeds through phrases and code nodes."""
        cfg = self.recall_config
        restart = cfg.restart if restart is None else restart
        g = self.graph_
        m = min(cfg.seed_hits, len(ids))
        seed_ids = ids[:m]
        w = np.exp((sims[:m] - sims[0]) / cfg.seed_temperature)
        w = w / w.sum()
        seed_rows = g.rows_of(seed_ids)
        ok = seed_rows >= 0
        seed_rows, w = seed_rows[ok], w[ok]
        q_phr = query_phrases(query_text, g.vocab_) if query_text else []
        q_ids = g.phrase_ids(q_phr)
        # the Hebbian network: query codes (and the seeds' codes) spread activation
        q_codes = self.codec.encode(q[None, :])
        seed_codes = q_codes
        node_act = None
        if cfg.code_weight > 0 and self.network_.n_events_ > 0:
            if cfg.seed_codes_from_hits and len(seed_rows):
                seed_codes = np.concatenate([q_codes, g._codes.values[seed_rows]])
            with self._lock:
                acts = self.network_.propagate(seed_codes, steps=cfg.steps)
            node_act = acts.max(axis=0)
        cgraph = None
        if cfg.concept_weight > 0 and len(self.network_.cx_keys_):
            with self._lock:
                cgraph = self.network_.concept_graph()
        with g._lock:
            rows, scores, trace = g.spread(seed_rows, w, q_ids, node_act, candidate_rows=g.rows_of(ids),
                                           concept_graph=cgraph, concept_weight=cfg.concept_weight,
                                           query_phrase_weight=cfg.query_phrase_weight,
                                           phrase_weight=cfg.phrase_weight, df_power=cfg.df_power,
                                           code_weight=cfg.code_weight, restart=restart)
            if len(rows) > 4 * cfg.candidates:  # only the strongest can reach the top
                top = np.argpartition(-scores, 4 * cfg.candidates)[:4 * cfg.candidates]
                rows, scores = rows[top], scores[top]
            chunk_ids = g.chunk_ids_at(rows)
            ph_ids, ph_act = trace["phrase_ids"], trace["phrase_act"]  # sparse: the nonzero ones, ascending
            by_act = np.argsort(-ph_act)  # positions in ph_ids, strongest first
            phr = [(g.phrases_[i], round(a, 4)) for i, a in zip(ph_ids[by_act[:8]].tolist(), ph_act[by_act[:8]].tolist())]
            if explain:  # where each strong phrase's activation came from: the query or a seed hit
                strong = by_act[:64]
                sources = PhraseSources(g.phrases_, ph_ids[strong].tolist(), ph_act[strong].tolist(),
                                        set(q_ids.tolist()), list(zip(g.chunk_ids_at(seed_rows).tolist(),
                                                                      seed_rows.tolist())),
                                        g._build()["M"], trace.get("via") or {})
        assoc = dict(zip(chunk_ids.tolist(), scores.tolist()))  # python ints/floats, as int()/float() give
        if excl:
            assoc = {c: s for c, s in assoc.items() if c not in excl}
        if not explain:
            return assoc, {}
        size = self.codec.codebook_size
        nodes, carriers = [], {}
        if node_act is not None:  # the code nodes that passed mass on (the strongest by activation x idf)
            carriers = {(int(n_ // size), int(n_ % size)): float(node_act[n_]) for n_ in trace["nodes"]}
            for hc in sorted(list(carriers)[:8], key=lambda hc: -carriers[hc]):  # shown in activation order
                nodes.append({"node": list(hc), "activation": round(carriers[hc], 4)})
        qc = [[h, int(c)] for h, c in enumerate(q_codes[0])]
        if len(nodes) >= 2:  # the Hebbian weights between the strongest carrying nodes
            a, b = nodes[0]["node"], nodes[1]["node"]
            nodes[0]["weight_to_next"] = round(self._network_weight(a[0] * size + a[1], b[0] * size + b[1]), 4)
        # the concepts of the memory the query names: a phrase it is not ("vienna opera alice bob") was offered as a
        # concept to draw on the page, whose click said "not a concept of this memory"
        known = [p for p in q_phr if p in g.vocab_]
        trace = {"seed_codes": qc, "seed_phrases": known, "seed_chunks": [int(s) for s in seed_ids],
                 "phrases": phr, "nodes": nodes, "_sources": sources, "_carriers": carriers}
        return assoc, trace

    def _network_weight(self, a: int, b: int) -> float:
        """The network's weight between nodes ``a`` and ``b`` (0 without an edge), as ``weights()[a, b]``.

        One binary search in the sorted edge keys: building the whole CSR (and summing the
        counts to tell whether it changed) cost ~0.6 ms a query at 100k chunks."""
        net = self.network_
        lo, hi = min(a, b), max(a, b)
        key = lo * net.num_nodes + hi
        with self._lock:
            keys = net.keys_
            pos = int(np.searchsorted(keys, key))
            if pos == len(keys) or keys[pos] != key:
                return 0.0
            w = float(net._edge_weights()[pos])
        return 2 * w if lo == hi else w  # weights() stores a self-edge twice (once per direction)
