"""Cheap concept extraction: the phrase nodes that tie passages together.

HippoRAG links passages through the noun phrases an LLM extracts from them. Without an
LLM, two kinds of span are a fair stand-in, deterministic and dependency-free:

- **names**: capitalised spans ("Neil Peart", "University of Toronto") and document titles;
  a passage that names another passage's subject is linked to it (the second hop of a
  multi-hop question). Bare numbers and years, sentence openers ("See", "Show"),
  man-page boilerplate ("SYNOPSIS") and words a document capitalises only where a sentence or
  line starts but also writes in lower case ("Append to logfile.") are not names; nor are
  contractions ("Don't", "You're") or an adverb opening a sentence ("Now Richards", "Even
  Norway"), and "Castro in Cuba" is two names (:mod:`core.memory._spans`);
- **technical terms**: identifiers and command names in lower-case text (``createHash``,
  ``ssh-keygen``, ``read_file``, ``sha256``, ``grep(1)``, a command opening its line:
  ``grep searches files``). How specific each is, is left to the graph's IDF filter;
- **key terms** of lower-case prose (:mod:`core.memory.keyterms`): the words and word pairs
  a document repeats ("grand jury", "compressed archive"), found per document
  (`document_phrases`), since one chunk alone cannot tell a topic from a passing word.

A query also matches any of its 1-3 word n-grams that the memory already knows as a
concept (`query_phrases`), so "how do I ignore case with grep?" reaches ``grep``.
"""
from __future__ import annotations

import re
import unicodedata

from core.memory._spans import _OPENERS, _STOP, _STOP_ALL, _is_contraction, _opens_sentence, _pieces, _trim
from core.memory.keyterms import MIN_DOC_COUNT, document_keyterms, stem

_CONNECT = r"(?:of|the|de|del|della|der|des|di|du|da|do|dos|la|le|les|von|van|den|y|for|on|in|at|&)"


def _upper_class() -> str:
    """A regex class of every capital (and title-case) letter of the BMP: names open with Ł, Č, Ž, Ω, Д too."""
    cs = [c for c in range(0x10000) if chr(c).isupper() or chr(c).istitle()]
    runs, start = [], cs[0]
    for a, b in zip(cs, cs[1:] + [None]):
        if b != a + 1:
            runs.append(chr(start) if start == a else f"{chr(start)}-{chr(a)}")
            start = b
    return "[" + "".join(runs) + "]"


_UPPER = _upper_class()
_CAP = rf"(?:{_UPPER}[\w'\u2019\-\.]*)"
# a name does not cross a line break: chunks keep one only after a heading ("# Nero\nNero was ...")
# (the leading lookahead, implied by _CAP, only rejects the other positions early)
_SPAN = re.compile(rf"(?={_UPPER})(?<![\w\-.]){_CAP}(?:(?:[^\S\n]+{_CONNECT}){{0,2}}[^\S\n]+{_CAP})*")
# identifiers: camelCase, snake_case, dotted/hyphenated/with digits; a word before "(" ; a
# lower-case word opening a line or sentence and followed by lower case (a command: "grep searches")
_CAMEL = r"[a-z][a-z0-9]*+[A-Z][A-Za-z0-9]*"
_JOINED = r"[A-Za-z][A-Za-z0-9]*+(?:[_\-.:/][A-Za-z0-9]+)+"
_MIXED = r"[A-Za-z]++[0-9]+[A-Za-z0-9]*"
# Every alternative starts a word with a letter, so the leading "\b(?=[A-Za-z])" only rejects the
# other positions early; the possessive "*+", "++" never give back what the next item could not
# take anyway (no backtracking through each word). 2.3x faster, the same matches on 146k real chunks.
# (a word that an apostrophe joins to the one before is none: 's-food' of "devil's-food")
_TERM = re.compile(rf"\b(?=[A-Za-z])(?<!\w['\u2019])(?:(?<![\w\-.])(?:{_JOINED}|{_CAMEL}|{_MIXED})(?![\w\-])|(?<![\w\-.])([a-z][a-z0-9]{{1,30}}+)(?=\()"
                   r"|(?:^|(?<=[\n.!?]\s))([a-z][a-z0-9]{1,30}+)(?=\s+-{1,2}[a-z]|\s+[a-z]+s\b))", re.M)
_MEASURE = re.compile(r"(?:[a-z]{1,5}-)?\d[\d,.]*(?:s|th|st|nd|rd|m|km|kg|cm|mm|ft|%)?")
_PREFIXES = frozenset("non pre co re un sub anti self multi semi post mid inter over under well half long short "
                      "high low full part cross".split())
_PAREN = re.compile(r"\s*\([^)]*\)\s*")


def normalize(phrase: str) -> str:
    """Lower case, accents folded, possessive and leading article dropped, spaces collapsed."""
    words = _folded(phrase)
    while words and words[0] in ("the", "a", "an"):
        words = words[1:]
    while words and words[-1] in _STOP:
        words = words[:-1]
    return " ".join(words)


def _folded(text: str) -> list[str]:
    """The words of ``text`` lower-cased, accents folded, possessives dropped, punctuation as spaces."""
    if text.isascii():  # NFKD and the combining marks change nothing
        s = text.lower()
    else:
        s = unicodedata.normalize("NFKD", text)
        s = "".join(ch for ch in s if not unicodedata.combining(ch)).lower()
    return _NON_WORD.sub(" ", _POSSESSIVE.sub("", s)).split()


_POSSESSIVE = re.compile(r"['\u2019]s\b")
_NON_WORD = re.compile(r"[^\w\s&-]")
_EDGE_PUNCT = "\"'`\u2018\u2019\u201c\u201d()[]{},;:!?"  # a man page quotes `so'


def written_as(phrase: str, text: str, title: str = "") -> str:
    """How ``text`` (else its document's ``title``) writes the concept ``phrase``: "Géza von Cziffra" for
    'geza von cziffra', "Neil Peart" for 'neil peart'; the phrase itself when neither holds it. Concepts are
    stored folded, so one name is one concept; a person reads them better as written."""
    want = phrase.split()
    if not want:
        return phrase
    tokens, where, first = [], [], []  # folded tokens, the text's word each comes from, its place in that word
    words = text.split()
    for i, w in enumerate(words):
        for k, t in enumerate(_folded(w)):
            tokens.append(t)
            where.append(i)
            first.append(k)
    n = len(want)
    for i in range(len(tokens) - n + 1):
        if tokens[i] == want[0] and tokens[i:i + n] == want:
            a, b = where[i], where[i + n - 1]
            if sum(len(w) for w in words[a:b + 1]) > 2 * len(phrase) + 20:  # a word it is only a piece of: 'ii7v1'
                return phrase  # of a 40,000-character base64 run showed the whole run (a why line 26,589 px tall)
            part = words[a:b + 1]
            end = first[i + n - 1] + 1  # tokens of the last word the phrase takes
            part[-1] = _word_part(part[-1], first[i] if a == b else 0, end)
            if a != b:
                part[0] = _word_part(part[0], first[i], len(_folded(part[0])))
            shown = _edge_trimmed(" ".join(part))
            return _POSSESSIVE.sub("", shown) if not phrase.endswith("s") else shown
    return _PAREN.sub(" ", title).strip() if title and title_phrase(title) == phrase else phrase


def _word_part(word: str, start: int, end: int) -> str:
    """The piece of ``word`` that writes its folded tokens ``start:end``: "ArrayBufferView" of
    "`ArrayBufferView`s" (Markdown's plural of code), whose 's' is no part of the concept."""
    tokens = _folded(word)
    if start == 0 and end >= len(tokens):
        return word
    want = tokens[start:end]
    stop = next((j for j in range(1, len(word) + 1) if _folded(word[:j])[start:] == want), len(word))
    begin = next((j for j in range(stop, -1, -1) if _folded(word[j:stop]) == want), 0)
    return word[begin:stop]


def _edge_trimmed(shown: str) -> str:
    """``shown`` without the quotes, brackets and sentence punctuation around it: "T8.0" of "T8.0).", "U.S. Army"
    of "U.S. Army.", while "U.S." keeps its last dot (an abbreviation's: letters and dots, 1-2 letters a part)."""
    shown = shown.strip(_EDGE_PUNCT)
    while shown.endswith(".") and not _ABBREVIATION.fullmatch(shown.rsplit(" ", 1)[-1]):
        shown = shown[:-1].rstrip(_EDGE_PUNCT)
    return shown


_ABBREVIATION = re.compile(r"(?:[^\W\d_]{1,2}\.){2,}")  # "U.S.", "e.g.", "Ph.D."


def title_phrase(title: str) -> str:
    """A document title as a phrase: "Lilu (mythology)" -> "lilu"; "You've Got Mail" -> "got mail", as the
    text names it (`_trim`: a contraction at a name's edge is none of it), unless that leaves nothing."""
    words = _PAREN.sub(" ", title or "").split()
    while words and _is_contraction(words[0]):
        words = words[1:]
    while words and _is_contraction(words[-1]):
        words = words[:-1]
    return normalize(" ".join(words)) or normalize(_PAREN.sub(" ", title or ""))


def extract_phrases(text: str, max_words: int = 6, common=frozenset()) -> list[str]:
    """Distinct normalised capitalised spans of ``text``, in order of first appearance.

    Single words that are common sentence openers ("The", "However", "See") and bare
    numbers are dropped, and so are one-word spans written "Capitalised" whose word (plural
    folded) is in ``common`` (`document_phrases`: words capitalised only by their place);
    technical terms (`extract_terms`) are added.

    Examples
    --------
    >>> extract_phrases("In 1976 Neil Peart joined Rush, a band from Toronto.")
    ['neil peart', 'rush', 'toronto']
    """
    out: dict[str, None] = {}
    if not text.isascii():  # decomposed accents ("Zu\u0308rich": macOS, PDFs) would split names at each mark
        text = unicodedata.normalize("NFC", text)
    cache = _SPANS if max_words == 6 else {}  # the shared cache holds the default's spans
    for m in _SPAN.finditer(text):
        span = m.group()
        key = (span, _opens_sentence(text, m.start()))
        if key[1] and _ADVERB.fullmatch(span) and _COMMA.match(text, m.end()):
            continue  # "Initially, the band": an adverb opening a sentence, no name
        ps = cache.get(key)
        if ps is None:
            ps = _span_phrases(span, max_words, key[1])
            if len(cache) < _CACHE_MAX:  # bounded; entries never removed (safe across threads)
                cache[key] = ps
        for p in ps:
            if common and " " not in p and stem(p) in common and _title_word(span, p):
                continue  # "Append" opening an option's line: a common word, not a name
            out.setdefault(p, None)
    for p in extract_terms(text):
        out.setdefault(p, None)
    return list(out)


_CACHE_MAX = 1 << 18
# one "-ly" word opening a sentence before a comma ("Additionally,", "Lyrically,", "Occasionally ,"): an
# adverb; 7+ letters, so "Italy," and "Sicily," opening a sentence stay names
_ADVERB = re.compile(r"[A-Z][a-z]{4,}ly")
_COMMA = re.compile(r"[^\S\n]*,")
_SPANS: dict[tuple, tuple] = {}  # (a capitalised span, opens a sentence) -> its phrases (names recur)
_TERMS: dict[str, str | None] = {}  # a matched identifier -> its term or None


def _span_phrases(span: str, max_words: int, opens: bool = False) -> tuple:
    """The phrases of one capitalised span (`extract_phrases`); ``opens``: the span opens a sentence."""
    out = []
    for i, part in enumerate(_split_sentences(span)):
        first = opens or i > 0  # "Rush. Now Richards": a later part opens a sentence
        lead, words = _trim(part.split(), first)
        for i, j in _pieces(words, first):
            if j - i > max_words:
                continue
            p = normalize(" ".join(words[i:j]))
            if len(p) < 2 or p in _STOP or p in _OPENERS or _is_number(p):
                continue
            out.append(p)
            if lead in _COUNTING and i == 0 and j - i < max_words:
                # "Two Dollar Radio", "One Direction": a name's word too, as its title says it
                out.append(f"{lead} {p}")  # (and "Two Germans" still gives 'germans')
    return tuple(dict.fromkeys(out))


_COUNTING = frozenset("one two three four five six seven eight nine ten first second third".split())


# a chunk of <= 128 word pieces names fewer (at most 42 in 19k chunks of real text); a chunk that is one huge
# token (a 5 MB base64 line: 112,128 "terms") keeps the first ones, as its vector is of its start
MAX_PHRASES = 128
# characters of one concept: the longest in 50k chunks of real text is 108 (a URL, a film's title), and a long
# URL of a few hundred stays one; a base64 line or a minified script was one "concept" of up to 200,000
# characters (in the graph, on the web page, in every association list)
MAX_CONCEPT_CHARS = 1000


def document_phrases(chunks, title: str = "") -> list[list[str]]:
    """Phrase lists of the chunks of one document, as ingest stores them: the title phrase, each
    chunk's names and terms, then the document's key terms this chunk holds
    (`keyterms.document_keyterms`: lower-case words and pairs the document repeats).

    A capitalised word is no name when the document writes it in lower case too and never
    capitalises it after a lower-case word (`_lower_words`): it is capitalised only because a
    sentence or a line starts there. Manuals open each option's description with a verb
    ("--append-output=logfile  Append to logfile."), which made 'append' a "name" of 13 chunks
    in 7 man pages and tied them together; names are capitalised mid-sentence ("joined Rush",
    "the Commission") or never written in lower case."""
    tphrase = title_phrase(title or "")
    # read from the document only when it is long enough to have key terms (where such a word can
    # still become one); a passage of one or two chunks keeps its capitalised words as names
    common = _lower_words(chunks) if len(chunks) >= MIN_DOC_COUNT else frozenset()
    out = []
    for c, kts in zip(chunks, document_keyterms(chunks, _STOP_ALL)):
        p = extract_phrases(c, common=common) if isinstance(c, str) and c else []
        if tphrase and tphrase not in p:
            p = [tphrase] + p
        p += [t for t in kts if t not in p]
        out.append([x for x in p if len(x) <= MAX_CONCEPT_CHARS][:MAX_PHRASES])
    return out


_LOWER = re.compile(r"(?<![^\W\d_])[a-z]+(?![^\W\d_])")
# capitalised words right after a plain lower-case word ("joined Rush", "the Commission", "in
# The Hustler"): capitalised where no sentence or line starts, so capitalised as names
_MID = re.compile(rf"(?<![\w\-=.:/])[a-z]+[ \t]+({_UPPER}[\w'\-]*(?:[ \t]+{_UPPER}[\w'\-]*)*)")


def _title_word(span: str, p: str) -> bool:
    """Whether ``span`` writes the one-word phrase ``p`` capitalised ("Append"), not as an
    acronym or a mixed-case name ("URL", "OpenSSL")."""
    return any(w.istitle() and w.isalpha() and w.lower() == p for w in span.split())


def _lower_words(chunks) -> frozenset:
    """The words (plurals folded) ``chunks`` write in lower case and never capitalise after a
    lower-case word: capitalised only where a sentence or a line starts."""
    text = "\n".join(c for c in chunks if isinstance(c, str) and c)  # one pass: a line ends each chunk
    mid = set(" ".join(_MID.findall(text)).lower().split())
    low = set(_LOWER.findall(text))
    # stem() changes only words ending in "s"; the plural itself is kept too (harmless: what is
    # looked up is always a stem)
    low.update([stem(w) for w in low if w[-1] == "s"])
    mid.update([stem(w) for w in mid if w[-1] == "s"])
    return frozenset(low - mid)


def _split_sentences(span: str) -> list[str]:
    """"Rush. Alex Lifeson" is two spans: a word ending in "." ends one unless it is an initial or abbreviation."""
    parts, cur = [], []
    for w in span.split():
        cur.append(w)
        if w.endswith(".") and len(w.rstrip(".")) > 2 and "." not in w.rstrip("."):
            parts.append(" ".join(cur))
            cur = []
    if cur:
        parts.append(" ".join(cur))
    return parts


def _is_number(p: str) -> bool:
    return _NUMBER.fullmatch(p) is not None


_NUMBER = re.compile(r"[\d\s.,\-]+s?")
_TERM_SPLIT = re.compile(r"[_\-.:/]")
_SPACES = re.compile(r"\s+")


def extract_terms(text: str) -> list[str]:
    """Technical terms of ``text``: identifiers, commands, hyphenated names with a short or
    digit part; English compounds ("long-term", "gzip-compressed") and numbers are not terms.

    Examples
    --------
    >>> extract_terms("Call crypto.createHash(algo) or run ssh-keygen -t ed25519; grep(1) searches.")
    ['crypto.createhash', 'ssh-keygen', 'ed25519', 'grep']
    """
    out: dict[str, None] = {}
    for m in _TERM.finditer(text):
        if m.group(2) and _wrapped(text, m.start()):
            continue  # "would\nappear as patterns": prose wrapped at a line's end, no command
        raw = (m.group(1) or m.group(2) or m.group(0)).strip(".-:/")
        if raw in _TERMS:
            key = _TERMS[raw]
        else:
            key = _term(raw)
            if len(_TERMS) < _CACHE_MAX:
                _TERMS[raw] = key
        if key is not None:
            out.setdefault(key, None)
    return list(out)


def _wrapped(text: str, start: int) -> bool:
    """Whether the line ``start`` opens continues the line before: that line holds lower-case words and
    ends with no sentence's end or colon ("the survey would\nappear as patterns"). A command opening a
    line ("grep searches") follows a blank line, a heading ("DESCRIPTION") or a finished sentence."""
    if start == 0 or text[start - 1] != "\n":
        return False
    line = text[text.rfind("\n", 0, start - 1) + 1:start - 1].rstrip()
    return bool(line) and line[-1] not in ".!?:;" and any(c.islower() for c in line)


def _term(raw: str) -> str | None:
    """The term an identifier match stands for, or None (`extract_terms`)."""
    if not raw or _is_number(raw):
        return None
    low = raw.lower()
    if low in _STOP or low in _OPENERS or _MEASURE.fullmatch(low):
        return None
    parts = _TERM_SPLIT.split(low)
    if all(len(x) <= 2 for x in parts) or all(x in _STOP for x in parts):
        return None  # e.g., U.S., and/or
    if "-" in raw and not any(ch.isdigit() for ch in raw) and "_" not in raw and "." not in raw \
            and raw == low:
        parts = low.split("-")
        if all(len(x) >= 4 or x in _PREFIXES for x in parts):
            return None  # an English compound, not a name
    key = _SPACES.sub(" ", unicodedata.normalize("NFKC", low))
    return key if len(key) >= 2 else None


def query_phrases(text: str, vocab) -> list[str]:
    """The concepts a query names: its extracted phrases, plus any of its 1-3 word n-grams
    (stop words and numbers excluded) that ``vocab`` (the memory's concepts) already holds,
    as written or with plurals folded (how key terms are stored), and any of its capitalised spans that
    ``vocab`` holds whole, though extraction splits or trims it: a document's title ("Last Tango in Paris",
    "It'll Be Me")."""
    out = dict.fromkeys(extract_phrases(text))
    for m in _SPAN.finditer(text):  # "the It'll Be Me singer": the title as it is, and as a name in it
        for part in _split_sentences(m.group()):
            for whole in (normalize(part), normalize(" ".join(_trim(part.split(), False)[1]))):
                if whole in vocab:
                    out.setdefault(whole, None)
    words = normalize(text).split()
    for n in (3, 2, 1):
        for i in range(len(words) - n + 1):
            gram = words[i:i + n]
            if gram[0] in _STOP or gram[-1] in _STOP:
                continue
            p = " ".join(gram)
            if p not in vocab:  # key terms are stored with plurals folded
                p = " ".join(stem(w) for w in gram)
            if p in vocab and not _is_number(p) and p not in _OPENERS:
                out.setdefault(p, None)
    return list(out)
