"""Reconstruct text from the compressed codes (similarity matching, and an LLM when configured).

Example:
    python scripts/decode.py --config vqvae_config.json
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.pipeline_config import load_config  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=None,
                        help="pipeline config JSON (default: vqvae_config.json at the project root, else built-in defaults)")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from core.decoding import run_decode

    try:
        run_decode(config)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
