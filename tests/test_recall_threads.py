"""Recall ranks one query with OpenMP at one thread (per thread), and always gives the threads back."""
import threading

from threadpoolctl import threadpool_info

from core.memory._recall import _one_thread


def _omp():
    return sorted((i["filepath"], i["num_threads"]) for i in threadpool_info() if i["user_api"] == "openmp")


def test_one_thread_inside_and_restored_after_nested_and_concurrent_use():
    import faiss  # noqa: F401  (its libgomp is one of the pools that fought torch's)
    import torch  # noqa: F401

    before = _omp()
    assert len(before) >= 1
    with _one_thread():
        assert all(n == 1 for _, n in _omp()), _omp()
        with _one_thread():  # nested: still one thread, and the outer exit restores
            assert all(n == 1 for _, n in _omp())
        assert all(n == 1 for _, n in _omp())
    assert _omp() == before

    # two recalls in two threads overlapping in time: each has one thread, neither undoes the other
    inside, release, seen = threading.Event(), threading.Event(), []

    def hold():
        with _one_thread():
            seen.append(_omp())
            inside.set()
            release.wait(10)
            seen.append(_omp())

    t = threading.Thread(target=hold)
    t.start()
    assert inside.wait(10)
    with _one_thread():
        assert all(n == 1 for _, n in _omp())
    assert _omp() == before
    release.set()
    t.join(10)
    assert len(seen) == 2 and all(n == 1 for s in seen for _, n in s), seen
    assert _omp() == before


def test_one_thread_restores_after_an_error():
    before = _omp()
    try:
        with _one_thread():
            raise ValueError("boom")
    except ValueError:
        pass
    assert _omp() == before
