"""Key terms of lower-case prose: concepts for text that names nothing.

The name extractor (:mod:`core.memory.phrases`) finds capitalised spans and identifiers; a
technical note or a novel's paragraph in plain lower case gives it little to link. Here a
document's key terms are the lower-case content words and adjacent pairs of them that the
**document repeats across its chunks**: held by at least ``MIN_DOC_COUNT`` = 3 chunks and by
one in ten of them (``MIN_DOC_SHARE``: a 130-sentence article needs 13; passages of one or two
chunks have no key terms);
each chunk gets those its own text holds, most repeated first, at most ``MAX_PER_CHUNK``
(which bounds the network's concept-concept pairs per event).

Why repetition inside the document and not a word list or a corpus statistic: at ingest the
corpus-wide document frequency is not known yet (the stream is still growing), and a word a
text says once mostly links it to unrelated texts. Measured on the Brown and WikiText
same-document sets (share of the chunk pairs sharing a term that are of one document,
IDF-weighted): names .61 / .68; any lower-case word .14 / .16; words the document says twice
.60 / .35 (a long article repeats everyday words); with one occurrence per ten chunks
.84 / .71. How *specific* a key term is across the memory is decided at
recall time from the vocabulary's document frequency, like any concept's: the walk weighs
it by IDF and gives hubs (``PassageGraph.max_df``) nothing. Only function words and the
commonest English verbs/adverbs (``_COMMON``), which can never be specific, are kept out here,
and text that is not prose (`_prose`): Markdown code and URLs. On the 99 real documents of
``scripts/bench_realdocs.py`` the code keyword "const" (512 chunks) and "http" (612 chunks, 546
of them only in a link's ``https://``) were among the 20 most frequent key terms.
"""
from __future__ import annotations

import re
from collections import Counter

MIN_LEN = 4  # shorter lower-case words are almost all function words or abbreviations
MIN_DOC_COUNT = 3
MIN_DOC_SHARE = 0.1  # ... and at least this share of the document's chunks
MAX_PER_CHUNK = 8
UNIGRAMS = True  # single words as well as pairs
BY_CHUNK = True  # count the chunks holding a term, not its occurrences

_TOKEN = re.compile(r"[^\W_][\w'\-./]*|[^\w\s]")
# not prose: Markdown code (fenced blocks, which may span chunks, and `inline` spans) and URLs
_FENCE = re.compile(r"```|~~~")
# (a single backtick: "``" opens a quotation in TeX-style text such as Brown's and MuSiQue's)
_CODE_OR_URL = re.compile(r"(?<!`)`[^`]{1,300}`(?!`)|\b[A-Za-z][A-Za-z0-9+.\-]*://\S*")
_LOWER = re.compile(r"[a-z]+")
_COMMON = frozenset("""
about above after again against almost alone along already also although always among another
anything anyone anybody anywhere around away back became become becomes becoming been before
began begin behind being believe best better between beyond both bring brought came cannot come
comes coming could course does doing done down each either else enough even ever every everyone
everything everywhere fact felt find found from front gave give given gives giving goes going gone
good got great have having hear heard help here high however into itself just keep kept kind knew
know known knows last least leave left less like likely little long look looked looking looks lot
made make makes making many matter maybe mean means meant might more most much must myself near
need needed needs never next nothing often once only other others ought over perhaps place point
put quite rather really right said same saw say saying says seem seemed seems seen shall should
show showed shown side since some something sometimes somewhat soon still such sure take taken takes
taking tell than that their them themselves then there therefore these they thing things think
thought those though three through thus together told took toward towards tried tries true turn
turned under unless until upon used uses using usually very want wanted wants well went were what
whatever when whenever where whether which while whole whom whose will with within without would
year years yet your yours anyway able across actually etc via onto
""".split())
_NO_STEM = frozenset("series species means news physics mathematics economics politics ethics lens "
                     "gas bus plus thus chaos canvas atlas alias status virus corpus bias".split())


def stem(w: str) -> str:
    """Plural to singular, the only inflection folded ("archives" meets "archive")."""
    if w in _NO_STEM:
        return w
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 4 and w.endswith(("sses", "ches", "shes", "xes", "zzes")):
        return w[:-2]
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    return w


class _Words(dict):
    """Token -> its key-term word (stemmed) or None, for one stop set: a token is judged once,
    not once per occurrence (most of a chunk's tokens are words seen before)."""

    __slots__ = ("stop",)

    def __init__(self, stop):
        super().__init__()
        self.stop = stop

    def __missing__(self, tok: str):
        w = tok.rstrip(".")
        # [a-z]+ only: ASCII letters, all lower case
        if len(w) < MIN_LEN or not (w.isascii() and w.isalpha() and w.islower()) \
                or w in _COMMON or w in self.stop:
            v = None
        else:
            v = stem(w)
        if len(self) < _CACHE_MAX:  # bounded; entries never removed (safe across threads)
            self[tok] = v
        return v


_CACHE_MAX = 1 << 19
_WORDS: dict = {}


def _words(stop) -> _Words:
    try:
        cache = _WORDS.get(stop)
    except TypeError:  # an unhashable stop set: no shared cache
        return _Words(stop)
    if cache is None:
        cache = _WORDS.setdefault(stop, _Words(stop)) if len(_WORDS) < 16 else _Words(stop)
    return cache


def _tokens(text: str, stop) -> list:
    """The text's tokens as key-term words, None for any other token (it breaks pairs)."""
    return list(map(_words(stop).__getitem__, _TOKEN.findall(text or "")))


def _first_positions(toks: list) -> dict:
    """term -> token index of its first occurrence, for the words and adjacent distinct pairs."""
    at = [i for i, w in enumerate(toks) if w is not None]
    first: dict[str, int] = {}
    if UNIGRAMS:
        for i in reversed(at):  # the last write is the first occurrence
            first[toks[i]] = i
    pairs: dict[str, int] = {}
    for j in range(len(at) - 2, -1, -1):
        i = at[j]
        if at[j + 1] == i + 1:
            a, b = toks[i], toks[i + 1]
            if a != b:
                pairs[f"{a} {b}"] = i
    first.update(pairs)
    return first


def _candidates(text: str, stop) -> dict:
    """term -> [count, length, -first position] of the text's lower-case words and adjacent pairs.

    Capitalised words, numbers, identifiers and punctuation are no key terms and break pairs.
    """
    toks = _tokens(text, stop)
    count: dict[str, list] = {}
    if UNIGRAMS:
        for i, w in enumerate(toks):
            if w is not None:
                count.setdefault(w, [0, len(w), -i])[0] += 1
    for i in range(len(toks) - 1):
        a, b = toks[i], toks[i + 1]
        if a is not None and b is not None and a != b:
            p = f"{a} {b}"
            count.setdefault(p, [0, len(p), -i])[0] += 1
    return count


def document_keyterms(chunks, stop=frozenset()) -> list[list[str]]:
    """Key terms of each chunk of one document (``None``/empty chunks: none).

    Examples
    --------
    >>> document_keyterms(["tar writes the compressed archive.", "list compressed archives first.",
    ...                    "a compressed archive keeps its order.", "nothing else here."])[0]
    ['compressed archive', 'compressed', 'archive']
    """
    need = max(MIN_DOC_COUNT, MIN_DOC_SHARE * len(chunks))
    if len(chunks) < need:  # no term can be held by enough chunks
        return [[] for _ in chunks]
    # term -> first token index (a term's sort key is its chunk count, length, earliest first;
    # no two terms of a chunk share a length and a first position, so the order is total)
    per = [_first_positions(_tokens(c, stop)) if isinstance(c, str) and c else {} for c in _prose(chunks)]
    if BY_CHUNK:
        total = Counter()
        for d in per:
            total.update(d.keys())
    else:
        total = Counter()
        for c in _prose(chunks):
            if isinstance(c, str) and c:
                total.update({t: e[0] for t, e in _candidates(c, stop).items()})
    out = []
    for d in per:
        keep = [t for t in d if total[t] >= need]
        if len(keep) > 1:
            keep.sort(key=lambda t: (total[t], len(t), -d[t]), reverse=True)
        out.append(keep[:MAX_PER_CHUNK])
    return out


def _prose(chunks) -> list:
    """The chunks with code and URLs blanked out (a separator, so no pair spans the gap): a code
    keyword or a link's scheme ("const", "https") is repeated by the markup, not by the text.
    A fence opened in one chunk closes in a later one, so the chunks are read in order."""
    out, code = [], False
    for c in chunks:
        if not isinstance(c, str) or not c:
            out.append(c)
            continue
        if "`" not in c and "~~~" not in c and "://" not in c:  # no fence, code span or URL
            out.append("" if code else c)
            continue
        parts = _FENCE.split(c)
        keep = [parts[0] if not code else ""]
        for part in parts[1:]:
            code = not code
            keep.append("" if code else part)
        out.append(_CODE_OR_URL.sub(" ; ", " ; ".join(keep)))
    return out

