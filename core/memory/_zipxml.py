"""Reading zip-of-XML documents (.docx, .pptx, .odt, .odp, .epub) safely: a member inflated in bounded steps (the
size a zip states is not trusted, so a zip bomb costs the one-file limit at most), and XML with a DTD or entities
refused (entity expansion, "billion laughs"; Office, OpenDocument and EPUB containers never need one)."""
from __future__ import annotations

import posixpath
import zipfile
from xml.etree import ElementTree

_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"


def two_members(path, kind: str, what: str, main: str, optional: str, max_bytes: int) -> tuple[bytes, bytes | None]:
    """The bytes of member ``main`` of the ``kind`` file at ``path`` (a ``what``: "a Word document") and of
    ``optional`` (None when missing); ValueError for a file that is no zip or has no ``main``."""
    body, other = members(path, kind, what, main, (optional,), max_bytes)
    return body, other


def members(path, kind: str, what: str, main: str, optional: tuple[str, ...], max_bytes: int) -> list[bytes | None]:
    """The bytes of member ``main`` and of each of ``optional`` (None when missing), as `two_members`."""
    try:
        with zipfile.ZipFile(path) as zf:
            body = member(zf, main, max_bytes)
            if body is None:
                raise ValueError(f"no {main}: not {what} ({kind}), or a damaged one")
            return [body, *(member(zf, name, max_bytes) for name in optional)]
    except zipfile.BadZipFile as exc:
        raise ValueError(f"not a readable {kind} (a zip of XML): {exc}") from None


def member(zf: zipfile.ZipFile, name: str, max_bytes: int) -> bytes | None:
    """The bytes of member ``name`` (None when the zip has none); ValueError past ``max_bytes``."""
    try:
        info = zf.getinfo(name)
    except KeyError:
        return None
    with zf.open(info) as fh:  # the size a zip states is not trusted: read at most one byte past the limit
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"{name} inflates to more than {max_bytes:,} bytes, the limit for one file (a zip bomb?)")
    return data


def parse_xml(data: bytes, kind: str):
    """The element tree of a member's XML; ValueError naming the ``kind`` of document (".docx") when it is damaged
    or declares a DTD."""
    if b"<!DOCTYPE" in data[:4096] or b"<!ENTITY" in data:
        raise ValueError(f"its XML declares a DTD or entities, which no {kind} needs; not read")
    try:
        return ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise ValueError(f"damaged {kind}: its XML does not parse ({exc})") from None


class Package:
    """An open Office Open XML file (.pptx, .xlsx): its members read within one budget of ``max_bytes`` for the
    whole file (a hundred members of 1 MB each are the one-file limit too), their XML parsed as `parse_xml` does,
    and their relationships (``_rels/NAME.rels``) resolved to member names."""

    def __init__(self, zf: zipfile.ZipFile, max_bytes: int, kind: str):
        self.zf, self.left, self.kind = zf, max_bytes, kind

    def member(self, name: str) -> bytes | None:
        data = member(self.zf, name, self.left)
        if data is not None:
            self.left -= len(data)
        return data

    def xml(self, name: str):
        data = self.member(name)
        return parse_xml(data, self.kind) if data is not None else None

    def relations(self, part: str) -> dict[str, tuple[str, str]]:
        """{relationship id: (type, member name)} of ``part`` (empty when it has none)."""
        folder, name = posixpath.split(part)
        rels = self.xml(posixpath.join(folder, "_rels", name + ".rels"))
        out = {}
        for rel in (rels.iter(f"{_REL}Relationship") if rels is not None else ()):
            target = rel.get("Target", "")
            if rel.get("TargetMode") == "External" or not target:
                continue
            full = target.lstrip("/") if target.startswith("/") else posixpath.join(folder, target)
            out[rel.get("Id")] = (rel.get("Type", ""), posixpath.normpath(full))
        return out
