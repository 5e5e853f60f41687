"""OpenDocument text (``.odt``, LibreOffice's and Google Docs' export): paragraphs, headings as Markdown ``#`` lines
at their outline level, lists an item a line, tables a row a line, a text frame's paragraphs after the paragraph
it is anchored in; the title from ``meta.xml``'s ``dc:title``
(else the first heading of level 1); footnotes and comments left out. OpenDocument presentations (``.odp``,
Impress's) alike, a shown slide at a time: its title frame as a ``#`` line, its other frames' text, then its speaker
notes (date, footer and page number frames left out). Members are read as `core.memory._zipxml` reads them
(bounded, no DTD).
"""
from __future__ import annotations

from pathlib import Path

from core.memory._zipxml import parse_xml, two_members
from core.text import LINE_BREAK, one_line

_T = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_DRAW = "{urn:oasis:names:tc:opendocument:xmlns:drawing:1.0}"
_CLASS = "{urn:oasis:names:tc:opendocument:xmlns:presentation:1.0}class"
_NOTES = "{urn:oasis:names:tc:opendocument:xmlns:presentation:1.0}notes"
_VISIBILITY = "{urn:oasis:names:tc:opendocument:xmlns:presentation:1.0}visibility"
_LEFT_OUT = {"date-time", "footer", "header", "page-number", "page"}  # the same words on every slide; a thumbnail
_DC = "{http://purl.org/dc/elements/1.1/}"
_SPACES = {f"{_T}s", f"{_T}tab"}  # empty elements that stand for white space (a text:line-break for a `LINE_BREAK`)
_ASIDE = {f"{_T}note", f"{_OFFICE}annotation"}  # a footnote's or a comment's body would cut its sentence
_NESTED = {f"{_T}list", f"{_T}list-item", f"{_T}list-header", f"{_T}section"}  # hold blocks (a draw: element too)


def read_odt(path: Path, max_bytes: int) -> tuple[str, str]:
    """(title, text) of an OpenDocument text; ValueError for a damaged one or one that is not an .odt."""
    content, meta = two_members(path, ".odt", "an OpenDocument text", "content.xml", "meta.xml", max_bytes)
    body = parse_xml(content, ".odt").find(f"{_OFFICE}body/{_OFFICE}text")
    lines = [line for line in _blocks(body if body is not None else []) if line.strip(" |#\n")]
    title = _meta_title(meta, ".odt")
    return title or next((line[2:] for line in lines if line.startswith("# ")), ""), "\n\n".join(lines)


def read_odp(path: Path, max_bytes: int) -> tuple[str, str]:
    """(title, text) of an OpenDocument presentation; ValueError for a damaged one or one that is not an .odp."""
    content, meta = two_members(path, ".odp", "an OpenDocument presentation", "content.xml", "meta.xml", max_bytes)
    body = parse_xml(content, ".odp").find(f"{_OFFICE}body/{_OFFICE}presentation")
    slides, first_title = [], ""
    for page in (body.iter(f"{_DRAW}page") if body is not None else ()):
        if page.get(_VISIBILITY) == "hidden":  # Impress's "Hide Slide": it was read as if shown
            continue
        title, blocks = "", []
        for shape in _shapes(page):
            text = "\n".join(line for line in _blocks(shape) if line.strip(" |#\n"))
            if not text:
                continue
            if shape.get(_CLASS) == "title" and not title:
                title = " ".join(text.split())
            else:
                blocks.append(text)
        first_title = first_title or title
        if lines := ([f"# {title}"] if title else []) + blocks:
            slides.append("\n\n".join(lines))
    return _meta_title(meta, ".odp") or first_title, "\n\n".join(slides)


def _shapes(parent):
    """A slide's frames and shapes in order, groups and the notes page opened, those of `_LEFT_OUT` left out."""
    for el in parent:
        if el.tag in (f"{_DRAW}g", _NOTES):
            yield from _shapes(el)
        elif el.tag.startswith(_DRAW) and el.get(_CLASS) not in _LEFT_OUT:
            yield el


def _meta_title(meta: bytes | None, kind: str) -> str:
    node = parse_xml(meta, kind).find(f"{_OFFICE}meta/{_DC}title") if meta is not None else None
    return " ".join((node.text or "").split()) if node is not None else ""


def _blocks(parent):
    """The lines of ``parent``'s blocks; a text frame's or a shape's after the paragraph it is anchored in (its
    text was glued into that paragraph's: "The river runs northSidebar: the Vistula to the Baltic Sea."), one
    anchored to the page in its place (it was left out)."""
    for el in parent:
        frames: list = []
        if el.tag == f"{_T}h":
            level = el.get(f"{_T}outline-level", "1")
            level = min(max(int(level), 1), 6) if level.isdigit() else 1
            yield f"{'#' * level} {' '.join(_text(el, frames).split())}"
        elif el.tag == f"{_T}p":
            yield _text(el, frames)
        elif el.tag == f"{_TABLE}table":
            yield "\n".join(" | ".join(" ".join(" ".join(_text(p) for p in cell.iter(f"{_T}p")).split())
                                       for cell in row.iter(f"{_TABLE}table-cell"))
                            for row in el.iter(f"{_TABLE}table-row"))
        elif el.tag in _NESTED or el.tag.startswith(_DRAW):
            yield from _blocks(el)
        yield from (line for frame in frames for line in _blocks(frame))


def _text(el, frames: list | None = None) -> str:
    """An element's text on one line: spans followed, ``text:s``/tabs as spaces, line breaks kept, footnotes and
    comments left out (a comment was put into the sentence, its author and date glued to it), frames and shapes put in
    ``frames`` (a paragraph of their own)."""
    parts: list[str] = []

    def walk(node) -> None:
        parts.append(node.text or "")
        for child in node:
            if child.tag in _SPACES:
                parts.append(" ")
            elif child.tag == f"{_T}line-break":  # an address's, a verse's lines (Shift+Enter)
                parts.append(LINE_BREAK)
            elif child.tag.startswith(_DRAW):
                parts.append(" ")
                if frames is not None:
                    frames.append(child)
            elif child.tag not in _ASIDE:
                walk(child)
            parts.append(child.tail or "")

    walk(el)
    return one_line("".join(parts))
