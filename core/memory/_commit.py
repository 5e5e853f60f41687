"""Committing a batch of an ingest: plan what to embed, store it in one transaction, grow the derived state."""
from __future__ import annotations

import os

import numpy as np

from core.memory._admit import _content_hash
from core.memory._follow import edited_moves, named_chunks, old_passages
from core.memory._names import disk_name
from core.memory.chunking import chunk_hash, embedded_text
from core.memory.phrases import document_phrases
from core.memory._purge import purge_cached
from core.memory._vecfile import forgotten as zero_rows, keep_up, vector_file

KEEP_UP_ROWS = 4096  # new rows written to the vector file at a time (each write is fsynced: ~7 ms)


def _retraining(mem) -> bool:
    """A background build is running and not ending: `rebuild_index` would only return it (after
    counting the chunks twice and a catch-up of the live index, which `_commit` keeps current)."""
    from core.memory._retrain import retrain_alive

    thread = getattr(mem, "_retrain_thread", None)
    return retrain_alive(thread) and not mem._retrain_state["ending"]


def _rows_of(rows: dict, zero: np.ndarray, dtype=None):
    """hashes -> the stacked rows of ``rows`` ({hash: row}), ``zero`` for a hash it lacks: one
    gather per document from one matrix per batch (was a np.stack of row views per document),
    converted to ``dtype`` once."""
    at = {h: i for i, h in enumerate(rows)}
    M = np.stack([*rows.values(), zero])
    if dtype is not None:
        M = M.astype(dtype)
    return lambda hs: M[[at.get(h, -1) for h in hs]]


class CommitMixin:
    """A batch's plan and its commit (the serial, embed-ahead and parallel ingests all commit here);
    mixed into `SemanticMemory` through `IngestMixin`."""

    def _batch_todo(self, batch) -> tuple[list, list, dict, int, dict]:
        """(changed documents, their chunk hashes, chunks to embed {hash: text}, unchanged count,
        stored chunk ids {hash: id} of those hashes) of a batch."""
        st = self.store_
        todo, unchanged = [], 0
        stored = st.content_hashes([rec.doc_id for rec, _ in batch])
        for rec, chunks in batch:
            chash = _content_hash(rec)
            if rec.doc_id in stored and stored[rec.doc_id] == chash:
                unchanged += 1
                continue
            todo.append((rec, chunks, chash, rec.doc_id in stored))
        if not todo:
            return todo, [], {}, unchanged, {}
        # embed only chunks the store does not hold yet; a chunk's identity is what it is embedded as
        prefix = getattr(self, "title_prefix_", False)
        texts = [[embedded_text(rec.title, c, prefix) for c in chunks] for rec, chunks, _, _ in todo]
        hashes = [[chunk_hash(t) for t in ts] for ts in texts]
        known = st.chunk_ids_by_hash([h for hs in hashes for h in hs])
        need: dict[bytes, str] = {}
        for ts, hs in zip(texts, hashes):
            for h, t in zip(hs, ts):
                if h not in known:
                    need.setdefault(h, t)
        return todo, hashes, need, unchanged, known

    def _relocate(self, batch, report) -> None:
        """Record the new place of the batch's unchanged files that moved (`mv notes notes2`): ``--sync``
        of the new folder then finds them (they kept the old root, so it refused)."""
        from core.memory.documents import changed_metadata, moved_files

        with self._lock:
            rows, roots, dirs = moved_files(self.store_, [(rec, _content_hash(rec)) for rec, _ in batch])
            if rows:
                report.moved += self.store_.relocate(rows, roots, dirs)
                report.moved_gone += _gone_from(self.store_, [new for new, _ in roots.values()])
            if edited := changed_metadata(self.store_, [(rec, _content_hash(rec)) for rec, _ in batch]):
                n = self.store_.relocate(edited)  # a record's new metadata: an edit, counted as `ingest` counts one
                report.unchanged, report.documents, report.replaced = (report.unchanged - n, report.documents + n,
                                                                      report.replaced + n)

    def _commit(self, todo, hashes, vec, code, report, observe=None, known=None) -> None:
        """Store a batch in one transaction, then grow index, graph and network.

        ``observe(added_docs)`` grows the network (default: observe the stored codes);
        the parallel ingest passes one that merges its workers' deltas. ``known``: the stored
        chunk ids of ``hashes`` ({hash: id}, `_batch_todo` read them under the write lock),
        so the store need not look them up again; ignored when a document is replaced (its
        forget deletes chunks).
        """
        st = self.store_
        heads = self.network_.config.num_heads
        added_docs, new_rows, obs_codes, old_pos, n_obs = [], [], [], [], 0
        with self._lock:
            forgotten, batch, meta, before, moved = [], [], [], [], {}
            learned = any(t[3] for t in todo) and self._reinforce_table()
            named, passages, of_doc = named_chunks(st._conn) if learned else set(), [], {}
            with st.atomic():
                if any(t[3] for t in todo):  # a changed document: keep the stored vectors of the chunks
                    vec, code = self._kept_chunks(hashes, vec, code)  # it keeps (its forget deletes them)
                    known = None
                # float16 (as stored) once a batch: SQLite, the index and the vector file take these rows
                code_rows, vec_rows = _rows_of(code, np.zeros(heads, np.uint8)), _rows_of(vec, np.zeros(384, np.float32),
                                                                                          np.float16)
                for (rec, chunks, chash, replace), hs in zip(todo, hashes):
                    # a replaced document's kept chunks get new ids: its reinforcements follow them there
                    before.append(st.chunk_ids_by_hash(hs) if replace else None)
                    passages.append(old_passages(st, rec.doc_id, named) if replace else {})  # edited: events follow
                    if replace:
                        _note_across(st, rec, report)
                        forgotten.append(st.forget(rec.doc_id, zero_vectors=False))  # zeroed below, at once
                        of_doc.update((int(c), rec.doc_id) for c in (forgotten[-1] or {"removed": ()})["removed"])
                        report.replaced += 1
                    codes, emb = code_rows(hs), vec_rows(hs)
                    phrases = document_phrases(chunks, rec.title)  # key terms need the whole document
                    batch.append((rec.doc_id, rec.title, rec.source, rec.meta, chash, hs, chunks, codes, emb, phrases))
                    meta.append((emb, codes, phrases))
                for (doc_id, ids, new), (emb, codes, phrases), hs, old, was, (_, chunks, _, _) in zip(
                        st.add_documents(batch, known), meta, hashes, before, passages, todo):
                    if old and learned:
                        moved.update((old[h], int(i)) for h, i in zip(hs, ids.tolist()) if h in old and old[h] != i)
                    if was:  # its chunks stored before (kept or another's) are passages, not this one edited
                        edited = edited_moves(was, ids, chunks, {p for p, h in enumerate(hs) if h in old})
                        moved.update((c, i) for c, i in edited.items() if c not in moved)
                    added_docs.append((doc_id, ids))
                    # the network observes the stored codes: this batch's for the chunks it stored,
                    # SQLite's for the ones it only references (read below, after the commit)
                    old_pos.extend((np.flatnonzero(~new) + n_obs).tolist())
                    obs_codes.append(np.ascontiguousarray(codes, dtype=np.uint8))
                    n_obs += len(ids)
                    for j in np.flatnonzero(new):
                        new_rows.append((int(ids[j]), emb[j], codes[j], phrases[j], (doc_id, int(j))))
                    report.documents += 1
                    report.chunks += len(ids)
                    kept = sum(1 for j in np.flatnonzero(new) if hs[j] in old) if old else 0  # stored again, not
                    report.new_chunks += int(new.sum()) - kept  # embedded: the version replaced held them
                    report.kept_chunks += kept
                    report.duplicate_chunks += int((~new).sum())
                    if not old and len(ids) and not new.any():  # every chunk stored already: another id's copy?
                        _note_same_text(st, doc_id, int(ids[0]), report)
                if any(forgotten):  # their rows of the re-rank's vector file, one fsync (the log replays them too)
                    zero_rows(st, np.concatenate([f["removed"] for f in forgotten if f]), None)
                if learned:  # in this transaction: a crash after the commit left events naming gone chunks
                    dropped = self._forget_reinforcements([c for f in forgotten if f for c in f["removed"]], moved)
                    report.reinforcements_dropped.update(
                        (eid, next((of_doc[c] for c in cids if c in of_doc), "")) for eid, cids in dropped.items())
            # committed: now the derived state (replay removals first)
            self._apply_forgets(forgotten)  # at once: FAISS's remove_ids scans its whole id map per call
            purge_cached(self, forgotten, todo)  # an edited file's removed text leaves the embedding cache
            if new_rows:
                ids = np.asarray([r[0] for r in new_rows], dtype=np.int64)
                self.index_.add(ids, np.stack([r[1] for r in new_rows]).astype(np.float32))
                self._index_mark["chunk"] = max(self._index_mark["chunk"], int(ids.max()))
                self.graph_.add(ids, np.stack([r[2] for r in new_rows]), [r[3] for r in new_rows],
                                [r[4] for r in new_rows])
            if observe is not None:
                observe(added_docs)
            elif added_docs:
                codes = np.concatenate(obs_codes)
                if old_pos:
                    old_pos = np.asarray(old_pos, dtype=np.int64)
                    codes[old_pos] = st.codes(np.concatenate([ids for _, ids in added_docs])[old_pos])
                self._observe_docs(added_docs, codes=codes)
            self._heal_network()  # a forget above found counts it could not take out: the graph is whole now
            if new_rows:  # the re-rank's float16 vector file: a write + fsync per KEEP_UP_ROWS rows
                vf = vector_file(st)  # (the last rows when the ingest saves)
                if vf is not None and int(ids.max()) - vf.covered() >= KEEP_UP_ROWS:
                    keep_up(st)
            if not _retraining(self) and self.index_.needs_training(st.last_ids()["chunk"]) \
                    and self.index_.needs_training(st.count_chunks()):  # the highest id bounds the count
                self._rebuild_index()

    def _kept_chunks(self, hashes, vec, code) -> tuple[dict, dict]:
        """``vec``/``code`` plus the stored float16 vector and codes of every stored chunk the batch
        names but did not embed: forgetting a replaced document deletes the chunks only it held,
        and its new version must store them again as they were (not as zeros)."""
        known = self.store_.chunk_ids_by_hash([h for hs in hashes for h in hs if h not in code])
        if not known:
            return vec, code
        by_id = {cid: h for h, cid in known.items()}
        ids, X = self.store_.embeddings(list(by_id))
        C = self.store_.codes(ids)
        vec, code = dict(vec), dict(code)
        for cid, x, c in zip(ids.tolist(), X, C):
            vec[by_id[cid]], code[by_id[cid]] = x, c
        return vec, code


def _note_across(store, rec, report) -> None:
    """Count in ``report.replaced_across`` a document ``rec`` replaces that came from another file, still there: a
    record's id is its update key, so an export numbering its rows from 1 replaced another one's rows, and a record
    a file's document, reported as "replaced" alone."""
    row = store._conn.execute("SELECT source FROM documents WHERE doc_key = ?", (rec.doc_id,)).fetchone()
    was = row[0] if row else ""
    if was and was != rec.source and os.path.isfile(was) and not _same_file(was, rec.source):
        key = (was, rec.source or "<records>")
        report.replaced_across[key] = report.replaced_across.get(key, 0) + 1


def _note_same_text(store, doc_id: int, first_chunk: int, report) -> None:
    """Note in ``report.same_text`` a new document whose text and title a document of another id holds already:
    a subfolder of an ingested folder (`ingest notes/2024` after `ingest notes`) stored each file again under a
    shorter id, without a word, and forgetting one id left the text findable under the other."""
    row = store._conn.execute(
        "SELECT d.doc_key, o.doc_key FROM doc_chunks c JOIN documents o ON o.id = c.doc_id, documents d "
        "WHERE c.chunk_id = ? AND d.id = ? AND o.id != d.id AND o.content_hash = d.content_hash "
        "LIMIT 1", (first_chunk, doc_id)).fetchone()
    if row:
        report.same_text[row[0]] = row[1]


def _same_file(a: str, b: str) -> bool:
    """One file under two names (read by its relative name, then from its folder by its absolute one)."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def _gone_from(store, roots: list[str]) -> int:
    """How many file documents of the folders ``roots`` name a file that is not there (deleted before the folder
    moved: their place moves with the folder, and "4 moved" said nothing of them). A name the disk spells
    otherwise than its NFC id (macOS's decomposed "café") is found, and its source set to that spelling (the
    folder's move wrote the id's)."""
    n, fixed = 0, []
    for root in roots:
        rows = store._conn.execute("SELECT doc_key, source FROM documents WHERE json_valid(meta) AND json_extract("
                                   "meta, '$.root') = ? AND source = json_extract(meta, '$.path')", (root,)).fetchall()
        for key, source in rows:
            name = disk_name(root, key)
            if name is None:
                n += 1
            elif name != key and source.endswith(key):
                fixed.append((source[:len(source) - len(key)] + name, key))
    if fixed:
        with store.atomic():
            store._conn.executemany("UPDATE documents SET source = ?1, meta = json_set(meta, '$.path', ?1) "
                                    "WHERE doc_key = ?2", fixed)
    return n
