"""Sentence splitting, WikiText detokenisation and counted nouns: small, dependency-free, deterministic."""
from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_ABBREV = re.compile(r"(?:\b(?:Mr|Mrs|Ms|Dr|St|Jr|Sr|Prof|Gen|Col|Lt|Sgt|Capt|Rev|Gov|No|Vol|vs|etc|U\.S|e\.g|i\.e|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.|\b[A-Z]\.)$")

# Unicode's line separator: a line break its writer made inside a paragraph (an HTML <br>, a Markdown hard break,
# Word's, OpenDocument's). The readers write it; the chunker keeps it a line, where it joins a wrapped one
# (_kept_lines._lines_kept)
LINE_BREAK = "\u2028"

_WIKITEXT_FIXES = [
    (re.compile(r" @(.)@ "), r"\1"),
    (re.compile(r" ([.,;:!?%)\]}])"), r"\1"),
    (re.compile(r"([(\[{$]) "), r"\1"),
    (re.compile(r" (n't|'t|'s|'re|'ve|'ll|'d|'m)\b"), r"\1"),
    (re.compile(r"\s+"), " "),
]


def newlines(text: str) -> str:
    """``text`` with each Windows (``\\r\\n``) and old-Mac (``\\r`` alone) line end as ``\\n``: the readers split
    lines and paragraphs at ``\\n`` only, so a file saved with ``\\r`` line ends was one paragraph of glued lines."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


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


def one_line(text: str) -> str:
    """``text``'s whitespace as single spaces, but for its `LINE_BREAK` s (a Word or OpenDocument paragraph's
    line breaks: an address's lines, a verse's): one between two words is kept, two or more end a paragraph."""
    if LINE_BREAK not in text:
        return " ".join(text.split())
    out, gap = "", False
    for piece in (" ".join(p.split()) for p in text.split(LINE_BREAK)):
        if piece:
            out += ("\n\n" if gap else LINE_BREAK) + piece if out else piece
        gap = bool(out) and not piece
    return out

