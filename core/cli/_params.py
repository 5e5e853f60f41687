"""Parameter types of the command line for text typed there: a query, an id, a concept."""
from __future__ import annotations

import click


class _Utf8Text(click.ParamType):
    """A query, id or prefix typed on the command line. Bytes that are not UTF-8 (a Latin-1 terminal,
    a pasted Latin-1 file name) reach Python as lone surrogates, and the first encode of them raised:
    a traceback from `get` and `list --prefix`, "codec can't encode character" from the others."""

    name = "text"

    def convert(self, value, param, ctx):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            code = ord(value[exc.start])
            byte = f" (byte 0x{code - 0xDC00:02x} at character {exc.start})" if 0xDC80 <= code <= 0xDCFF else ""
            shown = repr(value.encode("utf-8", "surrogateescape" if byte else "backslashreplace"))[1:]  # 'a\xff'
            self.fail(f"{shown} is not valid UTF-8{byte}; "
                      f"set the terminal to UTF-8 (e.g. LANG=C.UTF-8)", param, ctx)
        return value


TEXT = _Utf8Text()


class _Concept(_Utf8Text):
    """A concept named on the command line: UTF-8, not blank, at most the HTTP routes' CONCEPT_MAX characters.
    Bytes that are not UTF-8 answered "no associations for 'caf\\udce9'" (exit 1), an empty concept the same,
    and 100,000 characters SQLite's "LIKE or GLOB pattern too complex". A concept of stop words or punctuation
    alone (``the``, ``!!!``) can name no concept: a usage error (exit 2), as an empty one is; it exited 1,
    the status of "nothing found"."""

    name = "concept"

    def convert(self, value, param, ctx):
        from core.config import CONCEPT_MAX
        from core.memory.phrases import extract_terms, normalize

        value = not_blank(super().convert(value, param, ctx), param, ctx)
        if len(value) > CONCEPT_MAX:
            self.fail(f"a concept of {len(value):,} characters; a concept is at most {CONCEPT_MAX:,}", param, ctx)
        if not normalize(value) and not extract_terms(value):
            self.fail(f"{value!r} has no words left once stop words and punctuation are dropped; "
                      f"pass a name or term", param, ctx)
        return value


CONCEPT = _Concept()


def not_blank(value: str, param, ctx) -> str:
    """An empty or blank text is a usage error before any work (`demo --query ""` ingested, then a traceback)."""
    if not value.strip():
        raise click.BadParameter(f"{value!r} is {'empty' if not value else 'blank'}", ctx, param)
    return value
