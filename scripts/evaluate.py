"""Score the run: cosine, BLEU, BERTScore, exact match, code usage, Zipf alpha; table + plots.

The same as `mycelial evaluate`.

Example:
    python scripts/evaluate.py --config vqvae_config.json
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.cli.pipeline import evaluate_cmd  # noqa: E402

if __name__ == "__main__":
    evaluate_cmd(prog_name="evaluate.py")
