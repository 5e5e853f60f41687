"""A Markdown document's title and body: its first ``#`` heading, or the ``title`` of a front matter.

Notes kept by Jekyll, Hugo or Obsidian open with front matter (``---`` / ``key: value`` lines / ``---``; Hugo's
may be TOML, ``+++`` / ``key = "value"`` lines / ``+++``). It was read as text: a chunk of its own (``---
title: ... tags: [...] ---``), embedded and mined for concepts, and it hid the ``#`` heading, so the file's
stem became the title. The body is read as its reader sees it (core.memory._markdown_text).
"""
from __future__ import annotations

import json
import re

from core.memory._markdown_text import markdown_text

# the opening fence, lines whose first is a YAML key, the closing fence (--- or ...)
_FRONT = re.compile(r"\A---[ \t]*\r?\n([A-Za-z_][\w-]*[ \t]*:.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S)
_TITLE = re.compile(r"^title[ \t]*:[ \t]*(.*?)[ \t]*$((?:\r?\n[ \t]+.*$)*)", re.M)  # the value, indented lines after it
# TOML (Hugo): the opening +++, lines whose first is a key or a [table], the closing +++; it was stored as text
_TOML = re.compile(r"\A\+\+\+[ \t]*\r?\n((?:[A-Za-z_][\w-]*[ \t]*=|\[).*?)\r?\n\+\+\+[ \t]*(?:\r?\n|\Z)", re.S)
_TOML_TITLE = re.compile(r"^title[ \t]*=[ \t]*(.*)$", re.M)
_COLLECTION = re.compile(r"[ \t]*(-([ \t]|$)|[\w-]+[ \t]*:([ \t]|$))")  # an indented list item or key


def markdown_parts(text: str) -> tuple[str, str]:
    """(title, body): ``body`` is ``text`` without a leading front matter block, as text (markup dropped:
    core.memory._markdown_text); the title is the block's ``title`` (a string: quotes removed), else the first
    line's ``#`` heading, else ""."""
    title, body = front_matter(text) or ("", text)
    body = markdown_text(body)
    return title or _heading(body), body


def front_matter(text: str) -> tuple[str, str] | None:
    """(title, the text after it) of the front matter block ``text`` opens with (YAML, else TOML), or None."""
    m = _FRONT.match(text)
    if m is not None:
        t = _TITLE.search(m.group(1))
        return (_scalar(t.group(1), t.group(2)) if t else ""), text[m.end():]
    m = _TOML.match(text)
    if m is not None:
        top = re.split(r"^[ \t]*\[", m.group(1), maxsplit=1, flags=re.M)[0]  # the keys before any [table]
        t = _TOML_TITLE.search(top)
        return (_toml_string(t.group(1)) if t else ""), text[m.end():]
    return None


def _toml_string(value: str) -> str:
    """A TOML string value as text ("basic" with escapes, 'literal'); "" for another value (a number, an array)."""
    m = re.match(r"""[ \t]*(?:"((?:[^"\\\r\n]|\\.)*)"|'([^'\r\n]*)')""", value)
    if m is None or value.lstrip().startswith(('"""', "'''")):
        return ""
    if m.group(2) is not None:
        return m.group(2).strip()
    try:
        return str(json.loads(f'"{m.group(1)}"')).strip()  # most of TOML's escapes are JSON's
    except ValueError:
        return m.group(1).strip()


def _scalar(value: str, more: str) -> str:
    """A YAML scalar as text: 'It''s' was kept as "It''s", "say \\"hi\\"" with its backslashes, and a
    folded or literal block (``title: >`` and indented lines) as ">"."""
    value = value.strip()  # a CRLF file's "\r"
    if value[:1] in ("[", "{") or (not value and _COLLECTION.match(more.lstrip("\r\n"))):
        return ""  # a list or a mapping is no title: "title:\n  - a\n  - b" read "- a - b"
    if value[:1] in (">", "|", ""):
        return " ".join(line.strip() for line in more.splitlines() if line.strip())
    if len(value) > 1 and value[0] == value[-1] == "'":
        return value[1:-1].replace("''", "'").strip()
    if len(value) > 1 and value[0] == value[-1] == '"':
        try:
            return str(json.loads(value)).strip()  # YAML's double-quoted escapes are JSON's (and a few more)
        except ValueError:
            return value[1:-1].strip()
    return re.split(r"[ \t]+#", value, maxsplit=1)[0].strip("'\"").strip()  # a plain scalar ends at " #"


def _heading(text: str) -> str:
    """The first line's ``#`` heading; a line of code (indented 4) is none: a note opening with a fenced
    ``# clone the repository`` was titled "clone the repository"."""
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("#") and len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip()) < 4:
            return s.lstrip("#").strip()
        if s:
            return ""
    return ""
