"""Where a capitalised span's names begin and end (`core.memory.phrases.extract_phrases`).

What stands next to a name but is none of it: stop words ("In 1976", "The Beatles"), contractions ("Don't",
"You're", "How's Scotty"), and where a sentence opens, capitalised adverbs ("Now Richards is"). And where one
name ends and the next begins: "Castro in Cuba" is two names, "Bank of America" one.
"""
from __future__ import annotations

import re

# "Don't", "You're", "We'll", "I'm", "How's" (straight or curly apostrophe): a pronoun or a verb, not a name;
# "'s" only after a function word ("It's", "Let's"): after a name it is a possessive ("Mary's")
_CLITIC = re.compile(r"([^\W\d_]+)['\u2019](s|re|ll|t|ve|d|m)", re.I)
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
# capitalised only because they open a sentence or a heading; boilerplate of manuals
_OPENERS = frozenset("""
see show use using used note notes example examples return returns returned set get run create add
print read write open close default options option description name synopsis usage type value
values true false null none new other more most such only just like well even still yet now today
let make makes call calls called check run runs start stop find list lists change changes give
gives take takes keep try please refer since unless once whether otherwise instead either neither
following previously currently typically usually often sometimes always never again perhaps maybe
yes ok okay copyright license author authors bugs environment files version history overview
introduction summary contents table figure chapter section page warning important tip caution
general commands manual user reporting exit status standards conforming availability
oh ah ahh hey hello hi
""".split())
_STOP_ALL = _STOP | _OPENERS
# function words and adverbs that are capitalised only because they open a sentence ("Now Richards is",
# "Even Norway voted", "Like Herbert, he"): dropped from a span's start there, as a leading stop word is
# anywhere. Not _OPENERS, which also holds words that start names ("New York", "General Motors"); and only
# at a sentence's start, since mid-sentence they start titles ("the single Just Dance", "in Only Yesterday")
_LEADERS = frozenset("""
now even again like unlike just also still yet so too very only once soon later lately meanwhile indeed
instead besides therefore otherwise perhaps maybe today tonight yesterday tomorrow sometimes often always
never already almost rather quite nevertheless nonetheless moreover furthermore likewise similarly
suddenly finally eventually certainly probably possibly actually really surely clearly obviously
apparently usually normally generally especially particularly simply merely fortunately unfortunately
anyway anyhow somehow elsewhere everywhere somewhere meantime afterwards afterward nearly hardly barely
and but or nor whether unless whereas till except whenever wherever whatever whoever inside outside
toward towards via per than several few most more less least another other such well oh ah hey please
yes neither either accordingly consequently
""".split())


def _trim(words: list, opens: bool) -> tuple:
    """(the last leading word dropped, the words left) of a span: what stands next to a name but is none.
    Leading stop words ("In 1976", "The Beatles"), contractions at either edge ("Don't", "You're",
    "How's Scotty"), and where a sentence opens, a capitalised adverb or function word ("Now Richards")."""
    lead = ""
    while words and ((w := words[0].lower().strip(".'\u2019")) in _STOP or _is_contraction(words[0])
                     or (opens and w in _LEADERS)):
        lead, words = w, words[1:]
    while words and _is_contraction(words[-1]):
        words = words[:-1]
    return lead, words


def _is_contraction(word: str) -> bool:
    """Whether ``word`` is a contraction ("Don't", "We'll", "It's"), not a name or its possessive ("Mary's")."""
    if "'" not in word and "\u2019" not in word:  # most words: no regex
        return False
    m = _CLITIC.fullmatch(word.rstrip(".,;:!?"))
    return m is not None and (m.group(2).lower() != "s" or m.group(1).lower() in _STOP_ALL
                              or m.group(1).lower() in _LEADERS)


# "X in Y", "X at Y" name a thing and where it is ("Castro in Cuba", "Columbia University in New York"):
# two names. "X for Y", "X on Y" are as often one name ("Academy Award for Best Director", "Committee on
# Foreign Relations") as not ("Alexis Petridis for The Guardian"): the whole and its parts
_LOCATING = frozenset(("in", "at"))
_LOOSE = frozenset(("in", "at", "for", "on"))


def _pieces(words: list, opens: bool) -> list:
    """The names a trimmed span holds, as (start, end) ranges of ``words``: split at "in"/"at"; a part
    joined by "for"/"on" is kept whole and as its parts. The names built with "of", "de", "von", "van",
    "the" ("Bank of America", "Geza von Cziffra") stay whole: those words rarely join two names. One word
    opening a sentence before such a preposition is capitalised by its place ("Born in Rome", "Based on"):
    dropped.

    Limits: a title with "in"/"at" ("Last Tango in Paris") is kept as its parts ('last tango', 'paris')
    unless it is a document's title (`title_phrase`), and a query still reaches it whole (`query_phrases`);
    a pair joined by "for"/"on" that is no name ("Castro for President") is kept whole too, with its parts."""
    if not _LOOSE.intersection(words):
        return [(0, len(words))] if words else []
    out = []
    for g, (a, b) in enumerate(_ranges(words, 0, len(words), _LOCATING)):
        parts = _ranges(words, a, b, _LOOSE)
        if g == 0 and opens and parts[0][1] - parts[0][0] == 1:
            parts, whole = parts[1:], False  # "Born in Rome": 'rome'
        else:
            whole = len(parts) > 1
        if whole:
            out.append((a, b))
        out.extend(parts)
    return [(i, j) for i, j in out if any(w[:1].isupper() for w in words[i:j])]


def _ranges(words: list, a: int, b: int, at: frozenset) -> list:
    """The (start, end) ranges of ``words[a:b]`` between its lower-case words in ``at``; never empty."""
    out, start = [], a
    for k in range(a, b):
        if words[k] in at:
            if k > start:
                out.append((start, k))
            start = k + 1
    if b > start or not out:
        out.append((start, b))
    return out


_BEFORE = " \t\r\"'`([{*\u2022\u2018\u2019\u201c\u201d-"  # what may stand between a sentence's start and its first word


def _opens_sentence(text: str, start: int) -> bool:
    """Whether the span at ``start`` opens a sentence or a line: only spaces, quotes, brackets or a
    bullet stand between it and the text's start, a line break, a sentence's end ('worry." You're') or a
    colon ('said: "Now the Attorney General writes')."""
    i = start
    while i > 0 and text[i - 1] in _BEFORE:
        i -= 1
    return i == 0 or text[i - 1] in ".!?:\n"
