"""The documents a user may have meant by a name that is no document id (``nerva`` for ``nerva.md``)."""
from __future__ import annotations

from pathlib import PurePosixPath

SCAN = 200  # candidate rows read for a hint: an error path, never a full listing


def _stem(doc_id: str) -> str:
    """``man/kill.txt.gz`` -> ``kill``: the file name a user types without its folder and suffixes."""
    name = PurePosixPath(doc_id).name
    return name.split(".", 1)[0] if not name.startswith(".") else name


def _like(text: str) -> str:
    """``text`` as a literal inside a LIKE pattern (ESCAPE '\\'): ``_`` and ``%`` are wildcards there."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def likely_ids(mem, name: str, n: int = 3) -> list[tuple[str, str]]:
    """Up to ``n`` (id, title) of documents named like ``name``, best first: the same title or file
    name (any case, suffixes dropped), then ids that end with it, then ids that hold it.

    Only a hint for an error message ("did you mean 'nerva.md'?"): nothing is ever chosen for the user."""
    want = " ".join(str(name).split()).casefold()
    if not want:
        return []
    # ids holding the name: only for 3 characters or more ('_' or 'a' is in half the ids)
    like = f"%{_like(want)}%" if len(want) >= 3 else ""
    rows = mem.store_._reader.execute(
        "SELECT doc_key, title FROM documents WHERE lower(title) = ? OR lower(doc_key) LIKE ? ESCAPE '\\' "
        "ORDER BY lower(title) = ? DESC, doc_key LIMIT ?", (want, like, want, SCAN)).fetchall()

    def rank(row) -> int:
        key, title = row[0].casefold(), (row[1] or "").casefold()
        if want in (title, _stem(key)):
            return 0
        return 1 if key.endswith(want) else 2

    return [(key, title or "") for key, title in sorted(rows, key=rank)[:n]]


def did_you_mean(mem, name: str) -> str:
    """``; did you mean 'nerva.md' (Nerva)?`` or ``""``: the tail of a "no document" message."""
    found = likely_ids(mem, name)
    if not found:
        return ""
    shown = [repr(key) + (f" ({title})" if title and title != key else "") for key, title in found]
    return "; did you mean " + (", ".join(shown[:-1]) + " or " + shown[-1] if len(shown) > 1 else shown[0]) + "?"


def likely_concepts(mem, name: str, n: int = 5) -> list[str]:
    """Up to ``n`` concepts of the memory spelt like ``name`` (`_spelt_alike`), then those that share a word with
    it (``emperors`` -> ``emperor``, ``roman emperor``): the most words shared first, then the most chunks naming
    them."""
    from core.memory.phrases import normalize

    words = {w[:-1] if len(w) > 3 and w.endswith("s") else w for w in normalize(str(name)).split() if len(w) >= 3}
    if not words:
        return _spelt_alike(mem, normalize(str(name)), n)
    words = sorted(words)
    rows = mem.store_._reader.execute(
        "SELECT text, df FROM concepts WHERE df > 0 AND (" + " OR ".join(
            "(' ' || text) LIKE ? ESCAPE '\\'" for _ in words) + ") ORDER BY df DESC, text LIMIT ?",
        [f"% {_like(w)}%" for w in words] + [SCAN]).fetchall()

    def shared(text: str) -> int:  # a word, or it with an ending ('emperor' in 'emperors', not 'roman' in 'romantic')
        have = text.split()
        return sum(any(h.startswith(w) and len(h) - len(w) <= 2 for h in have) for w in words)

    ranked = sorted(((shared(text), text) for text, _ in rows), key=lambda r: -r[0])
    alike = _spelt_alike(mem, normalize(str(name)), n)  # first: 'dom itian' is domitian, not 'domus aurea'
    return (alike + [text for k, text in ranked if k and text not in alike])[:n]


def _spelt_alike(mem, key: str, n: int) -> list[str]:
    """Concepts spelt within a letter or two of ``key``, spaces aside (``poemz`` -> ``poem``, ``du fuu`` and
    ``dufu`` -> ``du fu``): only plurals were offered, and a typo got no hint. Candidates start with the same
    three letters (an error path: one scan of the concepts, ``SCAN`` rows at most)."""
    from difflib import SequenceMatcher

    flat = key.replace(" ", "")
    if len(flat) < 3:
        return []
    rows = mem.store_._reader.execute(
        "SELECT text FROM concepts WHERE df > 0 AND replace(text, ' ', '') LIKE ? ESCAPE '\\' "
        "ORDER BY df DESC, text LIMIT ?", (_like(flat[:3]) + "%", SCAN)).fetchall()
    scored = [(SequenceMatcher(None, flat, text.replace(" ", "")).ratio(), text) for (text,) in rows]
    return [text for r, text in sorted(scored, key=lambda s: -s[0]) if r >= 0.8][:n]
