"""Embed WikiText-2, train the VQ-VAE, compress the held-out sentences and build a FAISS OPQ+PQ index.

Example:
    python scripts/pipeline.py --config vqvae_config.json
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
    from core.pipeline import run_pipeline

    try:
        run_pipeline(config)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
