"""float32 erf through the C library's double ``erf``, in a numba loop.

``math.erf`` is the C library's ``erf`` and numba lowers ``math.erf`` on a float64 to a call
of that same function, so this gives what ``math.erf`` per element gives, bit for bit, at
C speed: ~0.01 ms for the 1,024 pre-activations of one query's codes instead of ~0.1 ms
through ``np.frompyfunc``.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def erf32(x):
    """float32 erf of a flat float32 or float64 array: each element as a double, erf, rounded."""
    out = np.empty(x.shape[0], np.float32)
    for i in range(x.shape[0]):
        out[i] = np.float32(math.erf(np.float64(x[i])))
    return out
