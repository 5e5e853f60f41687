"""Readers for the real text corpora in the shared data folder.

Every reader yields :class:`Document` records (an id, a title, a list of sentences) so
training, tests and benchmarks can hold out whole documents.
"""
from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from core.config import data_file
from core.text import detokenize_wikitext, split_sentences



def _heading_level(line: str) -> tuple[int, str]:
    """(level, title) of a WikiText heading such as `` = = History = = ``; (0, "") otherwise."""
    tokens = line.split()
    if len(tokens) < 3 or tokens[0] != "=" or tokens[-1] != "=":
        return 0, ""
    level = 0
    while level < len(tokens) and tokens[level] == "=":
        level += 1
    return level, " ".join(tokens[level:len(tokens) - level])


@dataclass
class Document:
    doc_id: str
    title: str
    sentences: list[str]
    source: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


def read_wikitext(path: str | Path, min_words: int = 3) -> Iterator[Document]:
    """Yield one Document per top-level article (``= Title =``) of a WikiText file.

    Section headings are dropped; paragraphs are detokenised and split into sentences.
    ``<unk>`` tokens of the tokenised variant are kept as they are.
    """
    path = Path(path)
    title, sentences = None, []
    with open(path, encoding="utf-8") as fh:
        for raw in fh:
            line = raw.rstrip("\n")
            level, heading = _heading_level(line)
            if level:
                if level == 1:
                    if title is not None and sentences:
                        yield Document(f"{path.stem}:{title}", title, sentences, "wikitext")
                    title, sentences = detokenize_wikitext(heading), []
                continue
            if not line.strip() or title is None:
                continue
            for s in split_sentences(detokenize_wikitext(line)):
                if len(s.split()) >= min_words:
                    sentences.append(s)
    if title is not None and sentences:
        yield Document(f"{path.stem}:{title}", title, sentences, "wikitext")


def wikitext_documents() -> list[Document]:
    """All WikiText-2 articles of the shared data (test raw + valid tokens)."""
    docs = list(read_wikitext(data_file("wikitext2/wiki.test.raw")))
    docs += list(read_wikitext(data_file("wikitext2/wiki.valid.tokens")))
    return docs


def brown_documents() -> list[Document]:
    """The 500 Brown corpus documents, one sentence per entry."""
    docs = []
    with open(data_file("brown/brown_docs.jsonl"), encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            sents = [detokenize_wikitext(s.replace("``", '"').replace("''", '"'))
                     for para in rec["paragraphs"] for s in para]
            sents = [s for s in sents if len(s.split()) >= 3]
            docs.append(Document(f"brown:{rec['doc_id']}", rec["doc_id"], sents, "brown",
                                 {"category": rec["category"]}))
    return docs


def passage_documents() -> list[Document]:
    """Every multi-hop passage (2Wiki, HotpotQA, MuSiQue corpora) as a one-paragraph Document."""
    docs: list[Document] = []
    for name in ("2wikimultihopqa", "musique_train"):
        with open(data_file(f"multihop_dev/{name}_corpus.json"), encoding="utf-8") as fh:
            for i, rec in enumerate(json.load(fh)):
                sents = split_sentences(rec["text"])
                if sents:
                    docs.append(Document(f"{name}:{i}", rec["title"], sents, name))
    with open(data_file("multihop_dev/hotpotqa_train_corpus.json"), encoding="utf-8") as fh:
        for title, sents in json.load(fh).items():
            sents = [s.strip() for s in sents if s.strip()]
            if sents:
                docs.append(Document(f"hotpotqa:{title}", title, sents, "hotpotqa"))
    return docs


def all_documents() -> list[Document]:
    return wikitext_documents() + passage_documents() + brown_documents()


def is_held_out(doc_id: str, fraction: float = 0.15) -> bool:
    """Deterministic document-level split: a stable hash of the id decides."""
    return (zlib.crc32(doc_id.encode("utf-8")) % 10_000) < fraction * 10_000


SOURCES = {
    "wikitext": wikitext_documents,
    "passages": passage_documents,
    "2wikimultihopqa": lambda: [d for d in passage_documents() if d.source == "2wikimultihopqa"],
    "brown": brown_documents,
}


def split_sentences_by_document(sources, fraction: float = 0.15, max_per_doc: int | None = None):
    """(training sentences, held-out sentences, documents read) of the named corpora.

    Whole documents are held out (:func:`is_held_out`). A sentence can open documents of
    two corpora (a Wikipedia lead in WikiText and in a passage set): training never keeps
    a sentence that is also held out.

    Examples
    --------
    >>> train, held, n = split_sentences_by_document(["wikitext"])  # doctest: +SKIP
    """
    unknown = sorted(set(sources) - set(SOURCES))
    if unknown:
        raise ValueError(f"unknown corpora {unknown}; known: {sorted(SOURCES)}")
    docs = [d for name in sources for d in SOURCES[name]()]
    train, held = [], []
    for d in docs:
        sents = d.sentences[:max_per_doc] if max_per_doc else d.sentences
        (held if is_held_out(d.doc_id, fraction) else train).extend(sents)
    held_set = set(held)
    return [s for s in train if s not in held_set], held, len(docs)
