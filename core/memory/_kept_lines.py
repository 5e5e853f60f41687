"""A paragraph's line breaks: which its writer made (kept) and which wrapping made (joined), for the chunker."""
from __future__ import annotations

import re

from core.text import LINE_BREAK

_ITEM = re.compile(r"([-*+\u2022]|\d{1,3}[.)])\s")
_CELLS = " | "  # how the readers join a table row's cells (HTML, Markdown, Word, OpenDocument, Excel)


def _lines_kept(paragraph: str) -> str:
    """``paragraph`` with its whitespace normalised, keeping the line breaks that were made on purpose: a line
    that would still be short with the next line's first word on it (within 3/4 of the width the paragraph was
    wrapped at, 60 columns at least) was ended by its writer (a list of names, an address), not by wrapping, when
    two lines at least are such (a name wrapped in a short paragraph still spans the break).
    Joined into one line, "Alice Smith", "Bob Jones" and "Carol White" were one name, so none of them became a
    concept. A wrapped paragraph still reads as one line, a hand-wrapped one too (bash's README: lines of 62 to 71
    columns). A break a reader marked as its writer's (`LINE_BREAK`) is kept whatever the lines' lengths."""
    lines, hard = _lines(paragraph)
    if len(lines) < 2:
        return lines[0] if lines else ""
    # the width it was wrapped at, at least (a lone long word, a URL, runs past it)
    short = 0.75 * max(60, max((len(x) for x in lines if " " in x), default=0))
    ended = [len(before) + 1 + len(line.split(" ", 1)[0]) <= short for before, line in zip(lines, lines[1:])]
    listed = sum(ended) >= 2  # one short line is a wrap ("The drummer was Neil / Peart, ..."), two make a list
    out = lines[0]
    for end, forced, before, line in zip(ended, hard, lines, lines[1:]):  # a list item opens its own line whatever
        kept = forced or (end and listed) or _ITEM.match(line) or (_CELLS in before and _CELLS in line)  # its length
        out += ("\n" if kept else " ") + line
    return out


def _lines(paragraph: str) -> tuple[list[str], list[bool]]:
    """The non-blank lines of ``paragraph``, whitespace normalised, and for each break between two of them
    whether its writer made it (a `LINE_BREAK`: an address's, a verse's lines, however long or few)."""
    if LINE_BREAK not in paragraph:  # (most are without one)
        lines = [x for x in (" ".join(x.split()) for x in paragraph.split("\n")) if x]
        return lines, [False] * len(lines)
    lines: list[str] = []
    hard: list[bool] = []
    forced = False
    parts = re.split(f"(\n|{LINE_BREAK})", paragraph)
    for k in range(0, len(parts), 2):
        forced = forced or (k > 0 and parts[k - 1] == LINE_BREAK)
        if line := " ".join(parts[k].split()):
            if lines:
                hard.append(forced)
            lines.append(line)
            forced = False
    return lines, hard


def _joined(text: str) -> str:
    """``text`` on one line, whitespace normalised, but for its `LINE_BREAK` s (the text under a heading)."""
    return "\n".join(x for x in (" ".join(p.split()) for p in text.split(LINE_BREAK)) if x)

