"""What a remote client sees of a hit: no path of the server's disk.

A file read from disk keeps ``path`` (and ``root``, the folder it came from) in its metadata, which
the Python API and the CLI show to the user who ingested it. Over HTTP that is a leak of the
server's layout to every client (``stats`` already drops the folder), so a file's ``root`` is
dropped and its ``path`` becomes the document id (its path relative to that folder), or, for a
file ingested by an absolute path of its own, its name. Metadata a record brought (a JSONL key
named ``path``) is the client's own and passes unchanged.
"""
from __future__ import annotations

from pathlib import PurePath

from core.memory.phrases import written_as

_MAX_VARS = 900


def _sources(store, doc_keys) -> dict[str, str]:
    """doc key -> source (the file it was read from; ``<records>`` or a JSONL file for records)."""
    keys, out = list(dict.fromkeys(doc_keys)), {}
    for start in range(0, len(keys), _MAX_VARS):
        part = keys[start:start + _MAX_VARS]
        out.update(store._reader.execute(f"SELECT doc_key, source FROM documents WHERE doc_key IN "
                                         f"({','.join('?' * len(part))})", part).fetchall())
    return out


def file_metadata(doc_id: str, meta: dict) -> dict:
    """A file document's metadata without the server's paths (see the module docstring)."""
    meta = dict(meta)
    if meta.pop("root", None) is not None:
        meta["path"] = doc_id
    elif PurePath(meta["path"]).is_absolute():
        meta["path"] = PurePath(meta["path"]).name
    return meta


def public_hits(store, hits, mem=None) -> list[dict]:
    """Hits as JSON for a client: a document read from a file (its ``path`` is its source) loses the
    server's paths from its metadata; ``why.written`` gives each concept as written (`written_of`)."""
    files = [h.doc_id for h in hits if isinstance(h.metadata.get("path"), str)]
    sources = _sources(store, files) if files else {}
    out = []
    for h in hits:
        d = h.to_dict()  # why_text is a field of Hit
        path = d["metadata"].get("path")
        if isinstance(path, str) and sources.get(h.doc_id) == path:
            d["metadata"] = file_metadata(h.doc_id, d["metadata"])
        if isinstance(d.get("why"), dict):
            d["why"]["written"] = written_of(d["why"], h.text or "", h.title or "")
        out.append(d)
    if mem is not None:
        _memory_written(mem, [d["why"]["written"] for d in out if isinstance(d.get("why"), dict)])
    return out


def _memory_written(mem, maps: list[dict]) -> None:
    """A concept the passage does not write (a seed of the question: 'trajan' under a hit about Nero) as the
    memory's text writes it (`written_forms`, one read for all hits), so a chip reads "Trajan" under each hit."""
    from core.memory._written import written_forms

    vocab = getattr(getattr(mem, "graph_", None), "vocab_", None) or {}
    ids = {k: vocab[k] for m in maps for k, w in m.items() if w == k and k in vocab}
    if not ids:
        return
    shown = written_forms(mem, list(ids.values()))
    for m in maps:
        for k, w in m.items():
            if w == k and k in ids:
                m[k] = shown.get(ids[k], k)


def written_of(why: dict, text: str, title: str) -> dict[str, str]:
    """{concept: as this passage (or its title) writes it} of ``why``'s ``phrases`` and ``seed_phrases``: they are
    folded keys ("ben stein"), and the page's concept buttons showed them so while its paths read "Ben Stein"."""
    keys = [p[0] for p in why.get("phrases") or () if p and isinstance(p[0], str)]
    keys += [p for p in why.get("seed_phrases") or () if isinstance(p, str)]
    return {k: written_as(k, text, title) for k in dict.fromkeys(keys)}


def without_folder(message: str, slot) -> str:
    """``message`` with the memory's folder named by the memory's name ("memory /srv/x is being written
    by pid 12" -> "memory 'x' is being written by pid 12")."""
    folder = slot.memory.folder
    for path in sorted({str(folder), str(folder.resolve()), str(folder.absolute())}, key=len, reverse=True):
        message = message.replace(path, repr(slot.name))
    return message
