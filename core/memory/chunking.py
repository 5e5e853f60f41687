"""Split text into chunks that the embedding model reads whole.

all-MiniLM-L6-v2 was trained on inputs of at most 128 word pieces; text past that is
truncated (or, worse, silently diluted), so a chunk is packed from whole paragraphs and
sentences until the next one would cross the limit. A sentence longer than the limit on
its own is cut at word boundaries. Counts come from the model's own tokenizer
(``tokenizer.json`` of the packaged model, via the light ``tokenizers`` library); when it
cannot be loaded, a safe word-based bound (2 word pieces per word) is used instead.
"""
from __future__ import annotations

import hashlib
import re
from functools import lru_cache

from core.text import split_sentences

MAX_TOKENS = 128
_SPECIAL = 2  # [CLS] and [SEP]
_PARAGRAPH = re.compile(r"\n\s*\n")


@lru_cache(maxsize=1)
def _tokenizer():
    try:
        from pathlib import Path

        from tokenizers import Tokenizer

        from core.embedding import default_model_path

        tok = Tokenizer.from_file(str(Path(default_model_path()) / "tokenizer.json"))
        tok.no_truncation()
        tok.no_padding()
        return tok
    except Exception:  # noqa: BLE001 - any failure falls back to the word bound
        return None


def count_tokens(texts: list[str]) -> list[int]:
    """Word pieces of each text without the two special tokens.

    Uses the packaged model's tokenizer; falls back to ``2 * words`` (an upper bound for
    English prose with WordPiece) if the tokenizer is unavailable.
    """
    tok = _tokenizer()
    if tok is None:
        return [2 * len(t.split()) for t in texts]
    return [len(e.ids) for e in tok.encode_batch(list(texts), add_special_tokens=False)]


def chunk_hash(text: str) -> bytes:
    """Identity of a chunk for deduplication: sha1 of its whitespace-normalised text."""
    return hashlib.sha1(" ".join(text.split()).encode("utf-8")).digest()


def _split_long(sentence: str, budget: int) -> list[str]:
    """Cut one over-long sentence at word boundaries into pieces within ``budget``."""
    words = sentence.split()
    pieces, start = [], 0
    while start < len(words):
        # grow greedily by halving the step: O(log n) tokenizer calls per piece
        lo, hi = start + 1, len(words)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count_tokens([" ".join(words[start:mid])])[0] <= budget:
                lo = mid
            else:
                hi = mid - 1
        pieces.append(" ".join(words[start:lo]))
        start = lo
    return pieces


def chunk_text(text: str, max_tokens: int = MAX_TOKENS) -> list[str]:
    """Split ``text`` into chunks of at most ``max_tokens`` word pieces (special tokens included).

    Paragraphs (blank-line separated) never share a chunk; within a paragraph, whole
    sentences are packed greedily. Whitespace inside a chunk is normalised.

    Parameters
    ----------
    text : str
    max_tokens : int, default=128
        The model's useful input length, counting ``[CLS]`` and ``[SEP]``.

    Returns
    -------
    list of str
        Non-empty chunks in reading order; ``[]`` for blank text.

    Examples
    --------
    >>> chunk_text("One. Two.\\n\\nThree.")
    ['One. Two.', 'Three.']
    """
    if max_tokens <= _SPECIAL + 4:
        raise ValueError(f"max_tokens={max_tokens} is too small; use at least {_SPECIAL + 5}")
    budget = max_tokens - _SPECIAL
    chunks: list[str] = []
    for para in _PARAGRAPH.split(text):
        para = " ".join(para.split())
        if not para:
            continue
        sentences = split_sentences(para) or [para]
        counts = count_tokens(sentences)
        current, used = [], 0
        for sent, n in zip(sentences, counts):
            if n > budget:
                if current:
                    chunks.append(" ".join(current))
                    current, used = [], 0
                chunks.extend(_split_long(sent, budget))
                continue
            # +1: the joining space may merge into a neighbouring piece differently; stay safe
            if current and used + n + 1 > budget:
                chunks.append(" ".join(current))
                current, used = [], 0
            current.append(sent)
            used += n + (1 if len(current) > 1 else 0)
        if current:
            chunks.append(" ".join(current))
    return chunks
