"""A PDF's page texts made into the text a person reads: running headers, footers and page numbers left out, a
word hyphenated at a line's end made whole, a sentence running over a page break kept in one paragraph, a table of
contents (an index's dot leaders too) left out; and the title of the document information dictionary when it is a
real one.

pypdf gives each page's text a line per printed line, in the order the page draws them (the header first and the
footer last, as a rule); `core.memory._pdf_layout` puts a blank line where the layout starts a paragraph. These
functions work on those lines alone, without coordinates, in a few passes over the text: a few milliseconds for a
36-page manual whose extraction takes half a second.
"""
from __future__ import annotations

import re
from collections import Counter

from core.memory._hyphens import cut_word, document_words

EDGE = 3  # lines at a page's top and at its bottom that may be a running header or footer
SHARE = 0.25  # a line at the edge of at least this share of the pages (and of 3) is a running header/footer
_DIGITS = re.compile(r"\d+")
# a line that is a page number only: "12", "- 12 -", "(12)", "Page 12", "Page 12 of 40", "12 / 40", "p. 12"
_PAGE_ONLY = re.compile(r"(?:(?:page|pg\.?|p\.|seite|página|pagina)\s*)?[-\u2013\u2014(\[]?\s*(\d{1,4})\s*"
                        r"[-\u2013\u2014)\].]?\s*(?:(?:of|/|von|de|sur|di)\s*\d{1,4})?", re.I)
_ROMAN = re.compile(r"(?=[ivxl])(?:xl|l?x{0,3})(?:ix|iv|v?i{0,3})")  # i .. lxxxix, lower case only (an index's "I")
_NUMBER_FIRST = re.compile(r"(\d{1,4})\s+\S")  # "12 CHAPTER 1. INTRODUCTION"
_NUMBER_LAST = re.compile(r"\S\s+(?:page\s+)?(\d{1,4})(?:\s*(?:of|/)\s*\d{1,4})?$", re.I)  # "1.2 Scope 13"
_ENDED = re.compile(r"[.!?\u2026][\"'\u201d\u2019)\]]*$")  # a line that ends a sentence
_HYPHENATED = re.compile(r"(?<![\w-])([^\W\d_]+(?:-[^\W\d_]+)*)([-\u2010\u00ad])$")  # "... associa-"
_LETTERS = re.compile(r"[^\W\d_]+")
_MARKS = ("-", "\u2010", "\u00ad")  # a hyphen, Unicode's hyphen, a soft hyphen
# a table of contents' line: a title, a dot leader (4 dots at least, spaced or not; 2 ellipses) and a page number
# ("7.1 Hash functions . . . . . 8", "Introduction.......3", "Preface . . . . vii", "Setup ..... A-2")
_LEADER = r"(?:(?:[.\u00b7\u2024]\s?){4,}|(?:\u2026\s?){2,})"
_PAGE = r"(?:[A-Z]?[-\u2013]?\d{1,4}|[ivxlc]{1,7}|[IVXLC]{1,7})"
_TOC_LINE = re.compile(rf"(?:(.*?[^\W_].*?)\s*)?{_LEADER}\s*{_PAGE}")  # (no title: a wrapped one's on the line above)
# an entry set without a leader beside those with one (LaTeX's chapters: "2 Related work 3")
_TOC_ENTRY = re.compile(rf"(?:\d{{1,2}}(?:\.\d{{1,2}})*\.?|[A-Z]\.?|(?:chapter|appendix|part)\s+\w+:?)\s+\S.*\s{_PAGE}",
                        re.I)
_TOC_HINT = re.compile(_LEADER)
_CONTENTS = re.compile(r"(?:table\s+of\s+)?contents|list\s+of\s+(?:figures|tables)", re.I)


class Opens(str):
    """A page's line that opens a paragraph: a blank line was before it (`core.memory._pdf_layout` puts one
    where the layout starts a paragraph). The passes below keep the line itself, so its mark with it."""
    __slots__ = ()


def page_lines(page: str) -> list[str]:
    """A page's text as its lines with text, each after a blank line an `Opens`."""
    out: list[str] = []
    gap = False
    for raw in page.split("\n"):
        if not raw.strip():
            gap = bool(out)
            continue
        out.append(Opens(raw.rstrip()) if gap else raw.rstrip())
        gap = False
    return out


def pdf_text(pages: list[str]) -> str:
    """The text of a PDF whose pages pypdf extracted as ``pages`` (a blank line between two paragraphs, as
    `core.memory._pdf_layout` finds them): see the module's docstring."""
    lines = strip_running([page_lines(p) for p in pages])
    kept = [drop_contents(p) for p in lines]
    if not any(kept):  # a table of contents and nothing else: its titles
        kept = [[m.group(1) if (m := _toc_line(x)) else x for x in p] for p in lines]
    blocks = page_blocks([p for p in kept if p])
    if not blocks:
        return ""
    blocks = [join_underscores(b) if any(x.endswith("_") for x in b) else b for b in blocks]
    text = "\n\n".join("\n".join(block) for block in blocks)
    if not any(line[-1:] in _MARKS for block in blocks for line in block):  # no word cut at a line's end
        return text
    words = document_words(text)
    return "\n\n".join("\n".join(join_hyphens(block, words)) for block in blocks)


def _toc_line(line: str) -> re.Match | None:
    """The match of a table of contents' line (its title the group 1), else None."""
    return _TOC_LINE.fullmatch(line.strip()) if _TOC_HINT.search(line) else None


def drop_contents(lines: list[str]) -> list[str]:
    """A page's lines without its table of contents' (`_TOC_LINE`): "7.1 Hash functions . . . . 8" was stored,
    dots and page number too, a chunk of them for each page of contents (and of an index's, texinfo's). Its titles
    are the document's headings, which its text holds again where the sections start: they are dropped whole, with
    the entries set without a leader among them, the "Contents" heading above them and a wrapped title's first
    line (`_toc_drops`)."""
    leader = [_toc_line(x) for x in lines]
    if not any(leader):
        return lines
    drop = [m is not None for m in leader]
    entry = [not d and _TOC_ENTRY.fullmatch(x.strip()) is not None for d, x in zip(drop, lines)]
    for order in (range(len(lines)), range(len(lines) - 1, -1, -1)):  # the entries next to one dropped, in a run
        last = None
        for i in order:
            drop[i] = drop[i] or (entry[i] and last is not None and drop[last])
            last = i
    return [x for i, x in enumerate(lines) if not (drop[i] or _toc_drops(lines, i, drop, leader))]


def _toc_drops(lines: list[str], i: int, drop: list[bool], leader: list) -> bool:
    """Is line ``i`` (not a table of contents' entry) part of one: a title's first line, between two entries or
    above a leader without a title, or the "Contents" heading above the entries?"""
    if i + 1 >= len(lines) or not drop[i + 1]:
        return False
    after = leader[i + 1]
    return (i > 0 and drop[i - 1]) or (after is not None and after.group(1) is None) or \
        _CONTENTS.fullmatch(lines[i].strip()) is not None


def _key(line: str) -> str:
    """A line as a running header is compared: numbers as ``#`` (the page's own varies), spaces and case alike."""
    return " ".join(_DIGITS.sub("#", line).casefold().split())


def _edges(lines: list[str]) -> list[str]:
    return lines[:EDGE] + lines[max(EDGE, len(lines) - EDGE):]


def page_number(line: str) -> int | None:
    """The number of a line that is a page number and nothing else ("12", "- 12 -", "Page 12 of 40"), else None."""
    m = _PAGE_ONLY.fullmatch(line.strip())
    return int(m.group(1)) if m else None


def roman_page(line: str) -> int | None:
    """The value of a line that is a lower-case Roman numeral alone ("iv": front matter's page numbers), else None.
    Upper case is left alone: an index's letter headings ("I", "V", "X") look the same."""
    text = line.strip()
    if not _ROMAN.fullmatch(text):
        return None
    values = {"i": 1, "v": 5, "x": 10, "l": 50}
    total = 0
    for ch, nxt in zip(text, text[1:] + " "):
        total += -values[ch] if values.get(nxt, 0) > values[ch] else values[ch]
    return total


def edge_number(line: str) -> int | None:
    """The number at a line's start or end ("12 Chapter 1", "Scope 13", "Report, page 3 of 9"), which a running
    header's or footer's page number is; None when there is none."""
    text = line.strip()
    m = _NUMBER_LAST.search(text)
    if m:
        return int(m.group(1))
    m = _NUMBER_FIRST.match(text)
    return int(m.group(1)) if m else None


def number_offsets(pages: list[list[str]]) -> set[int]:
    """The differences (printed number - page index) that page numbers at the pages' edges keep: each one seen on 3
    pages at least (on every page of a 2-page PDF). Front matter numbered apart, or a PDF made of several, gives
    several. A number in a line's text (a year, "Table 7") seldom keeps one difference over 3 pages."""
    seen: Counter = Counter()
    for i, lines in enumerate(pages):
        found = {n for line in _edges(lines) for n in (page_number(line), edge_number(line)) if n is not None}
        seen.update({n - i for n in found})
    need = min(3, len(pages))
    return {off for off, n in seen.items() if n >= need} if len(pages) >= 2 else set()


def strip_running(pages: list[list[str]]) -> list[list[str]]:
    """Each page's lines without its running header and footer lines, peeled from the top and from the bottom (at
    most `EDGE` each) while the line there is one of:

    - a page number alone whose difference to the page's index others keep (`number_offsets`), or a lower-case
      Roman numeral alone no greater than the page's place (front matter);
    - a line with such a page number at its start or end ("Chapter 3: Utilities 6") that is at the edge of
      another page too (its other numbers aside): a chapter's running head, not a sentence that ends with a number;
    - a line with a letter at the edge of at least `SHARE` of the pages, and of 3 (numbers aside): the document's
      title or a footer on every page. The first page keeps it (there it is the title, as a rule).

    A line repeated once or twice, or in the middle of pages, is body text and stays. Lines drawn out of order (a
    header the page's content puts in its middle) are not found."""
    count: Counter = Counter()
    for lines in pages:
        count.update({_key(x) for x in _edges(lines)})
    offsets = number_offsets(pages)
    often = max(3, SHARE * len(pages))

    def running(line: str, i: int) -> bool:
        key = _key(line)
        if i > 0 and count[key] >= often and any(c.isalpha() for c in line):  # not "}", a number out of sequence
            return True
        n = page_number(line)
        if n is not None:
            return n - i in offsets
        if (r := roman_page(line)) is not None:
            return r <= i + 1
        n = edge_number(line)
        return n is not None and n - i in offsets and count[key] >= 2

    out = []
    for i, lines in enumerate(pages):
        top, end = 0, len(lines)
        while top < min(EDGE, end) and running(lines[top], i):
            top += 1
        while end > max(top, len(lines) - EDGE) and running(lines[end - 1], i):
            end -= 1
        out.append(lines[top:end])
    return out


def continues(before: str, after: str) -> bool:
    """Does the page ending with line ``before`` run on into the next one's first line ``after``: the line ends no
    sentence (no ``.``, ``!``, ``?``, ``…``), or the next starts in lower case ("e.g." then "the")?"""
    return not _ENDED.search(before) or after.lstrip()[:1].islower()


def page_blocks(pages: list[list[str]]) -> list[list[str]]:
    """Pages' lines as paragraphs to join with a blank line: a page starts one unless its first line continues the
    page before (`continues`; a page break cut a sentence in two paragraphs, and chunks), and so does each other
    line that `Opens` one (a page was one paragraph)."""
    blocks: list[list[str]] = []
    for lines in pages:
        joined = bool(blocks) and continues(blocks[-1][-1], lines[0])
        for k, line in enumerate(lines):
            if (k == 0 and not joined) or (k > 0 and isinstance(line, Opens)):
                blocks.append([])
            blocks[-1].append(line)
    return blocks


def join_hyphens(lines: list[str], words: Counter) -> list[str]:
    """``lines`` with each word hyphenated at a line's end made whole on the first line: its rest ("tion.") moves up
    from the next line. ``words``: the document's words (lower case, hyphenated ones whole) and their counts.

    The hyphen goes ("associa-" "tion" -> "association") when the next line starts with a letter of the case the
    fragment ends in (lower after lower, upper after upper: "ELE-" "MENT") and `_hyphens.cut_word` finds a word cut
    by hyphenation (the document's own writing of it first, then the model's vocabulary). It stays when the case
    changes ("Anglo-" "Saxon", "DER-" "encoded") and for a compound ("well-" "known", "self-" "contained", "e-"
    "mail", "state-of-the-" "art"). A soft hyphen (U+00AD) always goes.

    Limits: a hyphen in code or a format string at a line's end is taken for hyphenation alike ("hhmm-" "hh" ->
    "hhmmhh"); a fragment ending in a digit or "_" is left as it is; a rare word whose halves are two words the
    vocabulary lacks whole keeps the hyphen ("photo-" "synthesis")."""
    out: list[str] = []
    for line in lines:
        if out and (joined := _joined(out[-1], line, words)) is not None:
            out[-1], line = joined
            if not line:
                continue
        out.append(line)
    return out


def join_underscores(lines: list[str]) -> list[str]:
    """``lines`` with an identifier cut after a "_" at a line's end made whole ("ASN1_MAX_" "NAME_SIZE" ->
    "ASN1_MAX_NAME_SIZE"): typesetters break long identifiers there, and a joined line's space split the name."""
    out: list[str] = []
    for line in lines:
        if out and _CUT_IDENT.search(out[-1]) and (m := _IDENT_REST.match(line.lstrip())):
            out[-1] += m.group()
            line = line.lstrip()[m.end():].lstrip()
            if not line:
                continue
        out.append(line)
    return out


_CUT_IDENT = re.compile(r"[A-Za-z0-9]_$")
_IDENT_REST = re.compile(r"[A-Za-z0-9][\w.()\[\]]*")


def _joined(before: str, line: str, words: Counter) -> tuple[str, str] | None:
    """(``before`` with the next word's rest on it, what is left of ``line``), or None when no word is cut."""
    if before[-1:] not in _MARKS:  # most lines: no regex search
        return None
    m = _HYPHENATED.search(before)
    if m is None:
        return None
    first, _, rest = line.strip().partition(" ")
    tail = _LETTERS.match(first)
    if tail is None:
        return None
    head, mark = m.group(1), m.group(2)
    same_case = head[-1].islower() == tail.group()[0].islower()
    if mark == "\u00ad" or (same_case and cut_word(head, tail.group(), words)):
        return before[:m.end(1)] + first, rest.lstrip()
    return before[:m.start(2)] + "-" + first, rest.lstrip()


_FILE_NAME = re.compile(r"(?:^|[\s\\/:])[^\s\\/]+\.(?:docx?|rtf|odt|pdf|txt|pptx?|xlsx?|tex|dvi|e?ps|indd|qxp|"
                        r"html?|md|wpd)$", re.I)
_APP_PREFIX = re.compile(r"^microsoft\s+(?:word|powerpoint|excel)\s+-\s+", re.I)
_NO_TITLE = {"untitled", "untitled document", "no title", "title", "document", "presentation",
             "powerpoint presentation", "slide 1", "layout 1", "blank", "new document"}
_DEFAULT_NAME = re.compile(r"(?:untitled|document|doc|presentation|book)[-_ ]?\d*", re.I)  # Document1, Untitled-2


def pdf_title(raw) -> str:
    """The /Title of a PDF's document information dictionary when it names the document: "" when it is empty,
    a file's name as the program that made it wrote it ("Microsoft Word - report.docx", "C:\\\\x\\\\draft.doc",
    "paper.dvi") or a placeholder ("Untitled", "Document1", "PowerPoint Presentation")."""
    if not isinstance(raw, str):
        return ""
    title = " ".join("".join(c if c.isprintable() else " " for c in raw).split())
    if not title or _APP_PREFIX.match(title) or _FILE_NAME.search(title):
        return ""
    if title.casefold() in _NO_TITLE or _DEFAULT_NAME.fullmatch(title):
        return ""
    return title
