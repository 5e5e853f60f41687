"""Evaluate stage: score a decoded pipeline run against FAISS OPQ+PQ and the shipped 4-byte model.

Writes ``metrics.json``, ``metrics.md``, ``code_usage.png`` and ``cosine_hist.png``. The
figures themselves come from :mod:`core.compression.metrics`, the table and plots from
:mod:`core.compression.report`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from core._io import atomic_write_bytes
from core.compression.metrics import BertScorer, bleu, code_statistics, exact_match_rate, row_cosines
from core.compression.report import markdown_table, plot_code_usage, plot_cosine_histogram
from core.text import count

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
    from core.compression.codecs import build_opq_index

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

    card = Path(__file__).resolve().parent.parent / "reasoning" / "vqvae" / "weights" / "monolith_wiki.json"
    try:
        return float(json.loads(card.read_text())["data"]["held_out_fraction"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0.15


def run_evaluate(config, log=print, bertscore: bool = True) -> dict:
    """Score a decoded pipeline run; writes ``metrics.json``, ``metrics.md`` and two PNG plots."""
    from core.compression.artifacts import exclusive

    with exclusive(config.artifacts, "evaluate"):
        return _evaluate(config, log, bertscore)


def _evaluate(config, log, bertscore: bool) -> dict:
    from core.compression import checks
    from core.compression.artifacts import damaged, load_json, load_npy, require_keys, save_json
    from core.compression.codecs import single_thread
    from core.compression.decoding import decode_vectors

    single_thread()
    out = config.artifacts
    pipe = load_json(out / "pipeline.json")
    decoded = load_json(out / "decoded.json", ("items", "summary"))
    # after decoded.json: a run without it (pipeline.json of a test, or interrupted) says `mycelial decode`
    require_keys(out / "pipeline.json", pipe, ("methods", "compression_ratio", "compression_ratio_with_model"))
    checks.same_run_config(out / "pipeline.json", pipe, config)
    per = pipe["methods"]
    if not (isinstance(per, dict) and all(isinstance(per.get(m), dict) for m in ("vqvae", "opq_pq"))):
        raise damaged(out / "pipeline.json", "its 'methods' entry lacks 'vqvae' or 'opq_pq'")
    require_keys(out / "pipeline.json", per["vqvae"], ("code_dtype", "bytes_per_item", "compression_ratio"))
    require_keys(out / "pipeline.json", per["opq_pq"], ("compression_ratio",))
    codes, R_vq = decode_vectors(out, "vqvae", config)
    opq_codes, R_opq = decode_vectors(out, "opq_pq")
    n = codes.shape[0]
    checks.same_rows(out / "opq_codes.npy", opq_codes.shape[0], out / "codes.npy", n)
    items = load_json(out / "items.json", ("sentences", "doc_ids"))
    checks.strings(out / "items.json", items, "doc_ids", n)
    reference = load_json(out / "reference.json", ("sentences", "is_test"))
    dim = R_vq.shape[1]
    X = checks.vectors(out / "test_embeddings.npy", load_npy(out / "test_embeddings.npy"), dim, n)
    # the decode stage's vectors are checked (a damaged file is named), not scored: R_vq is decoded from the codes
    checks.vectors(out / "decoded_vectors.npy", load_npy(out / "decoded_vectors.npy"), dim, n)
    E = load_npy(out / "reference_embeddings.npy")
    E = checks.vectors(out / "reference_embeddings.npy", E, dim, len(checks.strings(
        out / "reference.json", reference, "sentences")))
    X_train = np.ascontiguousarray(E[~checks.flags(out / "reference.json", reference, "is_test", E.shape[0])])
    records = checks.decoded_records(out / "decoded.json", decoded, n, E.shape[0])
    method, reason = checks.chosen_method(out / "pipeline.json", pipe, config)
    if decoded["summary"].get("method", "vqvae") != method:
        raise ValueError(f"decoded.json was made with method {decoded['summary'].get('method')!r} but "
                         f"this config uses {method!r} ({reason}); re-run the decode stage with this --config")
    heads, K, M = codes.shape[1], config.vqvae_num_embeddings, config.pq_M

    # both methods of this run, from their own code files; text figures for the chosen one
    stats = code_statistics(codes, K)
    vq_row, cos_vq = _vector_row(f"VQ-VAE this run ({count(heads, 'head')} × {K} codes, "
                                 f"{per['vqvae']['code_dtype']})",
                                 per["vqvae"]["bytes_per_item"], X, R_vq,
                                 codebook_usage=stats["codebook_usage"], zipf_alpha=stats["zipf_alpha"])
    pq_row, cos_pq = _vector_row(f"FAISS OPQ{M},PQ{M} this run (opq_codes.npy)", M, X, R_opq)
    for row, name in ((vq_row, "vqvae"), (pq_row, "opq_pq")):
        row["compression_ratio"] = per[name]["compression_ratio"]  # counted from the files
    main, cos_main = (vq_row, cos_vq) if method == "vqvae" else (pq_row, cos_pq)
    main["method"] = f"**{main['method']} ← method**"
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

    # side by side: FAISS OPQ+PQ at the VQ-VAE's byte budget and at 4 bytes, and the shipped 4-byte model
    rows = [main, pq_row if method == "vqvae" else vq_row]
    hist = {f"VQ-VAE {per['vqvae']['bytes_per_item']} B": cos_vq, f"OPQ+PQ {M} B": cos_pq}
    for budget in sorted({per["vqvae"]["bytes_per_item"], 4} - {M}):
        if X.shape[1] % budget:  # FAISS PQ splits the vector in equal parts (5 heads: a RuntimeError at the end)
            log(f"note: no FAISS OPQ{budget},PQ{budget} row: {budget} bytes do not divide the {X.shape[1]} dimensions")
            continue
        row, c = _vector_row(f"FAISS OPQ{budget},PQ{budget}", budget, X,
                             _opq_roundtrip(X_train, X, budget, config.opq_iterations))
        rows.append(row)
        hist[f"OPQ+PQ {budget} B"] = c
    shipped, shipped_hist = _shipped_rows(X, items["doc_ids"], log)
    rows += shipped
    hist.update(shipped_hist)

    metrics = {
        "method": method, "method_reason": reason,
        "mean_cosine_vqvae": vq_row["mean_cosine"], "mean_cosine_opq_pq": pq_row["mean_cosine"],
        "n_items": int(X.shape[0]), "n_train": int(X_train.shape[0]),
        "bytes_per_item": main["bytes_per_item"], **_ratios(out / "pipeline.json", pipe, method),
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
    plot_code_usage(codes, out / "code_usage.png", K,
                    title=f"VQ-VAE code usage, {count(heads, 'head')} × {K} codes (test items)")
    plot_cosine_histogram(hist, out / "cosine_hist.png")
    log(table)
    log(f"method: {method} ({metrics['method_reason']})")
    log(f"wrote {out / 'metrics.json'}, {out / 'metrics.md'}, {out / 'code_usage.png'}, {out / 'cosine_hist.png'}")
    return metrics


def _ratios(path: Path, pipe: dict, method: str) -> dict:
    """The counted ratios of ``method``: the run's top-level ones are its own choice's, which the config's
    ``compression_method`` may have overridden (:func:`checks.chosen_method`)."""
    from core.compression.artifacts import require_keys

    keys = ("compression_ratio", "compression_ratio_with_model")
    if method == pipe.get("method"):
        return {k: pipe[k] for k in keys}
    require_keys(path, pipe["methods"][method], keys)
    return {k: pipe["methods"][method][k] for k in keys}


def _report(metrics: dict, rows: list[dict]) -> str:
    lines = [f"Held-out WikiText-2 sentences: {metrics['n_items']} items (whole articles held out), "
             f"{metrics['n_train']} training sentences.", "",
             markdown_table(rows, _MAIN_COLUMNS), "",
             f"- method: {metrics['method']} ({metrics['method_reason']}). Text figures and the "
             "top-level metrics are the method's; both methods were trained and measured in this run.",
             "- ratio (counted): the two rows of this run = bytes of the float32 embeddings file / bytes of "
             "their codes file as written (VQ-VAE codes take 1 byte each up to 256 codes a head, 2 bytes "
             f"(uint16) above); {metrics['compression_ratio_with_model']:.2f}x for the method if its decoder "
             "(VQ-VAE weights or OPQ index) is counted too. Other rows: 1536 / bytes per item.",
             "- text figures: similarity reconstruction (nearest reference sentence, the item itself and copies of its "
             f"text left out); BERTScore with {metrics['bertscore_model']}.",
             f"- cosine of the original embedding with the embedding of the reconstructed sentence: "
             f"{metrics['sentence_cosine']:.3f}.",
             f"- LLM: {metrics['llm_note']}"]
    if metrics["llm"]:
        l = metrics["llm"]
        lines.append(f"  LLM reconstructions on {l['n']} items: BLEU {l['bleu']:.2f} (similarity on the same "
                     f"items {l['similarity_bleu_same_items']:.2f}), BERTScore F1 {l.get('bertscore_f1', float('nan')):.3f}, "
                     f"exact match {l['exact_match']:.3f}")
    return "\n".join(lines) + "\n"
