"""Peak Python memory of a call (tracemalloc): the bounded-memory tests of gzip bombs."""
from __future__ import annotations

import tracemalloc


def traced_peak(call):
    """(what ``call()`` returned, the peak bytes Python allocated while it ran)."""
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
