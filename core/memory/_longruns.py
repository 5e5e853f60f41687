"""Word pieces of whitespace-free runs too long to tokenise whole (a base64 image, a minified file, a
Chinese paragraph without sentence ends): windows cut where the BERT pre-tokenizer starts a pre-token.

Split from :mod:`core.memory.chunking`, which decides when a run is long.
"""
from __future__ import annotations

import re

_WINDOW = 1024  # characters tokenised at a time
_LONG_CAP = 4096  # word pieces: past this (16x MAX_READ) the count stops
_BOUNDARY = None  # built on the first long run: where the BERT pre-tokenizer surely starts a new pre-token
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_LONG_SEEN: dict = {}  # (length, hash, ends) of the last few long runs -> count: chunking counts one run ~3 times


def _boundaries():
    """(regex of the BMP characters, set of the astral ones) the BERT pre-tokenizer makes pre-tokens of their
    own: punctuation (ASCII symbols, Unicode P*) and CJK ideographs (its normaliser spaces them). A class of
    ranges within the BMP is a fast search (~4 ms/MB); one reaching past it took ~100 ms/MB."""
    global _BOUNDARY
    if _BOUNDARY is None:
        import sys
        import unicodedata

        cjk = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0xF900, 0xFAFF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
               (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0x2F800, 0x2FA1F)]
        cps = {c for c in range(sys.maxunicode + 1)
               if (33 <= c <= 47 or 58 <= c <= 64 or 91 <= c <= 96 or 123 <= c <= 126)
               or (not 0xD800 <= c <= 0xDFFF and unicodedata.category(chr(c)).startswith("P"))}
        cps.update(c for lo, hi in cjk for c in range(lo, hi + 1))
        ranges: list[list[int]] = []
        for c in sorted(c for c in cps if c <= 0xFFFF):
            if ranges and ranges[-1][1] == c - 1:
                ranges[-1][1] = c
            else:
                ranges.append([c, c])
        cls = "".join(re.escape(chr(lo)) + ("-" + re.escape(chr(hi)) if hi > lo else "") for lo, hi in ranges)
        _BOUNDARY = (re.compile(f"[{cls}]"), frozenset(c for c in cps if c > 0xFFFF))
    return _BOUNDARY


def _next_boundary(word: str, pos: int) -> int:
    bmp, astral = _boundaries()
    m = bmp.search(word, pos)
    stop = m.start() if m else len(word)
    for a in _ASTRAL.finditer(word, pos, stop):
        if ord(a.group()) in astral:
            return a.start()
    return stop


def _long_word_pieces(tok, word: str) -> int:
    """Word pieces of a whitespace-free run (longer than ``chunking._LONG_WORD`` characters), exact up to
    ``_LONG_CAP`` (then a number past it), tokenising ``_WINDOW`` characters at a time.

    Pre-tokens (split at punctuation) are tokenised independently, so a window that ends inside one is
    counted up to that pre-token's start and the next window starts there: the sum is the whole run's count.
    A window that is all one pre-token holds over 100 characters, which WordPiece reads as one [UNK]
    however long it is: counted 1, and the run resumes at the next punctuation.
    """
    n, start, size = 0, 0, len(word)
    while start < size and n <= _LONG_CAP:
        end = min(size, start + _WINDOW)
        enc = tok.encode(word[start:end], add_special_tokens=False)
        ids = enc.word_ids
        if end == size or not ids:
            n, start = n + len(ids), end
            continue
        k = ids.index(ids[-1])  # the first piece of the window's last pre-token (it may go on past the window)
        if k:
            n, start = n + k, start + max(1, enc.offsets[k][0])
            continue
        n, start = n + 1, _next_boundary(word, end)
    return n


def _long_count(tok, word: str) -> int:
    key = (len(word), hash(word), word[:64], word[-64:])
    if key not in _LONG_SEEN:
        if len(_LONG_SEEN) >= 8:
            _LONG_SEEN.clear()
        _LONG_SEEN[key] = _long_word_pieces(tok, word)
    return _LONG_SEEN[key]
