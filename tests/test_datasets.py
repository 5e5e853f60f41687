import pytest

from core.datasets import (brown_documents, is_held_out, passage_documents, read_wikitext,
                           split_sentences_by_document)
from core.config import data_file


def test_wikitext_articles_are_split_by_top_level_heading(wiki_docs):
    titles = [d.title for d in wiki_docs]
    assert len(wiki_docs) == 122
    assert titles[0] == "Robert Boulter"
    assert not any(t.startswith("=") for t in titles)
    first = wiki_docs[0].sentences[0]
    assert first == "Robert Boulter is an English film, television and theatre actor."
    assert all(len(d.sentences) > 0 for d in wiki_docs)


def test_read_wikitext_on_a_small_file(tmp_path):
    path = tmp_path / "wiki.raw"
    path.write_text(" \n = A = \n \n = = Section = = \n One two three . Four five six . \n = B = \n Seven eight nine . \n",
                    encoding="utf-8")
    docs = list(read_wikitext(path))
    assert [(d.title, d.sentences) for d in docs] == [
        ("A", ["One two three.", "Four five six."]),
        ("B", ["Seven eight nine."]),
    ]


def test_brown_and_passages_load():
    brown = brown_documents()
    assert len(brown) == 500 and brown[0].meta["category"] == "news"
    passages = passage_documents()
    assert len({d.source for d in passages}) == 3
    assert all(d.sentences for d in passages)


def test_held_out_split_is_stable_and_about_the_fraction(wiki_docs):
    ids = [d.doc_id for d in brown_documents()] + [d.doc_id for d in wiki_docs]
    held = [is_held_out(i) for i in ids]
    assert held == [is_held_out(i) for i in ids]
    assert 0.07 < sum(held) / len(held) < 0.25


def test_missing_data_file_names_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("MYCELIAL_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="MYCELIAL_DATA_DIR"):
        data_file("wikitext2/wiki.test.raw")


def test_training_split_never_holds_a_held_out_sentence():
    train, held, n_docs = split_sentences_by_document(["wikitext", "passages"])
    assert n_docs > 9000 and len(held) > 0.1 * len(train)
    assert not set(train) & set(held)
    # WikiText and the passage sets share some Wikipedia sentences: without the guard they leak
    each_alone = split_sentences_by_document(["wikitext"])[0] + split_sentences_by_document(["passages"])[0]
    assert set(each_alone) & set(held) and len(each_alone) > len(train)
    assert split_sentences_by_document(["wikitext", "passages"])[0] == train


def test_split_names_an_unknown_corpus():
    with pytest.raises(ValueError, match="unknown corpora \\['wiki'\\]"):
        split_sentences_by_document(["wiki"])
