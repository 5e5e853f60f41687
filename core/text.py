"""Sentence splitting, WikiText detokenisation and counted nouns: small, dependency-free, deterministic."""
from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_ABBREV = re.compile(r"(?:\b(?:Mr|Mrs|Ms|Dr|St|Jr|Sr|Prof|Gen|Col|Lt|Sgt|Capt|Rev|Gov|No|Vol|vs|etc|U\.S|e\.g|i\.e|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.|\b[A-Z]\.)$")

# Unicode's line separator: a line break its writer made inside a paragraph (an HTML <br>, a Markdown hard
# break). The readers write it; the chunker keeps it as a line, where a wrapped line is joined (chunking._lines_kept)
LINE_BREAK = "\u2028"

_WIKITEXT_FIXES = [
    (re.compile(r" @(.)@ "), r"\1"),
    (re.compile(r" ([.,;:!?%)\]}])"), r"\1"),
    (re.compile(r"([(\[{$]) "), r"\1"),
    (re.compile(r" (n't|'t|'s|'re|'ve|'ll|'d|'m)\b"), r"\1"),
    (re.compile(r"\s+"), " "),
]


def split_sentences(text: str) -> list[str]:
    """Split prose into sentences at ``.``, ``!`` or ``?`` followed by a capital or digit.

    Common abbreviations ("Dr.", "U.S.", initials) do not end a sentence.
    """
    text = text.strip()
    if not text:
        return []
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        candidate = text[start:match.start()].rstrip()
        if _ABBREV.search(candidate.rstrip("\"')]")):
            continue
        pieces.append(text[start:match.end()].strip())
        start = match.end()
    pieces.append(text[start:].strip())
    return [p for p in pieces if p]


def detokenize_wikitext(line: str) -> str:
    """Undo WikiText's tokenisation (`` @-@ ``, spaces before punctuation)."""
    for pattern, repl in _WIKITEXT_FIXES:
        line = pattern.sub(repl, line)
    return line.strip()


def text_key(text: str) -> str:
    """A text as exact match compares it: whitespace-normalised (the decode stage leaves out an item's copies
    by this key, so the two agree)."""
    return " ".join(text.split())


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``1 document``, ``2 documents`` (``plural`` for nouns without an -s one): a summary line said "1 documents".
    Thousands are separated (``14,949 chunks``): a summary of a large folder read "14949 chunks"."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {plural or noun + 's'}"
