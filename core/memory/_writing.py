"""Writes hold the inter-process write lock, and first catch up with what other processes committed;
a long-lived reader catches up (``refresh``) without ever waiting for a writer."""
from __future__ import annotations

from contextlib import contextmanager

from core.memory._checks import check_open
from core.memory._folder import unwritable_reason
from core.memory.lock import MemoryReadOnlyError


class WritingMixin:
    """``_writing``, ``refresh`` and ``_fresh`` for `SemanticMemory`."""

    @contextmanager
    def _writing(self):
        """Hold the inter-process write lock; first catch up with what other processes committed."""
        if self.unwritable:  # the user asked to write: the folder (or a file in it) is what refuses
            raise MemoryReadOnlyError(f"memory {self.folder} cannot be changed: {unwritable_reason(self)}; "
                                      f"recall, list and stats still answer")
        if self.read_only:
            raise MemoryReadOnlyError(f"memory {self.folder} is open read-only; open it with read_only=False "
                                      f"on a writable folder to change it")
        check_open(self)
        first = self._wlock.acquire()
        try:
            if first and self._seen is not None and self._seen != self.store_.last_ids():
                self._load_derived()  # another process wrote since this object last looked
            yield
        finally:
            try:
                if first and getattr(self, "store_", None) is not None and self.store_._conn is not None:
                    self._seen = self.store_.last_ids()
            finally:
                self._wlock.release()

    def refresh(self) -> bool:
        """Catch up with what other processes committed since this object last wrote: for a long-lived
        reader of a shared folder (the server). Never waits: while another process holds the write lock
        (it is not done), nothing changes; read-only, it reloads in memory as opening does (it never did: what
        was written after it opened stayed unrecalled). True when the derived state was reloaded."""
        from core.memory.lock import MemoryBusyError

        if getattr(self, "_closed", False) or self._seen is None or self.store_.last_ids() == self._seen:
            return False
        if self.read_only:
            with self._lock:
                seen = self.store_.last_ids()  # before: a commit landing during the load is seen next time
                if seen == self._seen:  # another thread's read reloaded it while this one waited
                    return False
                self._seen = seen
                self._load_derived()
            return True
        try:
            first = self._wlock.acquire(timeout=0)
        except MemoryBusyError:
            return False
        try:
            if not first or self.store_.last_ids() == self._seen:
                return False
            with self._lock:
                self._load_derived()
            self._seen = self.store_.last_ids()
            return True
        finally:
            self._wlock.release()

    def _fresh(self) -> None:
        """Before a read (recall, associations, graph, bridges, stats): `refresh`, so an object kept open answers
        as a reopened one. Another process's forget left its chunks in this object's index and network: recall
        gave fewer than k hits (none at k=1) and other scores. One read of ``sqlite_sequence`` (~8 us) when
        nothing changed; never waits: while a writer is at work (another process, or this object in another
        thread, or this thread inside its own write) it answers from what it holds, and recall searches past
        the chunks that vanished."""
        if self._seen is not None and not getattr(self, "_closed", False):
            self.refresh()
