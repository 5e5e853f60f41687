#!/usr/bin/env bash
# The README's main job: set up .venv, ingest the real sample that ships with the package
# into a memory folder, and answer a recall query. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/mycelial demo --memory "${1:-demo_memory}"
