"""The prototype's import path, kept working: re-exports the Hebbian network's names.

``from core.reasoning.mycelial_reasoning import MycelialReasoning, MycelialConfig`` gives the
same classes as ``core.reasoning.mycelial``.
"""
from __future__ import annotations

from core.reasoning.mycelial.network import MycelialConfig, MycelialReasoning

__all__ = ["MycelialConfig", "MycelialReasoning"]
