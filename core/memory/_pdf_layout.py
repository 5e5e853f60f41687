"""A PDF page's paragraphs, from where its lines are set: a line starts one after a vertical gap larger than the
document's usual line spacing, or when it is indented (a first-line indent) between two lines at the margin, the
line before it ending a sentence.

pypdf's text of a page has a line per printed line and no blank line: a page was one paragraph (one chunk of
unrelated paragraphs, a heading run into the text below it). pypdf gives no line positions, but it tells a
visitor each piece of text it emits and where that piece is set; the pieces, concatenated, are its text, so the
first piece of each line gives the line's position.
"""
from __future__ import annotations

from collections import Counter

from core.memory._pdf import _ENDED

GAP = 1.15  # a line spacing this many times the usual one is a paragraph break (texinfo's are 1.22 times it)
INDENT = (0.5, 4.0)  # a first-line indent, in font sizes: from half an em (not a kerning slip) to 4 (not centred)
MARGIN = 0.25  # font sizes: lines this close start at the same margin


def page_lines(page) -> tuple[list[str], list[tuple[float, float, float] | None]]:
    """(lines, starts) of a pypdf page: its text's lines as ``extract_text`` gives them and, for each, (x, y,
    font size) where its first visible piece is set (None when unknown: a line begun inside a piece)."""
    pieces: list = []

    def visit(text, cm, tm, _font, size):
        pieces.append((text, cm, tm, size))

    text = page.extract_text(visitor_text=visit) or ""
    lines = text.split("\n")
    if "".join(p[0] for p in pieces) != text:  # another pypdf's way: positions unknown, the text as it is
        return lines, [None] * len(lines)
    starts: list = [None] * len(lines)
    row = 0
    for piece, cm, tm, size in pieces:
        first = piece.split("\n", 1)[0]
        if first.strip() and starts[row] is None:
            starts[row] = _placed(cm, tm, size)
        row += piece.count("\n")
    return lines, starts


def _placed(cm, tm, size) -> tuple[float, float, float]:
    """(x, y, font size) on the page of a piece set at text matrix ``tm`` under the transformation ``cm``."""
    x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
    y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
    scale = (tm[2] ** 2 + tm[3] ** 2) ** 0.5 * (cm[2] ** 2 + cm[3] ** 2) ** 0.5
    return x, y, abs(size * scale) or 1.0


def paragraph_pages(pages: list[tuple[list[str], list]]) -> list[str]:
    """Each page's text (``pages``: `page_lines` of each), a blank line before each line that starts a paragraph
    (`breaks`). The usual line spacing is the document's: a page of short paragraphs has few ordinary gaps."""
    spacing = usual_spacing(pages)
    out = []
    for lines, starts in pages:
        cut = breaks(lines, starts, spacing) if spacing else set()
        out.append("\n".join(("\n" + x) if i in cut else x for i, x in enumerate(lines)))
    return out


def _steps(lines: list[str], starts: list) -> list[tuple[int, int, float]]:
    """(line before, line, its gap in font sizes) for each two lines with text that follow each other and whose
    positions are known; the gap is downward (negative: a new column, a line drawn out of order)."""
    shown = [i for i, x in enumerate(lines) if x.strip()]
    out = []
    for a, b in zip(shown, shown[1:]):
        if starts[a] is not None and starts[b] is not None:
            out.append((a, b, (starts[a][1] - starts[b][1]) / max(starts[a][2], starts[b][2])))
    return out


def usual_spacing(pages: list[tuple[list[str], list]]) -> float:
    """A paragraph's line spacing, in font sizes (to 0.05): the smallest gap between two lines in a row that a
    quarter of the document's gaps at least are, else the most common one (0 when unknown). The median was a
    list's or code's in a manual of many, and the most common gap a paragraph break's where paragraphs are short."""
    gaps = Counter(round(g * 20) / 20 for lines, starts in pages for _, _, g in _steps(lines, starts) if g > 0)
    common = [g for g, n in gaps.items() if n >= sum(gaps.values()) / 4]
    return min(common) if common else max(gaps, key=gaps.__getitem__, default=0.0)


def breaks(lines: list[str], starts: list, spacing: float) -> set[int]:
    """The lines of a page that start a paragraph: after a gap `GAP` times ``spacing`` (a new paragraph set apart,
    a heading), or indented `INDENT` from the line before, which ends a sentence, while the line after is back at
    its margin (a list item's second line is indented so too, under a line that runs on)."""
    steps = _steps(lines, starts)
    cut = {b for _, b, g in steps if g > GAP * spacing}
    ordinary = [(a, b) for a, b, g in steps if 0 < g <= GAP * spacing]
    for (a, b), (b2, c) in zip(ordinary, ordinary[1:]):
        if b != b2 or not _ENDED.search(lines[a].rstrip()):
            continue
        em = starts[b][2]
        indent = (starts[b][0] - starts[a][0]) / em
        if INDENT[0] <= indent <= INDENT[1] and abs(starts[c][0] - starts[a][0]) <= MARGIN * em:
            cut.add(b)
    return cut
