"""`SemanticMemory`'s arguments, checked before its folder is touched (a bad one named, never half a memory),
and its methods' arguments, checked before anything is read or written (named, nothing changed)."""
from __future__ import annotations

import dataclasses
import datetime
import math
import os
from pathlib import Path

import numpy as np

from core.memory.types import RecallConfig


def check_settings(**values) -> None:
    """Whole numbers the memory needs; named here, before the folder is touched (``train_at=10`` made
    every ingest log a failed FAISS training, ``train_at=0`` failed with 'X is an empty batch')."""
    from core.memory.chunking import MAX_READ, _SPECIAL
    from core.memory.index import MIN_LISTS

    # max_tokens=0 made the folder, then failed at the first ingest ("max_tokens=0 is too small"); 10000 was
    # taken, and the model cut every chunk past its 256 word pieces without a word
    least = {"train_at": MIN_LISTS, "chunks_per_commit": 1, "rows_per_statement": 1, "rerank": 1, "nprobe": 1, "max_tokens": _SPECIAL + 5}
    most = {"max_tokens": MAX_READ}
    whys = {"train_at": " (the vector index trains that many lists)",
            "max_tokens": f" (word pieces a chunk may hold, [CLS] and [SEP] included; the model reads at most "
                          f"{MAX_READ}; default 128)"}
    for name, value in values.items():
        if value is None and name == "nprobe":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least[name] \
                or value > most.get(name, value):
            span = f"from {least[name]} to {most[name]}" if name in most else f"of at least {least[name]}"
            raise ValueError(f"{name} must be a whole number {span}{whys.get(name, '')}, got {value!r}")


def deprecated(old: str, new: str, stacklevel: int = 3) -> None:
    """A DeprecationWarning pointing at the caller's line (``stacklevel`` counts this function as 1)."""
    import warnings

    warnings.warn(f"{old} is deprecated: use {new}", DeprecationWarning, stacklevel=stacklevel)


def renamed(old: str, old_value, new: str, new_value, default):
    """The value of a parameter given under its former name (a DeprecationWarning); both given differently: an error."""
    if new_value != default and new_value != old_value:
        raise TypeError(f"{old} is the former name of {new}: give only {new} (got {old}={old_value!r}, "
                        f"{new}={new_value!r})")
    deprecated(old, new, stacklevel=4)
    return old_value


def check_parts(embedder, codec, recall_config, network_config=None) -> None:
    """The objects a memory is given, named before the folder is touched: ``embedder="torch"`` opened the
    memory unchecked (a string has no backend to compare) and failed at the first recall with
    "'str' object has no attribute 'embed'"."""
    if embedder is not None and not callable(getattr(embedder, "embed", None)):
        hint = f"TextEmbedder(backend={embedder!r})" if isinstance(embedder, str) else "TextEmbedder()"
        raise TypeError(f"embedder must be a TextEmbedder, e.g. {hint}, got {type(embedder).__name__}")
    if codec is not None and (not callable(getattr(codec, "encode", None)) or not hasattr(codec, "num_heads")):
        raise TypeError(f"codec must be a MycelialVQVAE, e.g. MycelialVQVAE.load_default(), got {type(codec).__name__}")
    if codec is not None and int(getattr(codec, "codebook_size", 256)) > 256:  # stored as uint8: 463 became 207
        raise ValueError(f"codec has {codec.codebook_size} codes a head; a memory stores one byte a code, so its "
                         f"codec must have at most 256 (uint16 codes work with the codec and network on their own)")
    if network_config is not None:  # a dict made the folder and its SQLite store, then failed
        from core.reasoning.mycelial import MycelialConfig

        if not isinstance(network_config, MycelialConfig):
            raise TypeError(f"network_config must be a MycelialConfig, e.g. MycelialConfig(**{network_config!r}), "
                            f"got {type(network_config).__name__}" if isinstance(network_config, dict) else
                            f"network_config must be a MycelialConfig, got {type(network_config).__name__}")
        check_network_sizes(network_config, codec)
    if recall_config is not None and not isinstance(recall_config, RecallConfig):
        raise TypeError(f"recall_config must be a RecallConfig, e.g. RecallConfig(**{recall_config!r}), "
                        f"got {type(recall_config).__name__}" if isinstance(recall_config, dict) else
                        f"recall_config must be a RecallConfig, got {type(recall_config).__name__}")


def check_network_sizes(network_config, codec) -> None:
    """A network of other heads or codes than the codec's: the first ingest committed its chunks and then failed
    to observe them ("codes must have shape (n, 8)"), and so did every later open of the folder."""
    if network_config is None or codec is None:
        return
    want = (int(codec.num_heads), int(codec.codebook_size))
    if (network_config.num_heads, network_config.codebook_size) != want:
        raise ValueError(f"network_config has {network_config.num_heads} heads x {network_config.codebook_size} "
                         f"codes but the codec has {want[0]} x {want[1]}; the network's nodes are the codec's codes")


MAX_K = 10_000  # recall(k=...) cap: k floats of scores and hits are allocated per query


def check_k(k) -> None:
    """k is a positive int up to MAX_K (bool is not a count; huge k would allocate gigabytes)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if k > MAX_K:
        raise ValueError(f"k={k} exceeds the recall cap of {MAX_K}; page through results with exclude= instead")


def check_folder(folder) -> Path:
    """The memory's folder as a Path: ``None`` failed inside pathlib without naming the argument, ``""``
    meant the working directory, and ``"~/mem"`` made a folder named ``~`` in it."""
    if isinstance(folder, (bytes, bytearray)):
        folder = os.fsdecode(bytes(folder))
    if not isinstance(folder, (str, os.PathLike)):
        raise TypeError(f"folder must be a path (str or pathlib.Path), got {type(folder).__name__} {folder!r}")
    if not str(os.fspath(folder)).strip():
        raise ValueError("folder must name a folder, got an empty path (use '.' for the working directory)")
    return Path(folder).expanduser()


def check_source(source) -> None:
    """``ingest``'s source before the write lock: bytes were iterated as ints (one error per byte),
    ``None`` and a number failed with "'NoneType' object is not iterable"."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        raise TypeError(f"source must be a path, a list of paths or an iterable of records, got "
                        f"{type(source).__name__}; decode it first: ingest([{{'id': ..., 'text': data.decode()}}])")
    if isinstance(source, (str, os.PathLike, dict)) or hasattr(source, "__iter__"):
        return
    from core.memory.readers import Record

    if not isinstance(source, Record):
        raise TypeError(f"source must be a path, a list of paths or an iterable of records (dicts with "
                        f"'id' and 'text'), got {type(source).__name__} {source!r}")


def is_real(value) -> bool:
    """A finite number, numpy's included (``np.float32`` is no ``float``), never a bool."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and (isinstance(value, (int, np.integer)) or math.isfinite(value))


def empty_path(raw):
    """A ReadError for ``""`` (Path("."): ``ingest("")``, an empty variable, read the whole working directory,
    recursively), else None."""
    if isinstance(raw, str) and not raw.strip():
        from core.memory.readers import ReadError

        return ReadError(repr(raw), "empty path; give '.' to mean the working directory")
    return None


def unicode_problem(value: str) -> str | None:
    """Why the model cannot embed ``value`` (a NUL byte, an unpaired surrogate), else None."""
    if "\x00" in value:
        return "contains a NUL byte"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"holds an unpaired surrogate ({value[exc.start]!r} at character {exc.start}); it is not valid Unicode text"
    return None


def check_text(value, name: str) -> str:
    """A text argument the model embeds (a query): non-empty str, no NUL, valid Unicode (an unpaired
    surrogate failed in the embedding cache with a UnicodeEncodeError)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r:.80}")
    if (why := unicode_problem(value)) is not None:
        raise ValueError(f"{name} {why}" + (" (binary data?)" if "NUL" in why else ""))
    return value


def check_doc_ids(doc_ids, name: str = "doc_ids") -> list[str]:
    """Document ids to forget, as stored (str; an int as a record's id; a path as a file's): ``None``,
    ``b"a.txt"`` or a list were turned into "None", "b'a.txt'", "['a.txt']" and reported as not found."""
    if isinstance(doc_ids, (str, bytes)) or not hasattr(doc_ids, "__iter__"):
        raise TypeError(f"{name} must be a list of document ids, got {type(doc_ids).__name__} {doc_ids!r:.80}")
    out = []
    for d in doc_ids:
        if isinstance(d, os.PathLike):
            d = os.fspath(d)
        if isinstance(d, bool) or not isinstance(d, (str, int, np.integer)):
            hint = ("; decode it first" if isinstance(d, bytes) else
                    "; take hit.doc_id" if type(d).__name__ == "Hit" else "")
            raise TypeError(f"a document id is a string (or a record's integer id), got {type(d).__name__} "
                            f"{d!r:.80}{hint}")
        d = str(int(d)) if not isinstance(d, str) else d
        try:
            d.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"document id {d!r:.80} holds an unpaired surrogate; no document has such an id") from None
        out.append(d)
    return out


def plain(value):
    """``value`` with numpy scalars and arrays as Python numbers and lists (recursively): metadata of
    ``np.int64(1990)`` was stored as the string "1990", so ``where={"year": 1990}`` matched nothing."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def json_metadata(value, name: str = "metadata"):
    """``value`` as JSON data: numpy values as numbers and lists (see `plain`), dates as ISO text. A key that is
    not a string, or a value JSON has no form for (a set, bytes, an object), is a ValueError naming it: a tuple
    key failed the whole ingest, and a set, bytes or an object were stored as their str() ("{1, 2}", "b'x'",
    an object's memory address)."""
    if isinstance(value, (str, int, float, type(None))):  # bool is an int
        return value
    if isinstance(value, (np.generic, np.ndarray)):
        return json_metadata(value.tolist(), name)  # np.str_ is a str: above
    if isinstance(value, dict):
        out = {}
        for key, v in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{name} key {key!r} is {type(key).__name__}: metadata keys must be strings")
            out[key] = json_metadata(v, f"metadata {key!r}" if name == "metadata" else name)
        return out
    if isinstance(value, (list, tuple)):
        return [json_metadata(v, name) for v in value]
    if isinstance(value, (datetime.date, datetime.time)):  # a DataFrame's Timestamp too
        return value.isoformat()
    raise ValueError(f"{name} holds a {type(value).__name__}, which JSON cannot store; use a string, number, "
                     f"boolean, null, list or object")


def check_record(rec):
    """A `Record` given to ``ingest`` as it is, checked as a dict record is: an int id, a None title or
    text failed the whole ingest ("can only concatenate str (not "NoneType") to str"), and an empty id
    was stored. ValueError names what is wrong."""
    if isinstance(rec.doc_id, str) and rec.doc_id.strip() and isinstance(rec.text, str) \
            and isinstance(rec.title, str) and isinstance(rec.meta, dict):
        return dataclasses.replace(rec, meta=json_metadata(rec.meta))  # a set or a tuple key refused
    from core.memory.readers import parse_record

    fixed = parse_record({"id": rec.doc_id, "text": rec.text, "title": rec.title, "metadata": rec.meta}, rec.source)
    return dataclasses.replace(rec, doc_id=fixed.doc_id, title=fixed.title, meta=fixed.meta)


def check_open(mem) -> None:
    """A closed memory says so, for every call: associations, graph and bridges answered from the network
    left in memory after close() while recall and stats said "store is closed"."""
    if getattr(mem, "_closed", False):
        raise ValueError(f"memory {mem.folder} is closed; open it again with SemanticMemory({str(mem.folder)!r})")
