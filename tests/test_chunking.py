"""Chunking: every chunk fits the model's 128 word pieces, boundaries are respected, hashes dedupe."""
from __future__ import annotations

import pytest

from core.memory.chunking import MAX_TOKENS, chunk_hash, chunk_text, count_tokens


def test_chunks_of_real_articles_fit_the_model(wiki_docs):
    text = "\n\n".join(" ".join(d.sentences[:40]) for d in wiki_docs[:5])
    chunks = chunk_text(text)
    assert len(chunks) > 20
    assert max(count_tokens(chunks)) + 2 <= MAX_TOKENS
    # nothing lost: the words of the text are the words of the chunks
    assert " ".join(chunks).split() == text.split()


def test_counts_come_from_the_model_tokenizer():
    # WordPiece splits rare words: more pieces than words proves the real tokenizer is used
    assert count_tokens(["Antidisestablishmentarianism pneumonoultramicroscopic"])[0] > 4


def test_paragraphs_never_share_a_chunk_and_sentences_are_packed():
    text = "Alpha one. Alpha two.\n\nBeta one.\n \nGamma."
    assert chunk_text(text) == ["Alpha one. Alpha two.", "Beta one.", "Gamma."]


def test_one_overlong_sentence_is_cut_at_words():
    sentence = " ".join(f"word{i}" for i in range(400)) + "."
    chunks = chunk_text(sentence, max_tokens=64)
    assert len(chunks) > 3
    assert all(n + 2 <= 64 for n in count_tokens(chunks))
    assert " ".join(chunks).split() == sentence.split()


def test_blank_text_and_bad_limit():
    assert chunk_text(" \n\n \t") == []
    with pytest.raises(ValueError, match="too small"):
        chunk_text("text", max_tokens=3)


def test_hash_ignores_whitespace_only():
    assert chunk_hash("a  b\nc") == chunk_hash("a b c")
    assert chunk_hash("a b c") != chunk_hash("a b d")
