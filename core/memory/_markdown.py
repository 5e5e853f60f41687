"""A Markdown document's title and body: its first ``#`` heading, or the ``title:`` of a YAML front matter.

Notes kept by Jekyll, Hugo or Obsidian open with front matter (``---`` / ``key: value`` lines / ``---``).
It was read as text: a chunk of its own (``--- title: ... tags: [...] ---``), embedded and mined for
concepts, and it hid the ``#`` heading, so the file's stem became the title.
"""
from __future__ import annotations

import re

# the opening fence, lines whose first is a YAML key, the closing fence (--- or ...)
_FRONT = re.compile(r"\A---[ \t]*\r?\n([A-Za-z_][\w-]*[ \t]*:.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S)
_TITLE = re.compile(r"^title[ \t]*:[ \t]*(.*?)[ \t]*$", re.M)


def markdown_parts(text: str) -> tuple[str, str]:
    """(title, body): ``body`` is ``text`` without a leading front matter block; the title is its
    ``title:`` value (quotes removed), else the first line's ``#`` heading, else ""."""
    title, m = "", _FRONT.match(text)
    if m is not None:
        t = _TITLE.search(m.group(1))
        title = t.group(1).strip("'\"").strip() if t else ""
        text = text[m.end():]
    return title or _heading(text), text


def _heading(text: str) -> str:
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("#"):
            return s.lstrip("#").strip()
        if s:
            return ""
    return ""
