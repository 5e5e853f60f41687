"""`mycelial` sub-commands: pipeline, decode, evaluate (the compression pipeline's three stages)."""
from __future__ import annotations

import click

_CONFIG = click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
                       help="Pipeline config JSON (default: vqvae_config.json at the project root).")


def _run(stage, config_path, name: str) -> None:
    """Load the config and run one stage; known errors become a clean CLI error, Ctrl-C and SIGTERM one line."""
    from core.cli._signals import sigterm_as_ctrl_c

    if config_path is not None and not config_path.strip():  # it read as ".": "config file . not found"
        raise click.UsageError("--config is empty; give a JSON file, or leave the option out for vqvae_config.json")
    with sigterm_as_ctrl_c():  # `timeout`, `docker stop`: stopped as by Ctrl-C, exit 143 (it died silently)
        try:
            _stage(stage, config_path)
        except KeyboardInterrupt:  # it said click's "Aborted!" (exit 1)
            _interrupted(name)  # within the block: it knows whether SIGTERM came


def _interrupted(name: str):
    """Say that the stage stopped and what is left; exit 130 (143 after SIGTERM), as `mycelial ingest` does."""
    from core.cli._signals import exit_status, ignore_from_now_on

    ignore_from_now_on()
    left = ("the run is incomplete (no pipeline.json), so decode and evaluate refuse its folder"
            if name == "pipeline" else "every file is written whole or not at all")
    click.echo(f"\ninterrupted: `mycelial {name}` stopped before it finished; {left}: run the same command "
               f"again", err=True)
    raise SystemExit(exit_status())


def _stage(stage, config_path) -> None:
    """Run ``stage`` on the config at ``config_path``; its known errors as one CLI line."""
    from core._extras import MissingExtraError
    from core.compression.config import load_config

    try:
        stage(load_config(config_path))
    except (ValueError, FileNotFoundError, MissingExtraError) as exc:
        raise click.ClickException(str(exc))
    except OSError as exc:  # scripts/*.py call the command without the `mycelial` group: a traceback there
        name = exc.filename2 or exc.filename
        what = (exc.strerror or str(exc)) + (f": {name!r}" if name else "")
        raise click.ClickException(f"{what}; every file is written whole or not at all, so those already "
                                   f"written are intact: fix the cause and run the command again") from None


@click.command("pipeline")
@_CONFIG
def pipeline_cmd(config_path):
    """Embed WikiText-2, train the VQ-VAE, compress the held-out sentences, build a FAISS OPQ+PQ index.

    Writes to the config's artifacts_dir and prints the compression ratio counted from the files.

    Example:

        mycelial pipeline --config vqvae_config.json
    """
    from core.compression.pipeline import run_pipeline

    _run(run_pipeline, config_path, "pipeline")


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
    from core.compression.decoding import run_decode

    _run(run_decode, config_path, "decode")


@click.command("evaluate")
@_CONFIG
def evaluate_cmd(config_path):
    """Score the decoded run: cosine, BLEU, BERTScore, exact match, code usage, Zipf alpha.

    Writes metrics.json, metrics.md, code_usage.png and cosine_hist.png to artifacts_dir.

    Example:

        mycelial evaluate --config vqvae_config.json
    """
    from core.compression.evaluate import run_evaluate

    _run(run_evaluate, config_path, "evaluate")


COMMANDS: list = [pipeline_cmd, decode_cmd, evaluate_cmd]
