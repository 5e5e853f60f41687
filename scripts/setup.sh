#!/usr/bin/env bash
# Create .venv and install the project with its dev extra. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
# torch first, pinned exactly: this takes the CPU wheel (a looser pin pulls a multi-GB GPU build).
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[dev]"
