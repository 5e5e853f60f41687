"""Ingest's shortcuts store what the long way stores: chunks kept whole by the word-piece bound,
count_tokens one text at a time, concept ids numbered by one upsert, known chunk ids handed on."""
from __future__ import annotations

import numpy as np

from core.memory.chunking import _WORD_PIECES, _tokenizer, chunk_hash, chunk_text, count_tokens
from core.memory.store import Store


def test_unmerged_paragraph_is_whole_exactly_when_it_fits():
    """A paragraph longer than the budget in characters is kept whole iff its word pieces fit
    (the bound: known words' counts, an unknown word's characters), else cut within the budget."""
    words = ["Rush", "was", "a", "band", "from", "Toronto", "zyqxv!!", "((()))", "Neil", "Peart,", "drums."]
    rng = np.random.default_rng(0)
    kept_whole = 0
    for max_tokens in (12, 24, 40):
        budget = max_tokens - 2
        for _ in range(60):
            para = " ".join(rng.choice(words, int(rng.integers(3, 30))).tolist())
            if len(para) <= budget:
                continue
            n = count_tokens([para])[0] if rng.random() < 0.5 else None  # half the words known, half not
            if n is None:
                for w in para.split():
                    _WORD_PIECES.pop(w, None)
            chunks = chunk_text(f"{para}\n\nok", max_tokens, None)
            fits = count_tokens([para])[0] <= budget
            assert (chunks[0] == para) == fits, (max_tokens, para)
            assert max(count_tokens(chunks)) <= budget
            assert "".join(chunks[:-1]).replace(" ", "") == para.replace(" ", "") and chunks[-1] == "ok"
            kept_whole += fits
    assert kept_whole > 10  # the case the bound exists for did occur


def test_count_tokens_equals_the_tokenizer_for_few_and_many_new_words():
    tok = _tokenizer()
    for n in (3, 40):  # one at a time below the batch threshold, the batch call above it
        texts = [f"qzx{i}vb{'!' * (i % 3)}Wörd{i}" for i in range(n)]
        for t in texts:
            _WORD_PIECES.pop(t, None)
        want = [len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False)]
        assert count_tokens(texts) == want
        assert count_tokens([" ".join(texts)]) == [sum(want)]  # from the cache now


def _add(st, key, texts, phrases, known=None):
    n = len(texts)
    emb = np.ones((n, 384), np.float32)
    codes = np.zeros((n, 4), np.uint8)
    hashes = [chunk_hash(t) for t in texts]
    with st.atomic():
        return st.add_documents([(key, "", "test", {}, f"h-{key}", hashes, texts, codes, emb, phrases)], known)[0]


def test_concept_ids_number_every_mention_like_insert_or_ignore(tmp_path):
    """A known concept named again uses up an id (as INSERT OR IGNORE always did), so the same
    stream numbers its concepts the same whatever the statements; counts add up."""
    with Store(tmp_path / "m.sqlite") as st:
        _add(st, "a", ["one", "two"], [["alpha", "beta"], ["beta"]])
        _add(st, "b", ["three"], [["beta", "gamma", "alpha"]])
        got = {t: (i, df) for i, t, df in st.concepts()}
        assert got == {"alpha": (1, 2), "beta": (2, 3), "gamma": (4, 1)}
        assert dict(st._conn.execute("SELECT name, seq FROM sqlite_sequence").fetchall())["concepts"] == 5


def test_known_chunk_ids_handed_on_store_the_same(tmp_path):
    """add_documents given the stored ids of its hashes (ingest read them) stores what it stores
    looking them up itself: repeats referenced, new chunks numbered in order."""
    out = []
    for give in (False, True):
        with Store(tmp_path / f"m{give}.sqlite") as st:
            _add(st, "a", ["one", "two"], [[], []])
            texts = ["two", "three", "two", "four"]
            known = st.chunk_ids_by_hash([chunk_hash(t) for t in texts]) if give else None
            doc_id, ids, new = _add(st, "b", texts, [[]] * 4, known)
            out.append((ids.tolist(), new.tolist(), st._conn.execute("SELECT id, hash, refs FROM chunks ORDER BY id").fetchall()))
    assert out[0] == out[1]
    assert out[0][0] == [2, 3, 2, 4] and out[0][1] == [False, True, False, True]


def test_phrase_lists_are_written_as_json_dumps_writes_them():
    import json

    from core.memory.store import _phrases_json

    cases = [[], ["neil peart", "rush"], ['q"uote\\back', "ctl\x00\x1f\x7f\n\t", "\u2028é中文", "a\ud800b"],
             ["x", 3, None], ("tuple", "of str")]
    for c in cases:
        assert _phrases_json(c) == json.dumps(c, ensure_ascii=False)
    assert json.loads(_phrases_json(cases[2])) == cases[2]


def test_vector_file_catch_up_copies_each_row_and_leaves_a_damaged_one_zero(tmp_path, monkeypatch):
    from core.memory import _vecfile

    monkeypatch.setattr(_vecfile, "STEP", 4)  # catch-up in slices, one row damaged in the middle of one
    with Store(tmp_path / "memory.sqlite") as st:
        _add(st, "a", [f"s{i}" for i in range(10)], [[]] * 10)
        rows = np.random.default_rng(1).standard_normal((10, 384)).astype(np.float16)
        with st.atomic():
            st._conn.executemany("UPDATE chunks SET embedding = ? WHERE id = ?",
                                 [(r.tobytes(), i + 1) for i, r in enumerate(rows)])
            st._conn.execute("UPDATE chunks SET embedding = ? WHERE id = 6", (b"short",))
        vf = _vecfile.vector_file(st)
        vf.catch_up(st)
        got, have = vf.rows(np.arange(1, 11, dtype=np.int64))
        want = rows.copy()
        want[5] = 0
        np.testing.assert_array_equal(got.view(np.uint16), want.view(np.uint16))
        assert have.tolist() == [True] * 5 + [False] + [True] * 4
