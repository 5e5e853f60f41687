"""Mycelial's public API under its own name.

The code lives in the ``core`` package; a folder called ``core/`` of your own shadows
that name on ``sys.path``, so import from here: ``from mycelial import SemanticMemory``.
Names resolve lazily, so ``import mycelial`` stays light (no torch until one is used).
"""
from __future__ import annotations

import importlib.util
import sys
from importlib import import_module
from pathlib import Path

_CORE = Path(__file__).resolve().parent.parent / "core"


def _claim_core() -> None:
    """Make ``core`` mean this project's package even when a ``core/`` of the user's comes
    first on ``sys.path`` (only then is ours loaded by path and registered as ``core``)."""
    loaded = sys.modules.get("core")
    if loaded is not None:
        if Path(getattr(loaded, "__file__", "") or "").resolve().parent != _CORE:
            raise ImportError(f"a different package named 'core' ({loaded.__file__}) was imported before "
                              "mycelial; import mycelial first, or rename that folder")
        return
    spec = importlib.util.find_spec("core")
    if spec is not None and spec.origin and Path(spec.origin).resolve().parent == _CORE:
        return
    spec = importlib.util.spec_from_file_location("core", _CORE / "__init__.py",
                                                  submodule_search_locations=[str(_CORE)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["core"] = module
    spec.loader.exec_module(module)


_claim_core()

_EXPORTS = {
    "SemanticMemory": "core.memory.semantic",
    "RecallConfig": "core.memory.types",
    "Hit": "core.memory.types",
    "IngestReport": "core.memory.types",
    "IngestWarning": "core.memory.types",
    "MODES": "core.memory.types",
    "Record": "core.memory.records",
    "chunk_text": "core.memory.chunking",
    "TextEmbedder": "core.embedding",
    "MycelialVQVAE": "core.reasoning.mycelial",
    "MycelialReasoning": "core.reasoning.mycelial",
    "MycelialConfig": "core.reasoning.mycelial",
}
__all__ = sorted(_EXPORTS) + ["__version__"]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mycelial")
    except PackageNotFoundError:  # a source checkout that was never installed
        return "0+unknown"


def __getattr__(name: str):
    if name == "__version__":  # looked up when asked: importlib.metadata cost every `python -m mycelial` ~0.1 s
        globals()[name] = value = _version()
        return value
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mycelial' has no attribute {name!r}")


def __dir__():
    return __all__
