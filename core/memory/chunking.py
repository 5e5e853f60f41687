"""Split text into chunks that the embedding model reads whole.

all-MiniLM-L6-v2 was trained on inputs of at most 128 word pieces; text past that is
truncated (or, worse, silently diluted), so a chunk is packed from whole paragraphs and
sentences until the next one would cross the limit. A sentence longer than the limit on
its own is cut at word boundaries. Small neighbouring paragraphs (an option line and its
description, a heading and its text) are merged up to a target size, because a 40-character
chunk carries too little meaning to be found; markup noise (HTML comments, man-page
headers and footers, groff's line-end hyphenation) is dropped before any of this. Counts come from the model's own tokenizer
(``tokenizer.json`` of the packaged model, via the light ``tokenizers`` library); when it
cannot be loaded, a safe word-based bound (2 word pieces per word) is used instead.
"""
from __future__ import annotations

import hashlib
import re
from functools import lru_cache

from core.memory._kept_lines import _joined, _lines_kept
from core.memory._longruns import _WINDOW, _long_count, _next_boundary
from core.text import LINE_BREAK, newlines, split_sentences

MAX_TOKENS = 128
MAX_READ = 256  # word pieces the packaged model reads (its max_seq_length): a longer chunk is cut there
TARGET_TOKENS = 96  # small paragraphs are merged until a chunk would pass this many word pieces
_SPECIAL = 2  # [CLS] and [SEP]
_SMALL = 16  # word pieces: a chunk this small joins the next piece even past the target
_PARAGRAPH = re.compile(r"\n\s*\n")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
_OVERSTRIKE = re.compile(r"[^\n]\x08")  # man's bold/underline for terminals: "N\bNA\bA", "_\bx"
_MAN_REF = r"[\w.:+-]+\(\d[\w]*\)"
_MAN_HEADER = re.compile(rf"^\s*({_MAN_REF})\s.*\s\1\s*$", re.M)  # "GZIP(1)  General Commands Manual  GZIP(1)"
_CJK_END = re.compile(r"(?<=[。！？])")  # Chinese/Japanese sentence ends: no space follows them
# scripts written without spaces; other long runs (a URL, base64 of an image) stay whole: cut, they were junk chunks
_NO_SPACE_SCRIPT = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_HEADING = re.compile(r"^(#{1,6}\s|[A-Z][A-Z0-9 ,/&()-]{2,}$)")  # Markdown heading or man section name


def _code_line(raw: str, first_line: str) -> bool:
    """Is a paragraph's ``#`` first line indented 4 columns or more: code, not a heading (CommonMark's rule; the
    HTML and Markdown readers indent code so)? A shell comment of a ``<pre>`` or a fenced block opened a chunk."""
    if not first_line.startswith("#"):
        return False
    lead = raw[:len(raw) - len(raw.lstrip())]
    return len(lead[lead.rfind("\n") + 1:].expandtabs(4)) >= 4


def clean_text(text: str) -> str:
    """Drop markup noise: HTML comments, terminal overstrikes, man-page headers/footers, groff hyphens, soft
    hyphens; line ends made ``\\n``, a form feed (a page break) a paragraph break.

    A man page rendered with ``man -P cat`` starts every page with ``NAME(S) title NAME(S)``
    and ends it with ``... NAME(S)``; both carry nothing a question could be about.
    """
    # (each pattern needs a character most texts lack: a test of that is ~10x cheaper than the scan)
    text = newlines(text)  # a record's (JSONL, CSV, the API's) "\r" line ends: its paragraphs were one
    if "\u00ad" in text:  # invisible (HTML's &shy;, Word's): "Soft\u00adware" was a word of its own, a concept
        text = text.replace("\u00ad", "")
    if "\f" in text:  # "\fSection 2" ran on from the page before's last paragraph
        text = re.sub(r"[ \t]*\f\s*", "\n\n", text)
    if "<!--" in text:
        text = _HTML_COMMENT.sub("", text)
    if "\x08" in text:
        text = _OVERSTRIKE.sub("", text)
    if "\u2010" in text:
        from core.memory._hyphens import groff_joined

        text = groff_joined(text)
    refs = set(_MAN_HEADER.findall(text))
    if refs:
        text = _MAN_HEADER.sub("", text)
        footer = re.compile(rf"^[^\n]{{0,100}}\s(?:{'|'.join(re.escape(r) for r in refs)})\s*$", re.M)
        text = footer.sub("", text)
    return text


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


# Characters Python's str.split() splits on that the BERT normalizer deletes (controls): a text
# holding one is counted whole, since its whitespace words would not be the tokenizer's.
_SPLIT_UNSAFE = re.compile(r"[\x0b\x0c\x1c-\x1f\x85]")
_WORD_PIECES: dict[str, int] = {}  # whitespace word -> word pieces (the tokenizer's own count)
_WORD_CACHE_MAX = 1 << 19  # words (~75 MB at most); past it, new words are tokenised every time
_FEW = 16  # texts to tokenise below which count_tokens calls the tokenizer once per text


# A whitespace-free run longer than this (a base64 image, a minified file) is counted in windows, and only
# until it is surely longer than any chunk (core/memory/_longruns.py): tokenised whole, one 5 MB run took
# 14-27 s and ~1 GB.
_LONG_WORD = 4096  # characters; a word of real text is far shorter (a long URL: ~2,000)


def count_tokens(texts: list[str]) -> list[int]:
    """Word pieces of each text without the two special tokens.

    Uses the packaged model's tokenizer; falls back to ``2 * words`` (an upper bound for
    English prose with WordPiece) if the tokenizer is unavailable. The BERT tokenizer splits
    at whitespace before anything else (normalising, punctuation, WordPiece all work within
    a word), so a text's count is the sum of its whitespace words' counts: each distinct word
    is tokenised once and remembered (5-10x faster than tokenising every text on real sentences).
    """
    tok = _tokenizer()
    if tok is None:
        return [2 * len(t.split()) for t in texts]
    cache = _WORD_PIECES
    try:  # every word known (the common case once a few documents are in)
        return [sum(map(cache.__getitem__, t.split())) if not _SPLIT_UNSAFE.search(t) else cache[None]
                for t in texts]
    except KeyError:
        pass
    split = [None if _SPLIT_UNSAFE.search(t) else t.split() for t in texts]
    missing = list({w for ws in split if ws is not None for w in ws if w not in cache})
    long = {w: _long_count(tok, w) for w in missing if len(w) > _LONG_WORD}  # counted in windows, not kept
    if long:
        missing = [w for w in missing if w not in long]
    whole = [t for t, ws in zip(texts, split) if ws is None]
    todo = missing + whole
    # a few words (the usual miss of one sentence) cost less one by one than through the batch
    # call's thread pool (~0.3 ms a call, more on a loaded machine); the counts are the same
    encs = tok.encode_batch(todo, add_special_tokens=False) if len(todo) > _FEW \
        else [tok.encode(t, add_special_tokens=False) for t in todo]
    counts = [len(e) for e in encs]
    new = dict(zip(missing, counts))
    if len(cache) + len(new) <= _WORD_CACHE_MAX:  # entries are never removed (threads may read them)
        cache.update(new)
    whole_n = iter(counts[len(missing):])
    new.update(long)
    return [next(whole_n) if ws is None else sum(new[w] if w in new else cache[w] for w in ws) for ws in split]


def embedded_text(title: str, chunk: str, title_prefix: bool = True) -> str:
    """What a chunk is embedded as: ``title: chunk`` when its document has a title (a chunk
    loses the context its title gives; dense retrievers index passages this way), else the chunk."""
    title = " ".join((title or "").split())
    return f"{title}: {chunk}" if title_prefix and title else chunk


def chunk_hash(text: str) -> bytes:
    """Identity of a chunk for deduplication: sha1 of its whitespace-normalised text."""
    return hashlib.sha1(" ".join(text.split()).encode("utf-8")).digest()


def _bound(para: str) -> int:
    """An upper bound on the word pieces of an ASCII paragraph without tokenising it: the known
    words' counts, an unknown word's characters (each piece holds >= 1). Unmerged sentences
    longer than the budget in characters (40% of the 100k benchmark's) mostly fit by it, and
    the tokenizer is called for none of them (it was called once per such sentence for its
    new words: 1.6-3 s of the 50k -> 100k stage's 50k chunks)."""
    if _tokenizer() is None:  # the fallback's count (2 a word) is not bounded by this
        return len(para) + 1
    get = _WORD_PIECES.get
    return sum([get(w) or len(w) for w in para.split()])


def _token_starts(tok, word: str) -> list[int]:
    """Where each word piece of ``word`` starts; a run over ``_LONG_WORD`` characters is tokenised in
    windows cut at pre-token starts (as :func:`_long_word_pieces`): the same starts, memory bounded."""
    if len(word) <= _LONG_WORD:
        return [a for a, _ in tok.encode(word, add_special_tokens=False).offsets]
    starts: list[int] = []
    base, size = 0, len(word)
    while base < size:
        end = min(size, base + _WINDOW)
        enc = tok.encode(word[base:end], add_special_tokens=False)
        ids, offsets = enc.word_ids, enc.offsets
        k = len(ids) if end == size or not ids else ids.index(ids[-1])
        if k == 0:  # one pre-token fills the window: one [UNK] up to the next punctuation
            starts.append(base + offsets[0][0])
            base = _next_boundary(word, end)
            continue
        starts.extend(base + a for a, _ in offsets[:k])
        base = end if k == len(ids) else base + max(1, offsets[k][0])
    return starts


def _cut_word(word: str, budget: int) -> list[str]:
    """Cut one whitespace-free run (Chinese text) at word-piece boundaries within ``budget``."""
    tok = _tokenizer()
    if tok is None:
        return [word]
    starts = _token_starts(tok, word)
    step = budget
    while True:  # a cut inside a word may re-split its continuation differently: shrink until all fit
        bounds = [0, *(starts[i] for i in range(step, len(starts), step)), len(word)]
        pieces = [word[a:b] for a, b in zip(bounds, bounds[1:]) if a < b]
        if step <= 8 or max(count_tokens(pieces)) <= budget:
            return pieces
        step = step * 3 // 4


def _split_long(sentence: str, budget: int) -> list[str]:
    """Cut one over-long sentence at word boundaries into pieces within ``budget``
    (a run of Chinese/Japanese/Korean text longer than that at word-piece boundaries)."""
    words = sentence.split()
    counts = count_tokens(words)
    if any(n > budget for n in counts):  # Chinese/Japanese/Korean prose has no spaces to cut at
        cut = [_cut_word(w, budget) if n > budget and _NO_SPACE_SCRIPT.search(w) else None
               for w, n in zip(words, counts)]
        if any(cut):
            words = [p for w, c in zip(words, cut) for p in (c or [w])]
            counts = count_tokens(words)
    if not _SPLIT_UNSAFE.search(sentence):
        # a text's count is the sum of its words' (count_tokens): take words while the sum fits, one at
        # least; the same pieces as the search below, in one pass (it joined and re-split up to ~2 x budget
        # words per probe: 1 MB of Chinese without sentence ends spent ~3 s there)
        pieces, start, used = [], 0, 0
        for i, n in enumerate(counts):
            if i > start and used + n > budget:
                pieces.append(" ".join(words[start:i]))
                start, used = i, 0
            used += n
        return pieces + [" ".join(words[start:])] if words else pieces
    pieces, start = [], 0
    while start < len(words):
        # grow greedily by halving the step: O(log n) tokenizer calls per piece, each on at most ~2 x budget
        # words (a search up to the paragraph's end joined all its words per call: a 1 MB paragraph without
        # sentence ends took 55 s); a word holds >= 1 piece, so a piece holds <= budget words, but a
        # zero-width word holds none: look further while the window fits
        lo, hi = start + 1, min(len(words), start + budget)
        while hi < len(words) and count_tokens([" ".join(words[start:hi])])[0] <= budget:
            lo, hi = hi, min(len(words), start + 2 * (hi - start))
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count_tokens([" ".join(words[start:mid])])[0] <= budget:
                lo = mid
            else:
                hi = mid - 1
        pieces.append(" ".join(words[start:lo]))
        start = lo
    return pieces


def _paragraph_pieces(para: str, budget: int, first: int | None = None) -> list[tuple[str, int]]:
    """(piece, word pieces) of one paragraph: whole if it fits, else packed sentences
    (the first piece within ``first``, room left beside a heading, when given)."""
    n = count_tokens([para])[0]
    if n <= (budget if first is None else first):
        return [(para, n)]
    sentences = [c for s in split_sentences(para) or [para] for c in _CJK_END.split(s) if c]
    counts = count_tokens(sentences)
    out: list[str] = []
    current, used = [], 0
    for sent, m in zip(sentences, counts):
        if m > budget:
            if current:
                out.append(" ".join(current))
                current, used = [], 0
            out.extend(_split_long(sent, budget))
            continue
        # +1: the joining space may merge into a neighbouring piece differently; stay safe
        cap = first if first is not None and not out else budget
        if current and used + m + 1 > cap:
            out.append(" ".join(current))
            current, used = [], 0
        current.append(sent)
        used += m + (1 if len(current) > 1 else 0)
    if current:
        out.append(" ".join(current))
    return list(zip(out, count_tokens(out)))


def chunk_text(text: str, max_tokens: int = MAX_TOKENS, target_tokens: int | None = TARGET_TOKENS,
               clean: bool = True) -> list[str]:
    """Split ``text`` into chunks of at most ``max_tokens`` word pieces (special tokens included).

    A paragraph (blank-line separated) longer than the limit is split into packed
    sentences; shorter neighbouring paragraphs are merged while the chunk stays within
    ``target_tokens``, and a heading starts a new chunk, but for one under headings with no text of
    their own: those join the text that follows (at the document's end, the text before). Whitespace inside a
    chunk is normalised to single spaces, except that a heading, each merged paragraph and
    each line ended on purpose (`_lines_kept`) keep their own line: a name does not run from
    one into the next. The word pieces, so the vectors, are the same.

    Parameters
    ----------
    text : str
    max_tokens : int, default=128
        The model's useful input length, counting ``[CLS]`` and ``[SEP]``.
    target_tokens : int or None, default=96
        Merge paragraphs up to this size (capped by ``max_tokens``); ``None`` or 0 keeps
        every paragraph in its own chunk.
    clean : bool, default=True
        Drop markup noise first (see :func:`clean_text`).

    Returns
    -------
    list of str
        Non-empty chunks in reading order; ``[]`` for blank text.

    Examples
    --------
    >>> chunk_text("One. Two.\\n\\nThree.")
    ['One. Two.\\nThree.']
    >>> chunk_text("One. Two.\\n\\nThree.", target_tokens=None)
    ['One. Two.', 'Three.']
    """
    if max_tokens <= _SPECIAL + 4:
        raise ValueError(f"max_tokens={max_tokens} is too small; use at least {_SPECIAL + 5}")
    if target_tokens is not None and (not isinstance(target_tokens, int) or target_tokens < 0):
        raise ValueError(f"target_tokens must be a non-negative integer or None, got {target_tokens!r}")
    budget = max_tokens - _SPECIAL
    target = min(budget, target_tokens - _SPECIAL) if target_tokens else 0
    if clean:
        text = clean_text(text)
    chunks: list[str] = []
    current, used, head_only, lone_head = [], 0, False, False
    bare = True  # the chunk so far holds bare headings only (no text of theirs): what follows joins it
    for raw in _PARAGRAPH.split(text):
        first_line, rest = (re.split(f"\n|{LINE_BREAK}", raw.strip(), maxsplit=1) + [""])[:2]
        heading = bool(_HEADING.match(first_line.strip())) and not _code_line(raw, first_line)
        # a heading keeps its line break (to the text below it too): "# Nero\nNero was..." is two names,
        # not "Nero Nero"; whitespace inside a line is normalised, and the word pieces are the same
        para = "\n".join(x for x in (" ".join(first_line.split()), _joined(rest)) if x) if heading \
            else _lines_kept(raw)
        if not para:
            continue
        # a small chunk so far (a lone heading, an option name) may fill up to the model's limit
        # (a heading under bare headings too: "## Career" + "### Minor leagues" + text is one chunk)
        small = bool(target) and bool(current) and (used < _SMALL or head_only) and (bare or not heading)
        # unmerged paragraphs need no count when one surely fits: in ASCII text every word piece
        # holds at least one character (punctuation is a piece of its own, controls are dropped)
        fits = not target and para.isascii() and (len(para) <= budget or _bound(para) <= budget)
        for piece, n in [(para, 0)] if fits else _paragraph_pieces(para, budget, budget - used - 1 if small else None):
            # +1: the joining space; a heading never ends a chunk, it opens one
            limit = (budget if used < _SMALL or head_only else target) if target else 0
            if current and ((heading and not (bare and target)) or used + n + 1 > limit):
                chunks.append("\n".join(current))
                current, used, bare = [], 0, True
            used += n + (1 if current else 0)
            if current and lone_head:  # the text under a lone heading starts on the next line
                current[-1] += "\n" + piece
            else:
                current.append(piece)
            lone_head = heading and piece == para
            bare = bare and lone_head and "\n" not in para
            head_only, heading = heading, False
    if current and bare and target and chunks:  # headings that end the document, no text under them
        current, chunks = _tail_headings(chunks, current, budget)
    if current:  # paragraphs merged keep a line each: "... the library:" "Alice Smith" "Bob Jones" read as one
        chunks.append("\n".join(current))  # name ('alice smith bob jones'), and the people were no concepts
    return chunks


def _tail_headings(chunks: list[str], current: list[str], budget: int) -> tuple[list[str], list[str]]:
    """Headings that end a document without text under them (an empty ``## See also``) join the chunk before
    when it has room: alone, a chunk is embedded as little more than ``title: heading``, near the title's
    vector, and tops questions about the document while holding nothing. Returns (current, chunks)."""
    joined = chunks[-1] + "\n" + "\n".join(current)
    if count_tokens([joined])[0] > budget:
        return current, chunks
    return [], chunks[:-1] + [joined]
