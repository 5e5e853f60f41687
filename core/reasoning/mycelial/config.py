"""``MycelialConfig``: the parameters of a Hebbian network, checked once on construction."""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

__all__ = ["MycelialConfig"]


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_real(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


MAX_STEPS = 1000  # spreading steps; activations stop changing within about 100


def check_steps(steps, name: str = "steps") -> int:
    """Spreading steps, 0 to ``MAX_STEPS``: the loop has no stop of its own, so steps=10**9 never returned."""
    if not _is_int(steps) or steps < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {steps!r}")
    if steps > MAX_STEPS:
        raise ValueError(f"{name} must be at most {MAX_STEPS}, got {steps!r}; activations settle "
                         f"within about 100 steps (the default is 3)")
    return int(steps)


@dataclass(frozen=True)
class MycelialConfig:
    """Parameters of a ``MycelialReasoning`` network, checked on construction.

    Frozen: the stored counts are read through ``learning_rate`` and ``eta_group``, so a
    rate changed under a live network would silently reinterpret it. Make a new config
    with ``dataclasses.replace(config, ...)``; propagation settings are also per-call
    arguments of ``propagate``/``reason``.

    Parameters
    ----------
    num_heads : int, default=4
        Quantizer heads; each event activates one node per head.
    codebook_size : int, default=256
        Codes per head. Nodes = ``num_heads * codebook_size`` (at most 2**31 - 1).
    learning_rate : float, default=0.1
        ``eta`` of the soft-bound rule ``w <- w + eta (1 - w)``, in (0, 1).
    decay_rate : float, default=0.99
        Factor applied to every weight by ``decay()``, in (0, 1].
    min_weight : float, default=0.01
        Edges whose weight falls below this after a decay are pruned, in [0, 1).
    propagation_steps : int, default=3
        Spreading steps of ``propagate``/``reason`` when ``steps`` is not given.
    activation_threshold : float, default=0.1
        Nodes below this activation neither spread nor are reported, in [0, 1].
    damping : float, default=0.5
        Share of a node's activation that comes from its neighbours, in [0, 1); the rest
        is the seed (personalised PageRank's restart).
    window : int, default=2
        Rows of one ``observe`` call at most this far apart co-activate when they share a
        group id (neighbouring chunks of a document).
    eta_group : float, default=0.05
        Soft-bound rate of group co-activations, in [0, 1); 0 disables them.
    """

    num_heads: int = 4
    codebook_size: int = 256
    learning_rate: float = 0.1
    decay_rate: float = 0.99
    min_weight: float = 0.01
    propagation_steps: int = 3
    activation_threshold: float = 0.1
    damping: float = 0.5
    window: int = 2
    eta_group: float = 0.05

    def __post_init__(self) -> None:
        self._validate()

    def _validate(self) -> None:
        for name in ("num_heads", "codebook_size"):
            v = getattr(self, name)
            if not _is_int(v) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if self.num_heads * self.codebook_size > np.iinfo(np.int32).max:
            raise ValueError(
                f"num_heads * codebook_size = {self.num_heads * self.codebook_size} nodes "
                f"exceeds the int32 node ids; use fewer heads or codes"
            )
        for name in ("propagation_steps", "window"):
            v = getattr(self, name)
            if not _is_int(v) or v < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {v!r}")
        check_steps(self.propagation_steps, "propagation_steps")
        ranges = {
            "learning_rate": (0.0, 1.0, False, False),
            "decay_rate": (0.0, 1.0, False, True),
            "min_weight": (0.0, 1.0, True, False),
            "activation_threshold": (0.0, 1.0, True, True),
            "damping": (0.0, 1.0, True, False),
            "eta_group": (0.0, 1.0, True, False),
        }
        for name, (lo, hi, lo_ok, hi_ok) in ranges.items():
            v = getattr(self, name)
            if not _is_real(v) or not math.isfinite(v):
                raise ValueError(f"{name} must be a finite number, got {v!r}")
            if (v < lo or (v == lo and not lo_ok)) or (v > hi or (v == hi and not hi_ok)):
                lb, rb = "[" if lo_ok else "(", "]" if hi_ok else ")"
                raise ValueError(f"{name} must lie in {lb}{lo}, {hi}{rb}, got {v!r}")

    @property
    def num_nodes(self) -> int:
        """``num_heads * codebook_size``."""
        return self.num_heads * self.codebook_size

    def to_dict(self) -> dict:
        """Plain JSON-able dict of the fields."""
        return {f.name: (int(v) if _is_int(v) else float(v))
                for f, v in ((f, getattr(self, f.name)) for f in fields(self))}

    @classmethod
    def from_dict(cls, d: dict) -> "MycelialConfig":
        """Inverse of ``to_dict``; unknown keys raise ``ValueError``."""
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown MycelialConfig fields: {sorted(unknown)}")
        return cls(**d)
