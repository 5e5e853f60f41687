"""Decode stage: compressed codes -> vectors -> text, by similarity matching and optionally an LLM.

Similarity matching maps each decoded vector to the nearest sentence of a reference set
(every sampled sentence, training and test) **with the item itself left out**, and every
copy of its text: a compressed item cannot be "reconstructed" by looking up its own original
(exact matches came only from sentences that occur twice in the corpus). How often the item
itself *would* have been the nearest sentence is reported separately
(``identification_rate``): it says how well the codes identify a sentence in a known
collection.

When an LLM is configured (see :mod:`core.compression.llm`) it reads the nearest sentences and
writes the one they most likely came from; any failure leaves the similarity result in
place. Without a key the stage says so once.
"""
from __future__ import annotations

import os
import time
from typing import Callable, Mapping

import numpy as np

from core.compression import checks
from core.compression.artifacts import (EVALUATE_WRITES, damaged, exclusive, load_json, load_npy, read_index, save_json,
                                        save_npy)
from core.compression.codecs import check_codes, load_vqvae, opq_decode, single_thread, vqvae_decode
from core.compression.config import PipelineConfig
from core.text import text_key

MAX_CONSECUTIVE_LLM_FAILURES = 3


def copies_of(items: list[str], refs: list[str], own: np.ndarray) -> list[np.ndarray]:
    """For each item, the reference rows other than its own whose text is the item's (whitespace aside).

    Decoding to such a copy is no reconstruction: leaving out the item's own row only, a sentence that
    occurs twice in the corpus was "reconstructed" exactly (all 4 exact matches of 2,029 items were)."""
    rows: dict[str, list[int]] = {}
    for j, text in enumerate(refs):
        rows.setdefault(text_key(text), []).append(j)
    return [np.array([j for j in rows.get(text_key(t), ()) if j != own[i]], np.int64) for i, t in enumerate(items)]


def similarity_decode(R: np.ndarray, E: np.ndarray, exclude: np.ndarray, k: int = 5, block: int = 1024,
                      copies: list[np.ndarray] | None = None):
    """Nearest reference rows of each decoded vector, leaving out row ``exclude[i]`` for item ``i``.

    Parameters
    ----------
    R : ndarray (n, d), decoded vectors
    E : ndarray (N, d), reference embeddings
    exclude : int ndarray (n,), the reference row of each item itself (-1: none)
    k : int, neighbours to return
    copies : list of n int ndarrays, optional
        Further rows left out for each item: the copies of its text (:func:`copies_of`).

    Returns
    -------
    idx : int64 ndarray (n, k), reference rows, most similar first
    score : float32 ndarray (n, k), their cosines
    self_score : float32 ndarray (n,), cosine to the left-out row (nan when none)
    """
    Rn = R / np.maximum(np.linalg.norm(R, axis=1, keepdims=True), 1e-12)
    En = E / np.maximum(np.linalg.norm(E, axis=1, keepdims=True), 1e-12)
    most = max((len(c) for c in copies), default=0) if copies is not None else 0
    k = max(1, min(k, E.shape[0] - 1 - most))
    idx = np.empty((R.shape[0], k), np.int64)
    score = np.empty((R.shape[0], k), np.float32)
    self_score = np.full(R.shape[0], np.nan, np.float32)
    for s in range(0, R.shape[0], block):
        S = Rn[s:s + block] @ En.T
        rows = np.arange(S.shape[0])
        ex = exclude[s:s + block]
        has = ex >= 0
        self_score[s:s + block][has] = S[rows[has], ex[has]]
        S[rows[has], ex[has]] = -np.inf
        for i, c in enumerate(copies[s:s + block] if copies is not None else ()):
            S[i, c] = -np.inf
        part = np.argpartition(-S, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(S, part, axis=1), axis=1, kind="stable")
        idx[s:s + block] = np.take_along_axis(part, order, axis=1)
        score[s:s + block] = np.take_along_axis(S, idx[s:s + block], axis=1)
    return idx, score, self_score


def llm_decode(neighbour_texts: list[list[str]], env: Mapping[str, str] | None = None,
               max_items: int | None = None, log: Callable = print, sleep=time.sleep) -> dict:
    """LLM reconstructions for the first ``max_items`` items; never raises.

    Returns a dict with ``texts`` (str or None per item), ``errors``, ``backend`` and
    ``note``. After several consecutive failures the LLM is abandoned for the rest of the
    run (said once), so an unreachable service cannot stall a run for hours.
    """
    from core.compression.llm import LLMClient, reconstruct, settings_from_env

    n = len(neighbour_texts)
    result = {"texts": [None] * n, "errors": [None] * n, "backend": None, "model": None,
              "n_ok": 0, "n_failed": 0, "note": ""}
    settings, why = settings_from_env(env)
    result["note"] = why
    log(why)
    if settings is None:
        return result
    result["backend"], result["model"] = settings.backend, settings.model
    client = LLMClient(settings, sleep=sleep)
    todo = n if max_items is None else min(n, max_items)
    streak = 0
    for i in range(todo):
        text, err = reconstruct(client, neighbour_texts[i])
        result["texts"][i], result["errors"][i] = text, err
        if text is None:
            result["n_failed"] += 1
            streak += 1
            if streak >= MAX_CONSECUTIVE_LLM_FAILURES:
                result["note"] += (f"; gave up after {streak} consecutive failures "
                                   f"(last: {err}); the rest use similarity matching")
                log(f"LLM: {streak} consecutive failures (last: {err}); using similarity matching for the rest")
                break
        else:
            result["n_ok"] += 1
            streak = 0
    return result


def decode_vectors(out, method: str, config: PipelineConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Codes of ``method`` (``vqvae`` or ``opq_pq``) as written by the pipeline, and their vectors;
    ``config``, the run's, is what the VQ-VAE's card must match."""
    if method == "vqvae":
        model = load_vqvae(out, config)
        codes = load_npy(out / "codes.npy")
        check_codes(codes, model.num_heads, model.codebook_size, out / "codes.npy")
        R = vqvae_decode(model, codes)
        if not np.isfinite(R).all():  # a NaN vector is nearest to nothing: decode showed each item's own text
            raise damaged(out / "vqvae.safetensors", "its weights decode to NaN or inf: a diverged training")
        return codes, R
    if method == "opq_pq":
        codes = load_npy(out / "opq_codes.npy")
        index = read_index(out / "opq_pq.index")
        if codes.ndim != 2 or codes.dtype != np.uint8 or codes.shape[1] != index.sa_code_size():
            raise damaged(out / "opq_codes.npy", f"expected uint8 codes of shape (n, {index.sa_code_size()}) "
                                                 f"for {out / 'opq_pq.index'}, got {codes.dtype} {codes.shape}")
        return codes, opq_decode(index, codes)
    raise ValueError(f"pipeline.json names method {method!r}; expected 'vqvae' or 'opq_pq'; re-run the pipeline")


def run_decode(config: PipelineConfig, env: Mapping[str, str] | None = None, log: Callable = print,
               llm_max_items: int | None = 200) -> dict:
    """Decode the compressed test items of a pipeline run; writes ``decoded.json`` and ``decoded_vectors.npy``."""
    with exclusive(config.artifacts, "decode"):
        return _decode(config, env, log, llm_max_items)


def _decode(config: PipelineConfig, env, log: Callable, llm_max_items: int | None) -> dict:
    single_thread()
    out = config.artifacts
    t0 = time.perf_counter()
    pipe = load_json(out / "pipeline.json")
    checks.same_run_config(out / "pipeline.json", pipe, config)
    method, reason = checks.chosen_method(out / "pipeline.json", pipe, config)
    codes, R = decode_vectors(out, method, config)
    items = load_json(out / "items.json", ("sentences", "reference_index"))
    reference = load_json(out / "reference.json", ("sentences",))
    refs = checks.strings(out / "reference.json", reference, "sentences")
    E = checks.vectors(out / "reference_embeddings.npy", load_npy(out / "reference_embeddings.npy"),
                       R.shape[1], len(refs))
    codes_file = out / ("codes.npy" if method == "vqvae" else "opq_codes.npy")
    checks.same_rows(out / "items.json", len(checks.strings(out / "items.json", items, "sentences")),
                     codes_file, codes.shape[0])
    exclude = checks.indices(out / "items.json", items, "reference_index", codes.shape[0], len(refs))
    copies = copies_of(items["sentences"], refs, exclude)
    k = max(1, config.decode_neighbours)
    idx, score, self_score = similarity_decode(R, E, exclude, k, copies=copies)
    neighbours = [[refs[j] for j in row] for row in idx]
    env = os.environ if env is None else env
    llm = llm_decode(neighbours, env, max_items=llm_max_items, log=log)

    records = []
    for i in range(codes.shape[0]):
        records.append({
            "original": items["sentences"][i],
            "similarity_text": refs[idx[i, 0]],
            "similarity_index": int(idx[i, 0]),
            "similarity_score": round(float(score[i, 0]), 5),
            "self_score": round(float(self_score[i]), 5),
            "neighbours": [int(j) for j in idx[i]],
            "llm_text": llm["texts"][i],
            "llm_error": llm["errors"][i],
        })
    for stale in EVALUATE_WRITES:  # the previous decode's scores: not beside this decode's files
        (out / stale).unlink(missing_ok=True)
    save_npy(out / "decoded_vectors.npy", R)
    identified = float(np.mean(self_score >= score[:, 0]))
    summary = {"method": method, "method_reason": reason, "n_items": len(records), "reference_size": len(refs), "neighbours": k,
               "identification_rate": identified, "items_with_copies": sum(len(c) > 0 for c in copies),
               "llm": {k_: v for k_, v in llm.items() if k_ not in ("texts", "errors")},
               "seconds": round(time.perf_counter() - t0, 2)}
    save_json(out / "decoded.json", {"summary": summary, "items": records})
    log(f"method: {method} ({reason})")
    log(f"decoded {len(records)} items ({method} codes); similarity matching against {len(refs)} reference sentences "
        f"(the item itself and copies of its text left out: {summary['items_with_copies']} items had one); the item "
        f"itself would have been nearest for {identified:.1%}")
    for r in records[:3]:
        log(f"  original: {r['original']}\n  decoded : {r['similarity_text']}"
            + (f"\n  LLM     : {r['llm_text']}" if r["llm_text"] else ""))
    return summary
