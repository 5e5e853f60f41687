"""A Markdown note's body as the text its reader sees: code indented as code, never read as headings.

The chunker opens a chunk at a ``#`` line, and a Markdown note's code is full of them (shell and Python
comments): a fenced block's ``# install the packages`` opened a chunk of its own. Code is kept, indented 4
spaces (CommonMark's indented code, which the chunker does not read as a heading); fence lines are dropped.
"""
from __future__ import annotations

import re

# an opening fence: 3+ backticks (an info string without backticks) or tildes, indented 0-3 spaces
_FENCE = re.compile(r"^( {0,3})(`{3,}(?=[^`]*$)|~{3,})")


def markdown_text(body: str) -> str:
    """``body`` (a note without its front matter) as text: fence lines dropped, code indented 4 spaces."""
    if "```" not in body and "~~~" not in body:
        return body
    out: list[str] = []
    fence, indent = "", 0
    for line in re.split(r"\r?\n", body):
        if fence:
            if _closes(line, fence):
                fence = ""
            else:  # the fence's own indent is not the code's (CommonMark)
                code = line[min(indent, len(line) - len(line.lstrip(" "))):].rstrip()
                out.append("    " + code if code else "")
            continue
        m = _FENCE.match(line)
        if m is not None:
            fence, indent = m.group(2), len(m.group(1))
            continue
        out.append(line)
    return "\n".join(out)


def _closes(line: str, fence: str) -> bool:
    """Does ``line`` close a block opened by ``fence`` (the same character, at least as many, nothing after)?"""
    bare = line.strip()
    return len(line) - len(line.lstrip(" ")) < 4 and len(bare) >= len(fence) and bare == fence[0] * len(bare)
