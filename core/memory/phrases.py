"""Cheap phrase (entity) extraction: the nodes that tie passages together.

HippoRAG links passages through the noun phrases an LLM extracts from them. Without an
LLM, capitalised spans ("Neil Peart", "University of Toronto", "1969") and document titles
are a fair stand-in: a passage that names another passage's subject is linked to it,
which is what the second hop of a multi-hop question needs. Deterministic and
dependency-free.
"""
from __future__ import annotations

import re
import unicodedata

_CONNECT = r"(?:of|the|de|del|della|der|des|di|du|da|do|dos|la|le|les|von|van|den|y|for|on|in|at|&)"
_CAP = r"(?:[A-Z\u00C0-\u00DE][\w'\u2019\-\.]*)"
_SPAN = re.compile(rf"{_CAP}(?:(?:\s+{_CONNECT}){{0,2}}\s+{_CAP})*|\b\d{{3,4}}s?\b")
_PAREN = re.compile(r"\s*\([^)]*\)\s*")
_STOP = frozenset("""
a an the in on at to of for by with from as and or but if so not no yes this that these those there
here he she it they we i you his her its their our my your him them us me who whom whose what which
when where why how after before during while since until although though however also both each
every many much some any all one two three four five six seven eight nine ten first second third
later early then thus hence because despite according about above across against along among
around behind below beneath beside between beyond into near over through throughout under upon
within without is was are were be been being has have had do does did can could will would shall
should may might must mr mrs ms dr st january february march april may june july august september
october november december monday tuesday wednesday thursday friday saturday sunday
""".split())


def normalize(phrase: str) -> str:
    """Lower case, accents folded, possessive and leading article dropped, spaces collapsed."""
    s = unicodedata.normalize("NFKD", phrase)
    s = "".join(ch for ch in s if not unicodedata.combining(ch)).lower()
    s = re.sub(r"['\u2019]s\b", "", s)
    s = re.sub(r"[^\w\s&-]", " ", s)
    words = s.split()
    while words and words[0] in ("the", "a", "an"):
        words = words[1:]
    while words and words[-1] in _STOP:
        words = words[:-1]
    return " ".join(words)


def title_phrase(title: str) -> str:
    """A document title as a phrase: "Lilu (mythology)" -> "lilu"."""
    return normalize(_PAREN.sub(" ", title or ""))


def extract_phrases(text: str, max_words: int = 6) -> list[str]:
    """Distinct normalised capitalised spans of ``text``, in order of first appearance.

    Single words that are common sentence openers ("The", "However") are dropped.

    Examples
    --------
    >>> extract_phrases("In 1976 Neil Peart joined Rush, a band from Toronto.")
    ['1976', 'neil peart', 'rush', 'toronto']
    """
    out: dict[str, None] = {}
    for m in _SPAN.finditer(text):
        words = m.group(0).split()
        # a capitalised stop word opening a span ("In 1976", "The Beatles") is not part of it
        while words and words[0].lower().strip(".'") in _STOP and not words[0][:1].isdigit():
            words = words[1:]
        if not words or len(words) > max_words:
            continue
        p = normalize(" ".join(words))
        if len(p) < 2 or p in _STOP:
            continue
        out.setdefault(p, None)
    return list(out)
