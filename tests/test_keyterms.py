"""Key terms of lower-case prose (core.memory.keyterms) and their place in the concept vocabulary."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.datasets import brown_documents
from core.memory import keyterms
from core.memory.phrases import _lower_words, document_phrases, extract_phrases, query_phrases


@pytest.fixture(scope="module")
def brown_text():
    """One real Brown text (press reportage) as its first 40 sentences."""
    doc = next(iter(brown_documents()))
    return doc.sentences[:40]


def test_document_keyterms_on_real_prose(brown_text):
    per_chunk = keyterms.document_keyterms(brown_text)
    assert len(per_chunk) == len(brown_text)
    flat = [t for ts in per_chunk for t in ts]
    assert flat, "a 40-sentence news text repeats some lower-case terms"
    counts: dict[str, int] = {}
    for s in brown_text:
        for t in keyterms._candidates(s, frozenset()):
            counts[t] = counts.get(t, 0) + keyterms._candidates(s, frozenset())[t][0]
    for sent, terms in zip(brown_text, per_chunk):
        assert len(terms) <= keyterms.MAX_PER_CHUNK
        low = sent.lower()
        for t in terms:
            assert t == t.lower() and not any(ch.isdigit() for ch in t)
            # held by this chunk's own text (plural folded), repeated in the document
            assert all(w[:-1] in low or w in low for w in t.split()), (t, sent)
            assert counts[t] >= keyterms.MIN_DOC_COUNT
            assert not set(t.split()) & keyterms._COMMON
    # "jury" is what this text is about, and it says it in lower case
    assert any("jury" in t for t in flat)


def test_names_are_unchanged_and_key_terms_follow(brown_text):
    lists = document_phrases(brown_text, title="")
    lowered = _lower_words(brown_text)  # words the text also writes in lower case (no names there)
    for sent, plist in zip(brown_text, lists):
        names = extract_phrases(sent, common=lowered)
        assert plist[:len(names)] == names  # names and identifiers first, as before
        assert len(plist) == len(set(plist))
    flat = {p for ps in lists for p in ps}
    assert {"fulton", "atlanta", "hartsfield"} <= flat
    assert "attorneys" not in flat  # "Attorneys for the mayor said..." opens a sentence; "attorneys" later
    titled = document_phrases(brown_text[:3], title="Atlanta primary (news)")
    assert all(p[0] == "atlanta primary" for p in titled)


def test_a_term_in_few_chunks_is_no_key_term():
    # a key term spans the document: in 3+ chunks and 1 in 10; one or two chunks are not enough
    assert keyterms.document_keyterms(["the compressed archive holds one compressed archive"]) == [[]]
    two = ["tar writes the compressed archive.", "list the compressed archive first."]
    assert keyterms.document_keyterms(two) == [[], []]
    got = keyterms.document_keyterms(two + ["a compressed archive keeps order.", "nothing else here"])
    assert got[0] and got[0] == got[1] == got[2] and got[3] == []
    assert "compressed archive" in got[0]
    many = ["the compressed archive grows."] * 3 + [f"line {i} says nothing" for i in range(30)]
    assert keyterms.document_keyterms(many)[0] == []  # 3 chunks of 33: below one in ten
    assert keyterms.document_keyterms(many[:29])[0]  # 3 of 29: enough


@pytest.mark.parametrize("text", ["", "   ", "\x00\x01\xff\ufffd" * 50, "日本語のテキストです。" * 2,
                                  "1234 5678 1234 5678", "--- *** --- ***", "A B C D E F G"])
def test_empty_foreign_and_binary_input(text):
    assert keyterms.document_keyterms([text, text]) == [[], []]
    assert document_phrases([text], "") == [extract_phrases(text)]
    assert keyterms.document_keyterms([]) == []
    assert document_phrases([None, ""], "") == [[], []]


def test_plurals_meet_and_the_query_finds_them():
    got = keyterms.document_keyterms(["grep takes regular expressions.", "A regular expression is a pattern.",
                                      "sed takes a regular expression too."])
    assert all("regular expression" in g for g in got)
    assert keyterms.stem("series") == "series" and keyterms.stem("queries") == "query"
    assert keyterms.stem("matches") == "match" and keyterms.stem("status") == "status"
    vocab = {"regular expression", "grep"}
    got = query_phrases("which grep option takes regular expressions?", vocab)
    assert sorted(got) == ["grep", "regular expression"]


def test_pronoun_contractions_and_interjections_are_no_names():
    assert extract_phrases("I'm sure, said Tom. I'll go. Oh, I've seen Mary's dog. I'd say no.") == ["tom", "mary"]


def test_key_term_ids_stable_across_reopen_and_hubs_get_no_weight(tmp_path, embedder):
    """Key terms live in the concepts table like names (ids kept on reopen, network counts =
    df); a term in most chunks is a hub the walk weighs 0 (IDF from the vocabulary's df, at
    recall time). Brown ch07 (a fiscal report) says "fiscal" in 24 of its first 40 sentences."""
    from core.memory import SemanticMemory

    doc = next(d for d in brown_documents() if d.doc_id == "brown:ch07")
    other = next(iter(brown_documents()))
    recs = [{"id": d.doc_id, "title": "", "text": "\n\n".join(d.sentences[:40])} for d in (doc, other)]
    with SemanticMemory(tmp_path / "m", embedder=embedder) as mem:
        mem.ingest(recs)
        n = mem.stats()["chunks"]
        table = mem.store_._conn.execute("SELECT id, text, df FROM concepts ORDER BY id").fetchall()
        texts_ = {t: (i, df) for i, t, df in table}
        assert texts_["fiscal"][1] > max(20, 0.05 * n)
        assert "jury" in texts_ and 2 <= texts_["jury"][1] <= 20
        built = mem.graph_._build()
        assert built["idf"][texts_["fiscal"][0]] == 0.0  # a hub: carries nothing
        assert built["idf"][texts_["jury"][0]] > 0.0
    with SemanticMemory(tmp_path / "m", embedder=embedder) as mem:
        again = mem.store_._conn.execute("SELECT id, text, df FROM concepts ORDER BY id").fetchall()
        assert again == table
        counts = np.asarray(mem.network_.concept_counts_)
        assert all(int(counts[i]) == df for i, _, df in table)


def test_extraction_is_cheap(brown_text):
    """Well under a millisecond per chunk (embedding one costs ~12 ms)."""
    import time
    docs = [brown_text] * 20
    t0 = time.perf_counter()
    for d in docs:
        document_phrases(d, "")
    per_chunk = (time.perf_counter() - t0) / (20 * len(brown_text))
    assert per_chunk < 2e-3


def test_code_and_urls_give_no_key_terms():
    # a fence opened in one chunk closes in a later one; a link's scheme and code keywords repeat
    # with the markup, not with what the text is about
    chunks = ["Read the archive index first; see https://example.org/archive.",
              "```js\nconst archive = open(); const index = read(archive);",
              "const entries = index.list();\n```\nThe archive index lists every entry.",
              "Fetch it from http://mirror.example.net/archive with `const` settings.",
              "An archive index is rebuilt by ``repack index'' after a change."]
    terms = {t for ts in keyterms.document_keyterms(chunks) for t in ts}
    assert "archive index" in terms and "index" in terms  # the prose still repeats them
    assert not {"const", "http", "https", "open", "read"} & terms
    # "``" is a TeX-style opening quote, not code: the words between it and '' are prose
    quoted = ["He said ``shaved heads sang'' twice.", "The ``shaved heads returned''.", "Then ``shaved heads left''."]
    assert "shaved head" in {t for ts in keyterms.document_keyterms(quoted) for t in ts}


def test_cached_judgements_follow_the_arguments():
    # words, spans and identifiers are judged once and cached: the cache must not carry one call's
    # stop set or max_words into another call
    chunks = ["tar writes the compressed archive.", "list compressed archives first.",
              "a compressed archive keeps its order.", "nothing else here."]
    assert keyterms.document_keyterms(chunks)[0] == ["compressed archive", "compressed", "archive"]
    assert keyterms.document_keyterms(chunks, frozenset({"archive"}))[0] == ["compressed"]
    assert keyterms.document_keyterms(chunks, {"compressed"})[0] == ["archive"]  # a plain set: no shared cache
    assert keyterms.document_keyterms(chunks)[0] == ["compressed archive", "compressed", "archive"]
    text = "The University of Toronto Press and Neil Peart; see crypto.createHash and ssh-keygen."
    full = extract_phrases(text)
    assert "university of toronto press" in full and "crypto.createhash" in full
    short = extract_phrases(text, max_words=3)
    assert "university of toronto press" not in short and "neil peart" in short
    assert extract_phrases(text) == full
    # a plural stem and a pair broken by a capitalised word
    assert keyterms._candidates("archives archive Tar archives", frozenset()) == {
        "archive": [3, 7, 0]}


def test_decomposed_accents_give_the_same_concepts():
    import unicodedata

    # text with decomposed accents (macOS file names, text copied from PDFs) split names at each combining
    # mark: "Zürich" gave the concept 'zu', "Sébastien Côté" gave 'se' and 'co'
    text = "The bank of Zürich in Switzerland hired Sébastien Côté in 1990."
    nfd = unicodedata.normalize("NFD", text)
    assert nfd != text
    assert extract_phrases(nfd) == extract_phrases(text)
    assert query_phrases(unicodedata.normalize("NFD", "who hired Sébastien Côté?"), {"sebastien cote"}) == \
        query_phrases("who hired Sébastien Côté?", {"sebastien cote"}) == ["sebastien cote"]
