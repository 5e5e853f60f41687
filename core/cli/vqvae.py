"""`mycelial` sub-commands of the VQ-VAE: ``encode`` and ``train``."""
from __future__ import annotations

import json
import os
from pathlib import Path

import click

from core.cli._codec_input import STDIN, load_npy, read_lines
from core.cli.memory import TEXT, user_path
from core.text import count


def _load_codec(weights):
    from core.reasoning.mycelial.wrapper import MycelialVQVAE

    return MycelialVQVAE.load(weights) if weights else MycelialVQVAE.load_default()


@click.command("encode")
@click.argument("texts", nargs=-1, type=TEXT)
@click.option("--npy", "npy_path", type=click.Path(dir_okay=False), callback=user_path,
              help="A .npy file of float embeddings (n, 384) instead of texts.")
@click.option("--file", "text_file", type=click.Path(dir_okay=False, allow_dash=True), callback=user_path,
              help="A UTF-8 text file (- for standard input), one text per line. Rows stay aligned with the lines: "
                   "a blank line gives an empty row (JSON records carry the line number; a .npy output "
                   "refuses blank lines).")
@click.option("--weights", type=click.Path(), callback=user_path, help="Weights to use (default: the shipped model).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), callback=user_path,
              help="Write the codes here: .npy (uint8 array; uint16 for a model of more than 256 codes a head) "
                   "or anything else (text/JSON).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON records instead of plain rows.")
@click.option("--refine", type=click.IntRange(min=0), default=0, show_default=True,
              help="ICM sweeps that improve the codes on the decoder (slower; for databases).")
@click.option("--candidates", type=click.IntRange(min=1), default=16, show_default=True,
              help="Codes tried per head and sweep when refining (needs --refine).")
@click.option("--pairs", type=click.IntRange(min=0), default=0, show_default=True,
              help="Then re-pick head pairs jointly from this many codes each (needs --refine; at most "
                   "--candidates; ~20x slower).")
def encode_cmd(texts, npy_path, text_file, weights, output, as_json, refine, candidates, pairs):
    """Turn texts (or embeddings) into 4-byte VQ-VAE codes, one row of 4 numbers each.

    TEXTS given as - are read from standard input, one a line (as --file -).

    Example:

        mycelial encode "The cat sat on the mat." "Photosynthesis needs light."

        mycelial encode --npy embeddings.npy -o codes.npy

        mycelial encode --file sentences.txt --json --refine 1

        cut -f2 table.tsv | mycelial encode - -o codes.txt

        mycelial encode --npy database.npy -o codes.npy --refine 2 --candidates 32 --pairs 12
    """
    import numpy as np

    sources = sum(bool(s) for s in (texts, npy_path, text_file))
    if sources != 1:
        raise click.UsageError("give exactly one of: TEXTS, --npy FILE, --file FILE")
    _refuse_search_without_refine(refine)
    if pairs > candidates:  # before the texts are embedded: the pair search draws from the candidates
        raise click.UsageError(f"--pairs {pairs} must be at most --candidates ({candidates}): the pair search "
                               f"draws from each head's candidates")
    if STDIN in texts:  # `encode -` encoded the text "-"; it reads standard input, as `ingest -` does
        if len(texts) > 1:
            raise click.UsageError("- reads the texts from standard input, one a line: give it alone")
        texts, text_file = (), STDIN
    _refuse_output_over_input(output, _inputs(npy_path, text_file, weights))
    lines = None  # --file: the file's lines, so each output row stays on its line
    try:
        if npy_path:
            X = load_npy(npy_path)
            texts = None
        else:
            if text_file:
                lines = read_lines(text_file, npy_out=bool(output and output.endswith(".npy")))
                texts = [t for t in lines if t]
            from core.embedding import TextEmbedder

            embedder = TextEmbedder()
            X = embedder.embed(list(texts))
            _say_cut(embedder, texts)
        # --candidates has a default for the refinement; the plain encoder takes none (Python refuses one)
        codes = _load_codec(weights).encode(X, refine=refine, candidates=candidates if refine else None, pairs=pairs)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc

    if output and output.endswith(".npy"):
        from core._io import atomic_write_bytes
        import io

        buf = io.BytesIO()
        np.save(buf, codes, allow_pickle=False)
        atomic_write_bytes(output, buf.getvalue())
        click.echo(f"wrote {count(codes.shape[0], 'row')} of codes to {output}", err=True)  # "1 codes": 4 a row
        return
    plain = [" ".join(str(int(v)) for v in row) for row in codes]
    if as_json:
        rows = [{"codes": c.tolist(), **({"text": t} if texts else {})}
                for c, t in zip(codes, texts or [None] * len(codes))]
        if lines is not None:  # blank lines have no record: the line number keeps the link to the file
            for row, n in zip(rows, (i + 1 for i, t in enumerate(lines) if t)):
                row["line"] = n
        text = json.dumps(rows, ensure_ascii=False, indent=None)
    else:
        if lines is not None:  # an empty row for a blank line: row i is line i (paste, diff)
            it = iter(plain)
            plain = [next(it) if t else "" for t in lines]
        text = "\n".join(plain)
    if output:
        from core._io import atomic_write_text

        atomic_write_text(output, text + "\n")
        click.echo(f"wrote {count(codes.shape[0], 'row')} of codes to {output}", err=True)  # "1 codes": 4 a row
    else:
        click.echo(text)


def _refuse_search_without_refine(refine: int) -> None:
    """--candidates and --pairs tune the refinement's search: without --refine they did nothing, silently
    (--pairs failed only after every text was embedded)."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    given = [f"--{name}" for name in ("candidates", "pairs")
             if ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE]
    if given and not refine:
        raise click.UsageError(f"{' and '.join(given)} {'tunes' if len(given) == 1 else 'tune'} the refinement "
                               f"and {'needs' if len(given) == 1 else 'need'} --refine N (N >= 1, e.g. "
                               f"--refine 2); without it the plain encoder's codes are given")


def _say_cut(embedder, texts) -> None:
    """One stderr line when texts were longer than the model reads: their codes stand for their start only (the
    cut was silent, and two texts sharing a start got the same codes)."""
    cut = embedder.count_cut(texts)
    if cut:
        click.echo(f"note: {count(cut, 'text')} of {len(texts):,} cut to the model's window of {embedder.window} "
                   f"word pieces: their codes stand for their start only (split long texts to encode all of "
                   f"them)", err=True)


def _inputs(npy_path, text_file, weights) -> list[tuple[str, Path]]:
    """(option, path) of every file `encode` reads: --npy or --file, and the weights with their JSON card
    (the shipped ones when no --weights is given)."""
    from core.reasoning.mycelial._model_file import _paths
    from core.reasoning.mycelial.wrapper import DEFAULT_WEIGHTS, WEIGHTS_DIR

    found = [(opt, Path(p)) for opt, p in (("--npy", npy_path), ("--file", text_file)) if p and p != STDIN]
    w = Path(weights) if weights else WEIGHTS_DIR / DEFAULT_WEIGHTS
    if w.suffix == ".json":  # load takes the card for its weights
        w = w.with_suffix(".safetensors")
    opt = "--weights" if weights else "the shipped weights"
    found += [(opt, p) for p in dict.fromkeys((w, *(() if w.suffix == ".pth" else _paths(w))))]
    return found


def _refuse_output_over_input(output, inputs: list[tuple[str, Path]]) -> None:
    """-o naming a file the command reads, by any name (a symlink, a hard link, ``./x``): a usage error.

    `--npy x.npy -o x.npy` replaced the embeddings; `--weights W.safetensors -o W.safetensors` turned the
    model into a 30-byte text file of codes (exit 0)."""
    if not output or not os.path.exists(output):
        return
    for opt, path in inputs:
        if path.exists() and os.path.samefile(output, path):
            raise click.UsageError(f"--output {output} is the input file ({opt} {path}): its codes would "
                                   f"replace it; write them to another file")


def _check_out(out_dir) -> None:
    """`train --out DIR` writes DIR/model.safetensors and DIR/config.json: a folder whose files of those
    names are not an earlier `train`'s (a project's own config.json) is refused; they were overwritten."""
    from core.reasoning.mycelial._model_file import _paths, foreign_file

    foreign = foreign_file(*_paths(Path(out_dir)))
    if foreign is not None:
        raise click.ClickException(f"{foreign}; nothing was trained: give --out a new or empty folder")


@click.command("train")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), callback=user_path,
              help="TrainConfig JSON (epochs, batch_size, learning_rate, dims, heads, ...).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), callback=user_path,
              help="Output folder for model.safetensors and config.json (the metrics card).")
@click.option("--npy", "npy_path", type=click.Path(dir_okay=False), callback=user_path,
              help="Train on these embeddings (n, 384) instead of the shared corpora.")
@click.option("--sources", default="wikitext,passages,brown", show_default=True,
              help="Comma-separated shared corpora to embed and train on.")
@click.option("--max-per-doc", type=click.IntRange(min=1), default=None,
              help="Use only the first N sentences of each document.")
def train_cmd(config_path, out_dir, npy_path, sources, max_per_doc):
    """Train a VQ-VAE and write its weights and metrics card to a folder.

    Without --npy it embeds the shared corpora (cached) and holds out whole documents
    for the card's figures.

    Example:

        mycelial train --out my_vqvae --config train.json

        mycelial train --out tiny --npy embeddings.npy
    """
    _check_out(out_dir)  # before the training, not after it
    import numpy as np

    from core.reasoning.mycelial.wrapper import MycelialVQVAE
    from core.reasoning.vqvae import TrainConfig, metrics, train_vqvae

    try:
        config = TrainConfig.from_json(config_path) if config_path else TrainConfig()
        if npy_path:
            from core._validation import check_embeddings

            # checked before the shuffle: a NaN's row number is then the file's row, not a shuffled one
            X = check_embeddings(load_npy(npy_path), config.input_dim, name=str(npy_path))
            n_held = max(1, len(X) // 10)
            if len(X) - n_held < config.codebook_size:
                need = next(n for n in range(config.codebook_size, 10 * config.codebook_size)
                            if n - max(1, n // 10) >= config.codebook_size)
                raise ValueError(f"{npy_path} has {count(len(X), 'row')}; training needs at least {need}: "
                                 f"codebook_size={config.codebook_size} codes per head, after 1 row in 10 is "
                                 f"held out for the card's figures")
            rows = np.random.default_rng(config.seed).permutation(len(X))
            X_train, X_held = X[rows[n_held:]], X[rows[:n_held]]
        else:
            from core import datasets
            from core.embedding import TextEmbedder

            readers = {"wikitext": datasets.wikitext_documents, "passages": datasets.passage_documents,
                       "brown": datasets.brown_documents}
            names = [s.strip() for s in sources.split(",") if s.strip()]
            bad = [s for s in names if s not in readers]
            if bad:
                raise ValueError(f"unknown source(s) {bad}; choose from {sorted(readers)}")
            train_s, held_s = [], []
            for name in names:
                for d in readers[name]():
                    sents = d.sentences[:max_per_doc] if max_per_doc else d.sentences
                    (held_s if datasets.is_held_out(d.doc_id) else train_s).extend(sents)
            emb = TextEmbedder()
            X_train, X_held = emb.embed(train_s, show_progress=True), emb.embed(held_s, show_progress=True)
        model, history = train_vqvae(X_train, config, X_held)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc
    mvq = MycelialVQVAE(model)
    codes = mvq.encode(X_held)
    card = {"train_config": config.to_dict(), "train_rows": int(len(X_train)),
            "held_out": metrics.code_metrics(X_held, mvq.decode(codes), codes, mvq.codebook_size),
            "history": history}
    path = mvq.save(out_dir, card=card)
    click.echo(json.dumps(card["held_out"], indent=2))
    click.echo(f"saved {path}", err=True)


COMMANDS: list = [encode_cmd, train_cmd]
