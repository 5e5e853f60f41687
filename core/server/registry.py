"""The memories one server holds: each its own folder and write lock, one shared model and codec.

Writes (ingest, forget) take the memory's write lock, so they are serialised per memory;
recall never takes it (SemanticMemory guards its derived state with its own RLock), so
readers run alongside a writer. A request first catches up with what other processes wrote. Memories never share state except the read-only model.
"""
from __future__ import annotations

import re
import threading
from pathlib import Path

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def parse_memory_spec(spec: str) -> tuple[str, Path]:
    """``DIR`` or ``NAME=DIR`` -> (name, folder); the name defaults to the folder's name."""
    if "=" in spec:
        name, _, folder = spec.partition("=")
    else:
        folder = spec
        name = Path(spec.rstrip("/\\")).name
    name, folder = name.strip(), folder.strip()
    if not folder:
        raise ValueError(f"--memory {spec!r}: no folder given; use --memory DIR or --memory NAME=DIR")
    if not NAME_RE.match(name):
        raise ValueError(f"--memory {spec!r}: memory name {name!r} must be 1-64 letters, digits, '_', '-' "
                         "or '.' (not first); choose one with --memory NAME=DIR")
    return name, Path(folder)


class Slot:
    """One served memory: the SemanticMemory and its write lock."""

    def __init__(self, name: str, memory):
        self.name = name
        self.memory = memory
        self.write_lock = threading.Lock()

    def refresh(self) -> None:
        """Before a request: catch up with another process's writes (a forget there left stale vectors
        here). Skipped while this server writes the memory itself; never waits."""
        if self.write_lock.acquire(blocking=False):
            try:
                self.memory.refresh()
            finally:
                self.write_lock.release()


class Registry:
    """Open every memory once with a shared VQ-VAE codec and one TextEmbedder per backend; close them on shutdown."""

    def __init__(self, memories: dict, embedder=None, codec=None):
        from core.memory import SemanticMemory

        if not memories:
            raise ValueError("no memory to serve; give at least one --memory DIR")
        folders = {}
        for name, folder in memories.items():
            if not NAME_RE.match(str(name)):
                raise ValueError(f"memory name {name!r} must be 1-64 letters, digits, '_', '-' or '.'")
            real = Path(folder).resolve()
            if real in folders:
                raise ValueError(f"memories {folders[real]!r} and {name!r} are the same folder {real}; "
                                 "each memory needs its own folder")
            folders[real] = name
        if codec is None:
            from core.reasoning.mycelial.numpy_codec import load_default_codec

            codec = load_default_codec()
        self.codec = codec
        self.slots: dict[str, Slot] = {}
        shared: dict = {}  # (model, backend) -> one TextEmbedder for every memory built with it
        try:
            for name, folder in memories.items():
                # no embedder given: each memory binds the backend it was built with (an old torch
                # memory stays torch whatever the default is), one model per backend
                mem = SemanticMemory(folder, embedder=embedder, codec=codec)
                if embedder is None:
                    key = (getattr(mem.embedder, "model", None), getattr(mem.embedder, "backend", None))
                    mem.embedder = shared.setdefault(key, mem.embedder)
                self.slots[name] = Slot(name, mem)
            self._closed = False
            self._warm_up()
        except BaseException:  # a bad folder, or Ctrl-C while they open: those opened are closed again
            self.close()
            raise

    def _warm_up(self) -> None:
        """Load the model and build each memory's lazy structures now, before the first request.

        Without this, N concurrent first requests each load the model (measured: 20 clients,
        p50 21 s for the first round instead of sub-second).
        """
        for emb in self.embedders:
            if getattr(emb, "runtime", None) == "sentence-transformers":
                getattr(emb, "model_", None)
            elif hasattr(emb, "onnx_"):
                emb.onnx_
        for slot in self.slots.values():
            if slot.memory.store_.count_chunks():
                slot.memory.recall("warm up", k=1, mode="hybrid")

    @property
    def embedders(self) -> list:
        """The distinct embedders of the served memories (one per backend)."""
        return list({id(s.memory.embedder): s.memory.embedder for s in self.slots.values()}.values())

    @property
    def embedder(self):
        """The embedder when all memories share one (the usual case), else the first memory's."""
        embs = self.embedders
        return embs[0] if embs else None

    def get(self, name: str) -> Slot | None:
        return self.slots.get(name)

    def close(self) -> None:
        """Save each memory's derived state and close its store (waits for a running write).

        An index build in flight is cancelled first (all memories at once), so shutdown does not wait for the
        rest of a training (minutes at scale): the memory keeps the index it served, and the build starts again
        when the memory is next opened for writing.
        """
        from core.memory._retrain import cancel_retrain

        for slot in self.slots.values():
            cancel_retrain(slot.memory)
        for slot in self.slots.values():
            with slot.write_lock:
                slot.memory.close()
        self._closed = True
