"""``python -m mycelial ...`` runs the ``mycelial`` command (for a venv whose bin/ is not on PATH)."""
import sys

from core.cli import main

sys.exit(main())
