"""Optional parts of Mycelial: plots (matplotlib) and evaluation (sacrebleu) are extras.

``pip install 'mycelial[plots]'`` / ``'mycelial[eval]'`` (``scripts/setup.sh`` installs both).
Code that needs one imports it through `require`, so a missing extra is one clear error that
names the command to run, not a bare ``ModuleNotFoundError``.
"""
from __future__ import annotations

import importlib

EXTRAS = {"matplotlib": "plots", "sacrebleu": "eval"}


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the extra that brings it."""


def require(module: str, purpose: str = ""):
    """Import ``module`` (a top-level optional dependency), or raise `MissingExtraError` naming its extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = EXTRAS.get(module.split(".")[0], module)
        what = f"{purpose} needs" if purpose else "this needs"
        raise MissingExtraError(f"{what} {module.split('.')[0]}, an optional part of mycelial; install it with: "
                                f"pip install 'mycelial[{extra}]'") from exc
