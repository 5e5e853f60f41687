"""An HTML page as text: its title, and its visible text with headings as Markdown ``#`` lines.

Read with the standard library's ``HTMLParser`` (no DOM): HTML files of a folder, an e-mail's HTML body, an
e-book's chapters, a page piped to ``ingest -``. Blocks are lines, a ``<br>`` its writer's line break
(`core.text.LINE_BREAK`; the source's own line breaks are spaces), a table row a line of ``cell | cell``, a
``<pre>`` indented as code; scripts, styles, hidden elements and the site's ``<nav>`` and ``<footer>`` are left
out, and so is a cookie or consent banner its id, class or aria-label names. A form control's text is a word of
its own (it read "SearchGo", "OsloBergen"); a footnote's marker in a ``<sup>`` (a link to a note, ``[1]``) is
left out ("bell[1]"), an exponent follows a ``^`` ("m<sup>2</sup>" read "m2"), a subscript a ``_`` or a space
(`subscript_mark`: "x<sub>i</sub>" read "xi"), and a note's link back to its reference ("↩︎") is left out. Moved
out of ``_formats.py`` (which chooses what to read, not how).
"""
from __future__ import annotations

import re
from html.parser import HTMLParser

from core.text import LINE_BREAK, newlines

# a line of their own (a paragraph: _PARAGRAPH); summary, figcaption, address... ran into the text beside them
# ("How do I reset my password?Open settings"); table cells are joined on their row's line instead (_Table)
_BLOCK = {"p", "div", "br", "li", "tr", "pre", "section", "article", "table", "dl", "dt", "dd", "ul", "ol",
          "blockquote", "hr", "header", "footer", "main", "nav", "aside", "figure", "form", "address", "caption",
          "center", "details", "dialog", "fieldset", "figcaption", "hgroup", "legend", "menu", "search", "summary"}
_PARAGRAPH = {"p", "div", "pre", "section", "article", "table", "details"}
_CELL = {"td", "th"}
_HEAD = {"h1", "h2", "h3", "h4", "h5", "h6"}
_HIDDEN = {"script", "style", "noscript", "template", "svg"}
_NEWLINES = {10: 32, 13: 32}  # the source's line breaks are spaces (HTML's rule): a sentence wrapped there is one
_CODE = "\x00"  # opens a line of a <pre> in the parser's output (NUL bytes of the page are dropped first)
# a site's menus and fine print, the same on every page: left out (unless they are all the page holds)
_BOILERPLATE = frozenset({"nav", "footer"})
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
# start tags that end an element whose end tag may be left out (<p hidden>x<div>shown</div>): HTML's rules
_ENDS = {"li": {"li"}, "dt": {"dt", "dd"}, "dd": {"dt", "dd"}, "tr": {"tr"}, "td": {"td", "th"}, "th": {"td", "th"},
         "option": {"option"},
         "p": {"address", "article", "aside", "blockquote", "details", "dialog", "div", "dl", "fieldset",
               "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup",
               "hr", "main", "menu", "nav", "ol", "p", "pre", "search", "section", "table", "ul"}}
_DISPLAY_NONE = re.compile(r"(?:^|;)\s*display\s*:\s*none\b", re.I)
# a control's text is a word of its own (inline elements, they ran into the words beside them)
_CONTROLS = {"button", "input", "label", "option", "output", "select", "textarea"}  # (an input's value is not
# read: a site's "Search ..." button, on every page)
# a <sup>'s text that is a note's marker ("[1]", "[citation needed]"); and an exponent, read after a "^"
_BRACKETED = re.compile(r"\s*\[[^\[\]]{1,40}\]\s*")
_POWER = re.compile(r"\s*[+\-\u2212]?(?:\d[\d.,]*|\([^()]{1,20}\))\s*")
_LETTER_POWER = re.compile(r"\s*[+\-\u2212]?[A-Za-z]\s*")  # after a letter: x<sup>n</sup> (after 2, 2e: "2nd")
_COUNT = re.compile(r"\d{1,4}")  # a formula's subscript: H<sub>2</sub>O reads H2O
# a cookie or consent banner: an element whose id, class or aria-label names the topic and a banner
_CONSENT = ("cookie", "consent", "gdpr")
_BANNER = ("banner", "notice", "bar", "popup", "modal", "dialog", "overlay", "wall", "law", "notification",
           "prompt", "manager", "sdk", "alert", "message", "preferences", "settings")
_PAGE = {"html", "body", "main", "article"}  # never a banner ("cookie-banner-visible" on <body>)


def _hides(attrs) -> bool:
    """Does an element say it is not shown (``hidden``, ``aria-hidden="true"``, ``style="display:none"``)? Its
    text was stored. ``hidden="until-found"`` is shown when searched for: kept."""
    a = {k: (v or "") for k, v in attrs}
    return ("hidden" in a and a["hidden"].strip().lower() != "until-found") or \
        a.get("aria-hidden", "").strip().lower() == "true" or _DISPLAY_NONE.search(a.get("style", "")) is not None


def _is_consent_banner(tag: str, attrs) -> bool:
    """Does an element say it is a cookie or consent banner: its id, class or aria-label names the topic
    ("cookie", "consent", "gdpr") and a banner ("cookie-banner", "CybotCookiebotDialog", "Cookie consent"), or
    it is a dialog about the topic? A "cookie-recipe" or a "consent-form" is no banner."""
    if tag in _PAGE:
        return False
    a = {k: (v or "") for k, v in attrs}
    said = " ".join(a.get(k, "") for k in ("id", "class", "aria-label"))
    words = re.findall(r"[a-z]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", said).lower())
    topic = [w for w in words if any(t in w for t in _CONSENT)]
    if not topic:
        return False
    dialog = tag == "dialog" or a.get("role", "").strip().lower() in ("dialog", "alertdialog")
    both = any("cookie" in w for w in topic) and any("consent" in w for w in topic)
    banner = any(w in _BANNER or w[:-1] in _BANNER for w in words) or any(b in w for w in topic for b in _BANNER)
    return dialog or both or banner  # (a word, not a part of one: a "sidebar" of cookie recipes is none)


# a note's link back to its reference: by its markup (pandoc's role="doc-backlink", Python-Markdown's
# "footnote-backref", kramdown's "reversefootnote", Wikipedia's "mw-cite-backlink", GitHub's data-footnote-backref)
_BACKLINK = re.compile(r"back-?(?:link|ref)|footnote-?back|reverse-?footnote", re.I)
# or by its text alone, a link to a fragment (older pandoc's <a href="#fnref1">↩</a>): ↩ ↩︎ ^ ↑ ⤴ ⬆ "↩2"
_BACK_TEXT = re.compile(r"\s*[\^\u2191\u21a9\u2934\u2b06][\ufe0e\ufe0f]?\s*\d{0,3}\s*")


def _is_backlink(tag: str, attrs) -> bool:
    """Does a link (or the ``<span>``/``<sup>`` around it) say it leads from a note back to its reference
    (`_BACKLINK`)? Its "↩" or "^" was stored with the note's text."""
    return tag in ("a", "span", "sup") and any(_BACKLINK.search(f"{k} {v or ''}") for k, v in attrs
                                                if k not in ("href", "title", "aria-label"))


def subscript_mark(before: str, text: str) -> str:
    """What goes between the text ``before`` a subscript and the subscript ``text``: nothing after a formula's
    letter (H2O, CO2, B12, Ca(OH)2), a ``_`` after a symbol (x_i, V_max, 1010_2), a space after a word (a word's
    name or index is a word of its own: "John i", not the name "John_i"). It was glued: "xi", "Johni"."""
    base = re.search(r"\w*$", before).group()
    if not text.strip() or text[:1].isspace() or not (base or before.endswith(")")):
        return ""
    if _COUNT.fullmatch(text) and not base.isdigit():
        return ""
    return "_" if len(base) <= 1 or base.isdigit() else " "


def _note_link(attrs) -> bool:
    """Is an ``<a>`` a link to a note (to a fragment: "#cite_note-1", "notes.xhtml#n1"; an e-book's noteref)?"""
    a = {k: (v or "") for k, v in attrs}
    return "#" in a.get("href", "") or "noteref" in a.get("epub:type", "") or "noteref" in a.get("role", "")


class _Table:
    """The state of one table's row: a row is a line, its cells joined by " | " (a Word table's: it read "City
    Pop Paris 2.1M"). A ``<p>`` around a cell's text (Sphinx's, Word's HTML) breaks no row: a block inside a
    cell breaks its line only between two of its texts (a layout table's paragraphs)."""

    def __init__(self) -> None:
        self.in_cell = False
        self.row_text = False  # the row holds text: a next cell's opens with " | "
        self.cell_text = False  # the cell holds text: a block in it breaks the line before its next text
        self.pending = ""  # that break

    def new_row(self) -> None:
        self.in_cell = self.row_text = self.cell_text = False
        self.pending = ""

    def new_cell(self) -> None:
        self.in_cell, self.cell_text, self.pending = True, False, ""

    def block(self, sep: str) -> None:
        if self.cell_text and len(sep) > len(self.pending):
            self.pending = sep

    def before_text(self, last: str) -> str:
        """What goes before a text of the cell, the part before it being ``last``."""
        sep = self.pending or (" | " if self.row_text and not self.cell_text else "")
        self.pending, self.cell_text, self.row_text = "", True, True
        return "" if sep == " | " and last.endswith(("\n", "# ")) else sep


class _Text(HTMLParser):
    def __init__(self, left_out: frozenset = _BOILERPLATE) -> None:
        super().__init__(convert_charrefs=True)
        self.left_out = left_out  # elements whose text is left out, with hidden ones
        self.skipped: list[str] = []  # the element left out and the elements open inside it
        self.parts: list[str] = []
        self.title: list[str] = []
        self.hidden = 0
        self.in_title = False
        self.first_h1: list[str] | None = None
        self.in_h1 = False
        self.in_head = False  # in a heading: a <br> there is a space (it stays one line)
        self.pre = 0  # open <pre> elements
        self.line_start = True  # the next text of a <pre> opens a line
        self.tables: list[_Table] = []  # the open tables, the innermost last
        self.space = False  # the next text is a word of its own (after or in a form control)
        self.links: list[tuple[bool, int]] = []  # the open <a> elements: a note's link?, where its text starts
        self.sups: list[list] = []  # the open <sup> elements: [where their text starts in parts, a note's?]
        self.subs: list[int] = []  # where the open <sub> elements' text starts in parts

    def handle_starttag(self, tag, attrs):
        if self.skipped and self._skips(tag):
            return
        if tag not in _VOID and (tag in self.left_out or _hides(attrs) or
                                 (self.left_out and _is_consent_banner(tag, attrs)) or _is_backlink(tag, attrs)):
            self.skipped = [tag]
        elif tag in _HIDDEN:
            self.hidden += 1
        elif tag == "title":  # not an inline <svg>'s (an icon's name): the page's title read "Harbour newsClose"
            self.in_title = not self.hidden
        elif tag in _HEAD:  # a Markdown heading: the chunker opens a chunk at it
            if self._in_cell():  # its own lines (a layout table's)
                self.tables[-1].before_text("\n")
            self.parts.append("\n\n" + "#" * int(tag[1]) + " ")
            self.in_head = True
            if tag == "h1" and self.first_h1 is None:
                self.first_h1, self.in_h1 = [], True
        elif tag in _CELL:
            if self.tables:
                self.tables[-1].new_cell()
        elif tag in _BLOCK:
            if tag == "tr" and self.tables:
                self.tables[-1].new_row()
            self._break("\n\n" if tag in _PARAGRAPH else "\n", tag)
            self.pre += tag == "pre"
            if tag == "table":
                self.tables.append(_Table())
        elif not self.hidden:
            self._inline_start(tag, attrs)

    def handle_startendtag(self, tag, attrs):
        """``<br/>``: a void element's start tag only (the parser's default added its end tag too, and a ``<br/>``
        broke two lines: a paragraph's end, a verse's lines read as paragraphs)."""
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def _inline_start(self, tag: str, attrs) -> None:
        """A link, a ``<sup>`` or a form control opening (see the module's docstring)."""
        if tag == "a":
            self.links.append((_note_link(attrs), len(self.parts)))
            if self.sups and self.links[-1][0]:
                self.sups[-1][1] = True
        elif tag == "sup":  # a note's marker too when it is all a note's link holds (pandoc's <a><sup>1</sup></a>)
            note = bool(self.links) and self.links[-1][0] and not "".join(self.parts[self.links[-1][1]:]).strip()
            self.sups.append([len(self.parts), note])
        elif tag == "sub":
            self.subs.append(len(self.parts))
        elif tag in _CONTROLS:
            self.space = True

    def _sup_end(self) -> None:
        """A ``<sup>`` closing: a note's marker is left out, an exponent after a word follows a ``^``."""
        start, note = self.sups.pop()
        text = "".join(self.parts[start:])
        if note or _BRACKETED.fullmatch(text):
            del self.parts[start:]
            return
        before = "".join(self.parts[max(0, start - 3):start])[-1:]
        if text[:1].isspace() or not (before.isalnum() or before == ")"):
            return
        if _POWER.fullmatch(text) or (before.isalpha() and _LETTER_POWER.fullmatch(text)):
            self.parts.insert(start, "^")

    def _skips(self, tag: str) -> bool:
        """Is this start tag inside the element left out? It may end it instead (``<p hidden>x<div>``)."""
        if tag in _ENDS.get(self.skipped[0], ()) and (len(self.skipped) == 1 or self.skipped[0] == "p"):
            self.skipped = []
            return False
        if tag not in _VOID:
            self.skipped.append(tag)
        return True

    def _skips_end(self, tag: str) -> bool:
        """Is this end tag inside the element left out (or its own)? The end of an element around it ends it."""
        if tag in _VOID:
            return True
        if tag not in self.skipped:
            self.skipped = []
            return False
        del self.skipped[len(self.skipped) - 1 - self.skipped[::-1].index(tag):]
        return True

    def handle_endtag(self, tag):
        if self.skipped and self._skips_end(tag):
            return
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag == "title":
            self.in_title = False
        elif tag in _HEAD:
            self.parts.append("\n\n")
            self.in_h1 = self.in_head = False
        elif tag == "a" and self.links:
            note, start = self.links.pop()
            if note and _BACK_TEXT.fullmatch("".join(self.parts[start:])):  # a link back from a note
                del self.parts[start:]
        elif tag == "sup" and self.sups:
            self._sup_end()
        elif tag == "sub" and self.subs:
            start = self.subs.pop()
            self.parts.insert(start, subscript_mark("".join(self.parts[max(0, start - 3):start])[-40:],
                                                    "".join(self.parts[start:])))
        elif tag in _CONTROLS:
            self.space = True
        elif tag in _CELL or tag == "tr":  # rows are lines, not paragraphs
            if self.tables:
                self.tables[-1].in_cell = False
        elif tag in _BLOCK:
            if tag == "table" and self.tables:
                self.tables.pop()
            self._break("\n", tag)
            self.pre = max(0, self.pre - (tag == "pre"))

    def _break(self, sep: str, tag: str) -> None:
        """A block's line break; inside a table's cell, kept for the cell's next text (see _Table)."""
        self.line_start = True
        if self._in_cell() and not self.pre and tag not in ("pre", "table"):
            self.tables[-1].block(sep)
        elif tag == "br" and not self.pre:  # its writer's line break: an address's, a verse's lines
            self.parts.append(" " if self.in_head else LINE_BREAK)
        else:
            self.parts.append(sep)

    def _in_cell(self) -> bool:
        return bool(self.tables) and self.tables[-1].in_cell

    def handle_data(self, data):
        if self.skipped:
            return
        if self.in_title:
            self.title.append(data)
        elif self.hidden:
            return
        elif self.pre:
            self._code(data)
        elif self.tables and not (self.tables[-1].in_cell or data.strip()):
            return  # the source's line breaks between rows and cells
        else:
            data = data.translate(_NEWLINES)
            if self._in_cell():  # a cell's text stays on its row's line
                data = re.sub(r"\s+", " ", data)
                if data.strip():
                    self.parts.append(self.tables[-1].before_text(self.parts[-1] if self.parts else "\n"))
            if any(p == "\n\n" or p.endswith("# ") for p in self.parts[-1:]) and data.strip():
                data = data.lstrip()
            if self.parts and self.parts[-1].endswith("# "):  # a heading stays on one line
                data = " ".join(data.split())
            if self.space and data.strip():
                self.space = False
                if "".join(self.parts[-3:])[-1:].strip() and data[:1].strip():
                    data = " " + data
            self.parts.append(data)
            if self.in_h1 and self.first_h1 is not None:
                self.first_h1.append(data)

    def _code(self, data: str) -> None:
        """Text of a ``<pre>``: each line marked, to be indented as code (its "# comment" was a heading)."""
        out = []
        for i, piece in enumerate(data.split("\n")):
            if i:
                out.append("\n")
                self.line_start = True
            if piece and self.line_start:
                out.append(_CODE)
                self.line_start = False
            out.append(piece)
        self.parts.append("".join(out))


_CHARSET = re.compile(rb"""(?:charset|encoding)\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.I)


def declared_charset(data: bytes) -> str | None:
    """The encoding an HTML page declares in its first 2 KB (``<meta charset>``, ``<?xml encoding?>``), when
    Python knows it: libxslt's manual is ISO-8859-1 and says so, and was refused as "not valid UTF-8"."""
    import codecs

    m = _CHARSET.search(data[:2048])
    try:
        return codecs.lookup(m.group(1).decode("ascii")).name if m else None
    except LookupError:
        return None


def _line(line: str) -> str:
    """A line of the page's text: whitespace normalised, but a heading's kept after its ``#`` and a line of
    code indented 4 spaces, so that the chunker reads its ``# comment`` as code (CommonMark's rule)."""
    if line.startswith(_CODE):
        code = line.replace(_CODE, "").rstrip()
        return "    " + code if code.strip() else ""
    line = line.replace(_CODE, "")  # a <pre> inside a table's cell
    if line.lstrip().startswith("#"):
        return line.strip()
    return LINE_BREAK.join(" ".join(piece.split()) for piece in line.split(LINE_BREAK))


def looks_like_html(text: str) -> bool:
    """Does piped text open as an HTML page (``<!doctype html``, ``<html``; after whitespace or a byte order mark)?
    `curl URL | mycelial ingest -` stored the page's markup as text."""
    return text[:1024].lstrip("\ufeff \t\r\n")[:14].lower().startswith(("<!doctype html", "<html"))


def html_parts(text: str) -> tuple[str, str]:
    """(title, text) of an HTML page: its ``<title>`` (else its first ``<h1>``) and its visible text, headings
    as Markdown ``#`` lines; scripts, styles, hidden elements, ``<nav>`` and ``<footer>`` dropped (a page of
    nothing else keeps its ``<nav>`` and ``<footer>``), entities decoded."""
    text = newlines(text)  # as a browser reads it: an old Mac's "\\r" ends a <pre>'s lines too
    title, body = _parts(text, _BOILERPLATE)
    return (title, body) if body.strip() else _parts(text, frozenset())


def _breaks(body: str) -> str:
    """Two ``<br>`` in a row end a paragraph (an old page's, an e-mail's); one at a line's start or end is none."""
    body = re.sub(f"{LINE_BREAK}{{2,}}", "\n\n", body)
    return re.sub(f"{LINE_BREAK}+(?=\n|$)|(?<=\n){LINE_BREAK}+|^{LINE_BREAK}+", "", body)


def _parts(text: str, left_out: frozenset) -> tuple[str, str]:
    parser = _Text(left_out)
    parser.feed(text.replace(_CODE, ""))
    parser.close()
    body = _breaks("\n".join(_line(line) for line in "".join(parser.parts).split("\n")))
    body = re.sub(r"\n{3,}", "\n\n", body).strip("\n")  # (a first line of code keeps its indent)
    body = re.sub(r"^#+ *$\n?", "", body, flags=re.M)  # an empty heading (an anchor only)
    title = " ".join("".join(parser.title).split()) or " ".join("".join(parser.first_h1 or []).split())
    return title, body
