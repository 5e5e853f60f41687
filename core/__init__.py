"""Mycelial's code (imported as ``mycelial``; see ``mycelial/__init__.py``).

Numba caches the compiled kernels beside their source (``__pycache__``), else under the user's home. Installed
where the user cannot write, for a user whose home cannot hold a cache either (a service account), every
command failed: "cannot cache function '_mark': no locator available". The kernels are then cached in the
first folder of ours the user can write, set before numba is imported (it reads ``NUMBA_CACHE_DIR`` then).
"""
import os as _os


def _numba_cache_dir() -> str | None:
    """A folder for numba's cache when neither this package's nor numba's own under the home can be written."""
    here = _os.path.dirname(_os.path.abspath(__file__))
    home_cache = _os.path.join(_os.path.expanduser("~"), ".cache")
    if "NUMBA_CACHE_DIR" in _os.environ or _os.access(here, _os.W_OK) or _os.access(home_cache, _os.W_OK):
        return None
    import tempfile

    ours = _os.environ.get("MYCELIAL_CACHE_DIR")
    for folder in ([_os.path.join(ours, "numba")] if ours else []) + \
            [_os.path.join(tempfile.gettempdir(), f"mycelial-numba-{getattr(_os, 'getuid', lambda: 0)()}")]:
        try:
            _os.makedirs(folder, mode=0o700, exist_ok=True)
        except OSError:
            continue
        if _os.access(folder, _os.W_OK):
            return folder
    return None


if (_folder := _numba_cache_dir()) is not None:
    _os.environ["NUMBA_CACHE_DIR"] = _folder
