"""A Markdown note's body as the text its reader sees: markup dropped, code kept as code, headings as ``#`` lines.

The note was stored as written: ``**bold**``, ``[link text](https://...)``, ``![alt](img.png)``, a table's
``|------|:-----:|`` row and the fence lines of its code were embedded and mined for concepts, and a heading
underlined with ``====`` (setext) opened no chunk. The chunker opens a chunk at a ``#`` line, and a note's
code is full of them (shell and Python comments): a fenced block's ``# install the packages`` opened a chunk of
its own. Now emphasis markers go, a link and an image keep their text, a table row is ``cell | cell`` (as a Word
table's), code is kept as written, indented 4 spaces (CommonMark's indented code: the chunker reads no heading
in it), and an underlined heading is a ``#``/``##`` line. The rules are CommonMark's and GitHub's, simplified.
"""
from __future__ import annotations

import re

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
_LABEL = r"(?:[^\[\]\n]|\[[^\[\]\n]*\])*"  # a link's text, brackets inside it too (a badge's image)
_DEST = r"""\(\s*(?:<[^>\n]*>|(?:[^\s()]|\([^\s()]*\))*)(?:\s+(?:"[^"\n]*"|'[^'\n]*'|\([^()\n]*\)))?\s*\)"""
_INLINE = re.compile(
    r"\\(?P<esc>[!-/:-@\[-`{-~])"  # a backslash escape: the character itself
    r"|(?P<code>(?P<ticks>`+)(?!`).+?(?<!`)(?P=ticks)(?!`))"  # a code span: as written
    rf"|!\[(?P<alt>{_LABEL})\]{_DEST}"  # an image: its alt text
    rf"|\[(?P<text>{_LABEL})\](?:{_DEST}|\[[^\]\n]*\])"  # a link (inline or by reference): its text
    # emphasis, within 300 characters: an opener without a closer scans no further (a line of "*a *a ..."
    # took time growing with the square of its length)
    r"|\*\*(?=\S)(?P<b1>.{1,300}?)(?<=[^\s\\])\*\*"
    r"|(?<!\w)__(?=\S)(?P<b2>.{1,300}?)(?<=[^\s\\])__(?!\w)"  # (snake_case_names hold no emphasis)
    r"|(?<![\w*])\*(?=[^\s*])(?P<e1>.{1,300}?)(?<=[^\s*\\])\*(?![\w*])"
    r"|(?<![\w_])_(?=[^\s_])(?P<e2>.{1,300}?)(?<=[^\s_\\])_(?![\w_])")
_MARKUP = re.compile(r"[\\`*_\[]")


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

    def read(self, lines: list[str]) -> list[str]:
        for line in lines:
            if self.fence:
                self._fenced(line)
            elif (m := _FENCE.match(line)) is not None:
                self.fence, self.indent, self.para = m.group(2), len(m.group(1)), None
            elif not line.strip():
                self.out.append("")
                self.para, self.table = None, False
            else:
                self._line(line)
                self.last = line
        return self.out

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
        if self.para is None:
            self.para, self.plain, self.table = len(self.out), True, False
            self.in_list = item or (self.in_list and indent >= 2)
        self.plain = self.plain and not item and _NOT_PLAIN.match(line) is None
        self.in_list = self.in_list or item
        self.out.append(_inline(line))

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
    return " | ".join(c for c in (_inline(c.strip()) for c in _cells(line)) if c)


def _inline(text: str) -> str:
    """A line's text without emphasis markers, links and images as their text, escapes as their character;
    code spans as written."""
    return _INLINE.sub(_replace, text) if _MARKUP.search(text) else text


def _replace(m: re.Match) -> str:
    if m.group("esc") is not None:
        return m.group("esc")
    if m.group("code") is not None:
        return m.group("code")
    inner = next(g for g in (m.group("alt"), m.group("text"), m.group("b1"), m.group("b2"), m.group("e1"),
                             m.group("e2")) if g is not None)
    return _inline(inner)
