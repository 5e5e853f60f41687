"""Word documents (``.docx``): their paragraphs as text, headings as Markdown ``#`` lines, tables a row a line.

A .docx is a zip of XML (Office Open XML). Read with the standard library: ``word/document.xml``'s paragraphs
(``w:p``) and their runs' text (``w:t``, tabs and breaks), the heading level from the paragraph's style
(``Heading 1`` .. ``Heading 6``, ``Title``), and the title from ``docProps/core.xml`` (else the first heading
of level 1).
Word files were counted as "unsupported" in a folder and refused by name. Members are read as
`core.memory._zipxml` reads them (bounded, no DTD).
"""
from __future__ import annotations

import re
from pathlib import Path
from xml.etree import ElementTree

from core.memory._zipxml import parse_xml, two_members

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_HEADING = re.compile(r"(?:heading|berschrift|titre|titolo|encabezado)\s*([1-6])|^(title)$", re.I)


def read_docx(path: Path, max_bytes: int) -> tuple[str, str]:
    """(title, text) of a Word document; ValueError for a damaged one or one that is not a .docx."""
    body, core = two_members(path, ".docx", "a Word document", "word/document.xml", "docProps/core.xml", max_bytes)
    lines = list(_paragraphs(parse_xml(body, ".docx")))
    title = _core_title(core) or next((line[2:] for line in lines if line.startswith("# ")), "")
    return title, "\n\n".join(lines)


def _core_title(core: bytes | None) -> str:
    if core is None:
        return ""
    node = parse_xml(core, ".docx").find(f"{_DC}title")
    return " ".join((node.text or "").split()) if node is not None else ""


def _paragraphs(root):
    """The body's paragraphs in reading order, as text lines: a heading as ``## text``, a table row as its cells
    joined by `` | ``; empty ones left out."""
    body = root.find(f"{_W}body")
    for block in (body if body is not None else []):
        if block.tag == f"{_W}sdt":  # a content control (a cover page, a table of contents) holds blocks too
            yield from _paragraphs(_as_body(block))
            continue
        if block.tag == f"{_W}p":
            line = _paragraph(block)
        elif block.tag == f"{_W}tbl":
            line = "\n".join(" | ".join(_cell(c) for c in row.iter(f"{_W}tc")) for row in block.iter(f"{_W}tr"))
        else:
            continue
        if line.strip(" |#\n"):
            yield line


def _as_body(sdt):
    """A content control's blocks, wrapped as a document's body is."""
    root = ElementTree.Element("root")
    body = ElementTree.SubElement(root, f"{_W}body")
    content = sdt.find(f"{_W}sdtContent")
    body.extend(list(content) if content is not None else [])
    return root


def _paragraph(p) -> str:
    text = " ".join(_runs(p).split())
    style = p.find(f"{_W}pPr/{_W}pStyle")
    m = _HEADING.search(style.get(f"{_W}val", "")) if style is not None else None
    return f"{'#' * int(m.group(1) or 1)} {text}" if m and text else text


def _runs(p) -> str:
    parts = []
    for node in p.iter():
        if node.tag == f"{_W}t":
            parts.append(node.text or "")
        elif node.tag in (f"{_W}tab", f"{_W}br", f"{_W}cr"):
            parts.append(" ")
    return "".join(parts)


def _cell(tc) -> str:
    return " ".join(" ".join(_runs(p).split()) for p in tc.iter(f"{_W}p")).strip()
