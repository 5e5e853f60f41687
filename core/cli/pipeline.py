"""`mycelial` sub-commands: pipeline, decode, evaluate (the compression pipeline's three stages)."""
from __future__ import annotations

import click

_CONFIG = click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
                       help="Pipeline config JSON (default: vqvae_config.json at the project root).")


def _load(config_path):
    from core.pipeline_config import load_config

    try:
        return load_config(config_path)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc))


@click.command("pipeline")
@_CONFIG
def pipeline_cmd(config_path):
    """Embed WikiText-2, train the VQ-VAE, compress the held-out sentences, build a FAISS OPQ+PQ index.

    Writes to the config's artifacts_dir and prints the compression ratio counted from the files.

    Example:

        mycelial pipeline --config vqvae_config.json
    """
    from core.pipeline import run_pipeline

    config = _load(config_path)
    try:
        run_pipeline(config)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc))


@click.command("decode")
@_CONFIG
def decode_cmd(config_path):
    """Reconstruct text from the compressed codes: nearest reference sentence, and an LLM if configured.

    The LLM backend is chosen by SEMANTIC_RECON_BACKEND (openai, claude, gemini) with
    OPENAI_API_KEY / ANTHROPIC_API_KEY / GOOGLE_API_KEY, or SEMANTIC_RECON_BASE_URL for
    a local OpenAI-compatible server.

    Example:

        SEMANTIC_RECON_BACKEND=claude ANTHROPIC_API_KEY=... mycelial decode
    """
    from core.decoding import run_decode

    config = _load(config_path)
    try:
        run_decode(config)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc))


@click.command("evaluate")
@_CONFIG
def evaluate_cmd(config_path):
    """Score the decoded run: cosine, BLEU, BERTScore, exact match, code usage, Zipf alpha.

    Writes metrics.json, metrics.md, code_usage.png and cosine_hist.png to artifacts_dir.

    Example:

        mycelial evaluate --config vqvae_config.json
    """
    from core.evaluation import run_evaluate

    config = _load(config_path)
    try:
        run_evaluate(config)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc))


COMMANDS: list = [pipeline_cmd, decode_cmd, evaluate_cmd]
