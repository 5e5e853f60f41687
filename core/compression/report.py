"""The evaluate stage's Markdown table and its two plots (written atomically, Agg backend)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from core._io import atomic_replace_from
from core.reasoning.vqvae.metrics import code_counts, zipf_fit
from core._extras import require


def markdown_table(rows: Sequence[dict], columns: Sequence[tuple[str, str, str]]) -> str:
    """A Markdown table; ``columns`` are (key, header, format) with format like ``.3f``."""
    head = "| " + " | ".join(h for _, h, _ in columns) + " |"
    sep = "|" + "|".join("---" for _ in columns) + "|"
    lines = [head, sep]
    for row in rows:
        cells = []
        for key, _, fmt in columns:
            v = row.get(key)
            cells.append("—" if v is None else (format(v, fmt) if fmt else str(v)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_code_usage(codes: np.ndarray, path: str | os.PathLike, codebook_size: int = 256,
                    title: str = "Code usage") -> None:
    """Rank/frequency of code usage on log-log axes with the fitted power law."""
    matplotlib = require("matplotlib", "the code usage plot")

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.sort(code_counts(codes, codebook_size).ravel())[::-1]
    counts = counts[counts > 0]
    alpha, r2 = zipf_fit(counts)
    ranks = np.arange(1, counts.size + 1)
    # the fitted line passes through the least-squares intercept in log space
    intercept = np.mean(np.log(counts) + alpha * np.log(ranks))
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.loglog(ranks, counts, ".", ms=3, label="codes")
    ax.loglog(ranks, np.exp(intercept) * ranks ** -alpha, "-", label=f"fit: α={alpha:.2f}, R²={r2:.2f}")
    ax.set_xlabel("rank")
    ax.set_ylabel("uses")
    ax.set_title(title)
    ax.legend()
    _save(fig, path)


def plot_cosine_histogram(cosines: dict[str, np.ndarray], path: str | os.PathLike) -> None:
    """Histogram of reconstruction cosines, one series per method."""
    matplotlib = require("matplotlib", "the cosine histogram")

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    bins = np.linspace(-0.1, 1.0, 56)
    for name, c in cosines.items():
        ax.hist(np.asarray(c), bins=bins, alpha=0.5, label=f"{name} (mean {np.mean(c):.3f})")
    ax.set_xlabel("cosine(original, reconstruction)")
    ax.set_ylabel("items")
    ax.legend(fontsize=8)
    _save(fig, path)


def _save(fig, path) -> None:
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    try:
        fig.tight_layout()
        fig.savefig(tmp, dpi=110)
        atomic_replace_from(tmp, path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)  # an interrupted save left it
