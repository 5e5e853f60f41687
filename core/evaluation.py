"""Figures of a compression run: vector cosine, BLEU, BERTScore, exact match, code statistics.

Pure functions over arrays and strings, plus the Markdown table and the two plots, so
that the evaluate stage is only bookkeeping. Code statistics (usage, Zipf alpha) come
from :mod:`core.reasoning.vqvae.metrics`, the same functions the VQ-VAE card uses.

BERTScore is computed here, offline, with the packaged all-MiniLM-L6-v2 as the token
encoder: the greedy token matching of Zhang et al. (2020) as the ``bert-score`` package
does it without idf weighting and without baseline rescaling: special tokens ([CLS],
[SEP]) are left out, token vectors of one hidden layer are L2-normalised, precision is
the mean over candidate tokens of the best cosine to a reference token, recall the
converse, F1 their harmonic mean.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from core._io import atomic_replace_from, atomic_write_bytes
from core.reasoning.vqvae.metrics import code_counts, codebook_usage, zipf_fit


# ---------------------------------------------------------------------------- vectors
def row_cosines(X: np.ndarray, R: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """cosine(x_i, r_i) for every row; float64 of shape (n,)."""
    X = np.asarray(X, np.float64)
    R = np.asarray(R, np.float64)
    if X.shape != R.shape:
        raise ValueError(f"X and R must have the same shape, got {X.shape} and {R.shape}")
    num = np.sum(X * R, axis=1)
    return num / (np.linalg.norm(X, axis=1) * np.linalg.norm(R, axis=1) + eps)


def code_statistics(codes: np.ndarray, codebook_size: int = 256) -> dict:
    """Codebook usage (share and count of codes used) and the Zipf fit of their frequencies."""
    used, total = codebook_usage(codes, codebook_size)
    alpha, r2 = zipf_fit(code_counts(codes, codebook_size))
    return {"codebook_usage": used / total, "codes_used": used, "codes_total": total,
            "zipf_alpha": alpha, "zipf_r2": r2}


# ---------------------------------------------------------------------------- text
def _norm(text: str) -> str:
    return " ".join(text.split())


def exact_match_rate(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Share of hypotheses equal to their reference (whitespace-normalised)."""
    _same_length(hypotheses, references)
    return float(np.mean([_norm(h) == _norm(r) for h, r in zip(hypotheses, references)]))


def bleu(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU (sacrebleu defaults: 13a tokenisation, 4-grams, 0..100)."""
    import sacrebleu

    _same_length(hypotheses, references)
    return float(sacrebleu.corpus_bleu(list(hypotheses), [list(references)]).score)


def _same_length(a, b):
    if len(a) != len(b):
        raise ValueError(f"hypotheses ({len(a)}) and references ({len(b)}) differ in length")
    if len(a) == 0:
        raise ValueError("no hypotheses to score")


class BertScorer:
    """BERTScore P/R/F1 with a local transformer (default: the packaged all-MiniLM-L6-v2).

    Parameters
    ----------
    model_path : str or None
        A local Hugging Face model folder; ``None`` is the packaged MiniLM.
    num_layers : int, default=6
        Hidden layer whose token vectors are compared (MiniLM-L6 has 6; 6 is its last,
        the layer its sentence embeddings are pooled from).
    batch_size : int, default=64
    max_length : int, default=256

    Examples
    --------
    >>> P, R, F = BertScorer().score(["a cat sat"], ["a cat sat"])   # doctest: +SKIP
    >>> round(float(F[0]), 4)                                         # doctest: +SKIP
    1.0
    """

    def __init__(self, model_path: str | None = None, num_layers: int = 6, batch_size: int = 64,
                 max_length: int = 256):
        self.model_path = model_path
        self.num_layers = num_layers
        self.batch_size = batch_size
        self.max_length = max_length

    @property
    def description(self) -> str:
        name = "all-MiniLM-L6-v2 (packaged)" if self.model_path is None else str(self.model_path)
        return f"{name}, layer {self.num_layers}, no idf, no rescaling"

    def _load(self):
        if getattr(self, "_model", None) is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from transformers import AutoModel, AutoTokenizer

            from core.embedding import default_model_path

            path = self.model_path or default_model_path()
            self._tokenizer = AutoTokenizer.from_pretrained(path)
            self._model = AutoModel.from_pretrained(path).eval()
            n = self._model.config.num_hidden_layers
            if not 1 <= self.num_layers <= n:
                raise ValueError(f"num_layers must lie in [1, {n}] for {path}, got {self.num_layers}")
        return self._tokenizer, self._model

    def token_embeddings(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Unit-norm token vectors of each text, special tokens removed: list of (t_i, d)."""
        import torch

        tok, model = self._load()
        out: list[np.ndarray] = []
        with torch.no_grad():
            for s in range(0, len(texts), self.batch_size):
                batch = list(texts[s:s + self.batch_size])
                enc = tok(batch, padding=True, truncation=True, max_length=self.max_length,
                          return_tensors="pt", return_special_tokens_mask=True)
                special = enc.pop("special_tokens_mask").bool()
                hidden = model(**enc, output_hidden_states=True).hidden_states[self.num_layers]
                hidden = torch.nn.functional.normalize(hidden, dim=-1)
                keep = enc["attention_mask"].bool() & ~special
                for i in range(hidden.shape[0]):
                    out.append(hidden[i][keep[i]].numpy().astype(np.float32))
        return out

    def score(self, hypotheses: Sequence[str], references: Sequence[str]):
        """Arrays (P, R, F1) of shape (n,), one triple per (hypothesis, reference) pair."""
        _same_length(hypotheses, references)
        H = self.token_embeddings(list(hypotheses))
        Rf = self.token_embeddings(list(references))
        P, R, F = (np.zeros(len(H)) for _ in range(3))
        for i, (h, r) in enumerate(zip(H, Rf)):
            P[i], R[i], F[i] = greedy_match(h, r)
        return P, R, F


def greedy_match(hyp_tokens: np.ndarray, ref_tokens: np.ndarray) -> tuple[float, float, float]:
    """BERTScore's (P, R, F1) from unit-norm token vectors (t_h, d) and (t_r, d).

    Each candidate token is matched to its most similar reference token (precision) and
    each reference token to its most similar candidate token (recall).
    """
    if hyp_tokens.shape[0] == 0 or ref_tokens.shape[0] == 0:
        return 0.0, 0.0, 0.0
    sim = hyp_tokens.astype(np.float64) @ ref_tokens.astype(np.float64).T
    p = float(sim.max(axis=1).mean())
    r = float(sim.max(axis=0).mean())
    f = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return p, r, f


# ---------------------------------------------------------------------------- report
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
    import matplotlib

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
    import matplotlib

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
    fig.tight_layout()
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    atomic_replace_from(tmp, path)


# ---------------------------------------------------------------------------- stage
_MAIN_COLUMNS = [("method", "method", ""), ("bytes_per_item", "bytes/item", "d"),
                 ("compression_ratio", "ratio (counted)", ".1f"), ("mean_cosine", "mean cosine", ".3f"),
                 ("share_cosine_ge_0.8", "share ≥ 0.8", ".2f"), ("codebook_usage", "code usage", ".3f"),
                 ("zipf_alpha", "Zipf α", ".2f"), ("bleu", "BLEU", ".2f"), ("bertscore_f1", "BERTScore F1", ".3f"),
                 ("exact_match", "exact match", ".3f"), ("identification_rate", "self is nearest", ".3f")]


def _vector_row(method: str, bytes_per_item: int, X: np.ndarray, R: np.ndarray, **extra) -> dict:
    c = row_cosines(X, R)
    row = {"method": method, "bytes_per_item": int(bytes_per_item),
           "compression_ratio": X.shape[1] * 4 / bytes_per_item, "mean_cosine": float(c.mean()),
           "share_cosine_ge_0.8": float(np.mean(c >= 0.8))}
    row.update(extra)
    return row, c


def _opq_roundtrip(X_train: np.ndarray, X: np.ndarray, M: int, iterations: int) -> np.ndarray:
    """Encode and decode ``X`` with an ``OPQ{M},PQ{M}`` codec trained on ``X_train``."""
    from core.pipeline import build_opq_index

    index = build_opq_index(X_train, X[:0], M, iterations)
    return np.ascontiguousarray(index.sa_decode(index.sa_encode(X)), dtype=np.float32)


def _shipped_rows(X: np.ndarray, doc_ids: list[str], log) -> tuple[list[dict], dict]:
    """The shipped 4-byte MonolithWiki on the same test items, if it loads.

    It was trained on WikiText-2 itself, holding out whole articles by
    ``core.datasets.is_held_out``; most of our test articles were in its training set, so
    it is scored twice: on all test items, and on the items of its own held-out articles.
    """
    try:
        from core.reasoning.mycelial import MycelialVQVAE

        mvq = MycelialVQVAE.load_default()
        codes = np.asarray(mvq.encode(X))
        R = np.asarray(mvq.decode(codes), dtype=np.float32)
    except Exception as exc:  # noqa: BLE001 - a missing optional comparison must not stop evaluation
        log(f"note: shipped MonolithWiki not evaluated ({type(exc).__name__}: {exc})")
        return [], {}
    from core.datasets import is_held_out

    stats = code_statistics(codes, 256)
    row, c = _vector_row("MonolithWiki shipped, all test items (partly its training data)", codes.shape[1], X, R,
                         codebook_usage=stats["codebook_usage"], zipf_alpha=stats["zipf_alpha"])
    rows, hist = [row], {}
    fraction = _shipped_held_out_fraction()
    held = np.array([is_held_out(d, fraction) for d in doc_ids])
    if held.any():
        row_h, c_h = _vector_row(f"MonolithWiki shipped, its held-out articles only (n={int(held.sum())})",
                                 codes.shape[1], X[held], R[held])
        rows.append(row_h)
        hist["MonolithWiki 4 B (its held-out)"] = c_h
    else:
        hist["MonolithWiki 4 B"] = c
    return rows, hist


def _shipped_held_out_fraction() -> float:
    import json

    card = Path(__file__).resolve().parent / "reasoning" / "vqvae" / "weights" / "monolith_wiki.json"
    try:
        return float(json.loads(card.read_text())["data"]["held_out_fraction"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0.15


def run_evaluate(config, log=print, bertscore: bool = True) -> dict:
    """Score a decoded pipeline run; writes ``metrics.json``, ``metrics.md`` and two PNG plots."""
    import faiss

    from core.pipeline import faiss_reconstruct, load_json, load_npy, save_json, single_thread

    single_thread()
    out = config.artifacts
    pipe = load_json(out / "pipeline.json")
    decoded = load_json(out / "decoded.json")
    items = load_json(out / "items.json")
    reference = load_json(out / "reference.json")
    X = load_npy(out / "test_embeddings.npy")
    R = load_npy(out / "decoded_vectors.npy")
    codes = load_npy(out / "codes.npy")
    E = load_npy(out / "reference_embeddings.npy")
    X_train = np.ascontiguousarray(E[~np.asarray(reference["is_test"], bool)])
    records = decoded["items"]
    if not (len(records) == X.shape[0] == R.shape[0] == codes.shape[0]):
        raise ValueError(f"artifacts in {out} are inconsistent; re-run the pipeline and decode stages")
    B = codes.shape[1]
    K = config.vqvae_num_embeddings

    # the VQ-VAE of this run
    stats = code_statistics(codes, K)
    main, cos_main = _vector_row(f"VQ-VAE this run ({B} heads × {K} codes)", B, X, R,
                                 codebook_usage=stats["codebook_usage"], zipf_alpha=stats["zipf_alpha"])
    main["compression_ratio"] = pipe["compression_ratio"]  # counted from the files
    hyps = [r["similarity_text"] for r in records]
    refs = [r["original"] for r in records]
    main["bleu"] = bleu(hyps, refs)
    main["exact_match"] = exact_match_rate(hyps, refs)
    main["identification_rate"] = decoded["summary"]["identification_rate"]
    scorer = BertScorer()
    if bertscore:
        main["bertscore_f1"] = float(scorer.score(hyps, refs)[2].mean())
    sent_cos = row_cosines(X, E[[r["similarity_index"] for r in records]])

    # LLM reconstructions, if any were made
    llm_idx = [i for i, r in enumerate(records) if r.get("llm_text")]
    llm = None
    if llm_idx:
        lh = [records[i]["llm_text"] for i in llm_idx]
        lr = [refs[i] for i in llm_idx]
        llm = {"n": len(llm_idx), "bleu": bleu(lh, lr), "exact_match": exact_match_rate(lh, lr),
               "similarity_bleu_same_items": bleu([hyps[i] for i in llm_idx], lr)}
        if bertscore:
            llm["bertscore_f1"] = float(scorer.score(lh, lr)[2].mean())

    # side by side: FAISS OPQ+PQ at the same byte budgets, and the shipped 4-byte model
    rows, hist = [main], {f"VQ-VAE {B} B": cos_main}
    index = faiss.read_index(str(out / "opq_pq.index"))
    M = config.pq_M
    row, c = _vector_row(f"FAISS OPQ{M},PQ{M} (opq_pq.index)", M, X, faiss_reconstruct(index))
    row["compression_ratio"] = pipe["faiss_payload_ratio"]
    rows.append(row)
    hist[f"OPQ+PQ {M} B"] = c
    for budget in sorted({B, 4} - {M}):
        row, c = _vector_row(f"FAISS OPQ{budget},PQ{budget}", budget, X,
                             _opq_roundtrip(X_train, X, budget, config.opq_iterations))
        rows.append(row)
        hist[f"OPQ+PQ {budget} B"] = c
    shipped, shipped_hist = _shipped_rows(X, items["doc_ids"], log)
    rows += shipped
    hist.update(shipped_hist)

    metrics = {
        "n_items": int(X.shape[0]), "n_train": int(X_train.shape[0]),
        "bytes_per_item": B, "compression_ratio": pipe["compression_ratio"],
        "compression_ratio_with_model": pipe["compression_ratio_with_model"],
        "mean_cosine": main["mean_cosine"], "median_cosine": float(np.median(cos_main)),
        "share_cosine_ge_0.8": main["share_cosine_ge_0.8"],
        "bleu": main["bleu"], "bertscore_f1": main.get("bertscore_f1"),
        "bertscore_model": scorer.description, "exact_match": main["exact_match"],
        "identification_rate": main["identification_rate"],
        "sentence_cosine": float(sent_cos.mean()),
        "codebook_usage": stats["codebook_usage"], "codes_used": stats["codes_used"],
        "codes_total": stats["codes_total"], "zipf_alpha": stats["zipf_alpha"], "zipf_r2": stats["zipf_r2"],
        "llm": llm, "llm_note": decoded["summary"]["llm"]["note"],
        "comparison": rows,
    }
    save_json(out / "metrics.json", metrics)
    table = _report(metrics, rows)
    atomic_write_bytes(out / "metrics.md", table.encode("utf-8"))
    plot_code_usage(codes, out / "code_usage.png", K, title=f"Code usage, {B} heads × {K} codes (test items)")
    plot_cosine_histogram(hist, out / "cosine_hist.png")
    log(table)
    log(f"wrote {out / 'metrics.json'}, {out / 'metrics.md'}, {out / 'code_usage.png'}, {out / 'cosine_hist.png'}")
    return metrics


def _report(metrics: dict, rows: list[dict]) -> str:
    lines = [f"Held-out WikiText-2 sentences: {metrics['n_items']} items (whole articles held out), "
             f"{metrics['n_train']} training sentences.", "",
             markdown_table(rows, _MAIN_COLUMNS), "",
             "- ratio (counted): VQ-VAE row = bytes of the float32 embeddings file / bytes of the codes "
             f"file as written; {metrics['compression_ratio_with_model']:.2f}x if the decoder weights are "
             "counted too. Other rows: 1536 / bytes per item.",
             f"- text figures: similarity reconstruction (nearest reference sentence, the item itself left out); "
             f"BERTScore with {metrics['bertscore_model']}.",
             f"- cosine of the original embedding with the embedding of the reconstructed sentence: "
             f"{metrics['sentence_cosine']:.3f}.",
             f"- LLM: {metrics['llm_note']}"]
    if metrics["llm"]:
        l = metrics["llm"]
        lines.append(f"  LLM reconstructions on {l['n']} items: BLEU {l['bleu']:.2f} (similarity on the same "
                     f"items {l['similarity_bleu_same_items']:.2f}), BERTScore F1 {l.get('bertscore_f1', float('nan')):.3f}, "
                     f"exact match {l['exact_match']:.3f}")
    return "\n".join(lines) + "\n"
