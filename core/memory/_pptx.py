"""PowerPoint presentations (``.pptx``): the slides in the order the deck shows them, each slide's title as a
Markdown ``#`` line (so chunks open at slides), its text boxes a paragraph a line, tables a row a line
(``cell | cell``), then the speaker's notes.

A .pptx is a zip of XML (Office Open XML): ``ppt/presentation.xml`` lists the slides by relationship id, each
slide's ``.rels`` names its notes page. Read with the standard library; the date, footer and slide number
placeholders are left out (the same words on every slide), and so are hidden slides. The title is the deck's own
(``docProps/core.xml``, unless PowerPoint's default "PowerPoint Presentation"), else its first slide's title.
Members are read as `core.memory._zipxml` reads them (bounded, the whole deck within the one-file limit, no DTD).
"""
from __future__ import annotations

import zipfile
from pathlib import Path

from core.memory._zipxml import Package
from core.text import LINE_BREAK, one_line

_P = "{http://schemas.openxmlformats.org/presentationml/2006/main}"
_A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
_R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_NOTES = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/notesSlide"
_LEFT_OUT = {"dt", "ftr", "hdr", "sldNum", "sldImg"}  # date, footer, header, slide number, a notes page's slide
_TITLES = {"title", "ctrTitle"}
_HIDDEN = {"0", "false"}  # <p:sld show="0">: PowerPoint's "Hide Slide"
_DEFAULT_TITLE = "PowerPoint Presentation"


def read_pptx(path: Path, max_bytes: int) -> tuple[str, str]:
    """(title, text) of a presentation; ValueError for a damaged one or one that is not a .pptx."""
    try:
        with zipfile.ZipFile(path) as zf:
            return _Deck(zf, max_bytes, ".pptx").read()
    except zipfile.BadZipFile as exc:
        raise ValueError(f"not a readable .pptx (a zip of XML): {exc}") from None


class _Deck(Package):
    """One open presentation, its members read within one budget for the whole deck."""

    def read(self) -> tuple[str, str]:
        pres = self.xml("ppt/presentation.xml")
        if pres is None:
            raise ValueError("no ppt/presentation.xml: not a PowerPoint presentation (.pptx), or a damaged one")
        targets = self.relations("ppt/presentation.xml")
        slides, first_title = [], ""
        for ref in pres.iter(f"{_P}sldId"):
            name = targets.get(ref.get(f"{_R}id"), ("", ""))[1]
            slide = self.xml(name) if name else None
            if slide is None or slide.get("show") in _HIDDEN:  # a hidden slide was read as if shown
                continue
            title, blocks = _slide_text(slide)
            notes = next((t for kind, t in self.relations(name).values() if kind == _NOTES), None)
            notes_page = self.xml(notes) if notes else None
            if notes_page is not None:
                blocks += _slide_text(notes_page)[1]
            first_title = first_title or title
            lines = ([f"# {title}"] if title else []) + blocks
            if lines:
                slides.append("\n\n".join(lines))
        core = self.xml("docProps/core.xml")
        node = core.find(f"{_DC}title") if core is not None else None
        own = " ".join((node.text or "").split()) if node is not None else ""
        return (own if own != _DEFAULT_TITLE else "") or first_title, "\n\n".join(slides)


def _slide_text(root) -> tuple[str, list[str]]:
    """(title, text blocks) of a slide or notes page: the title placeholder's text, and every other shape's
    paragraphs (a block a shape, a line a paragraph) and tables (a line a row), in the slide's order."""
    title, blocks = "", []
    tree = root.find(f"{_P}cSld/{_P}spTree")
    for shape in _shapes(tree if tree is not None else []):
        ph = shape.find(f"{_P}nvSpPr/{_P}nvPr/{_P}ph")
        kind = ph.get("type", "body") if ph is not None else ""
        if kind in _LEFT_OUT:
            continue
        if shape.tag == f"{_P}graphicFrame":
            text = "\n".join(" | ".join(" ".join(_paragraphs(cell, " ").split()) for cell in row.iter(f"{_A}tc"))
                             for row in shape.iter(f"{_A}tr"))
        else:
            body = shape.find(f"{_P}txBody")
            text = _paragraphs(body, "\n") if body is not None else ""
        if not text.strip(" |\n"):
            continue
        if kind in _TITLES and not title:
            title = " ".join(text.split())
        else:
            blocks.append(text)
    return title, blocks


def _shapes(tree):
    """The shapes of a slide's tree that can hold text, groups opened, in order."""
    for el in tree:
        if el.tag == f"{_P}grpSp":
            yield from _shapes(el)
        elif el.tag in (f"{_P}sp", f"{_P}graphicFrame"):
            yield el


def _paragraphs(body, sep: str) -> str:
    """The text of a text body's paragraphs (``a:p``), each on one line, joined by ``sep``; empty ones left out."""
    lines = []
    for p in body.iter(f"{_A}p"):
        parts = [(node.text or "") if node.tag == f"{_A}t" else LINE_BREAK if node.tag == f"{_A}br" else " "
                 for node in p.iter() if node.tag in _TEXT]
        if line := one_line("".join(parts)):  # a line break (Shift+Enter) kept
            lines.append(line)
    return sep.join(lines)


_TEXT = {f"{_A}t", f"{_A}br", f"{_A}tab"}
