"""The numpy runtimes' float32 erf: ``math.erf`` per element, bit for bit, whatever path it takes."""
from __future__ import annotations

import math

import numpy as np

from core._numpy_nn import _SCIPY_FROM, erf, gelu

_MATH_ERF = np.frompyfunc(math.erf, 1, 1)


def _reference(x: np.ndarray) -> np.ndarray:
    return _MATH_ERF(np.asarray(x).astype(np.float64)).astype(np.float32)


def test_erf_is_math_erf_bit_for_bit_on_float32_patterns():
    # every 4,099th float32 bit pattern below 6 in magnitude (~260k values, both signs), in
    # query-sized pieces (the numba path), plus the edges: zeros, denormals, inf, nan, saturation
    bits = np.arange(0, int(np.float32(6).view(np.uint32)), 4099, dtype=np.uint32)
    x = np.concatenate([bits, bits | np.uint32(1 << 31)]).view(np.float32)
    got = np.concatenate([erf(x[s:s + 1024]) for s in range(0, len(x), 1024)])
    np.testing.assert_array_equal(got.view(np.uint32), _reference(x).view(np.uint32))
    edge = np.array([0.0, -0.0, 1e-45, -1e-45, 1e-38, 0.84375, 1.25, 2.857, 3.92, 6.0, 40.0, -40.0,
                     np.inf, -np.inf, np.nan], np.float32)
    np.testing.assert_array_equal(erf(edge).view(np.uint32), _reference(edge).view(np.uint32))


def test_erf_keeps_shape_and_widens_other_dtypes_as_before():
    x = (np.random.default_rng(1).standard_normal((3, 7, 11)) * 2).astype(np.float32)
    out = erf(x)
    assert out.shape == x.shape and out.dtype == np.float32
    np.testing.assert_array_equal(out.view(np.uint32), _reference(x).view(np.uint32))
    x64 = np.random.default_rng(2).standard_normal(999) * 3  # float64 in: erf of the double, not of a float32
    np.testing.assert_array_equal(erf(x64).view(np.uint32), _reference(x64).view(np.uint32))
    strided = x[:, ::2, 1]  # not contiguous
    np.testing.assert_array_equal(erf(strided), _reference(strided))


def test_gelu_of_a_query_row_equals_the_per_element_path():
    h = (np.random.default_rng(3).standard_normal((1, 1024)) * 1.5).astype(np.float32)
    assert h.size < _SCIPY_FROM
    ref = 0.5 * h * (1.0 + _reference(h * np.float32(1.0 / math.sqrt(2.0))))
    np.testing.assert_array_equal(gelu(h), ref)


def test_a_processs_first_erf_skips_loading_numba_and_gives_the_same_bits():
    # the codec's fingerprint at every open erfs 64 x 1,024 values once: loading the numba loop for it cost
    # 0.6-1.5 s of every `mycelial stats`/`list`/`forget`; the first call goes through Python instead
    import subprocess
    import sys
    from pathlib import Path

    code = """
import math, sys
import numpy as np
from core._numpy_nn import erf
x = np.concatenate([np.random.default_rng(0).standard_normal((64, 1024)).astype(np.float32).ravel(),
                    np.array([0.0, -0.0, 1e-45, 6.0, 40.0, -40.0, np.inf, -np.inf, np.nan], np.float32)])
ref = np.frompyfunc(math.erf, 1, 1)(x.astype(np.float64)).astype(np.float32)
first = erf(x.reshape(1, -1))
assert first.shape == (1, x.size) and first.dtype == np.float32
assert np.array_equal(first.ravel().view(np.uint32), ref.view(np.uint32))
assert "core._numba_erf" not in sys.modules
assert np.array_equal(erf(x).view(np.uint32), ref.view(np.uint32)) and "core._numba_erf" in sys.modules
"""
    root = Path(__file__).resolve().parent.parent
    r = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
