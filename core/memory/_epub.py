"""E-books (``.epub``): their chapters' text in reading order, headings as Markdown ``#`` lines.

An EPUB is a zip: ``META-INF/container.xml`` names the package file (OPF), whose manifest lists the chapters
(XHTML) and whose spine gives their order; each chapter is read as an HTML page is (`_html.html_parts`). The
title is the package's ``dc:title``. Members are read as `core.memory._zipxml` reads them (bounded, no DTD), and
the chapters together at most the one-file limit.
"""
from __future__ import annotations

import posixpath
import zipfile
from pathlib import Path
from urllib.parse import unquote

from core.memory._html import html_parts
from core.memory._zipxml import member, parse_xml

_CONTAINER = "{urn:oasis:names:tc:opendocument:xmlns:container}"
_OPF = "{http://www.idpf.org/2007/opf}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_PAGES = ("application/xhtml+xml", "text/html")


def read_epub(path: Path, max_bytes: int) -> tuple[str, str]:
    """(title, text) of an e-book; ValueError for a damaged one, one that is not an EPUB, or one whose chapters
    are encrypted (DRM)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return _book(zf, max_bytes)
    except zipfile.BadZipFile as exc:
        raise ValueError(f"not a readable .epub (a zip of XHTML): {exc}") from None


def _book(zf: zipfile.ZipFile, max_bytes: int) -> tuple[str, str]:
    container = member(zf, "META-INF/container.xml", max_bytes)
    root = parse_xml(container, ".epub").find(f".//{_CONTAINER}rootfile") if container is not None else None
    opf_path = root.get("full-path") if root is not None else None
    opf = member(zf, opf_path, max_bytes) if opf_path else None
    if opf is None:
        raise ValueError("no META-INF/container.xml naming its package: not an EPUB, or a damaged one")
    package = parse_xml(opf, ".epub")
    node = package.find(f"{_OPF}metadata/{_DC}title")
    title = " ".join((node.text or "").split()) if node is not None else ""
    items = {i.get("id"): i for i in package.iter(f"{_OPF}item")}
    encrypted = set(_encrypted(zf, max_bytes))
    base = posixpath.dirname(opf_path)
    chapters, missing, left = [], [], max_bytes
    for ref in package.iter(f"{_OPF}itemref"):
        item = items.get(ref.get("idref"))
        if item is None or item.get("media-type") not in _PAGES or "nav" in item.get("properties", "").split():
            continue  # the table of contents is the chapters' titles again
        name = posixpath.normpath(posixpath.join(base, unquote(item.get("href", "")).split("#")[0]))
        if name in encrypted:
            raise ValueError("its chapters are encrypted (DRM); not read")
        data = member(zf, name, left)
        if data is None:  # was skipped without a word: 12 of 20 chunks stored, 0 errors
            missing.append(name)
            continue
        left -= len(data)
        chapters.append(html_parts(data.decode("utf-8", "replace"))[1])
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise ValueError(f"damaged .epub: {len(missing)} of the chapters its reading order names are not in the file "
                         f"({shown}); nothing of it was stored")
    return title, "\n\n".join(c for c in chapters if c.strip())


def _encrypted(zf: zipfile.ZipFile, max_bytes: int):
    """The members ``META-INF/encryption.xml`` names (fonts are often obfuscated; chapters only under DRM)."""
    data = member(zf, "META-INF/encryption.xml", max_bytes)
    if data is None:
        return
    for ref in parse_xml(data, ".epub").iter():
        if ref.tag.endswith("CipherReference") and ref.get("URI"):
            yield posixpath.normpath(ref.get("URI"))
