"""Forgetting documents: one transaction for all of them, then the derived state once, leaving no trace."""
from __future__ import annotations

import numpy as np

from core.memory._checks import check_doc_ids
from core.memory._purge import purge_cached


class ForgetMixin:
    """``forget`` and ``forget_many`` for `SemanticMemory`."""

    def forget(self, doc_id: str) -> bool:
        """Remove a document from the store, the index and (exactly) from the network.

        Leaves no trace: its text is zeroed in SQLite (``secure_delete``, WAL checkpointed without
        waiting: a reader's open snapshot defers that to the next checkpoint or the close), its
        forget-log entry is dropped once derived state is saved, and the embedding cache entries of
        its removed chunks are purged. Returns False when no document has this id.
        """
        return bool(self.forget_many([doc_id]))

    def forget_many(self, doc_ids) -> list[str]:
        """Forget several documents in one transaction, all or none; returns the ids found (in order).

        Their chunks leave every reinforcement in it too; then the index and graph drop them at once,
        the network takes out each document's events, and derived state is saved, the cache purged and
        SQLite checkpointed once: the memory one-by-one forgets leave, without a FAISS scan, a
        vector-file fsync and a commit per document (`ingest --sync` of 500 deleted files)."""
        if isinstance(doc_ids, (str, bytes)):  # a lone id would be forgotten letter by letter
            raise TypeError(f"forget_many takes a list of ids, got the {type(doc_ids).__name__} {doc_ids!r}: "
                            f"use forget({doc_ids!r}) or forget_many([{doc_ids!r}])")
        from core.memory._vecfile import forgotten as zero_rows

        doc_ids = check_doc_ids(doc_ids)
        st = self.store_
        with self._writing(), self._lock:
            done, infos = [], []
            with st.atomic():  # all or none: a crash or a failing statement leaves every document
                for doc_id in doc_ids:
                    info = st.forget(doc_id, zero_vectors=False, prune_concepts=False)  # own log entry
                    if info is not None:
                        done.append(doc_id)
                        infos.append(info)
                st.prune_concepts()  # once: it scans the concepts table
                removed = np.concatenate([info["removed"] for info in infos] or [np.zeros(0, np.int64)])
                self._forget_reinforcements(removed)  # its chunks leave every reinforcement, in this commit
            if not done:
                return done
            zero_rows(st, removed, None)  # the re-rank's vector file: one fsync (save's catch-up moves its mark)
            self._apply_forgets(infos)
            self._heal_network()
            self.save()
            purge_cached(self, infos)  # the cached vectors of the removed text
            st.checkpoint()
            return done


def drop_pruned_concepts(graph, st, infos) -> None:
    """Take the concepts a commit of forgets deleted from SQLite (no chunk names them any more) out of the live
    vocabulary too: the concepts the forgotten documents' chunks named that the concept table no longer holds."""
    named = [np.asarray(info["concepts"][1], dtype=np.int64) for info in infos if info.get("concepts") is not None]
    named = np.unique(np.concatenate(named)) if named else np.zeros(0, np.int64)
    if len(named):
        kept = {r[0] for r in st._in_batches(named, "SELECT id FROM concepts WHERE id IN ({marks})", st._conn)}
        graph.drop_concepts([c for c in named.tolist() if c not in kept])
