"""A Markdown note's body as the text its reader sees: markup dropped, code kept as code, headings as ``#`` lines.

The note was stored as written: ``**bold**``, ``[link text](https://...)``, ``![alt](img.png)``, a table's
``|------|:-----:|`` row and the fence lines of its code were embedded and mined for concepts, and a heading
underlined with ``====`` (setext) opened no chunk. The chunker opens a chunk at a ``#`` line, and a note's
code is full of them (shell and Python comments): a fenced block's ``# install the packages`` opened a chunk of
its own. Now emphasis markers go, a link and an image keep their text, a table row is ``cell | cell`` (as a Word
table's), code is kept as written, indented 4 spaces (CommonMark's indented code: the chunker reads no heading
in it), and an underlined heading is a ``#``/``##`` line. The rules are CommonMark's and GitHub's, simplified.

A quote's ``> `` markers (``> > `` nested), a task's box (``- [ ]``: ``- ☐``, ``- [x]``: ``- ☑``), entities
(``&amp;``, ``&#8212;``), inline HTML tags (``<kbd>``; ``<br>`` a line break, ``<img>`` its alt text), an
autolink's brackets (``<https://...>``) and a footnote's marker (``[^1]``, ``[^1]: `` before its text) were
stored as written; they are gone (code keeps them: an entity in a code span is its text). A hard line break (two
spaces or a ``\\`` ending a line, a ``<br>``) is `core.text.LINE_BREAK`: the chunker keeps that line.
"""
from __future__ import annotations

import html
import re

from core.memory._html import subscript_mark
from core.text import LINE_BREAK

# an opening fence: 3+ backticks (an info string without backticks) or tildes, indented 0-3 spaces
_FENCE = re.compile(r"^( {0,3})(`{3,}(?=[^`]*$)|~{3,})")
_UNDERLINE = re.compile(r"^ {0,3}(={3,}|-{3,})[ \t]*$")  # a setext heading's (3 at least: "--" signs a mail)
_RULE_CELL = re.compile(r"^[ \t]*:?-+:?[ \t]*$")  # a cell of a table's delimiter row
_LIST_ITEM = re.compile(r"^ {0,3}([-*+]|\d{1,9}[.)])([ \t]|$)")
_NOT_PLAIN = re.compile(r"^ {0,3}(#{1,6}([ \t]|$)|>|<)")  # a heading, a quote, HTML
_RULE = re.compile(r"^ {0,3}([-*_])([ \t]*\1){2,}[ \t]*$")  # a thematic break (---, ***, _ _ _)
# a link's reference definition ("[guide]: https://..."): an address (a word is not one: "[Note]: Remember")
_LINK_DEF = re.compile(r"^ {0,3}\[(?!\^)[^\]]+\]:[ \t]*(<[^>\n]*>|\S*[/.#:]\S*)"
                       r"""([ \t]+("[^"]*"|'[^']*'|\([^)]*\)))?[ \t]*$""")
_QUOTE = re.compile(r" {0,3}>[ \t]?")  # a block quote's marker
_TASK = re.compile(r"^([ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+)\[([ xX])\](?=[ \t]|$)")  # a task list item's box
_FOOTNOTE_DEF = re.compile(r"^ {0,3}\[\^[^\]\s]+\]:[ \t]*")  # "[^1]: The note's text."
# a hard line break at a line's end: two spaces or more, or a backslash after a word (not an escaped one: "\\\\";
# not a shell command's "\" after a space, in code this reader takes for text: a fence indented in a list item)
_HARD_BREAK = re.compile(r"(?:(?<![\s\\])(?:\\\\)*\\| {2,})$")
_ATX = re.compile(r"^ {0,3}#{1,6}([ \t]|$)")  # a heading: it ends its line, it breaks none
# the inline HTML a note's writer uses (GitHub keeps these); another "<Word>" is text: "Vec<T>", "<name>"
_TAGS = ("a|abbr|b|bdi|bdo|big|br|center|cite|code|del|details|dfn|div|em|font|h[1-6]|hr|i|img|ins|kbd|mark|"
         "p|picture|q|s|samp|small|source|span|strike|strong|sub|summary|sup|tt|u|var|wbr")
# (no "<" inside: a scan from one "<" ends at the next, and "<a <a <a ..." took time growing with its square)
_ATTRS = r"""(?:\s+[^\s"'<>/=]+(?:\s*=\s*(?:"[^"<]*"|'[^'<]*'|[^\s"'=<>`]+))?)*"""
_ALT = re.compile(r"""\balt\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))""", re.I)
_LABEL = r"(?:[^\[\]\n]|\[[^\[\]\n]*\])*"  # a link's text, brackets inside it too (a badge's image)
_DEST = r"""\(\s*(?:<[^>\n]*>|(?:[^\s()]|\([^\s()]*\))*)(?:\s+(?:"[^"\n]*"|'[^'\n]*'|\([^()\n]*\)))?\s*\)"""
_INLINE = re.compile(
    r"\\(?P<esc>[!-/:-@\[-`{-~])"  # a backslash escape: the character itself
    r"|(?P<code>(?P<ticks>`+)(?!`).+?(?<!`)(?P=ticks)(?!`))"  # a code span: as written
    r"|&(?P<ent>#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});"  # an entity: its character
    # an autolink: its address ("<https://...>", "<ida@example.org>")
    r"|<(?P<auto>[A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]*|[\w.!#$%&'*+/=?^`{|}~-]+@[A-Za-z0-9][\w.-]*\w)>"
    # a footnote's marker as HTML ("<sup><a href="#fn1">1</a></sup>", "<sup>[2]</sup>"): nothing
    r"|<sup\b[^<>]*>\s*(?:<a\s[^<>]*>\s*[^<]{1,8}?\s*</a>|\[[^\]<]{1,8}\])\s*</sup>(?P<fnsup>)"
    rf"|<(?P<close>/?)(?P<tag>{_TAGS})(?P<attrs>{_ATTRS})\s*/?>"  # an HTML tag: nothing (see _tag)
    r"|\[\^[^\]\s]+\](?!:)(?P<fn>)"  # a footnote's marker: nothing
    rf"|!\[(?P<alt>{_LABEL})\]{_DEST}"  # an image: its alt text
    rf"|\[(?P<text>{_LABEL})\](?:{_DEST}|\[[^\]\n]*\])"  # a link (inline or by reference): its text
    # emphasis, within 300 characters: an opener without a closer scans no further (a line of "*a *a ..."
    # took time growing with the square of its length)
    r"|\*\*(?=\S)(?P<b1>.{1,300}?)(?<=[^\s\\])\*\*"
    r"|(?<!\w)__(?=\S)(?P<b2>.{1,300}?)(?<=[^\s\\])__(?!\w)"  # (snake_case_names hold no emphasis)
    r"|(?<![\w*])\*(?=[^\s*])(?P<e1>.{1,300}?)(?<=[^\s*\\])\*(?![\w*])"
    r"|(?<![\w_])_(?=[^\s_])(?P<e2>.{1,300}?)(?<=[^\s_\\])_(?![\w_])")
_MARKUP = re.compile(r"[\\`*_\[&<]")


def markdown_text(body: str) -> str:
    """``body`` (a note without its front matter) as text: see the module's docstring."""
    return "\n".join(_Lines().read(re.split(r"\r?\n", body)))


class _Lines:
    """The block structure of a note, a line at a time: the open fence, paragraph, table and list."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.fence, self.indent = "", 0  # an open fence and its indent
        self.para: int | None = None  # where the open paragraph starts in ``out``
        self.plain = False  # it is plain lines (a setext heading's text), no list item, quote or heading
        self.table = False  # the lines are a table's rows
        self.in_list = False  # indented lines continue a list item: they are no code
        self.last = ""  # the last line as written (a table's header row)
        self.depth = 0  # the quotes the last line was in
        self.fence_depth = 0  # the quotes the open fence is in

    def read(self, lines: list[str]) -> list[str]:
        for line in lines:
            line = self._unquoted(line)
            if self.fence:
                self._fenced(line)
            elif (m := _FENCE.match(line)) is not None:
                self.fence, self.indent, self.para = m.group(2), len(m.group(1)), None
                self.fence_depth = self.depth
            elif not line.strip():
                self.out.append("")
                self.para, self.table = None, False
            else:
                self._line(line)
                self.last = line
        return self.out

    def _unquoted(self, line: str) -> str:
        """The line without its quotes' ``>`` markers (a fence's code keeps those of its own: ``> prompt``). A
        quote opening ends the paragraph above it; a line after a quote continues its paragraph (a lazy line),
        but is no heading's underline."""
        depth, limit = 0, self.fence_depth if self.fence else None
        while (limit is None or depth < limit) and (m := _QUOTE.match(line)) is not None:
            line, depth = line[m.end():], depth + 1
        if not self.fence and line.strip():
            if depth > self.depth:
                self.para, self.table = None, False
            elif depth < self.depth:
                self.plain = False
        self.depth = depth
        return line

    def _fenced(self, line: str) -> None:
        """A line inside a fence: the closing fence is dropped, code indented (the fence's own indent is not
        the code's)."""
        bare = line.strip()
        if len(line) - len(line.lstrip(" ")) < 4 and len(bare) >= len(self.fence) and bare == self.fence[0] * len(bare):
            self.fence = ""
            return
        code = line[min(self.indent, len(line) - len(line.lstrip(" "))):].rstrip()
        self.out.append("    " + code if code else "")

    def _line(self, line: str) -> None:
        indent = len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip())
        if indent >= 4 and self.para is None and not self.in_list:  # indented code: as written
            self.out.append(line.rstrip())
        elif self.table and "|" in line:
            self.out.append(_row(line))
        elif self._underline(line) or self._table_head(line):
            return
        elif _RULE.match(line):  # a paragraph's end (under one, "---" is its underline)
            self.out.append(line)
            self.para = None
        elif self.para is None and _LINK_DEF.match(line):  # "[1]: https://...": a link's address only
            return
        else:
            self._text(line, indent)

    def _text(self, line: str, indent: int) -> None:
        item = _LIST_ITEM.match(line) is not None
        hard = line.endswith(("  ", "\\")) and _HARD_BREAK.search(line) is not None and _ATX.match(line) is None
        if hard:  # the line's end is its writer's: a verse's, an address's (see core.text.LINE_BREAK)
            line = line[:-1] if line.endswith("\\") else line.rstrip(" ")
        text = _inline(_FOOTNOTE_DEF.sub("", _TASK.sub(_box, line))) + (LINE_BREAK if hard else "")
        if not text.strip():  # a line of HTML tags only ("<div align=center>"): a blank line
            self.out.append("")
            self.para, self.table = None, False
            return
        if self.para is None:
            self.para, self.plain, self.table = len(self.out), True, False
            self.in_list = item or (self.in_list and indent >= 2)
        self.plain = self.plain and not item and _NOT_PLAIN.match(line) is None
        self.in_list = self.in_list or item
        self.out.append(text)

    def _underline(self, line: str) -> bool:
        """A setext heading's underline (``====`` level 1, ``----`` level 2): the paragraph above is the
        heading. Not the paragraph between two ``---`` opening a note: a front matter not read as YAML."""
        if self.para is None or not self.plain or _UNDERLINE.match(line) is None:
            return False
        p = self.para
        if "-" in line and p > 0 and self.out[p - 1].strip() == "---" and not any(x.strip() for x in self.out[:p - 1]):
            return False
        text = " ".join(x.strip() for x in self.out[p:])
        self.out[p:] = [("# " if "=" in line else "## ") + text]
        self.para = None
        return True

    def _table_head(self, line: str) -> bool:
        """A table's delimiter row (``|------|:-----:|``) under its header row (the paragraph's last line, as
        many cells): dropped, the header and the rows after it made ``cell | cell`` lines."""
        if self.para is None or "|" not in line or "|" not in self.last:
            return False
        cells = _cells(line)
        if not all(_RULE_CELL.match(c) for c in cells) or len(cells) != len(_cells(self.last)):
            return False
        self.out[-1] = _row(self.last)
        self.para, self.table = None, True
        return True


def _cells(line: str) -> list[str]:
    s = line.strip()
    s = s[1:] if s.startswith("|") else s
    s = s[:-1] if s.endswith("|") and not s.endswith("\\|") else s
    return re.split(r"(?<!\\)\|", s)


def _row(line: str) -> str:
    """A table's row as text: its cells joined by `` | ``, the empty ones left out."""
    return " | ".join(c for c in (_inline(c.strip(), " ") for c in _cells(line)) if c)


def _box(m: re.Match) -> str:
    """A task's box as a reader sees it: ☐ to do, ☑ done."""
    return m.group(1) + ("☐" if m.group(2) == " " else "☑")


def _inline(text: str, br: str = LINE_BREAK) -> str:
    """A line's text without emphasis markers, links and images as their text, escapes and entities as their
    character, HTML tags and footnote markers dropped (``<br>`` is ``br``: a table's row stays a line); code
    spans as written."""
    return _INLINE.sub(lambda m: _replace(m, br), text) if _MARKUP.search(text) else text


def _replace(m: re.Match, br: str) -> str:
    if m.group("esc") is not None:
        return m.group("esc")
    if m.group("code") is not None:
        return m.group("code")
    if m.group("ent") is not None:  # a non-breaking space as a space (an HTML page's is one)
        return html.unescape(m.group()).replace("\xa0", " ")
    if m.group("auto") is not None:
        return m.group("auto")
    if m.group("tag") is not None:
        return _tag(m, br)
    if m.group("fn") is not None or m.group("fnsup") is not None:
        return ""
    inner = next(g for g in (m.group("alt"), m.group("text"), m.group("b1"), m.group("b2"), m.group("e1"),
                             m.group("e2")) if g is not None)
    return _inline(inner, br)


def _tag(m: re.Match, br: str) -> str:
    """An inline HTML tag: ``<br>`` a line break, ``<img>`` its alt text, ``<sup>`` after a word ``^`` (``2<sup>32
    </sup>`` read "232"), ``<sub>`` after one ``_``, a space or nothing (``x_i``, ``H2O``), another nothing."""
    tag = m.group("tag").lower()
    if m.group("close"):
        return ""
    if tag == "br":
        return br
    if tag == "sup":
        return "^" if m.start() and m.string[m.start() - 1].isalnum() else ""
    if tag == "sub":  # x_i, H2O (see _html.subscript_mark)
        inner = m.string[m.end():].split("</", 1)[0]
        return subscript_mark(m.string[max(0, m.start() - 40):m.start()], inner)
    alt = _ALT.search(m.group("attrs")) if tag == "img" else None
    return html.unescape(next(g for g in alt.groups() if g is not None)) if alt else ""
