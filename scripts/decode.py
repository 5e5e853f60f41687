"""Reconstruct text from the compressed codes (similarity matching, and an LLM when configured).

The same as `mycelial decode`.

Example:
    python scripts/decode.py --config vqvae_config.json
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.cli.pipeline import decode_cmd  # noqa: E402

if __name__ == "__main__":
    decode_cmd(prog_name="decode.py")
