"""The ``mycelial`` logger: library code logs here instead of printing; applications decide what shows.

Library modules take a child logger (``get_logger("memory")`` -> ``mycelial.memory``); nothing is
printed unless the application configures logging (``logging.basicConfig(level=logging.INFO)``)
or the CLI is run with ``-v`` (INFO) / ``-vv`` (DEBUG).
"""
from __future__ import annotations

import logging
import os
import sys

LOGGER = logging.getLogger("mycelial")
LOGGER.addHandler(logging.NullHandler())


def get_logger(name: str) -> logging.Logger:
    """The child logger ``mycelial.<name>``."""
    return logging.getLogger(f"mycelial.{name}")


def quiet_model_bars() -> None:
    """Silence the progress bars Hugging Face libraries draw while loading a model ("Loading weights")."""
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"  # read when transformers is first imported
    if "transformers" in sys.modules:  # already imported: tell it directly (importing it costs 1-2 s)
        try:
            import transformers.utils.logging as tlog

            tlog.disable_progress_bar()
        except ImportError:  # pragma: no cover - a half-installed transformers
            pass


class _Stderr(logging.Handler):
    """Writes to the ``sys.stderr`` of the moment (a test runner may swap it between commands)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


def configure_cli(verbose: int = 0, quiet: bool = False) -> None:
    """CLI logging: warnings by default, INFO with ``-v``, DEBUG with ``-vv``, to stderr; ``quiet`` also
    silences the model's loading bar."""
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    if not any(isinstance(h, _Stderr) for h in LOGGER.handlers):
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        LOGGER.addHandler(handler)
    LOGGER.setLevel(level)
    import warnings

    # the Python API's IngestWarning (not imported here: --help stays light): the server lists an ingest's
    # problems itself (the commands filter it in `core.cli`)
    warnings.filterwarnings("ignore", message="ingest: ", category=UserWarning)
    if quiet:
        quiet_model_bars()
