#!/usr/bin/env bash
# Create .venv and install the project with its dev, plots, eval and openvino extras (tests use all four). Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
# torch first, pinned exactly: this takes the CPU wheel (a looser pin pulls a multi-GB GPU build).
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[dev,plots,eval,openvino]"
# The browser test drives Debian's chromium (never a Playwright browser download).
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
    else
        echo "setup: /usr/bin/chromium is missing; install it (sudo apt-get install -y chromium) for tests/test_server_browser.py" >&2
    fi
fi
