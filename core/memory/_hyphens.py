"""A word hyphenated at a line's end: one word cut by hyphenation ("associa-" "tion" -> "association"), or a
compound whose hyphen is its own ("self-" "contained" -> "self-contained")?

The PDF reader (`core.memory._pdf.join_hyphens`) and the chunker (groff's "\u2010" at a line's end,
`core.memory.chunking.clean_text`) ask `cut_word`. Both dropped the hyphen of a compound the document writes
nowhere else ("selfcontained", "nontrivial"): the only evidence they asked for was the document's own words.
"""
from __future__ import annotations

import re
from collections import Counter

from core.memory.phrases import _PREFIXES

_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")  # a word, or words joined by hyphens ("well-known")
# groff's line-end hyphen: "par‐\n   ticular" (a compound's own too: "self‐\n   contained"); the word before it
# whole (a chain: "state‐of‐the‐"), and the letters after it
_GROFF = re.compile(r"(\w+(?:\u2010\w+)*)\u2010\n[ \t]*(?=([a-z]+))")
_CUT = re.compile(r"[^\W\d_]+[-\u2010\u00ad]\n[ \t]*[^\W\d_]+")  # "associa-\ntion": no evidence of "tion"


def document_words(text: str) -> Counter:
    """The words of ``text`` (lower case, hyphenated ones whole, groff's "\u2010" read as "-") and their counts:
    the evidence `cut_word` asks first. The pieces of a word hyphenated at a line's end are left out: a fragment
    ("hyphena-" "tion") counted as a word of its own made two words of it."""
    return Counter(_WORD.findall(_CUT.sub(" ", text.lower()).replace("\u2010", "-")))


def cut_word(head: str, tail: str, words: Counter) -> bool:
    """Is "head-" "tail" one word cut by hyphenation (the hyphen goes), not a compound (it stays)? In order:

    - the document decides when it writes the word more often whole, or hyphened ("co-operation" 3 times);
    - a one-letter fragment ("e-" "mail", "x-" "axis": hyphenation leaves 2 letters at least) or a chain of
      hyphened words ("state-of-the-" "art") keeps it;
    - a word the model's vocabulary holds whole is cut ("contain-" "ing", "there-" "fore", "in-" "formation");
    - a compound keeps it: both halves words (of the document or the vocabulary) and each of 4 letters at least
      or a prefix (`phrases._PREFIXES`: "self-" "contained", "non-" "trivial", "photo-" "synthesis");
    - anything else is cut ("associa-" "tion", "hyphen-" "ate")."""
    whole, hyphened = (head + tail).lower(), f"{head}-{tail}".lower()
    if words[whole] != words[hyphened]:
        return words[whole] > words[hyphened]
    if len(head) < 2 or "-" in head:
        return False
    if _known(whole):
        return True
    return not _compound(head.lower(), tail.lower(), words)


def groff_joined(text: str) -> str:
    """``text`` with each word groff (``man``) hyphenated at a line's end made whole, a compound's hyphen kept:
    groff sets "-" as "\u2010" too, and "self\u2010" "contained" was "selfcontained"."""
    words = None

    def join(m: re.Match) -> str:
        nonlocal words
        words = document_words(text) if words is None else words
        head = m.group(1)
        return head if cut_word(head.replace("\u2010", "-"), m.group(2), words) else head + "\u2010"
    return _GROFF.sub(join, text)


def _compound(head: str, tail: str, words: Counter) -> bool:
    """Are ``head`` and ``tail`` two words an English compound joins (`phrases`' test of one: 4 letters at least or
    a prefix each)? A short tail that is a word ("ate", "ion") is as often a hyphenated word's last syllable."""
    if not all(len(x) >= 4 or x in _PREFIXES for x in (head, tail)):
        return False
    return _is_word(tail, words) and (head in _PREFIXES or _is_word(head, words))


def _is_word(word: str, words: Counter) -> bool:
    return words[word] > 0 or _known(word)


def _known(word: str) -> bool:
    """Is ``word`` (lower case) one token of the model's vocabulary (~20,000 whole English words)? False without
    the tokenizer: the document's words alone decide then."""
    from core.memory.chunking import _tokenizer

    tok = _tokenizer()
    return tok is not None and word.isalpha() and tok.token_to_id(word) is not None
