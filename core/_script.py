"""How a script in ``scripts/`` runs its ``main``: what the user must fix is one line, not a traceback."""
from __future__ import annotations

import sys

from core.config import SharedDataMissing


def run_main(main, *args, **kwargs):
    """``main(*args, **kwargs)``; a shared data file that is not there ends the script with ``Error: ...``
    (exit 1) naming the file and MYCELIAL_DATA_DIR, as the command line does."""
    try:
        return main(*args, **kwargs)
    except SharedDataMissing as exc:
        sys.exit(f"Error: {exc}")
