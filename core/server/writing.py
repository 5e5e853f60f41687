"""A served memory's write lock for a request: another process holding the folder's lock is a 503."""
from __future__ import annotations

from contextlib import contextmanager

from fastapi import HTTPException

from core.server.public import without_folder

try:  # another process writing the same folder (inter-process lock, newer SemanticMemory)
    from core.memory.lock import MemoryBusyError
except ImportError:  # pragma: no cover - older SemanticMemory without the lock
    class MemoryBusyError(RuntimeError):
        pass


def _busy(exc, s) -> HTTPException:
    return HTTPException(503, f"memory busy, retry later: {without_folder(str(exc), s)}", headers={"Retry-After": "5"})


@contextmanager
def writing(s):
    """The served memory's write lock; another process holding the folder's lock is a 503 with Retry-After."""
    try:
        with s.write_lock:
            yield
    except MemoryBusyError as exc:
        raise _busy(exc, s) from None
