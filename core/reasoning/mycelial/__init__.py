"""The Hebbian co-activation network over code nodes, and the wrapper joining it to a VQ-VAE.

Names are imported lazily so that using the network alone never imports torch.
"""
from __future__ import annotations

__all__ = ["MycelialConfig", "MycelialReasoning", "MycelialVQVAE"]


def __getattr__(name: str):
    if name == "MycelialVQVAE":
        from core.reasoning.mycelial.wrapper import MycelialVQVAE

        return MycelialVQVAE
    if name in ("MycelialConfig", "MycelialReasoning"):
        from core.reasoning.mycelial import network

        return getattr(network, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
