"""The prototype's import path, kept working: re-exports the names of ``core.reasoning.mycelial``.

``from core.reasoning.mycelial_reasoning import MycelialReasoning, MycelialConfig, MycelialVQVAE``
gives the same classes; the VQ-VAE wrapper (and so torch) is imported only when asked for.
"""
from __future__ import annotations

from core.reasoning.mycelial.network import MycelialConfig, MycelialReasoning

__all__ = ["MycelialConfig", "MycelialReasoning", "MycelialVQVAE"]


def __getattr__(name: str):
    if name == "MycelialVQVAE":
        from core.reasoning.mycelial.wrapper import MycelialVQVAE

        return MycelialVQVAE
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
