"""The passage graph that associative recall walks: chunks linked through phrases and code nodes.

Two kinds of node tie chunks together:

- **phrase nodes** (capitalised spans and document titles, :mod:`core.memory.phrases`):
  a chunk that names another chunk's subject is one hop from it, HippoRAG-style;
- **code nodes** (the 4 x 256 VQ-VAE codes): a chunk is attached to its four codes, and
  activation reaches them through the Hebbian network.

Everything is an inverted index (node -> chunk rows, CSR); a query touches only the rows
of its seeds and of the nodes they reach, never every chunk. The graph is derived state,
rebuilt from the store when a memory opens and appended to as chunks arrive.
"""
from __future__ import annotations

import threading

import numpy as np
from scipy import sparse


class _Growable:
    """An append-only int64/float array with amortised doubling."""

    def __init__(self, dtype, width: int | None = None):
        shape = (1024,) if width is None else (1024, width)
        self.buf = np.zeros(shape, dtype=dtype)
        self.n = 0

    def extend(self, values: np.ndarray) -> None:
        need = self.n + len(values)
        if need > len(self.buf):
            new = np.zeros((max(need, 2 * len(self.buf)),) + self.buf.shape[1:], dtype=self.buf.dtype)
            new[:self.n] = self.buf[:self.n]
            self.buf = new
        self.buf[self.n:need] = values
        self.n = need

    @property
    def values(self) -> np.ndarray:
        return self.buf[:self.n]


class PassageGraph:
    """Chunks, their phrases and codes, as sparse incidence matrices.

    Parameters
    ----------
    num_nodes : int
        Code nodes (``num_heads * codebook_size``).
    codebook_size : int
    max_df : float, default=0.05
        Phrases found in more than this share of chunks (and more than 20 chunks) carry
        no association: they are everywhere.
    """

    def __init__(self, num_nodes: int, codebook_size: int, max_df: float = 0.05):
        self.num_nodes = num_nodes
        self.codebook_size = codebook_size
        self.max_df = max_df
        self._lock = threading.RLock()
        self._ids = _Growable(np.int64)
        self._codes = None  # _Growable of uint8 rows, created at the first add
        self._alive = _Growable(np.bool_)
        self._ph_row = _Growable(np.int64)
        self._ph_col = _Growable(np.int64)
        self.vocab_: dict[str, int] = {}
        self.phrases_: list[str] = []
        self._built = None

    def __len__(self) -> int:
        return int(self._alive.values.sum())

    def add(self, chunk_ids, codes, phrases) -> None:
        """Append chunks (ids increasing), their uint8 codes (n, heads) and phrase lists."""
        with self._lock:
            codes = np.asarray(codes, dtype=np.uint8)
            if self._codes is None:
                self._codes = _Growable(np.uint8, codes.shape[1])
            base = self._ids.n
            self._ids.extend(np.asarray(chunk_ids, dtype=np.int64))
            self._codes.extend(codes)
            self._alive.extend(np.ones(len(codes), dtype=bool))
            rows, cols = [], []
            for i, plist in enumerate(phrases or []):
                for p in plist:
                    j = self.vocab_.get(p)
                    if j is None:
                        j = self.vocab_[p] = len(self.phrases_)
                        self.phrases_.append(p)
                    rows.append(base + i)
                    cols.append(j)
            if rows:
                self._ph_row.extend(np.asarray(rows, dtype=np.int64))
                self._ph_col.extend(np.asarray(cols, dtype=np.int64))
            self._built = None

    def remove(self, chunk_ids) -> None:
        """Mark chunks as gone (they stop receiving and passing activation)."""
        with self._lock:
            ids = self._ids.values
            pos = np.searchsorted(ids, np.asarray(chunk_ids, dtype=np.int64))
            pos = pos[(pos < len(ids))]
            pos = pos[ids[pos] == np.asarray(chunk_ids, dtype=np.int64)[:len(pos)]] if len(pos) else pos
            self._alive.buf[pos] = False
            self._built = None

    def rows_of(self, chunk_ids) -> np.ndarray:
        """Row positions of chunk ids (-1 for unknown)."""
        ids = self._ids.values
        cid = np.asarray(chunk_ids, dtype=np.int64)
        pos = np.searchsorted(ids, cid)
        ok = (pos < len(ids))
        ok[ok] = ids[pos[ok]] == cid[ok]
        return np.where(ok, pos, -1)

    # -- the matrices ---------------------------------------------------------------------
    def _build(self):
        with self._lock:
            if self._built is not None:
                return self._built
            n = self._ids.n
            alive = self._alive.values.copy()
            ids = self._ids.values.copy()
            n_ph = len(self.phrases_)
            r, c = self._ph_row.values, self._ph_col.values
            keep = alive[r] if len(r) else np.zeros(0, dtype=bool)
            M = sparse.csr_matrix((np.ones(int(keep.sum()), dtype=np.float32), (r[keep], c[keep])),
                                  shape=(n, n_ph))
            M.sum_duplicates()
            M.data[:] = 1.0
            df = np.asarray(M.sum(axis=0)).ravel()
            n_alive = max(int(alive.sum()), 1)
            idf = np.log((n_alive + 1) / (df + 1)).astype(np.float32) + 0.0
            too_common = (df > self.max_df * n_alive) & (df > 20)
            idf[too_common] = 0.0
            # code nodes: node -> rows inverted index, with per-node idf
            if self._codes is not None and n:
                codes = self._codes.values.astype(np.int64)
                nodes = codes + np.arange(codes.shape[1], dtype=np.int64) * self.codebook_size
                rows = np.repeat(np.arange(n), codes.shape[1])
                flat = nodes.ravel()
                live = alive[rows]
                C = sparse.csr_matrix((np.ones(int(live.sum()), dtype=np.float32), (flat[live], rows[live])),
                                      shape=(self.num_nodes, n))
                node_df = np.diff(C.indptr).astype(np.float32)
                node_idf = np.log((n_alive + 1) / (node_df + 1)).astype(np.float32)
            else:
                C = sparse.csr_matrix((self.num_nodes, n), dtype=np.float32)
                node_idf = np.zeros(self.num_nodes, dtype=np.float32)
            Mw = (M @ sparse.diags(idf)).tocsr()  # idf-weighted: what a seed chunk passes to each phrase
            row_tot = np.asarray(Mw.sum(axis=1)).ravel()
            self._built = {"M": M, "Mw": Mw, "row_tot": row_tot, "MT": M.T.tocsr(), "df": df, "idf": idf,
                           "C": C, "node_idf": node_idf, "ids": ids, "alive": alive}
            return self._built

    def phrase_ids(self, phrases) -> np.ndarray:
        return np.asarray([self.vocab_[p] for p in phrases if p in self.vocab_], dtype=np.int64)

    def spread(self, seed_rows, seed_weights, query_phrases, node_act, *, phrase_weight: float = 1.0,
               query_phrase_weight: float = 1.0, df_power: float = 0.5, code_weight: float = 0.1,
               restart: float = 0.0, top_nodes: int = 16):
        """One round of personalised spreading: seeds -> phrase/code nodes -> chunks.

        Parameters
        ----------
        seed_rows, seed_weights : ndarray
            Rows of the seed chunks (the query's best vector hits) and their mass (sum 1).
        query_phrases : ndarray of int
            Phrase ids named by the query itself.
        node_act : ndarray of float, shape (num_nodes,) or None
            Activation of the code nodes after spreading through the Hebbian network.
        phrase_weight, query_phrase_weight, code_weight : float
            How much mass the seed chunks' phrases, the query's phrases and the code nodes
            pass on.
        df_power : float
            A phrase's mass is divided by ``df ** df_power`` among the chunks holding it
            (1 = a random walk, 0 = every holder gets it all).
        restart : float
            Share of the seed mass the seed chunks keep (personalised PageRank's restart).
        top_nodes : int
            Code nodes with the highest activation x idf that pass mass on.

        Returns
        -------
        rows : ndarray of int64
        scores : ndarray of float32
        trace : dict
            Phrase and code-node activations, for ``why``.
        """
        g = self._build()
        n = len(g["ids"])
        score = np.zeros(n, dtype=np.float32)
        phrase_act = np.zeros(len(self.phrases_), dtype=np.float32)
        if len(seed_rows) and len(self.phrases_):
            tot = g["row_tot"][seed_rows].copy()
            tot[tot == 0] = 1.0
            coef = np.asarray(seed_weights, dtype=np.float32) / tot
            phrase_act += phrase_weight * np.asarray(g["Mw"][seed_rows].T @ coef, dtype=np.float32).ravel()
        if len(query_phrases):
            w = g["idf"][query_phrases]
            if w.sum() > 0:
                phrase_act[query_phrases] += query_phrase_weight * w / w.sum()
        active = np.flatnonzero(phrase_act)
        if len(active):
            share = phrase_act[active] / np.maximum(g["df"][active], 1.0) ** df_power
            sub = g["MT"][active]
            score += np.asarray(sub.T @ share, dtype=np.float32).ravel() if sub.nnz else 0.0
        used_nodes = np.zeros(0, dtype=np.int64)
        if node_act is not None and code_weight > 0 and g["C"].nnz:
            strength = np.asarray(node_act, dtype=np.float32) * g["node_idf"]
            used_nodes = np.argsort(-strength)[:top_nodes]
            used_nodes = used_nodes[strength[used_nodes] > 0]
            if len(used_nodes):
                share = strength[used_nodes] / strength[used_nodes].sum()
                share = share / np.maximum(np.diff(g["C"].indptr)[used_nodes], 1.0) ** df_power
                sub = g["C"][used_nodes]
                score += code_weight * np.asarray(sub.T @ share, dtype=np.float32).ravel()
        if restart > 0 and len(seed_rows):
            np.add.at(score, seed_rows, restart * np.asarray(seed_weights, dtype=np.float32))
        score[~g["alive"]] = 0.0
        rows = np.flatnonzero(score > 0)
        return rows, score[rows], {"phrase_act": phrase_act, "nodes": used_nodes,
                                   "node_act": node_act}

    def chunk_ids_at(self, rows) -> np.ndarray:
        return self._build()["ids"][rows]

    def phrases_of_row(self, row: int) -> list[int]:
        M = self._build()["M"]
        return M.indices[M.indptr[row]:M.indptr[row + 1]].tolist()
