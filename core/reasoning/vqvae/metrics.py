"""Quality figures of a 4-byte code: small pure functions over numpy arrays.

Nothing here needs torch, so the compression pipeline and the benchmarks can score any
codec (ours or FAISS) the same way.
"""
from __future__ import annotations

import numpy as np


def reconstruction_mse(X: np.ndarray, R: np.ndarray) -> float:
    """Mean squared error per coordinate. For unit vectors the zero vector scores 1/dim."""
    return float(np.mean((np.asarray(X, np.float64) - np.asarray(R, np.float64)) ** 2))


def mean_cosine(X: np.ndarray, R: np.ndarray, eps: float = 1e-12) -> float:
    """Mean cosine(x_i, r_i) over rows; the figure MSE hides."""
    X = np.asarray(X, np.float64)
    R = np.asarray(R, np.float64)
    num = np.sum(X * R, axis=1)
    den = np.linalg.norm(X, axis=1) * np.linalg.norm(R, axis=1) + eps
    return float(np.mean(num / den))


def code_counts(codes: np.ndarray, codebook_size: int = 256) -> np.ndarray:
    """Counts of shape (heads, codebook_size): how often each code of each head is used."""
    codes = np.asarray(codes, dtype=np.int64)
    heads = codes.shape[1]
    flat = codes + np.arange(heads)[None, :] * codebook_size
    return np.bincount(flat.ravel(), minlength=heads * codebook_size).reshape(heads, codebook_size)


def codebook_usage(codes: np.ndarray, codebook_size: int = 256) -> tuple[int, int]:
    """(codes used at least once, total codes), e.g. (1024, 1024)."""
    counts = code_counts(codes, codebook_size)
    return int((counts > 0).sum()), int(counts.size)


def head_perplexity(codes: np.ndarray, codebook_size: int = 256) -> np.ndarray:
    """exp(entropy) of each head's code distribution; 256 means perfectly uniform use."""
    counts = code_counts(codes, codebook_size).astype(np.float64)
    p = counts / counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.sum(np.where(p > 0, p * np.log(p), 0.0), axis=1)
    return np.exp(ent)


def zipf_fit(counts: np.ndarray) -> tuple[float, float]:
    """Power-law fit of code usage: ``count ~ rank ** -alpha``.

    Parameters
    ----------
    counts : array-like
        Usage counts of the codes (any shape; flattened). Zero counts are ignored.

    Returns
    -------
    alpha : float
        Negated slope of log(count) against log(rank), ranks 1..n by decreasing count.
    r2 : float
        Coefficient of determination of that straight line (1 = perfect power law).

    Examples
    --------
    >>> a, r2 = zipf_fit(1000 * np.arange(1, 101, dtype=float) ** -1.2)
    >>> round(a, 3), round(r2, 3)
    (1.2, 1.0)
    """
    c = np.sort(np.asarray(counts, dtype=np.float64).ravel())[::-1]
    c = c[c > 0]
    if c.size < 2:
        return 0.0, 0.0
    x = np.log(np.arange(1, c.size + 1))
    y = np.log(c)
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (slope * x + intercept)
    ss_tot = np.sum((y - y.mean()) ** 2)
    r2 = 1.0 - np.sum(resid ** 2) / ss_tot if ss_tot > 0 else 1.0
    return float(-slope), float(r2)


def model_size(model) -> dict:
    """Parameter count and float32 bytes of a torch module (duck-typed, no torch import)."""
    params = sum(int(p.numel()) for p in model.parameters())
    buffers = sum(int(b.numel()) for b in model.buffers())
    return {"parameters": params, "buffers": buffers, "float32_bytes": 4 * (params + buffers)}


def _normalise(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)


def topk_from_scores(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores per row, best first."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def cosine_knn(queries: np.ndarray, database: np.ndarray, k: int, block: int = 1024) -> np.ndarray:
    """Exact cosine k-NN: indices (n_queries, k) into ``database``, best first."""
    Q, D = _normalise(queries), _normalise(database)
    out = [topk_from_scores(Q[s:s + block] @ D.T, k) for s in range(0, Q.shape[0], block)]
    return np.concatenate(out)


def adc_knn(query_latents: np.ndarray, codebooks: np.ndarray, codes: np.ndarray, k: int,
            block: int = 256) -> np.ndarray:
    """k-NN by asymmetric distance computation in the quantizer's latent space.

    Each query's squared distances to every code of every head form a (heads, K) table;
    a database item's distance is the sum of the table entries its codes pick.

    Parameters
    ----------
    query_latents : ndarray (n_queries, heads * head_dim), continuous encoder outputs
    codebooks : ndarray (heads, K, head_dim)
    codes : ndarray (n_database, heads), integer codes
    """
    heads, K, dim = codebooks.shape
    Z = np.asarray(query_latents, np.float32).reshape(-1, heads, dim)
    C = np.asarray(codebooks, np.float32)
    flat = (np.asarray(codes, np.int64) + np.arange(heads)[None, :] * K)  # (n, heads)
    out = []
    for s in range(0, Z.shape[0], block):
        zb = Z[s:s + block]
        tables = (np.sum(zb ** 2, -1)[..., None] - 2 * np.einsum("qhd,hkd->qhk", zb, C)
                  + np.sum(C ** 2, -1)[None]).reshape(zb.shape[0], heads * K)
        dist = tables[:, flat].sum(-1)  # (q, n)
        out.append(topk_from_scores(-dist, k))
    return np.concatenate(out)


def recall_at(true_nn: np.ndarray, found: np.ndarray, k: int) -> float:
    """R@k (FAISS's 1-recall@k): share of queries whose exact nearest neighbour is in ``found[:, :k]``."""
    true_nn = np.asarray(true_nn).reshape(-1)
    return float(np.mean(np.any(found[:, :k] == true_nn[:, None], axis=1)))


def k_recall_at_k(true_knn: np.ndarray, found: np.ndarray, k: int = 10) -> float:
    """k-recall@k: mean overlap of the exact top-k and the found top-k, divided by k."""
    hits = [np.intersect1d(t[:k], f[:k]).size for t, f in zip(true_knn, found)]
    return float(np.mean(hits) / k)


def search_quality(true_knn: np.ndarray, found: np.ndarray) -> dict:
    """R@1, R@10, R@100 and 10-recall@10 of ``found`` against exact ``true_knn`` (both best first)."""
    return {"R@1": recall_at(true_knn[:, 0], found, 1),
            "R@10": recall_at(true_knn[:, 0], found, 10),
            "R@100": recall_at(true_knn[:, 0], found, 100),
            "10-recall@10": k_recall_at_k(true_knn, found, 10)}


def code_metrics(X: np.ndarray, R: np.ndarray, codes: np.ndarray, codebook_size: int = 256) -> dict:
    """The card's compression figures for embeddings ``X``, reconstructions ``R`` and ``codes``."""
    used, total = codebook_usage(codes, codebook_size)
    alpha, r2 = zipf_fit(code_counts(codes, codebook_size))
    return {"n": int(X.shape[0]), "mse": reconstruction_mse(X, R), "cosine": mean_cosine(X, R),
            "codes_used": used, "codes_total": total,
            "head_perplexity": [round(float(p), 2) for p in head_perplexity(codes, codebook_size)],
            "zipf_alpha": alpha, "zipf_r2": r2}


def query_database_split(n: int, n_queries: int = 1000, n_database: int | None = None,
                         seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint (query rows, database rows) drawn from ``n`` held-out rows with a fixed seed."""
    perm = np.random.default_rng(seed).permutation(n)
    n_queries = min(n_queries, n // 2)
    queries = perm[:n_queries]
    database = perm[n_queries:] if n_database is None else perm[n_queries:n_queries + n_database]
    return np.sort(queries), np.sort(database)
