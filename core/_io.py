"""Atomic file writes: every state file goes through a temporary file, fsync and rename.

A reader (or a crash) sees either the old file or the new one, never half of one.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from numpy.lib import format as npformat

MAX_STATE_BYTES = 16 << 30  # default cap on the arrays of one state .npz; MYCELIAL_MAX_STATE_BYTES overrides

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_open(path: str | os.PathLike):
    """Yield a binary file that replaces ``path`` only once the block finished without error.

    The temporary file lives in the same folder (so the rename is atomic), is fsynced before
    the rename, and is removed if the block raises; the folder is fsynced after the rename so
    the rename itself survives a power cut.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; written files must be readable as usual
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_folder(path.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path) as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def read_json(path: str | os.PathLike, what: str = "file"):
    """Parse a JSON file: a missing file is ``FileNotFoundError``, bad JSON a ``ValueError``; both name it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{what} {path} is not valid JSON: {exc}") from exc


def read_config(path: str | os.PathLike, what: str = "config file"):
    """Parse a JSON config a user wrote: UTF-8 with or without a byte order mark (Notepad writes one), or UTF-16/32
    after theirs (PowerShell's `>`); any other encoding is named as not UTF-8. A key given twice is a
    ``ValueError`` naming it (``"epochs": 20, ..., "epochs": 2`` silently trained 2 epochs)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} not found")
    data = path.read_bytes()
    encoding = _bom_encoding(data)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:  # it said "not valid JSON: 'utf-8' codec can't decode byte 0xff ..."
        name = {"utf-8-sig": "UTF-8"}.get(encoding, encoding.upper())
        raise ValueError(f"{what} {path} is not {name} text (byte {exc.start}: {exc.reason}); save it as UTF-8"
                         ) from None
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        read_as = "" if encoding == "utf-8-sig" else f" (read as {encoding.upper()}, as its byte order mark says)"
        raise ValueError(f"{what} {path} is not valid JSON{read_as}: {exc}") from None
    except _DuplicateKey as exc:
        raise ValueError(f"{what} {path} gives key {exc} more than once; keep one") from None


def _bom_encoding(data: bytes) -> str:
    """The encoding a config's byte order mark names (Windows PowerShell's `>` writes UTF-16 with one), else UTF-8
    (its BOM dropped). UTF-32's little-endian mark starts with UTF-16's, so it is looked for first."""
    if data[:4] in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"):
        return "utf-32"
    return "utf-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"


class _DuplicateKey(Exception):
    pass


def _unique_keys(pairs: list) -> dict:
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(repr(key))
        seen[key] = value
    return seen


def atomic_replace_from(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Fsync a file another library wrote (FAISS, matplotlib) at ``tmp`` and rename it over ``path``."""
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_folder(Path(path).parent)


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms cannot open a folder
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def max_state_bytes() -> int:
    """The cap on one state file's arrays: ``MYCELIAL_MAX_STATE_BYTES`` or 16 GiB."""
    raw = os.environ.get("MYCELIAL_MAX_STATE_BYTES")
    if raw is None:
        return MAX_STATE_BYTES
    try:
        return int(float(raw))
    except ValueError:
        raise ValueError(f"MYCELIAL_MAX_STATE_BYTES must be a number of bytes, got {raw!r}") from None


def check_npz(path: str | os.PathLike, what: str = "file") -> None:
    """Check an ``.npz`` before ``np.load`` allocates anything: a zip bomb or a lying header is a ``ValueError``.

    Mycelial writes its ``.npz`` files uncompressed, so no member may inflate beyond the file
    (plus 1 MiB); every array's declared shape must fit in its member; all arrays together
    must fit the cap (:func:`max_state_bytes`). Reads only the zip directory and the small
    ``.npy`` headers.
    """
    path = Path(path)
    size, limit = path.stat().st_size, max_state_bytes()
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ValueError(f"{what} {path} is truncated or corrupt: not an .npz archive ({exc})") from None
    total = 0
    with zf:
        for info in zf.infolist():
            total += info.file_size
            if info.file_size > 2 * size + (1 << 20):
                raise ValueError(f"{what} {path}: member {info.filename!r} would inflate {size:,} bytes on disk "
                                 f"to {info.file_size:,} bytes (a decompression bomb?); refusing to load it")
            if total > limit:
                raise ValueError(f"{what} {path} holds {total:,}+ bytes of arrays, over the cap of {limit:,}; "
                                 f"set MYCELIAL_MAX_STATE_BYTES to raise the limit")
            if not info.filename.endswith(".npy"):
                continue
            try:
                with zf.open(info) as fh:
                    version = npformat.read_magic(fh)
                    read = {(1, 0): npformat.read_array_header_1_0, (2, 0): npformat.read_array_header_2_0}[version]
                    shape, _, dtype = read(fh)
            except Exception as exc:  # any malformed header: name it, never a raw traceback
                raise ValueError(f"{what} {path}: member {info.filename!r} has no valid .npy header ({exc})") from None
            need = int(np.prod(shape, dtype=object)) * dtype.itemsize
            if need > info.file_size:
                raise ValueError(f"{what} {path}: array {info.filename!r} declares shape {shape} ({need:,} bytes) "
                                 f"but holds {info.file_size:,} bytes (corrupt or forged)")


def folder_bytes(folder: str | os.PathLike) -> int:
    """Bytes of the files directly in ``folder`` (links followed). The writes above list a temporary
    file that is renamed or removed a moment later: one that vanishes between the listing and its
    size is not counted (``stats()`` raised FileNotFoundError while another process saved)."""
    total = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            try:
                if entry.is_file():  # the blocks of a sparse file (the vector file's punched rows), not its length
                    st = entry.stat()
                    total += min(st.st_size, getattr(st, "st_blocks", st.st_size) * 512)
            except FileNotFoundError:
                continue
    return total


_PID_TMP = None


def sweep_dead_temporaries(folder: str | os.PathLike, min_age_s: float = 600.0) -> list[str]:
    """Delete ``NAME.PID.tmp``-style temporaries (``.PID.tmp``, ``.PID.fused.tmp``, ``.PID.tmp.xml/.bin``) in
    ``folder`` whose process is gone and that are ``min_age_s`` old: a model export killed halfway (the OOM
    killer, Ctrl-C twice) left its 90 MB ``model.PID.tmp`` in the cache for good. The age guards a process
    of another PID namespace sharing the cache. Returns the names deleted."""
    import re
    import time

    global _PID_TMP
    _PID_TMP = _PID_TMP or re.compile(r".+\.(\d+)\.(?:fused\.)?tmp(?:\.xml|\.bin)?")
    gone, now = [], time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return gone
    for e in entries:
        m = _PID_TMP.fullmatch(e.name)
        if not m or not e.is_file(follow_symlinks=False):
            continue
        try:
            if now - e.stat().st_mtime < min_age_s:
                continue
            os.kill(int(m.group(1)), 0)
        except ProcessLookupError:
            try:
                os.unlink(e.path)
                gone.append(e.name)
            except OSError:
                pass
        except (OSError, OverflowError, ValueError):
            pass
    return gone
