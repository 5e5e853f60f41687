"""Independent real processes run two at a time: each spends ~1 s importing and loading the model on one
core while the test waits and the machine's second core idles."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor


def two_at_once(run, items) -> list:
    """``run(item)`` for each of ``items``, at most two at a time; the results in the order of ``items``
    (the first exception raised is raised here, once every call has ended)."""
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(run, item) for item in items]
    return [f.result() for f in futures]
