"""Document names are one Unicode form (NFC), whatever form they were typed or listed in.

macOS hands out file names decomposed (NFD: "e" + U+0301), most keyboards and Linux tools composed
(NFC: "é"): the same name ingested both ways made two documents, and `forget`/`get` with the other
form found neither. New names are NFC (:class:`~core.memory.records.Record`); a memory written before
keeps every document: a writable open renames its stored names to NFC once (:func:`rename_to_nfc`),
and a lookup tries the exact name, then its NFC form, then, in a memory not renamed yet (read-only),
the stored name of the same NFC form (:func:`stored_key`).
"""
from __future__ import annotations

import os
import unicodedata

from core.log import get_logger

log = get_logger("memory")

_DONE = "doc_keys_nfc"  # the setting saying the stored names were renamed
_NON_ASCII = "SELECT id, doc_key FROM documents WHERE doc_key GLOB '*[^ -~]*'"


def nfc(name: str) -> str:
    return name if name.isascii() else unicodedata.normalize("NFC", name)


def rename_to_nfc(store) -> int:
    """Rename the stored names that are not NFC (a writable open, once); returns how many. A name whose
    NFC form names another document already (both made by an older version) is kept, and said."""
    if store.get_setting(_DONE):
        return 0
    conn, renamed = store._conn, 0
    with store.atomic():
        rows = [(i, k, nfc(k)) for i, k in conn.execute(_NON_ASCII).fetchall() if nfc(k) != k]
        for doc_id, key, new in rows:
            if conn.execute("SELECT 1 FROM documents WHERE doc_key = ?", (new,)).fetchone():
                log.warning("documents %r and %r are one name in two Unicode forms; both kept (forget one by the "
                            "name `mycelial list` shows)", key, new)
                continue
            conn.execute("UPDATE documents SET doc_key = ? WHERE id = ?", (new, doc_id))
            renamed += 1
        store.set_setting(_DONE, True)
    if renamed:
        log.info("%d document names renamed to Unicode NFC", renamed)
    return renamed


def disk_name(base, key: str) -> str | None:
    """The path under the folder ``base`` of the file the id ``key`` names, as the disk spells it (a name
    macOS wrote decomposed has an NFC id), or None when there is none: asking for ``base/key`` alone took
    such a file for gone (and its moved folder moved it again, batch after batch)."""
    if os.path.lexists(os.path.join(base, key)):
        return key
    if key.isascii():
        return None
    here, parts = str(base) or os.curdir, []
    for part in key.split("/"):
        if not os.path.lexists(os.path.join(here, part)):
            try:
                part = next((n for n in os.listdir(here) if nfc(n) == nfc(part)), None)
            except OSError:
                return None
            if part is None:
                return None
        parts.append(part)
        here = os.path.join(here, part)
    return "/".join(parts)


def stored_key(store, key: str, conn) -> str:
    """The stored name ``key`` means: itself when stored, else its NFC form, else (a memory not renamed
    yet) the stored name with that NFC form; the NFC form when none is stored."""
    if key.isascii():
        return key
    form = nfc(key)
    for k in dict.fromkeys((key, form)):
        if conn.execute("SELECT 1 FROM documents WHERE doc_key = ?", (k,)).fetchone():
            return k
    if not store.get_setting(_DONE):
        for _, k in conn.execute(_NON_ASCII):
            if nfc(k) == form:
                return k
    return form


def name_title(stem: str) -> str:
    """A file's name as its title, when the file has none of its own: ``Du_Fu`` -> ``Du Fu``.

    Wikipedia-style names write spaces as ``_`` (and URLs as ``%20``): the title ``Du_Fu`` gave the concept
    ``du_fu``, which the query "Du Fu" never reached, and was shown so. Runs of ``_`` are one space, ends
    trimmed; ``%XX`` escapes are decoded when they are UTF-8 and no control character. Hyphens and dots
    stay (``v1.2``). A name of only ``_`` stays as written. The id is the file's path, untouched."""
    from urllib.parse import unquote

    name = nfc(stem).replace("_", " ")  # first: an escaped %5F is an underscore meant
    if "%" in name:
        try:
            decoded = unquote(name, errors="strict")
        except UnicodeDecodeError:
            decoded = name
        if not any(unicodedata.category(c) == "Cc" for c in decoded):  # %00 (NUL), %0A: not a title
            name = nfc(decoded)
    return " ".join(name.split()) or nfc(stem)
