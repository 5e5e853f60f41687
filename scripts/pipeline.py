"""Embed WikiText-2, train the VQ-VAE, compress the held-out sentences and build a FAISS OPQ+PQ index.

The same as `mycelial pipeline`.

Example:
    python scripts/pipeline.py --config vqvae_config.json
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.cli.pipeline import pipeline_cmd  # noqa: E402

if __name__ == "__main__":
    pipeline_cmd(prog_name="pipeline.py")
