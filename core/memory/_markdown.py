"""A Markdown document's title and body: its first ``#`` heading, or the ``title:`` of a YAML front matter.

Notes kept by Jekyll, Hugo or Obsidian open with front matter (``---`` / ``key: value`` lines / ``---``).
It was read as text: a chunk of its own (``--- title: ... tags: [...] ---``), embedded and mined for
concepts, and it hid the ``#`` heading, so the file's stem became the title.
"""
from __future__ import annotations

import json
import re

from core.memory._markdown_text import markdown_text

# the opening fence, lines whose first is a YAML key, the closing fence (--- or ...)
_FRONT = re.compile(r"\A---[ \t]*\r?\n([A-Za-z_][\w-]*[ \t]*:.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S)
_TITLE = re.compile(r"^title[ \t]*:[ \t]*(.*?)[ \t]*$((?:\r?\n[ \t]+.*$)*)", re.M)  # the value, indented lines after it


def markdown_parts(text: str) -> tuple[str, str]:
    """(title, body): ``body`` is ``text`` without a leading front matter block; the title is its
    ``title:`` value (quotes removed), else the first line's ``#`` heading, else "". Code is indented as code
    (core.memory._markdown_text)."""
    title, m = "", _FRONT.match(text)
    if m is not None:
        t = _TITLE.search(m.group(1))
        title = _scalar(t.group(1), t.group(2)) if t else ""
        text = text[m.end():]
    text = markdown_text(text)
    return title or _heading(text), text


def _scalar(value: str, more: str) -> str:
    """A YAML scalar as text: 'It''s' was kept as "It''s", "say \\"hi\\"" with its backslashes, and a
    folded or literal block (``title: >`` and indented lines) as ">"."""
    value = value.strip()  # a CRLF file's "\r"
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
