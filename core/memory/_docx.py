"""Word documents (``.docx``): their paragraphs as text, headings as Markdown ``#`` lines, tables a row a line.

A .docx is a zip of XML (Office Open XML). Read with the standard library: ``word/document.xml``'s paragraphs
(``w:p``) and their runs' text (``w:t``, tabs, a line break a `core.text.LINE_BREAK`: an address's lines), the
heading level from the paragraph's style (its name in ``word/styles.xml``, ``heading 1`` .. ``heading 6`` or
``Title``, whatever its id in a localized template), and the title from ``docProps/core.xml`` (else the first
heading of level 1). A text box is read once, after the paragraph it is anchored in; a table in a table gives its
cells once, in the outer cell; hidden text and the table of contents are left out.
Word files were counted as "unsupported" in a folder and refused by name. Members are read as
`core.memory._zipxml` reads them (bounded, no DTD).
"""
from __future__ import annotations

import re
from pathlib import Path

from core.memory._zipxml import members, parse_xml
from core.text import LINE_BREAK, one_line

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_HEADING = re.compile(r"(?:heading|berschrift|titre|titolo|encabezado)\s*([1-6])|^(title)$", re.I)
_OPENED = {f"{_W}sdt", f"{_W}sdtContent", f"{_W}customXml", f"{_W}smartTag"}  # wrappers of blocks or runs
_SPACES = {f"{_W}tab", f"{_W}br", f"{_W}cr"}
_TEXT = {f"{_W}t", f"{_W}noBreakHyphen", *_SPACES}
_OFF = {"0", "false", "off"}  # <w:vanish w:val="0"/> is shown text


def read_docx(path: Path, max_bytes: int) -> tuple[str, str]:
    """(title, text) of a Word document; ValueError for a damaged one or one that is not a .docx."""
    body, styles, core = members(path, ".docx", "a Word document", "word/document.xml",
                                 ("word/styles.xml", "docProps/core.xml"), max_bytes)
    root = parse_xml(body, ".docx").find(f"{_W}body")
    reader = _Reader(_style_levels(parse_xml(styles, ".docx") if styles is not None else None))
    try:
        lines = [line for line in reader.blocks(root if root is not None else []) if line.strip(" |#\n")]
    except RecursionError:  # tables in tables, thousands deep: it stopped the whole ingest
        raise ValueError("damaged .docx: its tables or content controls nest too deep to read") from None
    title = _core_title(core) or next((line[2:] for line in lines if line.startswith("# ")), "")
    return title, "\n\n".join(lines)


def _core_title(core: bytes | None) -> str:
    if core is None:
        return ""
    node = parse_xml(core, ".docx").find(f"{_DC}title")
    return " ".join((node.text or "").split()) if node is not None else ""


def _level(name: str) -> int:
    """The heading level a style's name or id stands for (0: none)."""
    m = _HEADING.search(name)
    return int(m.group(1) or 1) if m else 0


def _style_levels(styles) -> dict[str, int]:
    """{paragraph style id: heading level} from ``word/styles.xml``, found by the style's name (``heading 1``,
    ``Title``): a localized template gives its own ids (German Word's Title is ``Titel``, read as plain text)."""
    levels = {}
    for style in (styles.iter(f"{_W}style") if styles is not None else ()):
        name = style.find(f"{_W}name")
        if style.get(f"{_W}type") == "paragraph" and name is not None:
            sid = style.get(f"{_W}styleId", "")
            levels[sid] = _level(name.get(f"{_W}val", "")) or _level(sid)
    return levels


def _content(parent):
    """``parent``'s children with content controls, custom XML and smart tags opened, a table of contents left
    out, and of alternate content (a text box, a shape) the first choice only: Word writes each text box again as
    VML for older Words (``mc:Fallback``), and both were read, glued."""
    for el in parent:
        if el.tag == f"{_MC}AlternateContent":
            yield from _content(_choice(el))
        elif el.tag in _OPENED and not _is_toc(el):
            yield from _content(el)
        else:
            yield el


def _choice(alternate):
    """The one part of ``mc:AlternateContent`` to read: its first choice, else its fallback (else nothing)."""
    alt = alternate.find(f"{_MC}Choice")
    alt = alt if alt is not None else alternate.find(f"{_MC}Fallback")
    return alt if alt is not None else ()


def _is_toc(sdt) -> bool:
    """Is this content control Word's table of contents (its entries were stored, as "Introduction 1")?"""
    gallery = sdt.find(f"{_W}sdtPr/{_W}docPartObj/{_W}docPartGallery")
    return gallery is not None and gallery.get(f"{_W}val") == "Table of Contents"


def _hidden(run) -> bool:
    """Is the run hidden text (``w:vanish``)? It was stored."""
    vanish = run.find(f"{_W}rPr/{_W}vanish")
    return vanish is not None and vanish.get(f"{_W}val", "on") not in _OFF


class _Reader:
    """One document's reading: its styles' heading levels, and the fields open at the run being read (a table
    of contents is a field whose result spans paragraphs)."""

    def __init__(self, levels: dict[str, int]):
        self.levels, self.fields = levels, []

    def blocks(self, parent, in_cell: bool = False):
        """The text lines of ``parent``'s paragraphs and tables in reading order: a heading as ``## text``, a
        table row as its cells joined by `` | ``, a text box's lines after its paragraph's. ``in_cell``: plain
        text, a nested table's cells joined by spaces (its cells were read three times)."""
        for el in _content(parent):
            if el.tag == f"{_W}p":
                text, boxes = self.text(el)
                yield text if in_cell else self.heading(el, text)
                for box in boxes:
                    yield from self.blocks(box, in_cell)
            elif el.tag == f"{_W}tbl":
                rows = ([self.cell(tc) for tc in _content(tr) if tc.tag == f"{_W}tc"]
                        for tr in _content(el) if tr.tag == f"{_W}tr")
                yield (" " if in_cell else "\n").join((" " if in_cell else " | ").join(row) for row in rows)

    def cell(self, tc) -> str:
        return " ".join(" ".join(self.blocks(tc, in_cell=True)).split())

    def heading(self, p, text: str) -> str:
        style = p.find(f"{_W}pPr/{_W}pStyle")
        sid = style.get(f"{_W}val", "") if style is not None else ""
        level = self.levels[sid] if sid in self.levels else _level(sid)
        return f"{'#' * level} {' '.join(text.split())}" if level and text else text

    def text(self, p) -> tuple[str, list]:
        """(the paragraph's text on one line but for its line breaks, its text boxes' contents to read after it). Its
        runs are walked with ``iter`` (no recursion: a deep nest of hyperlinks is read), what `_left_out` names
        skipped."""
        parts: list[str] = []
        boxes: list = []
        skip: set = set()
        for el in p.iter():
            if el in skip:
                continue
            tag = el.tag
            if tag == f"{_W}t":
                parts.append("" if self._in_toc() else el.text or "")
            elif tag in _SPACES:  # a line break (Shift+Enter, not a page's or a column's) is kept
                parts.append(LINE_BREAK if tag != f"{_W}tab" and el.get(f"{_W}type", "textWrapping") == "textWrapping"
                             else " ")
            elif tag == f"{_W}noBreakHyphen":  # it was dropped: "No‑break" read "Nobreak"
                parts.append("-")
            elif tag == f"{_W}fldChar":
                self._field(el.get(f"{_W}fldCharType"))
            elif tag == f"{_W}instrText" and self.fields:
                self.fields[-1] += el.text or ""
            else:
                skip.update(_left_out(el, boxes))
        return one_line("".join(parts)), boxes

    def _field(self, kind: str | None) -> None:
        if kind == "begin":
            self.fields.append("")
        elif kind == "end" and self.fields:
            self.fields.pop()

    def _in_toc(self) -> bool:
        return any(_toc(instr) for instr in self.fields)


def _left_out(el, boxes: list):
    """The elements under ``el`` not to read as the paragraph's text: alternate content but its first choice, a
    text box (kept in ``boxes``, read after the paragraph: it was glued to its sentence), a table of contents,
    hidden text (its field marks still count)."""
    tag = el.tag
    if tag == f"{_MC}AlternateContent":
        alt = _choice(el)
        return (node for child in el if child is not alt for node in child.iter())
    if tag == f"{_W}txbxContent":
        boxes.append(el)
        return el.iter()
    if (tag == f"{_W}fldSimple" and _toc(el.get(f"{_W}instr", ""))) or (tag == f"{_W}sdt" and _is_toc(el)):
        return el.iter()
    if tag == f"{_W}r" and _hidden(el):
        return (node for node in el.iter() if node.tag in _TEXT)
    return ()


def _toc(instr: str) -> bool:
    """Is a field's instruction (`` TOC \\o "1-3" \\h ``) a table of contents?"""
    return instr.split()[:1] == ["TOC"]
